"""Aligned characters -> words, and times for the words alignment could not place.

Times here are float arrays with NaN for "unknown". Whatever happens upstream, `finish_words`
returns words that all have a start and an end inside the segment, in order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from hark.schema import CharAlignment, Word

InterpolateMethod = Literal["nearest", "linear", "ignore"]
INTERPOLATE_METHODS: tuple[str, ...] = ("nearest", "linear", "ignore")


def char_times(
    text_length: int,
    token_chars: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    score: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per character of the text: (start, end, score), NaN where no token placed it.

    `token_chars` maps tokens to characters (-1: delimiter); a character with several tokens
    (a ligature, an accented letter spelled as base + letter) spans all of them.
    """
    cstart = np.full(text_length, np.inf)
    cend = np.full(text_length, -np.inf)
    placed = (token_chars >= 0) & np.isfinite(start) & np.isfinite(end)
    chars = token_chars[placed]
    np.minimum.at(cstart, chars, start[placed])
    np.maximum.at(cend, chars, end[placed])
    counts = np.bincount(chars, minlength=text_length)
    sums = np.bincount(chars, weights=np.nan_to_num(score[placed]), minlength=text_length)
    has = counts > 0
    cstart[~has] = np.nan
    cend[~has] = np.nan
    cscore = np.full(text_length, np.nan)
    cscore[has] = sums[has] / counts[has]
    return cstart, cend, cscore


def word_times(
    spans: Sequence[tuple[int, int]],
    cstart: np.ndarray,
    cend: np.ndarray,
    cscore: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per word: (start, end, score = mean character probability), NaN when no character of
    the word was placed (a word of punctuation only, or a segment that failed to align)."""
    n = len(spans)
    starts = np.full(n, np.nan)
    ends = np.full(n, np.nan)
    scores = np.full(n, np.nan)
    for i, (a, b) in enumerate(spans):
        s = cstart[a:b]
        if np.isfinite(s).any():
            starts[i] = np.nanmin(s)
            ends[i] = np.nanmax(cend[a:b])
            scores[i] = np.nanmean(cscore[a:b])
    return starts, ends, scores


def fallback_times(
    text: str,
    spans: Sequence[tuple[int, int]],
    words: Sequence[Word],
    seg_start: float,
    seg_end: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Whisper's word times carried over to the aligner's words: (start, end, score).

    Whisper's words are found in the text in order (their tokenisation differs: attached
    punctuation, CJK); text the Whisper words do not cover is placed by linear interpolation
    over character positions between the known times and the segment edges.
    """
    n = len(spans)
    length = max(len(text), 1)
    c_start = np.full(len(text), np.nan)
    c_end = np.full(len(text), np.nan)
    c_score = np.full(len(text), np.nan)
    cursor = 0
    for word in words:
        token = word.word.strip()
        pos = text.find(token, cursor) if token else -1
        if pos < 0:
            continue
        c_start[pos : pos + len(token)] = word.start
        c_end[pos : pos + len(token)] = word.end
        c_score[pos : pos + len(token)] = word.score
        cursor = pos + len(token)
    starts, ends, scores = word_times(spans, c_start, c_end, c_score)
    # Anchors (character position -> time) for whatever is still unknown.
    known = np.isfinite(starts)
    pos = [0.0] + [float(spans[i][p]) for i in np.flatnonzero(known) for p in (0, 1)]
    times = [seg_start] + [float(t) for i in np.flatnonzero(known) for t in (starts[i], ends[i])]
    pos.append(float(length))
    times.append(seg_end)
    order = np.argsort(pos, kind="stable")
    xp = np.asarray(pos)[order]
    fp = np.maximum.accumulate(np.asarray(times)[order])
    for i in np.flatnonzero(~known):
        starts[i] = np.interp(spans[i][0], xp, fp)
        ends[i] = np.interp(spans[i][1], xp, fp)
    scores = np.where(np.isfinite(scores), scores, 0.0)
    if n:
        starts, ends = _clamp(starts, ends, seg_start, seg_end)
    return starts, ends, scores


def interpolate(
    starts: np.ndarray,
    ends: np.ndarray,
    spans: Sequence[tuple[int, int]],
    method: InterpolateMethod,
    fallback: tuple[np.ndarray, np.ndarray],
    seg_start: float,
    seg_end: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Times for the words alignment left as NaN.

    - nearest: the times of the nearest aligned word (by position in the text; ties go left),
      as WhisperX does;
    - linear: the gap between the aligned neighbours, shared by character count (the nearest
      aligned word's times before the first and after the last aligned word);
    - ignore: Whisper's own times for the word (`fallback`).
    With no aligned word at all, every method keeps Whisper's times.
    """
    starts = starts.copy()
    ends = ends.copy()
    missing = ~np.isfinite(starts)
    if not missing.any():
        return starts, ends
    aligned = np.flatnonzero(~missing)
    if method == "ignore" or aligned.size == 0:
        starts[missing] = fallback[0][missing]
        ends[missing] = fallback[1][missing]
        return _clamp(starts, ends, seg_start, seg_end)
    for i in np.flatnonzero(missing):
        right = np.searchsorted(aligned, i)
        prev = aligned[right - 1] if right > 0 else None
        nxt = aligned[right] if right < aligned.size else None
        if method == "linear" and prev is not None and nxt is not None:
            lo, hi = ends[prev], starts[nxt]
            # Character offsets measured from the end of the previous aligned word.
            a0 = spans[prev][1]
            total = max(spans[nxt][0] - a0, 1)
            starts[i] = lo + (hi - lo) * (spans[i][0] - a0) / total
            ends[i] = lo + (hi - lo) * (spans[i][1] - a0) / total
            continue
        nearer_next = prev is None or (nxt is not None and nxt - i < i - prev)
        source = nxt if nearer_next else prev
        starts[i] = starts[source]
        ends[i] = ends[source]
    return _clamp(starts, ends, seg_start, seg_end)


def _clamp(
    starts: np.ndarray, ends: np.ndarray, seg_start: float, seg_end: float
) -> tuple[np.ndarray, np.ndarray]:
    """Inside [seg_start, seg_end], start <= end, and starts and ends non-decreasing."""
    starts = np.maximum.accumulate(np.clip(starts, seg_start, seg_end))
    ends = np.maximum.accumulate(np.maximum(np.clip(ends, seg_start, seg_end), starts))
    return starts, ends


def finish_words(
    text: str,
    spans: Sequence[tuple[int, int]],
    aligned: tuple[np.ndarray, np.ndarray, np.ndarray],
    fallback: tuple[np.ndarray, np.ndarray, np.ndarray],
    method: InterpolateMethod,
    seg_start: float,
    seg_end: float,
) -> list[Word]:
    """The output words: aligned ones with their CTC times and score, the others interpolated
    (`interpolated=True`), all inside [seg_start, seg_end] and in order."""
    a_start, a_end, a_score = aligned
    is_aligned = np.isfinite(a_start)
    starts, ends = interpolate(
        a_start, a_end, spans, method, (fallback[0], fallback[1]), seg_start, seg_end
    )
    starts, ends = _clamp(starts, ends, seg_start, seg_end)
    words = []
    for i, (a, b) in enumerate(spans):
        score = a_score[i] if is_aligned[i] else fallback[2][i]
        words.append(
            Word(
                word=text[a:b],
                start=float(starts[i]),
                end=float(ends[i]),
                score=float(np.clip(np.nan_to_num(score), 0.0, 1.0)),
                interpolated=None if is_aligned[i] else True,
            )
        )
    return words


def char_alignments(
    text: str, cstart: np.ndarray, cend: np.ndarray, cscore: np.ndarray
) -> list[CharAlignment]:
    """One entry per character of the text; characters that were not aligned (spaces,
    punctuation) have no times, as in WhisperX."""
    out = []
    for i, char in enumerate(text):
        if np.isfinite(cstart[i]):
            out.append(
                CharAlignment(
                    char=char,
                    start=float(cstart[i]),
                    end=float(cend[i]),
                    score=float(np.clip(cscore[i], 0.0, 1.0)),
                )
            )
        else:
            out.append(CharAlignment(char=char))
    return out
