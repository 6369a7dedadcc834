"""Plain renderings: JSON (WhisperX shape), TXT (a line per segment) and TSV."""

from __future__ import annotations

import json

from hark.formats.words import segment_speaker
from hark.schema import Transcript


def render_json(transcript: Transcript) -> str:
    return json.dumps(transcript.to_dict(), ensure_ascii=False) + "\n"


def render_txt(transcript: Transcript) -> str:
    """A line per non-empty segment, `[SPEAKER_00]: ` first when the segment has a speaker."""
    lines = []
    for segment in transcript.segments:
        text = _one_line(segment.text)
        if not text:
            continue
        speaker = segment_speaker(segment)
        lines.append(text if speaker is None else f"[{_one_line(speaker)}]: {text}")
    return "".join(line + "\n" for line in lines)


def render_tsv(transcript: Transcript) -> str:
    """`start\\tend\\ttext` in integer ms, plus a `speaker` column when any speaker is known.

    Plain IANA TSV: no quoting (read with `csv.QUOTE_NONE`); tabs and line breaks in
    text become spaces.
    """
    with_speaker = bool(transcript.speakers)
    rows = [["start", "end", "text", *(["speaker"] if with_speaker else [])]]
    for segment in transcript.segments:
        text = _one_line(segment.text)
        if not text:
            continue
        row = [str(round(segment.start * 1000)), str(round(segment.end * 1000)), text]
        if with_speaker:
            row.append(_one_line(segment_speaker(segment) or ""))
        rows.append(row)
    return "".join("\t".join(row) + "\n" for row in rows)


def _one_line(text: str) -> str:
    return " ".join(text.split())
