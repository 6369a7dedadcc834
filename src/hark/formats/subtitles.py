"""SRT and WebVTT rendering of cues."""

from __future__ import annotations

from hark.formats.cues import Cue, build_cues
from hark.formats.options import SubtitleOptions
from hark.schema import Transcript


def timestamp(ms: int, separator: str) -> str:
    """`HH:MM:SS<separator>mmm`; hours grow past two digits rather than wrap."""
    hours, rest = divmod(max(ms, 0), 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}{separator}{millis:03d}"


def render_srt(transcript: Transcript, options: SubtitleOptions | None = None) -> str:
    """SubRip. SRT has no escape syntax, so text is written as is, except `-->`."""
    blocks = []
    for number, cue in enumerate(build_cues(transcript, options), start=1):
        lines = cue.render_lines(_srt_text)
        if cue.speaker is not None:
            lines[0] = f"[{_one_line(cue.speaker)}] {lines[0]}"
        times = f"{timestamp(cue.start_ms, ',')} --> {timestamp(cue.end_ms, ',')}"
        blocks.append(f"{number}\n{times}\n" + "\n".join(lines) + "\n")
    return "\n".join(blocks)


def render_vtt(transcript: Transcript, options: SubtitleOptions | None = None) -> str:
    """WebVTT; the speaker goes in a voice tag (`<v SPEAKER_00>`)."""
    blocks = [_vtt_block(cue) for cue in build_cues(transcript, options)]
    return "WEBVTT\n" + "".join("\n" + block for block in blocks)


def _vtt_block(cue: Cue) -> str:
    lines = cue.render_lines(_vtt_escape)
    if cue.speaker is not None:
        lines[0] = f"<v {_vtt_escape(_one_line(cue.speaker))}>{lines[0]}"
    times = f"{timestamp(cue.start_ms, '.')} --> {timestamp(cue.end_ms, '.')}"
    return f"{times}\n" + "\n".join(lines) + "\n"


def _vtt_escape(text: str) -> str:
    # `>` too: it keeps `-->` out of cue text and closes no tag by accident.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _srt_text(text: str) -> str:
    # A line holding `-->` would be read as a timing line by some parsers.
    return text.replace("-->", "->")


def _one_line(text: str) -> str:
    return " ".join(text.split())
