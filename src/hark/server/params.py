"""Request parameters from query strings, form fields and JSON, validated by the shared models.

Per-request options are `TranscribeOptions` fields and subtitle options are `SubtitleOptions`
fields, taken generically: an option added to either model is accepted (and documented, see
`hark.server.openapi`) by every route without touching this package.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import TypeAdapter, ValidationError

from hark.formats import SubtitleOptions
from hark.options import TranscribeOptions
from hark.policy import PolicyError, RequestPolicy
from hark.server.errors import ApiError, invalid, validation_message
from hark.server.uploads import Repeated
from hark.suggest import unknown_keys_message

OPTION_FIELDS: tuple[str, ...] = tuple(TranscribeOptions.model_fields)
SUBTITLE_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(SubtitleOptions))
_SUBTITLES = TypeAdapter(SubtitleOptions)

# whisper-asr-webservice flags with no meaning here (input is always decoded, VAD always runs):
# accepted by /asr, so that its clients keep working, and otherwise ignored.
IGNORED_FIELDS = ("encode", "vad_filter")


def option_group(name: str) -> str | None:
    """The help group of a TranscribeOptions field ("VAD", "Decoding", ...)."""
    info = TranscribeOptions.model_fields.get(name)
    extra = info.json_schema_extra if info is not None else None
    return str(extra.get("group")) if isinstance(extra, dict) else None


def first(value: Any) -> Any:
    """A repeated form/query field counts once: the last value wins, as in most frameworks.
    JSON lists are values of their own ("temperature": [0, 0.2])."""
    return value[-1] if isinstance(value, Repeated) and value else value


def given(fields: Mapping[str, Any], names: Iterable[str]) -> dict[str, Any]:
    """The values of `names` the client actually sent; empty form values count as not sent."""
    out = {}
    for name in names:
        if name in fields:
            value = first(fields[name])
            if value != "":
                out[name] = value
    return out


def transcribe_options(
    fields: Mapping[str, Any],
    policy: RequestPolicy,
    *,
    skip: Iterable[str] = (),
    extra: Mapping[str, Any] | None = None,
) -> TranscribeOptions:
    """`TranscribeOptions` from the request, with the server's policy (defaults and limits,
    `hark.policy`) applied.

    `extra` (route-specific values such as the OpenAI `prompt`) wins over `fields`.
    """
    names = [n for n in OPTION_FIELDS if n not in set(skip)]
    values = given(fields, names)
    values.update(extra or {})
    try:
        options = TranscribeOptions(**values)
    except ValidationError as exc:
        raise ApiError(422, "invalid_parameter", validation_message(exc.errors())) from None
    try:
        return policy.options(options)
    except PolicyError as exc:
        raise ApiError(422, exc.code, str(exc)) from None


def subtitle_options(fields: Mapping[str, Any]) -> SubtitleOptions:
    try:
        return _SUBTITLES.validate_python(given(fields, SUBTITLE_FIELDS))
    except ValidationError as exc:
        raise ApiError(422, "invalid_parameter", validation_message(exc.errors())) from None


def boolean(fields: Mapping[str, Any], name: str, default: bool) -> bool:
    values = given(fields, [name])
    if name not in values:
        return default
    try:
        return TypeAdapter(bool).validate_python(values[name])
    except ValidationError:
        raise invalid(name, "expected true or false") from None


def choice(fields: Mapping[str, Any], name: str, choices: Iterable[str], default: str) -> str:
    value = given(fields, [name]).get(name, default)
    allowed = list(choices)
    if not isinstance(value, str) or value.strip().lower() not in allowed:
        raise invalid(name, f"must be one of {', '.join(allowed)}, not {value!r}")
    return value.strip().lower()


def text(fields: Mapping[str, Any], name: str, max_length: int = 8192) -> str | None:
    value = given(fields, [name]).get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid(name, "expected a string")
    if len(value) > max_length:
        raise invalid(name, f"longer than {max_length} characters")
    return value


def refuse_unknown(
    fields: Mapping[str, Any], known: Iterable[str], renamed: Mapping[str, str] | None = None
) -> None:
    """422 naming every field the route does not know, with the likely intended name (the
    wording `/run` uses): a misspelt `langauge=fr` must not quietly transcribe in English."""
    valid = list(dict.fromkeys(known))
    unknown = [key for key in fields if key not in set(valid)]
    if unknown:
        message = unknown_keys_message(
            unknown, valid, what="parameter", valid_label="valid parameters", renamed=renamed
        )
        raise ApiError(422, "invalid_parameter", message)
