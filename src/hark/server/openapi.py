"""OpenAPI descriptions of the hand-parsed routes, generated from the option models.

The routes read their bodies themselves (streaming size limits, query-or-form fields), so
FastAPI cannot infer their parameters; these builders describe them from `TranscribeOptions`
and `SubtitleOptions`, so the documentation follows the models automatically.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any

from pydantic import BaseModel, TypeAdapter

from hark.formats import SubtitleOptions
from hark.options import AUTO_PER_CHUNK, TranscribeOptions
from hark.server.params import OPTION_FIELDS, SUBTITLE_FIELDS

Schema = dict[str, Any]

EXAMPLES: dict[str, Any] = {
    "language": "en",
    "initial_prompt": "Hark, Kubernetes, WhisperX.",
    "hotwords": "Kubernetes WhisperX",
    "temperature": "0,0.2,0.4,0.6,0.8,1",
    "suppress_tokens": "-1",
    "max_line_width": 42,
    "max_line_count": 2,
    "audio_url": "https://example.com/meeting.mp3",
}


def _languages() -> list[str]:
    from faster_whisper.tokenizer import _LANGUAGE_CODES

    return [*_LANGUAGE_CODES, AUTO_PER_CHUNK]


# Closed sets the models check in validators, shown as choices in /docs.
ENUMS: dict[str, Any] = {"language": _languages}


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorBody(BaseModel):
    """Every error answer: a stable machine-readable `code` and a message for people."""

    error: ErrorDetail


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    reasons = {
        400: "Broken or empty audio, or a body that cannot be parsed",
        401: "Missing or wrong API key",
        404: "Unknown model, or unknown job (or one of another API key)",
        409: "compute_type differs from the loaded model",
        413: "Upload or audio duration over the server's limits",
        415: "Not audio, or media without an audio track",
        422: "Invalid parameter (the message names the field)",
        503: "Queue full or model still loading; see Retry-After",
        504: "The work passed the server's deadline (HARK_REQUEST_TIMEOUT_S) and was stopped",
        507: "The job store is full (HARK_JOB_STORE_MAX_MB); see Retry-After",
    }
    return {s: {"model": ErrorBody, "description": reasons[s]} for s in statuses}


@cache
def option_schemas() -> dict[str, Schema]:
    """Form/query schema of every TranscribeOptions and SubtitleOptions field."""
    props = TranscribeOptions.model_json_schema()["properties"]
    out = {}
    for name in OPTION_FIELDS:
        info = TranscribeOptions.model_fields[name]
        out[name] = _field(name, props[name], info.get_default(call_default_factory=True))
    sub_props = TypeAdapter(SubtitleOptions).json_schema()["properties"]
    docs = _attribute_docs(SubtitleOptions.__doc__ or "")
    for name in SUBTITLE_FIELDS:
        schema = {**sub_props[name], "description": docs.get(name, "")}
        out[name] = _field(name, schema, sub_props[name].get("default"))
    return out


def fields_schema(
    extra: Mapping[str, Schema], *, skip: Iterable[str] = (), subtitles: bool = True
) -> dict[str, Schema]:
    """`extra` route fields first, then the shared options (minus `skip`)."""
    skipped = set(skip) | set(extra)
    if not subtitles:
        skipped |= set(SUBTITLE_FIELDS)
    shared = {k: v for k, v in option_schemas().items() if k not in skipped}
    return {**extra, **shared}


def query_parameters(fields: Mapping[str, Schema]) -> list[Schema]:
    params = []
    for name, schema in fields.items():
        param: Schema = {"name": name, "in": "query", "required": False, "schema": schema}
        if "description" in schema:
            param["description"] = schema["description"]
        if name in EXAMPLES:
            param["example"] = EXAMPLES[name]
        params.append(param)
    return params


def binary(description: str) -> Schema:
    return {"type": "string", "format": "binary", "description": description}


def form_body(
    fields: Mapping[str, Schema], *, required: Iterable[str] = (), json_audio: bool = False
) -> Schema:
    """A requestBody for multipart/form-data (and JSON with base64 audio, when asked)."""
    form: Schema = {"type": "object", "properties": dict(fields)}
    if required:
        form["required"] = list(required)
    content: Schema = {
        "multipart/form-data": {
            "schema": form,
            "encoding": {"file": {"contentType": "audio/*, video/*, application/octet-stream"}},
        }
    }
    if json_audio:
        props = {k: v for k, v in fields.items() if v.get("format") != "binary"}
        props = {
            "audio": {
                "type": "string",
                "contentEncoding": "base64",
                "description": "The audio file, base64-encoded (or a data: URL).",
            },
            "filename": {"type": "string", "description": "Names the downloaded result."},
            **props,
        }
        content["application/json"] = {"schema": {"type": "object", "properties": props}}
    return {"required": False, "content": content}


def _field(name: str, schema: Schema, default: Any) -> Schema:
    out = {k: v for k, v in schema.items() if k not in ("title", "group", "default")}
    if "anyOf" in out:
        variants = [v for v in out.pop("anyOf") if v.get("type") != "null"]
        if len(variants) == 1:
            out.update(variants[0])
        else:
            out["anyOf"] = variants
    if out.get("type") == "array":
        # Lists travel as one comma-separated form/query value ("0,0.2,0.4").
        out = {"type": "string", "description": out.get("description", "")}
        if default is not None:
            default = ",".join(map(str, default))
    if default is not None:
        out["default"] = default
    if name in EXAMPLES:
        out["examples"] = [EXAMPLES[name]]
    if name in ENUMS:
        out["enum"] = ENUMS[name]()
    return out


def _attribute_docs(doc: str) -> dict[str, str]:
    """Google-style `Attributes:` entries of a docstring, joined onto one line each."""
    section = doc.split("Attributes:", 1)[-1]
    entries = re.findall(r"^\s+(\w+): (.+?)(?=^\s+\w+: |\Z)", section, flags=re.M | re.S)
    return {name: " ".join(text.split()) for name, text in entries}
