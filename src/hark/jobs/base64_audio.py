"""Audio sent inline in a job's input: base64 text (as `base64 -w0` or a data URL writes it)
to bytes, with a message that says what is wrong when it is not base64."""

from __future__ import annotations

import base64
import binascii
import re

_DATA_URL = re.compile(r"data:[\w.+-]+/[\w.+-]+(?:;[\w.+-]+=[\w.+-]+)*;base64,", re.IGNORECASE)
_NOT_BASE64 = re.compile(r"[^A-Za-z0-9+/=]")
_URLSAFE = str.maketrans("-_", "+/")
_HOW_TO_ENCODE = "send the file's bytes base64-encoded (for example `base64 -w0 audio.flac`)"


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
