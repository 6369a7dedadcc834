"""`POST /asr` and `POST /detect-language`: the whisper-asr-webservice style API.

Parameters come as query or form fields (form wins), or as a JSON body with base64 `audio`.
The audio is the `file` (or `audio_file`) upload, the JSON `audio`, a raw audio body, or
`audio_url`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from hark.asr import COMPUTE_TYPES
from hark.formats import FORMAT_CHOICES
from hark.server import inference
from hark.server.auth import require_key
from hark.server.errors import ApiError, invalid
from hark.server.examples import ASR_RESPONSES, DETECT_EXAMPLE
from hark.server.languages import language_name
from hark.server.openapi import (
    binary,
    error_responses,
    fields_schema,
    form_body,
    query_parameters,
)
from hark.server.params import (
    IGNORED_FIELDS,
    choice,
    option_group,
    refuse_unknown,
    subtitle_options,
    text,
    transcribe_options,
)
from hark.server.responses import transcript_response
from hark.server.state import ServerState, get_state
from hark.server.uploads import RequestData, Upload, read_request
from hark.server.urls import fetch_audio

router = APIRouter(tags=["ASR"], dependencies=[Depends(require_key)])

_ROUTE_FIELDS: dict[str, dict[str, Any]] = {
    "output": {
        "type": "string",
        "enum": list(FORMAT_CHOICES),
        "default": "json",
        "description": "Result format; 'all' returns one JSON object with every format.",
    },
    "audio_url": {
        "type": "string",
        "description": "Fetch the audio from this http(s) URL instead of an upload.",
        "examples": ["https://example.com/meeting.mp3"],
    },
    "compute_type": {
        "type": "string",
        "enum": list(COMPUTE_TYPES),
        "description": "Must match the loaded model's compute type (409 otherwise).",
    },
}
_UPLOADS = {
    "file": binary("The audio or video file."),
    "audio_file": binary("Same as `file` (the whisper-asr-webservice field name)."),
}
_ASR_FIELDS = fields_schema(_ROUTE_FIELDS)
# Every name /asr reads; anything else is refused (422, with a "did you mean").
_ASR_KNOWN = (*_UPLOADS, *_ASR_FIELDS, *IGNORED_FIELDS)
# Detection reads only the VAD settings, the limits and the number of chunks to sample.
_DETECT_FIELDS = {
    k: v
    for k, v in fields_schema({"audio_url": _ROUTE_FIELDS["audio_url"]}, subtitles=False).items()
    if k in ("audio_url", "language_detection_chunks") or option_group(k) in ("VAD", "Limits")
}


@router.post(
    "/asr",
    summary="Transcribe or translate a file",
    response_class=Response,
    responses={**ASR_RESPONSES, **error_responses(400, 401, 409, 413, 415, 422, 503, 504)},
    openapi_extra={
        "parameters": query_parameters(_ASR_FIELDS),
        "requestBody": form_body({**_UPLOADS, **_ASR_FIELDS}, json_audio=True),
    },
)
async def asr(request: Request) -> Response:
    """Transcribe an uploaded file (`file` or `audio_file`), `audio_url`, or base64 JSON
    `audio`. Every parameter may be a query or a form field. `output` picks the format:
    json (WhisperX-style segments with words), txt, tsv, srt, vtt, or all."""
    state = get_state(request)
    data = await read_request(request, state.max_upload_bytes)
    try:
        refuse_unknown(data.fields, _ASR_KNOWN)
        output = choice(data.fields, "output", FORMAT_CHOICES, "json")
        options = transcribe_options(data.fields, state.policy)
        subtitles = subtitle_options(data.fields)
        _check_compute_type(state, text(data.fields, "compute_type"))
        upload = await _audio(data, state)
        transcript = await inference.transcribe(request, state, upload, options)
        return transcript_response(transcript, output, subtitles, upload.filename)
    finally:
        await data.close()


@router.post(
    "/detect-language",
    summary="Detect the spoken language",
    responses={
        200: {"content": {"application/json": {"example": DETECT_EXAMPLE}}},
        **error_responses(400, 401, 413, 415, 422, 503),
    },
    openapi_extra={
        "parameters": query_parameters(_DETECT_FIELDS),
        "requestBody": form_body({**_UPLOADS, **_DETECT_FIELDS}, json_audio=True),
    },
)
async def detect_language(request: Request) -> JSONResponse:
    """The language spoken in the file, from up to `language_detection_chunks` speech chunks
    spread over it, with the five likeliest candidates. `language` is null when there is no
    speech."""
    state = get_state(request)
    data = await read_request(request, state.max_upload_bytes)
    try:
        fields = {k: v for k, v in data.fields.items() if k in _DETECT_FIELDS}
        options = transcribe_options(fields, state.policy)
        upload = await _audio(data, state)
        result = await inference.detect_language(request, state, upload, options)
    finally:
        await data.close()
    if result is None:
        body: dict[str, Any] = {"language": None, "language_probability": 0.0, "candidates": []}
    else:
        body = {
            "language": result.language,
            "language_probability": result.probability,
            "candidates": [c.to_dict() for c in result.candidates],
        }
    # whisper-asr-webservice's names for the same answer.
    body["detected_language"] = language_name(body["language"])
    body["language_code"] = body["language"]
    body["confidence"] = body["language_probability"]
    return JSONResponse(body)


async def _audio(data: RequestData, state: ServerState) -> Upload:
    url = text(data.fields, "audio_url")
    if data.upload is not None and url:
        raise invalid("audio_url", "send either a file or audio_url, not both")
    if url:
        data.upload = await fetch_audio(url, state.policy)
    if data.upload is None:
        raise invalid("file", "no audio: upload a file, or give audio_url or base64 audio")
    return data.upload


def _check_compute_type(state: ServerState, wanted: str | None) -> None:
    if wanted is None:
        return
    wanted = wanted.strip().lower()
    if wanted not in COMPUTE_TYPES:
        raise invalid("compute_type", f"must be one of {', '.join(COMPUTE_TYPES)}")
    loaded = state.loaded().model_info.compute_type
    if wanted not in ("default", "auto", loaded, state.settings.compute_type):
        raise ApiError(
            409,
            "compute_type_mismatch",
            f"the model is loaded as {loaded} (HARK_COMPUTE_TYPE={state.settings.compute_type});"
            f" compute_type={wanted} needs a server started with HARK_COMPUTE_TYPE={wanted}",
        )
