"""The input of one transcription job, as RunPod workers and the async jobs API receive it.

`{"input": {...}}` of a RunPod request, or of `POST /run` on a Hark server, validates into a
`JobInput`: where the audio is (`audio_base_64` / `audio_base64`, or a link in `audio` /
`audio_url`), which renderings to add (`output_formats`), and every `TranscribeOptions` field.
`JobInput` subclasses `TranscribeOptions`, so an option added there (with its validators) is
accepted here without any change. Unknown keys are rejected with a message that names them.

`JobInput.parse(raw)` raises `JobInputError` with one readable message; `transcribe_options()`
gives the options for `Engine.transcribe`; `open_audio(fetcher)` gives the encoded audio as a
file (decoded base64 by `hark.jobs.base64_audio`, or downloaded by `hark.jobs.download`).
"""

from __future__ import annotations

import io
import re
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from hark.jobs.base64_audio import decode_base64
from hark.jobs.download import fetch
from hark.jobs.errors import AudioTooLargeError, JobInputError
from hark.net import Fetched, Fetcher, quoted
from hark.options import TranscribeOptions
from hark.suggest import MAX_LISTED, unknown_keys_message
from hark.units import format_mib

OutputFormat = Literal["srt", "vtt", "txt", "tsv"]
OUTPUT_FORMATS: tuple[str, ...] = ("srt", "vtt", "txt", "tsv")

BASE64_FIELDS = ("audio_base_64", "audio_base64")
URL_FIELDS = ("audio", "audio_url")
AUDIO_FIELDS = BASE64_FIELDS + URL_FIELDS

# Keys other Whisper workers use, with what to send to Hark instead.
_RENAMED = {
    "audio_file": "use audio_url for a link or audio_base_64 for the file itself",
    "file": "use audio_url for a link or audio_base_64 for the file itself",
    "url": "use audio_url",
    "model": "the model is chosen when the worker starts (HARK_MODEL, or the image's "
    "MODEL build argument), not per job",
}


# Far more than the options there are, far fewer than a hostile body can hold.
MAX_INPUT_KEYS = 200
# Validation problems listed in one message; the rest are counted.
_MAX_LISTED = MAX_LISTED


class JobInput(TranscribeOptions):
    """One job's input: the audio (exactly one source), output formats and every option."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    audio_base_64: str | None = Field(
        None,
        description="The audio file, base64-encoded; a data:audio/...;base64, prefix is allowed.",
        json_schema_extra={"group": "Input"},
    )
    audio_base64: str | None = Field(
        None, description="Same as audio_base_64.", json_schema_extra={"group": "Input"}
    )
    audio: str | None = Field(
        None,
        description="An http(s) link to the audio file (downloaded, redirects not followed).",
        json_schema_extra={"group": "Input"},
    )
    audio_url: str | None = Field(
        None, description="Same as audio.", json_schema_extra={"group": "Input"}
    )
    output_formats: list[OutputFormat] = Field(
        default_factory=list,
        description="Renderings returned as strings beside the JSON: srt, vtt, txt, tsv.",
        json_schema_extra={"group": "Input"},
    )

    _audio_data: bytes | None = PrivateAttr(None)

    @classmethod
    def parse(cls, raw: Any) -> JobInput:
        """Validate a job's `input` object; raises `JobInputError` with one readable message."""
        if not isinstance(raw, dict):
            raise JobInputError(
                f"the job input must be a JSON object such as "
                f'{{"audio_base_64": "..."}}, not {type(raw).__name__}'
            )
        if len(raw) > MAX_INPUT_KEYS:
            # Refused before validation: hundreds of thousands of unknown keys would otherwise
            # cost seconds of suggestions and a message of megabytes.
            raise JobInputError(
                f"the job input has {len(raw)} keys; at most {MAX_INPUT_KEYS} are accepted "
                f"(valid options: {', '.join(cls.valid_keys())})"
            )
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            raise JobInputError(describe_errors(exc)) from None

    @classmethod
    def valid_keys(cls) -> list[str]:
        """Every accepted key: the audio fields first, then the options."""
        rest = [k for k in cls.model_fields if k not in AUDIO_FIELDS]
        return [*AUDIO_FIELDS, *rest]

    @field_validator("output_formats", mode="before")
    @classmethod
    def _formats(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [p for p in re.split(r"[\s,]+", value) if p]
        if isinstance(value, list):
            value = [v.strip().lower() if isinstance(v, str) else v for v in value]
            return list(dict.fromkeys(value))  # drop repeats, keep order
        return value

    @field_validator(*URL_FIELDS)
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        parts = urlsplit(value)
        if parts.scheme.lower() in ("http", "https") and parts.hostname:
            return value
        hint = ""
        if not parts.scheme and len(value) > 200:
            hint = "; to send the file itself, use audio_base_64"
        raise ValueError(f"must be an http:// or https:// link, not {quoted(value)}{hint}")

    @model_validator(mode="after")
    def _one_source(self) -> JobInput:
        given = [f for f in AUDIO_FIELDS if getattr(self, f) is not None]
        if not given:
            raise ValueError(
                "no audio: send the file as audio_base_64 (its bytes, base64-encoded) "
                "or a link to it as audio_url (http or https)"
            )
        if len(given) > 1:
            raise ValueError(f"give the audio in one key only, not in {' and '.join(given)}")
        field = given[0]
        if field in BASE64_FIELDS:
            self._audio_data = decode_base64(getattr(self, field), field)
        return self

    @property
    def source_field(self) -> str:
        """The key that holds the audio."""
        return next(f for f in AUDIO_FIELDS if getattr(self, f) is not None)

    @property
    def url(self) -> str | None:
        """The audio link, or None when the audio came inline."""
        return self.audio_url or self.audio

    def transcribe_options(self, **overrides: Any) -> TranscribeOptions:
        """The `TranscribeOptions` part of the input; `overrides` replace fields."""
        data = self.model_dump(include=set(TranscribeOptions.model_fields))
        return TranscribeOptions.model_validate({**data, **overrides})

    def inline_audio(self, max_bytes: int | None = None) -> bytes:
        """The decoded base64 audio of an input without a link (the job store keeps it).

        Raises `AudioTooLargeError` over `max_bytes`."""
        data = self._audio_data
        assert data is not None  # an input with a link has no inline audio
        if max_bytes is not None and len(data) > max_bytes:
            raise AudioTooLargeError(
                f"{self.source_field} holds {format_mib(len(data))} of audio, "
                f"over the {format_mib(max_bytes)} limit; send a link in audio_url or "
                "compress the audio"
            )
        return data

    def open_audio(self, fetcher: Fetcher) -> Fetched:
        """The encoded audio as a file to read and close (`with`): the decoded base64, or the
        link downloaded by `fetcher` (its caps, spooled to disk above its threshold, so a large
        download never sits whole in memory). Raises `AudioTooLargeError` over the fetcher's
        size cap, `AudioFetchError` when a link fails."""
        if self._audio_data is not None:
            data = self.inline_audio(fetcher.max_bytes)
            return Fetched(io.BytesIO(data), len(data), None)
        url = self.url
        assert url is not None  # the validator guarantees one source
        return fetch(url, fetcher, field=self.source_field)


def describe_errors(exc: ValidationError) -> str:
    """One message for all validation errors, unknown keys first with suggestions."""
    valid = JobInput.valid_keys()
    parts: list[str] = []
    unknown = [str(e["loc"][0]) for e in exc.errors() if e["type"] == "extra_forbidden"]
    if unknown:
        parts.append(
            unknown_keys_message(
                unknown, valid, what="input option", valid_label="valid options", renamed=_RENAMED
            )
        )
    others = [e for e in exc.errors() if e["type"] != "extra_forbidden"]
    for error in others[:_MAX_LISTED]:
        message = str(error["msg"]).removeprefix("Value error, ")[:300]
        where = ".".join(str(p) for p in error["loc"])[:100]
        parts.append(f"{where}: {message}" if where else message)
    if len(others) > _MAX_LISTED:
        parts.append(f"and {len(others) - _MAX_LISTED} more problems")
    return "; ".join(parts)
