"""Speakers into a transcript: words by overlap, segments by majority, split where they change."""

from __future__ import annotations

import itertools
from collections import defaultdict

import numpy as np

from hark.diarize.result import Diarization
from hark.schema import CharAlignment, Segment, Transcript, Word


class _Turns:
    """Turn times as arrays, for vectorised overlap and distance queries."""

    def __init__(self, diarization: Diarization) -> None:
        turns = sorted(diarization.turns, key=lambda t: (t.start, t.end))
        self.start = np.array([t.start for t in turns], dtype=np.float64)
        self.end = np.array([t.end for t in turns], dtype=np.float64)
        self.speaker = [t.speaker for t in turns]

    def speaker_at(self, start: float, end: float, fill_nearest: bool) -> str | None:
        """Speaker with the largest total overlap with [start, end]; the nearest turn's speaker
        when none overlaps and `fill_nearest` is set."""
        if not self.speaker:
            return None
        overlap = np.minimum(self.end, end) - np.maximum(self.start, start)
        if end <= start:
            # A zero-length word: the turn that contains the instant.
            overlap = np.where((self.start <= start) & (start <= self.end), 1.0, 0.0)
        totals: dict[str, float] = defaultdict(float)
        for index in np.flatnonzero(overlap > 0):
            totals[self.speaker[index]] += float(overlap[index])
        if totals:
            return max(totals, key=lambda s: totals[s])  # first appearance wins ties
        if not fill_nearest:
            return None
        gap = np.maximum(self.start - end, start - self.end)
        return self.speaker[int(np.argmin(gap))]


def _majority(words: list[Word]) -> str | None:
    weight: dict[str, float] = defaultdict(float)
    for word in words:
        if word.speaker is not None:
            # A floor so that zero-length (interpolated) words still count.
            weight[word.speaker] += max(word.end - word.start, 0.01)
    return max(weight, key=lambda s: weight[s]) if weight else None


def _text_cuts(text: str, words: list[Word], starts: list[int]) -> list[str] | None:
    """`text` cut before the words at the `starts` indexes, or None if the words cannot be
    found in it in order."""
    positions, cursor = [], 0
    for word in words:
        token = word.word.strip()
        found = text.find(token, cursor) if token else cursor
        if found < 0:
            return None
        positions.append(found)
        cursor = found + len(token)
    bounds = [0, *(positions[i] for i in starts[1:]), len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds)]


def _split_chars(
    chars: list[CharAlignment] | None, cut_times: list[float]
) -> list[list[CharAlignment] | None]:
    if chars is None:
        return [None] * (len(cut_times) + 1)
    pieces: list[list[CharAlignment]] = [[] for _ in range(len(cut_times) + 1)]
    piece = 0
    for char in chars:
        # Untimed characters (spaces, punctuation) stay with the piece before them.
        while char.start is not None and piece < len(cut_times) and char.start >= cut_times[piece]:
            piece += 1
        pieces[piece].append(char)
    return list(pieces)


def _trim(text: str, *, first: bool, last: bool) -> str:
    # Keep the segment's own leading/trailing whitespace; drop what the cuts leave behind.
    text = text if first else text.lstrip()
    return text if last else text.rstrip()


def _split_segment(segment: Segment) -> list[Segment]:
    words = segment.words
    # Unlabelled words (fill_nearest off) stay with the piece they are in, never split one.
    owner: list[str | None] = []
    for word in words:
        owner.append(word.speaker if word.speaker is not None else (owner[-1] if owner else None))
    starts = [0] + [
        i for i in range(1, len(words)) if owner[i] != owner[i - 1] and owner[i - 1] is not None
    ]
    if len(starts) == 1:
        return [segment.model_copy(update={"speaker": _majority(words)})]
    ends = [*starts[1:], len(words)]
    texts = _text_cuts(segment.text, words, starts)
    cut_times = [words[i].start for i in starts[1:]]
    chars = _split_chars(segment.chars, cut_times)
    pieces = []
    for n, (a, b) in enumerate(zip(starts, ends, strict=True)):
        part = words[a:b]
        if texts is not None:
            text = texts[n]
        else:
            glue = "" if any(w.word[:1].isspace() for w in words) else " "
            text = glue.join(w.word for w in part)
        start = segment.start if n == 0 else part[0].start
        end = segment.end if n == len(starts) - 1 else max(part[-1].end, start)
        pieces.append(
            segment.model_copy(
                update={
                    "start": start,
                    "end": end,
                    "text": _trim(text, first=n == 0, last=n == len(starts) - 1),
                    "words": part,
                    "speaker": _majority(part),
                    "chars": chars[n],
                }
            )
        )
    return pieces


def assign_speakers(
    transcript: Transcript,
    diarization: Diarization,
    *,
    fill_nearest: bool = True,
    split_segments: bool = True,
) -> Transcript:
    """A copy of `transcript` with speakers from `diarization`.

    Each word gets the speaker whose turns overlap it most; with `fill_nearest` (default) a word
    that overlaps no turn gets the nearest turn's speaker, so no word is left without one. Each
    segment gets the speaker of most of its word time (for a segment without words: the
    speaker overlapping it most). With `split_segments` (default), a segment whose words change
    speaker is split at those word boundaries, each piece keeping its own words and text.
    """
    turns = _Turns(diarization)
    segments: list[Segment] = []
    for segment in transcript.segments:
        words = [
            w.model_copy(update={"speaker": turns.speaker_at(w.start, w.end, fill_nearest)})
            for w in segment.words
        ]
        if not words:
            speaker = turns.speaker_at(segment.start, segment.end, fill_nearest)
            segments.append(segment.model_copy(update={"speaker": speaker}))
            continue
        labelled = segment.model_copy(update={"words": words})
        if split_segments:
            segments.extend(_split_segment(labelled))
        else:
            segments.append(labelled.model_copy(update={"speaker": _majority(words)}))
    return transcript.model_copy(update={"segments": segments})
