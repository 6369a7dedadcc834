"""A job's result (RunPod worker and Hark jobs alike): the WhisperX JSON clients parse.

`{"segments": [{"start", "end", "text", "words": [{"word", "start", "end", "score",
"speaker"?}], "speaker"?}], "word_segments": [...], "language", "duration"}`, and one string per
requested format (`"srt": "1\\n00:00:00,000 --> ..."`). Hark's extra fields (probabilities,
model info) are left out so that strict WhisperX parsers see nothing unexpected.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from hark.formats import render
from hark.pipeline import Progress
from hark.schema import Segment, Transcript, Word


def whisperx_output(transcript: Transcript, formats: Iterable[str] = ()) -> dict[str, Any]:
    out: dict[str, Any] = {
        "segments": [_segment(s) for s in transcript.segments],
        "word_segments": [_word(w) for w in transcript.word_segments],
        "language": transcript.language,
        "duration": transcript.duration,
    }
    for fmt in formats:
        out[fmt] = render(transcript, fmt)
    return out


def _word(word: Word) -> dict[str, Any]:
    out: dict[str, Any] = {
        "word": word.word,
        "start": word.start,
        "end": word.end,
        "score": round(word.score, 3),
    }
    if word.speaker is not None:
        out["speaker"] = word.speaker
    return out


def _segment(segment: Segment) -> dict[str, Any]:
    out: dict[str, Any] = {
        "start": segment.start,
        "end": segment.end,
        "text": segment.text,
        "words": [_word(w) for w in segment.words],
    }
    if segment.speaker is not None:
        out["speaker"] = segment.speaker
    return out


def progress_payload(progress: Progress) -> dict[str, Any]:
    """What `/status` shows while a job runs: stage and seconds of audio done."""
    percent = 100.0 * progress.done / progress.total if progress.total else 0.0
    return {
        "stage": progress.stage,
        "percent": round(percent, 1),
        "done": round(progress.done, 1),
        "total": round(progress.total, 1),
    }
