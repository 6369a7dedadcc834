"""Transcript responses: the body in the asked format, its Content-Type and a file name."""

from __future__ import annotations

import json
import re
from pathlib import PurePath
from typing import Any
from urllib.parse import quote

from fastapi.responses import JSONResponse, Response

from hark.formats import ALL, NoSpeakersError, SubtitleOptions, content_type, render
from hark.formats import resolve_formats as expand
from hark.schema import Transcript
from hark.server.errors import invalid


def disposition(filename: str | None, extension: str) -> str:
    """`attachment` with an ASCII `filename` and the exact UTF-8 `filename*` (RFC 6266)."""
    stem = PurePath(filename).stem if filename else ""
    stem = stem.strip() or "transcript"
    name = f"{stem}.{extension}"
    ascii_name = re.sub(r"[^A-Za-z0-9._-]+", "_", name)
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"


def all_formats(transcript: Transcript, subtitles: SubtitleOptions) -> dict[str, Any]:
    """Every format that applies, in one object; `json` is embedded as an object."""
    out: dict[str, Any] = {}
    for fmt in expand(ALL, transcript):
        text = render(transcript, fmt, subtitles)
        out[fmt] = json.loads(text) if fmt == "json" else text
    return out


def transcript_response(
    transcript: Transcript, output: str, subtitles: SubtitleOptions, filename: str | None
) -> Response:
    if output == ALL:
        headers = {"Content-Disposition": disposition(filename, "json")}
        return JSONResponse(all_formats(transcript, subtitles), headers=headers)
    try:
        body = render(transcript, output, subtitles)
    except NoSpeakersError:
        raise invalid("output", f"{output} needs speaker labels (diarization)") from None
    headers = {"Content-Disposition": disposition(filename, output)}
    return Response(body, media_type=content_type(output), headers=headers)
