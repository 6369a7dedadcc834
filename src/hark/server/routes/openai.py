"""OpenAI-compatible `/v1/audio/transcriptions`, `/v1/audio/translations` and `/v1/models`.

Existing OpenAI client code works by pointing its base URL here. Besides OpenAI's fields, every
`TranscribeOptions` field is accepted as an extra form field (the client's `extra_body`).
"""

from __future__ import annotations

import math
import time
from pathlib import Path, PurePath
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse

from hark.formats import content_type, render
from hark.model_files import WHISPER_MODELS
from hark.schema import Transcript
from hark.server import inference
from hark.server.auth import require_key
from hark.server.errors import ApiError, invalid
from hark.server.examples import OPENAI_RESPONSES
from hark.server.languages import language_name
from hark.server.openapi import binary, error_responses, fields_schema, form_body
from hark.server.params import (
    choice,
    given,
    refuse_unknown,
    subtitle_options,
    text,
    transcribe_options,
)
from hark.server.state import ServerState, get_state
from hark.server.uploads import read_request

router = APIRouter(prefix="/v1", tags=["OpenAI compatible"], dependencies=[Depends(require_key)])

RESPONSE_FORMATS = ("json", "text", "srt", "verbose_json", "vtt")
GRANULARITIES = ("word", "segment")
_OWN = ("task", "language", "initial_prompt", "temperature")  # set from OpenAI's fields
_STARTED = int(time.time())
_OPENAI_FIELDS: dict[str, dict[str, Any]] = {
    "file": binary("The audio or video file."),
    "model": {
        "type": "string",
        "description": "whisper-1, or the served model's id.",
        "examples": ["whisper-1"],
    },
    "language": {
        "type": "string",
        "description": "ISO-639-1 code of the spoken language.",
        "examples": ["en"],
    },
    "prompt": {
        "type": "string",
        "maxLength": 2000,
        "description": "Text to guide the style or continue a previous segment.",
    },
    "response_format": {"type": "string", "enum": list(RESPONSE_FORMATS), "default": "json"},
    "temperature": {
        "type": "number",
        "minimum": 0,
        "maximum": 1,
        "default": 0,
        "description": "0: automatic fallback over 0, 0.2, ..., 1 (as OpenAI).",
    },
    "timestamp_granularities[]": {
        "type": "array",
        "items": {"type": "string", "enum": list(GRANULARITIES)},
        "description": "verbose_json detail: word and/or segment (default segment).",
    },
}
_FIELDS = fields_schema(_OPENAI_FIELDS, skip=_OWN)
# Fields of OpenAI's API that Hark reads no meaning from but that its SDKs may send: accepted
# (and ignored, as before) so that existing client code keeps working.
_OPENAI_IGNORED = (
    "timestamp_granularities",
    "stream",
    "chunking_strategy",
    *(
        f"{name}{suffix}"
        for name in ("include", "keywords", "languages", "known_speaker_names")
        for suffix in ("[]", "")
    ),
    "known_speaker_references[]",
    "known_speaker_references",
)
_KNOWN = (*_FIELDS, *_OPENAI_IGNORED)
# Hark's own names for what OpenAI's fields already say.
_USE_OPENAI_FIELD = {
    "task": "use /v1/audio/translations to translate",
    "initial_prompt": "use prompt",
}
_DOCS: dict[str, Any] = {
    "response_class": Response,
    "responses": {**OPENAI_RESPONSES, **error_responses(400, 401, 404, 413, 415, 422, 503, 504)},
    "openapi_extra": {"requestBody": form_body(_FIELDS, required=("file", "model"))},
}


@router.post("/audio/transcriptions", summary="Transcribe (OpenAI)", **_DOCS)
async def transcriptions(request: Request) -> Response:
    """OpenAI's transcription endpoint: `file`, `model`, `language`, `prompt`,
    `response_format`, `temperature`, `timestamp_granularities[]`."""
    return await _handle(request, "transcribe")


@router.post("/audio/translations", summary="Translate into English (OpenAI)", **_DOCS)
async def translations(request: Request) -> Response:
    """OpenAI's translation endpoint: speech in any language to English text."""
    return await _handle(request, "translate")


@router.get("/models", summary="List models (OpenAI)")
async def list_models(request: Request) -> JSONResponse:
    """The model this server runs, and `whisper-1`, which names it for OpenAI clients."""
    data = [_model_card(name) for name in [*_served(get_state(request))[:1], "whisper-1"]]
    return JSONResponse({"object": "list", "data": data})


@router.get(
    "/models/{model_id:path}",
    summary="Describe a model (OpenAI)",
    responses=error_responses(401, 404),
)
async def get_model(request: Request, model_id: str) -> JSONResponse:
    _check_model(get_state(request), model_id)
    return JSONResponse(_model_card(model_id))


async def _handle(request: Request, task: Literal["transcribe", "translate"]) -> Response:
    state = get_state(request)
    data = await read_request(request, state.max_upload_bytes)
    try:
        fields = data.fields
        # An object-valued chunking_strategy arrives as chunking_strategy[type]=... fields.
        own = {k: v for k, v in fields.items() if not k.startswith("chunking_strategy[")}
        refuse_unknown(own, _KNOWN, _USE_OPENAI_FIELD)
        _check_model(state, text(fields, "model"))
        fmt = choice(fields, "response_format", RESPONSE_FORMATS, "json")
        granularities = _granularities(fields)
        extra: dict[str, Any] = {"task": task, **_temperature(fields)}
        if language := text(fields, "language"):
            extra["language"] = language
        if prompt := text(fields, "prompt", 2000):
            extra["initial_prompt"] = prompt
        options = transcribe_options(fields, state.policy, skip=_OWN, extra=extra)
        subtitles = subtitle_options(fields)
        if data.upload is None:
            raise invalid("file", "required: upload the audio as multipart field 'file'")
        transcript = await inference.transcribe(request, state, data.upload, options)
    finally:
        await data.close()
    if fmt == "verbose_json":
        return JSONResponse(verbose_json(transcript, granularities))
    if fmt == "json":
        return JSONResponse({"text": transcript.text, "usage": _usage(transcript)})
    if fmt == "text":
        return PlainTextResponse(transcript.text + "\n")
    return Response(render(transcript, fmt, subtitles), media_type=content_type(fmt))


def verbose_json(transcript: Transcript, granularities: set[str]) -> dict[str, Any]:
    """OpenAI's verbose_json: segments unless only words were asked for, words on request."""
    body: dict[str, Any] = {
        "task": transcript.task,
        "language": language_name(transcript.language) or "",
        "duration": transcript.duration,
        "text": transcript.text,
    }
    if "segment" in granularities or not granularities:
        body["segments"] = [
            {
                "id": i,
                "seek": int(s.start * 100),  # in 10 ms frames, as Whisper counts
                "start": s.start,
                "end": s.end,
                "text": " " + s.text.strip(),
                "tokens": [],
                "temperature": s.temperature or 0.0,
                "avg_logprob": s.avg_logprob or 0.0,
                "compression_ratio": s.compression_ratio or 0.0,
                "no_speech_prob": s.no_speech_prob or 0.0,
            }
            for i, s in enumerate(transcript.segments)
        ]
    if "word" in granularities:
        body["words"] = [
            {"word": w.word, "start": w.start, "end": w.end} for w in transcript.word_segments
        ]
    body["usage"] = _usage(transcript)
    return body


def _usage(transcript: Transcript) -> dict[str, Any]:
    return {"type": "duration", "seconds": math.ceil(transcript.duration)}


def _granularities(fields: dict[str, Any]) -> set[str]:
    values: list[Any] = []
    for name in ("timestamp_granularities[]", "timestamp_granularities"):
        raw = fields.get(name, [])
        values.extend(raw if isinstance(raw, list) else [raw])
    wanted = {str(v).strip().lower() for v in values if str(v).strip()}
    if unknown := wanted - set(GRANULARITIES):
        raise invalid(
            "timestamp_granularities[]",
            f"unknown {', '.join(sorted(unknown))}; use word and/or segment",
        )
    return wanted


def _temperature(fields: dict[str, Any]) -> dict[str, Any]:
    value = given(fields, ["temperature"]).get("temperature")
    if value is None:
        return {}
    try:
        t = float(value)
    except (TypeError, ValueError):
        raise invalid("temperature", "expected a number between 0 and 1") from None
    if not 0 <= t <= 1:
        raise invalid("temperature", "must be between 0 and 1")
    # OpenAI's 0 means "start at 0 and fall back to higher temperatures": the default list.
    return {"temperature": [t]} if t > 0 else {}


def _served(state: ServerState) -> list[str]:
    """Names that select the loaded model: its id first, then the other spellings."""
    name = state.settings.model
    # A local directory is known by its name; its full path is nobody's business.
    ids = [PurePath(name).name if Path(name).expanduser().is_dir() else name, name]
    if state.engine is not None:
        ids.append(state.engine.model_info.name)
    ids.append(WHISPER_MODELS.get(name, name))
    return list(dict.fromkeys(ids))


def _check_model(state: ServerState, model: str | None) -> None:
    if model is None:
        raise invalid("model", "required (e.g. whisper-1)")
    served = _served(state)
    if model not in (*served, "whisper-1"):
        raise ApiError(
            404,
            "model_not_found",
            f"model {model!r} is not served here; this server runs {served[0]!r} "
            "(also accepted: 'whisper-1')",
        )


def _model_card(model_id: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": _STARTED, "owned_by": "hark"}
