"""`align`: Whisper segments + the audio -> the same segments with CTC-aligned word times.

Per segment: the text becomes model tokens (wildcards for what the model cannot spell); the
model's frame log-probabilities over the segment's audio are computed (in windows when long);
Viterbi finds the best path of the tokens; characters, then words, take the times of their
tokens. Long segments are aligned in pieces split at word boundaries, so the trellis
(frames x tokens) stays bounded. Words that still have no time are interpolated; every word
always leaves with a start and an end inside its segment.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from hark.align.ctc import forced_align, token_spans, with_wildcard
from hark.align.registry import AlignModel
from hark.align.text import AlignmentText, prepare_text
from hark.align.words import (
    INTERPOLATE_METHODS,
    InterpolateMethod,
    char_alignments,
    char_times,
    fallback_times,
    finish_words,
    word_times,
)
from hark.schema import Segment

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AlignOptions:
    """Limits of the aligner's work per segment (the defaults suit every model WhisperX uses)."""

    window_seconds: float = 30.0
    """Longest audio the model sees in one pass; longer segments are run in windows."""
    window_context_seconds: float = 1.0
    """Extra audio each window sees on either side (its frames are discarded)."""
    max_span_seconds: float = 30.0
    """Longest stretch one Viterbi trellis covers; longer segments are aligned in pieces."""
    span_margin_seconds: float = 2.0
    """Slack around each piece's Whisper times, so a piece may catch words Whisper misplaced."""

    def __post_init__(self) -> None:
        if self.window_seconds <= 4 * self.window_context_seconds:
            raise ValueError("window_seconds must exceed 4 x window_context_seconds")
        if self.max_span_seconds <= 2 * self.span_margin_seconds:
            raise ValueError("max_span_seconds must exceed 2 x span_margin_seconds")


def align(
    segments: Sequence[Segment],
    audio: np.ndarray,
    model: AlignModel,
    *,
    return_char_alignments: bool = False,
    interpolate_method: InterpolateMethod = "nearest",
    options: AlignOptions | None = None,
    progress_callback: Callable[[int, int], None] | None = None,
) -> list[Segment]:
    """CTC word times for `segments` (times in seconds from the start of `audio`).

    `audio` is the whole file, 16 kHz mono float32. Returns one segment per input segment,
    with the same text; its words are re-derived from the text (split on spaces, or per
    character for languages without spaces) and carry CTC times, `score` = mean character
    probability; words that could not be aligned are interpolated (`interpolate_method`) and
    marked `interpolated=True`. The segment's start/end shrink to its first and last word.
    `progress_callback(done, total)` is called after each segment.
    """
    if interpolate_method not in INTERPOLATE_METHODS:
        raise ValueError(f"interpolate_method must be one of {', '.join(INTERPOLATE_METHODS)}")
    options = options or AlignOptions()
    samples = np.asarray(audio, dtype=np.float32).reshape(-1)
    out = []
    for index, segment in enumerate(segments):
        out.append(
            _align_segment(
                segment, samples, model, options, interpolate_method, return_char_alignments
            )
        )
        if progress_callback is not None:
            progress_callback(index + 1, len(segments))
    return out


def _align_segment(
    segment: Segment,
    samples: np.ndarray,
    model: AlignModel,
    options: AlignOptions,
    method: InterpolateMethod,
    with_chars: bool,
) -> Segment:
    text = segment.text
    prepared = prepare_text(text, model.vocabulary, spaces=model.spaces)
    spans = prepared.words
    seg_start, seg_end = float(segment.start), max(float(segment.end), float(segment.start))
    fallback = fallback_times(text, spans, segment.words, seg_start, seg_end)
    n_chars = len(text)
    token_start = np.full(prepared.tokens.size, np.nan)
    token_end = np.full(prepared.tokens.size, np.nan)
    token_score = np.full(prepared.tokens.size, np.nan)

    duration = samples.size / model.sample_rate
    a = max(int(seg_start * model.sample_rate), 0)
    b = min(math.ceil(seg_end * model.sample_rate), samples.size)
    if prepared.tokens.size and b > a and seg_start < duration:
        log_probs = model.log_probs(
            samples[a:b],
            window_seconds=options.window_seconds,
            context_seconds=options.window_context_seconds,
        )
        frame_s = model.frame_seconds
        offset = a / model.sample_rate
        for first, last, lo, path, lp, tokens in _align_pieces(
            prepared, fallback, log_probs, model, options, offset
        ):
            spans_ = token_spans(path, lp, tokens)
            placed = spans_.start >= 0
            idx = np.arange(first, last)[placed]
            token_start[idx] = offset + (lo + spans_.start[placed]) * frame_s
            token_end[idx] = offset + (lo + spans_.end[placed]) * frame_s
            token_score[idx] = spans_.score[placed]
    elif prepared.tokens.size:
        logger.warning(
            "Segment %.2f-%.2f s lies outside the audio; Whisper times kept", seg_start, seg_end
        )

    cstart, cend, cscore = char_times(
        n_chars, prepared.token_chars, token_start, token_end, token_score
    )
    # Frames run up to the receptive field's end: keep characters inside the segment.
    cstart = np.clip(cstart, seg_start, seg_end)
    cend = np.clip(cend, cstart, seg_end)
    aligned = word_times(spans, cstart, cend, cscore)
    words = finish_words(text, spans, aligned, fallback, method, seg_start, seg_end)
    update: dict[str, object] = {"words": words, "chars": None}
    if words:
        update["start"] = words[0].start
        update["end"] = max(w.end for w in words)
    if with_chars:
        update["chars"] = char_alignments(text, cstart, cend, cscore)
    return segment.model_copy(update=update)


def _align_pieces(
    prepared: AlignmentText,
    fallback: tuple[np.ndarray, np.ndarray, np.ndarray],
    log_probs: np.ndarray,
    model: AlignModel,
    options: AlignOptions,
    offset: float,
) -> list[tuple[int, int, int, np.ndarray, np.ndarray, np.ndarray]]:
    """Viterbi over the segment, in pieces of words when it is longer than max_span_seconds.

    Returns (first token, last token (exclusive), first frame, path, log-probs, tokens) per
    piece that aligned; pieces that fail (too many tokens for their frames) are left out and
    their words get interpolated.
    """
    frames = log_probs.shape[0]
    frame_s = model.frame_seconds
    n_tokens = prepared.tokens.size
    span_frames = max(int(options.max_span_seconds / frame_s), 1)
    if frames <= span_frames:
        pieces = [(0, n_tokens, 0, frames)]
    else:
        pieces = _plan_pieces(prepared, fallback, frames, frame_s, options, offset)

    results = []
    floor = 0  # pieces go in order: the next one starts where the previous one ended
    margin = int(options.span_margin_seconds / frame_s)
    for first, last, lo, hi in pieces:
        lo = max(lo, floor)
        hi = min(max(hi, lo + 1), frames, lo + span_frames + 2 * margin)
        tokens = prepared.tokens[first:last]
        optional = prepared.optional[first:last]
        lp, tokens, wildcard = with_wildcard(log_probs[lo:hi], tokens, model.vocabulary.letter_ids)
        path = forced_align(
            lp, tokens, blank=model.vocabulary.blank_id, optional=optional, wildcard=wildcard
        )
        if path is None:
            logger.debug("Piece of %d tokens does not fit %d frames", last - first, hi - lo)
            continue
        results.append((first, last, lo, path, lp, tokens))
        emitted = np.flatnonzero(path >= 0)
        if emitted.size:
            floor = lo + int(emitted[-1]) + 1
    return results


def _plan_pieces(
    prepared: AlignmentText,
    fallback: tuple[np.ndarray, np.ndarray, np.ndarray],
    frames: int,
    frame_s: float,
    options: AlignOptions,
    offset: float,
) -> list[tuple[int, int, int, int]]:
    """Split a long segment's tokens at word boundaries into pieces whose Whisper times span at
    most max_span_seconds less the margins: (first token, last token, first frame, end frame)."""
    starts, ends = fallback[0] - offset, fallback[1] - offset
    word_starts = np.array([s for s, _ in prepared.words], dtype=np.int64)
    # Word of each token; a delimiter belongs to the word after it.
    chars = prepared.token_chars.copy()
    for i in range(chars.size - 2, -1, -1):
        if chars[i] < 0:
            chars[i] = chars[i + 1]
    token_word = np.searchsorted(word_starts, chars, side="right") - 1
    budget = options.max_span_seconds - 2 * options.span_margin_seconds
    margin = options.span_margin_seconds
    pieces = []
    first = 0
    n = token_word.size
    while first < n:
        # Skip a leading delimiter: it is optional, and a piece should start on a letter.
        while first < n and prepared.optional[first]:
            first += 1
        if first >= n:
            break
        w0 = token_word[first]
        last = first + 1
        while last < n and ends[token_word[last]] - starts[w0] <= budget:
            last += 1
        # Never cut a word in two.
        while last < n and token_word[last] == token_word[last - 1]:
            last += 1
        lo = max(int((starts[w0] - margin) / frame_s), 0)
        hi = min(math.ceil((ends[token_word[last - 1]] + margin) / frame_s), frames)
        pieces.append((first, last, lo, hi))
        first = last
    return pieces
