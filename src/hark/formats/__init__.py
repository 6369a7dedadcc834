"""Output writers: JSON, TXT, TSV, SRT, VTT and RTTM renderings of a `Transcript`.

`render` returns the text, `write` sends it to a path or stream, `write_all` writes
several formats side by side as `<basename>.<format>`. Subtitle layout is shaped by
`SubtitleOptions`; the other formats ignore them.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from os import PathLike
from pathlib import Path
from typing import IO

from hark.formats.cues import Cue, build_cues
from hark.formats.options import SubtitleOptions
from hark.formats.rttm import NoSpeakersError, render_rttm, speaker_turns
from hark.formats.subtitles import render_srt, render_vtt
from hark.formats.text import render_json, render_tsv, render_txt
from hark.schema import Transcript

__all__ = [
    "ALL",
    "FORMATS",
    "FORMAT_CHOICES",
    "Cue",
    "NoSpeakersError",
    "SubtitleOptions",
    "build_cues",
    "content_type",
    "render",
    "resolve_formats",
    "speaker_turns",
    "write",
    "write_all",
]

FORMATS = ("json", "txt", "tsv", "srt", "vtt", "rttm")
"""Every concrete format; each is also its file extension."""
ALL = "all"
"""Stands for every format that applies to the transcript (see `resolve_formats`)."""
FORMAT_CHOICES = (*FORMATS, ALL)

_CONTENT_TYPES = {
    "json": "application/json",
    "txt": "text/plain; charset=utf-8",
    "tsv": "text/tab-separated-values; charset=utf-8",
    "srt": "application/x-subrip; charset=utf-8",
    "vtt": "text/vtt; charset=utf-8",
    "rttm": "text/plain; charset=utf-8",
}

_Renderer = Callable[[Transcript, SubtitleOptions | None, str], str]
_RENDERERS: dict[str, _Renderer] = {
    "json": lambda t, o, u: render_json(t),
    "txt": lambda t, o, u: render_txt(t),
    "tsv": lambda t, o, u: render_tsv(t),
    "srt": lambda t, o, u: render_srt(t, o),
    "vtt": lambda t, o, u: render_vtt(t, o),
    "rttm": lambda t, o, u: render_rttm(t, u),
}


def _check(fmt: str) -> str:
    name = fmt.strip().lower()
    if name not in _RENDERERS:
        raise ValueError(f"unknown output format {fmt!r}; valid: {', '.join(FORMATS)}")
    return name


def content_type(fmt: str) -> str:
    """The HTTP Content-Type of a format."""
    return _CONTENT_TYPES[_check(fmt)]


def render(
    transcript: Transcript,
    fmt: str,
    options: SubtitleOptions | None = None,
    *,
    uri: str = "audio",
) -> str:
    """The transcript as text in `fmt`. `uri` names the recording in RTTM lines.

    Raises `ValueError` for an unknown format (also for "all": that is several files)
    and `NoSpeakersError` for RTTM without speaker labels.
    """
    return _RENDERERS[_check(fmt)](transcript, options, uri)


def write(
    transcript: Transcript,
    fmt: str,
    path_or_stream: str | PathLike[str] | IO[str] | IO[bytes],
    options: SubtitleOptions | None = None,
    *,
    uri: str | None = None,
) -> None:
    """Write `render(...)` as UTF-8 with `\\n` line ends to a path or a text/binary stream.

    The RTTM `uri` defaults to the file name without extension ("audio" for streams).
    """
    if isinstance(path_or_stream, str | PathLike):
        path = Path(path_or_stream)
        text = render(transcript, fmt, options, uri=uri or path.stem)
        path.write_text(text, encoding="utf-8", newline="")
        return
    text = render(transcript, fmt, options, uri=uri or "audio")
    if isinstance(path_or_stream, io.RawIOBase | io.BufferedIOBase):
        path_or_stream.write(text.encode("utf-8"))
    else:
        path_or_stream.write(text)  # type: ignore[arg-type]


def resolve_formats(formats: str | Iterable[str], transcript: Transcript) -> list[str]:
    """Validated format names, "all" expanded, duplicates dropped, order kept.

    "all" means every format that applies: RTTM only when the transcript has speakers.
    An explicitly named "rttm" stays, so rendering it fails loudly without speakers.
    """
    names = [formats] if isinstance(formats, str) else list(formats)
    resolved: list[str] = []
    for name in names:
        if name.strip().lower() == ALL:
            wanted = [f for f in FORMATS if f != "rttm" or transcript.speakers]
        else:
            wanted = [_check(name)]
        resolved.extend(f for f in wanted if f not in resolved)
    return resolved


def write_all(
    transcript: Transcript,
    out_dir: Path,
    basename: str,
    formats: str | Iterable[str] = ALL,
    options: SubtitleOptions | None = None,
) -> list[Path]:
    """Write `<out_dir>/<basename>.<format>` for each format; returns the paths in order.

    Everything is rendered before the first file is written, so a failing format
    (unknown name, RTTM without speakers) leaves no partial set behind.
    """
    rendered = [
        (fmt, render(transcript, fmt, options, uri=basename))
        for fmt in resolve_formats(formats, transcript)
    ]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt, text in rendered:
        path = out_dir / f"{basename}.{fmt}"
        path.write_text(text, encoding="utf-8", newline="")
        paths.append(path)
    return paths
