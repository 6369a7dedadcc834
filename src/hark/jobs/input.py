"""The input of one transcription job, as RunPod workers and the async jobs API receive it.

`{"input": {...}}` of a RunPod request, or of `POST /run` on a Hark server, validates into a
`JobInput`: where the audio is (`audio_base_64` / `audio_base64`, or a link in `audio` /
`audio_url`), which renderings to add (`output_formats`), and every `TranscribeOptions` field.
`JobInput` subclasses `TranscribeOptions`, so an option added there (with its validators) is
accepted here without any change. Unknown keys are rejected with a message that names them.

`JobInput.parse(raw)` raises `JobInputError` with one readable message; `transcribe_options()`
gives the options for `Pipeline.transcribe`; `fetch_audio()` returns the encoded audio bytes
(decoded base64, or downloaded over http/https with size and time limits, no redirects, public
addresses only unless allowed).
"""

from __future__ import annotations

import base64
import binascii
import re
import socket
import time
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit

import httpx
from pydantic import (
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from hark.net import NonPublicAddressError, checked_address, pinned_request, port_of
from hark.options import TranscribeOptions
from hark.suggest import MAX_LISTED, unknown_keys_message
from hark.units import format_mib

OutputFormat = Literal["srt", "vtt", "txt", "tsv"]
OUTPUT_FORMATS: tuple[str, ...] = ("srt", "vtt", "txt", "tsv")

BASE64_FIELDS = ("audio_base_64", "audio_base64")
URL_FIELDS = ("audio", "audio_url")
AUDIO_FIELDS = BASE64_FIELDS + URL_FIELDS

_DATA_URL = re.compile(r"data:[\w.+-]+/[\w.+-]+(?:;[\w.+-]+=[\w.+-]+)*;base64,", re.IGNORECASE)
_NOT_BASE64 = re.compile(r"[^A-Za-z0-9+/=]")
_URLSAFE = str.maketrans("-_", "+/")
_HOW_TO_ENCODE = "send the file's bytes base64-encoded (for example `base64 -w0 audio.flac`)"
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


class JobInputError(ValueError):
    """The job input cannot be used; the message says what to change. `code` is stable."""

    code: ClassVar[str] = "invalid_input"


class AudioFetchError(JobInputError):
    """The audio link could not be downloaded."""

    code: ClassVar[str] = "audio_fetch_failed"


class AudioTooLargeError(JobInputError):
    """The audio is over the size limit."""

    code: ClassVar[str] = "audio_too_large"


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
        raise ValueError(f"must be an http:// or https:// link, not {_shorten(value)}{hint}")

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

    def fetch_audio(
        self, *, max_bytes: int | None = None, timeout: float = 60.0, allow_private: bool = False
    ) -> bytes:
        """The encoded audio: decoded base64, or downloaded within `timeout` seconds (public
        addresses only unless `allow_private`; see `download`).

        Raises `AudioTooLargeError` over `max_bytes`, `AudioFetchError` when a link fails.
        """
        if self._audio_data is not None:
            if max_bytes is not None and len(self._audio_data) > max_bytes:
                raise AudioTooLargeError(
                    f"{self.source_field} holds {format_mib(len(self._audio_data))} of audio, "
                    f"over the {format_mib(max_bytes)} limit; send a link in audio_url or "
                    "compress the audio"
                )
            return self._audio_data
        url = self.url
        assert url is not None  # the validator guarantees one source
        return download(
            url,
            field=self.source_field,
            max_bytes=max_bytes,
            timeout=timeout,
            allow_private=allow_private,
        )


def decode_base64(value: str, field: str = "audio_base_64") -> bytes:
    """Bytes of a base64 string: data-URL prefix, line breaks, URL-safe alphabet and missing
    padding are tolerated; anything else raises `ValueError` with what is wrong."""
    text = value.strip()
    if match := _DATA_URL.match(text):
        text = text[match.end() :]
    elif text[:5].lower() == "data:":
        raise ValueError(
            f"{field} is a data URL without ';base64,' (it must look like "
            f"data:audio/flac;base64,...); {_HOW_TO_ENCODE}"
        )
    elif text[:8].lower().startswith(("http://", "https://")):
        raise ValueError(f"{field} holds a link, not base64; send links as audio_url")
    if re.search(r"\s", text):
        text = re.sub(r"\s+", "", text)  # `base64` wraps lines at 76 characters
    if not text:
        raise ValueError(f"{field} is empty; {_HOW_TO_ENCODE}")
    text = text.translate(_URLSAFE)
    if bad := _NOT_BASE64.search(text):
        raise ValueError(
            f"{field} is not valid base64: character {bad.group()!r} at position "
            f"{bad.start()} is not in the base64 alphabet; {_HOW_TO_ENCODE}"
        )
    body = text.rstrip("=")
    if "=" in body:
        raise ValueError(
            f"{field} is not valid base64: '=' padding in the middle at position "
            f"{body.index('=')} (several files joined?); {_HOW_TO_ENCODE}"
        )
    if len(body) % 4 == 1:
        raise ValueError(
            f"{field} is not valid base64: {len(body)} characters cannot be complete "
            f"base64 (cut short?); {_HOW_TO_ENCODE}"
        )
    try:
        return base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
    except binascii.Error as exc:  # pragma: no cover - the checks above catch these first
        raise ValueError(f"{field} is not valid base64 ({exc}); {_HOW_TO_ENCODE}") from None


def download(
    url: str,
    *,
    field: str = "audio_url",
    max_bytes: int | None = None,
    timeout: float = 60.0,
    allow_private: bool = False,
) -> bytes:
    """GET `url` within `timeout` seconds in total: http/https only, redirects not followed,
    and, unless `allow_private`, only public addresses.

    The host is resolved once, checked, and connected to by that address (the name stays in
    the Host header and TLS SNI), so a DNS answer that changes in between cannot reach an
    internal service.
    """
    deadline = time.monotonic() + timeout
    link = _shorten(url)
    try:
        parsed = httpx.URL(url)
        address = _checked_address(parsed, field, link, allow_private)
        with (
            httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client,
            client.stream("GET", **pinned_request(parsed, address)) as response,
        ):
            if response.is_redirect:
                where = _shorten(response.headers.get("location", "?"))
                raise AudioFetchError(
                    f"{field} {link} redirects (HTTP {response.status_code}) to {where}; "
                    "redirects are not followed, so give the final link"
                )
            if response.status_code >= 400:
                raise AudioFetchError(
                    f"downloading {field} {link} failed: HTTP {response.status_code} "
                    f"{response.reason_phrase}; check that the link is public and still valid"
                )
            declared = response.headers.get("content-length", "")
            if max_bytes is not None and declared.isdigit() and int(declared) > max_bytes:
                raise _too_large(field, link, int(declared), max_bytes)
            data = bytearray()
            for chunk in response.iter_bytes():  # as received, so the deadline is checked
                data += chunk
                if max_bytes is not None and len(data) > max_bytes:
                    raise _too_large(field, link, None, max_bytes)
                if time.monotonic() > deadline:
                    raise _timed_out(field, link, timeout)
    except httpx.TimeoutException:
        raise _timed_out(field, link, timeout) from None
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise AudioFetchError(f"downloading {field} {link} failed: {exc}") from None
    return bytes(data)


def _checked_address(url: httpx.URL, field: str, link: str, allow_private: bool) -> str:
    try:
        infos = socket.getaddrinfo(url.host, port_of(url), type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise AudioFetchError(f"{field} {link}: cannot resolve {url.host!r} ({exc})") from None
    try:
        return checked_address(infos, allow_private=allow_private)
    except NonPublicAddressError as exc:
        raise AudioFetchError(
            f"{field} {link} points to a non-public address ({exc.address}); links must be "
            "public (HARK_ALLOW_PRIVATE_URLS=true allows others on trusted networks)"
        ) from None


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


def _too_large(field: str, link: str, size: int | None, limit: int) -> AudioTooLargeError:
    actual = f" ({format_mib(size)})" if size is not None else ""
    return AudioTooLargeError(
        f"{field} {link} is over the {format_mib(limit)} download limit{actual}; "
        "send a shorter or more compressed file"
    )


def _timed_out(field: str, link: str, timeout: float) -> AudioFetchError:
    return AudioFetchError(
        f"downloading {field} {link} took longer than {timeout:g} s; use a faster host "
        "or a smaller file"
    )


def _shorten(value: str, limit: int = 80) -> str:
    return repr(value if len(value) <= limit else value[: limit - 3] + "...")
