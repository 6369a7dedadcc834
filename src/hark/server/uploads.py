"""Read a request's audio and fields: multipart, url-encoded form, JSON with base64, raw body.

Uploads stream into spooled temporary files (memory up to 1 MiB, then disk) and are cut off as
soon as they pass `HARK_MAX_UPLOAD_MB`, so an oversize upload is refused with 413 without ever
being held whole. `audio_url` downloads live in `hark.server.urls`.
"""

from __future__ import annotations

import base64
import binascii
import json
import tempfile
from dataclasses import dataclass, field
from typing import IO, Any

from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.types import Message

from hark.server.errors import ApiError, invalid
from hark.units import MIB, format_mib

FILE_FIELDS = ("file", "audio_file")
SPOOL_BYTES = MIB
# Room for multipart boundaries, headers and the text fields next to the file.
_FORM_OVERHEAD = 256 * 1024
_RAW_TYPES = ("audio/", "video/", "application/octet-stream")


class Repeated(list[Any]):
    """The values of a form or query field sent more than once (unlike a JSON list value)."""


@dataclass
class Upload:
    """Audio bytes in a seekable file positioned at 0; `close()` frees the spool."""

    file: IO[bytes]
    filename: str | None
    size: int

    def close(self) -> None:
        self.file.close()


@dataclass
class RequestData:
    """Query fields overlaid by body fields (a repeated field becomes `Repeated`), and the
    audio."""

    fields: dict[str, Any] = field(default_factory=dict)
    upload: Upload | None = None
    _closers: list[Any] = field(default_factory=list)

    async def close(self) -> None:
        if self.upload is not None:
            self.upload.close()
        for form in self._closers:
            await form.close()


def new_spool() -> IO[bytes]:
    """A temporary file in memory up to 1 MiB, then on disk; the `Upload` holding it closes it."""
    return tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)


def too_large(limit_bytes: int) -> ApiError:
    return ApiError(
        413,
        "upload_too_large",
        f"the audio is larger than the server's limit of {format_mib(limit_bytes)}",
    )


async def read_request(request: Request, max_bytes: int) -> RequestData:
    """Parse whatever body the client sent; the caller must `await data.close()`."""
    data = RequestData(fields=_multi(request.query_params.multi_items()))
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype in ("multipart/form-data", "application/x-www-form-urlencoded"):
        await _read_form(request, max_bytes, data)
    elif ctype == "application/json" or ctype.endswith("+json"):
        await _read_json(request, max_bytes, data)
    elif ctype.startswith(_RAW_TYPES):
        spool = new_spool()
        async for chunk in _limited(request, max_bytes).stream():
            spool.write(chunk)
        spool.seek(0)
        data.upload = Upload(spool, None, _size(spool))
    elif ctype:
        raise ApiError(
            415,
            "unsupported_media_type",
            f"cannot read a {ctype[:100]} body: send multipart/form-data, a form, JSON, or the "
            "raw audio as audio/*, video/* or application/octet-stream",
        )
    return data


async def _read_form(request: Request, max_bytes: int, data: RequestData) -> None:
    body = _limited(request, max_bytes, slack=_FORM_OVERHEAD)
    try:
        form = await body.form(max_files=len(FILE_FIELDS), max_fields=500)
    except (MultiPartException, HTTPException) as exc:
        # Starlette turns its parser's errors into HTTPException(400) inside an app.
        detail = exc.message if isinstance(exc, MultiPartException) else exc.detail
        raise ApiError(400, "invalid_body", f"invalid form body: {detail}") from None
    data._closers.append(form)
    fields: list[tuple[str, Any]] = []
    for key, value in form.multi_items():
        if isinstance(value, UploadFile):
            if key not in FILE_FIELDS:
                raise invalid(key, f"unexpected file; send the audio as {FILE_FIELDS[0]!r}")
            if data.upload is not None:
                raise invalid(key, "send one audio file per request")
            size = _size(value.file)
            if size > max_bytes:
                raise too_large(max_bytes)
            data.upload = Upload(value.file, value.filename, size)
        elif key in FILE_FIELDS:
            raise invalid(key, "expected a file upload (multipart/form-data with a filename)")
        else:
            fields.append((key, value))
    data.fields.update(_multi(fields))


async def _read_json(request: Request, max_bytes: int, data: RequestData) -> None:
    # Base64 is 4/3 of the audio's size.
    body = _limited(request, max_bytes, slack=max_bytes // 3 + _FORM_OVERHEAD)
    raw = b"".join([chunk async for chunk in body.stream()])
    payload = load_json(raw or b"{}")
    if not isinstance(payload, dict):
        raise ApiError(400, "invalid_body", "the JSON body must be an object")
    audio = payload.pop("audio", None)
    filename = payload.pop("filename", None)
    data.fields.update(payload)
    if audio is None:
        return
    if not isinstance(audio, str):
        raise invalid("audio", "expected a base64 string")
    if audio.startswith("data:") and "," in audio:  # data: URLs from browsers
        audio = audio.split(",", 1)[1]
    try:
        decoded = base64.b64decode(audio, validate=True)
    except (binascii.Error, ValueError):
        raise invalid("audio", "not valid base64") from None
    if len(decoded) > max_bytes:
        raise too_large(max_bytes)
    spool = new_spool()
    spool.write(decoded)
    spool.seek(0)
    name = filename if isinstance(filename, str) else None
    data.upload = Upload(spool, name, len(decoded))


def load_json(raw: bytes) -> Any:
    """A JSON body, or ApiError(400) with a short message: malformed, not UTF-8, or nested
    deeper than the parser allows (Python's parser stops with RecursionError within
    microseconds, long before memory matters)."""
    try:
        return json.loads(raw)
    except RecursionError:
        raise ApiError(400, "invalid_body", "the JSON body is nested too deeply") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        reason = str(exc)[:200]
        raise ApiError(400, "invalid_body", f"the body is not valid JSON: {reason}") from None


def _limited(request: Request, max_bytes: int, slack: int = 0) -> Request:
    """The same request, but reading its body raises 413 once it passes `max_bytes + slack`."""
    allowed = max_bytes + slack
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > allowed:
        raise too_large(max_bytes)
    received = 0

    async def receive() -> Message:
        nonlocal received
        message = await request.receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > allowed:
                raise too_large(max_bytes)
        return message

    return Request(request.scope, receive)


def _multi(items: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in items:
        if key not in out:
            out[key] = value
        elif isinstance(out[key], Repeated):
            out[key].append(value)
        else:
            out[key] = Repeated([out[key], value])
    return out


def _size(f: IO[bytes]) -> int:
    position = f.tell()
    size = f.seek(0, 2)
    f.seek(position)
    return size
