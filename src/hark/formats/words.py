"""The transcript as a flat run of timed words, the material cues and speaker turns are cut from."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, replace

from hark.schema import Segment, Transcript

# Scripts written without spaces between words (the ones Whisper splits on unicode too).
NO_SPACE_LANGUAGES = frozenset({"ja", "zh", "yue", "th", "lo", "my"})

# For text without word times: a run of Latin letters/digits stays whole, any other
# non-space character (a CJK ideograph) is a word of its own.
_NO_SPACE_PIECE = re.compile(r"\s*(?:[0-9A-Za-z]+|\S)")
_SPACED_PIECE = re.compile(r"\s*\S+")


@dataclass(frozen=True, slots=True)
class Token:
    """One word ready for layout."""

    text: str  # never empty, no whitespace at either end
    space: bool  # whether a space separates it from the previous word on a line
    start: float
    end: float
    speaker: str | None
    segment: int  # index of its segment in the transcript


def segment_speaker(segment: Segment) -> str | None:
    """The segment's speaker, else the label most of its words carry."""
    if segment.speaker is not None:
        return segment.speaker
    counts = Counter(w.speaker for w in segment.words if w.speaker is not None)
    return counts.most_common(1)[0][0] if counts else None


def word_tokens(transcript: Transcript) -> list[Token]:
    """All words in order, with start times made non-decreasing and end >= start.

    Segments without word times are split from their text, with times spread over the
    segment in proportion to each word's length.
    """
    tokens: list[Token] = []
    for index, segment in enumerate(transcript.segments):
        language = segment.language or transcript.language
        no_space = language in NO_SPACE_LANGUAGES
        if segment.words:
            tokens.extend(_aligned(segment, index, no_space))
        else:
            tokens.extend(_from_text(segment, index, no_space))
    return _monotone(tokens)


def _aligned(segment: Segment, index: int, no_space: bool) -> list[Token]:
    tokens = []
    for word in segment.words:
        text = " ".join(word.word.split())
        if not text:
            continue
        # A leading space marks a word boundary (faster-whisper style words); bare words
        # (WhisperX style) are separated unless the script writes no spaces.
        space = word.word[:1].isspace() or not no_space
        speaker = word.speaker if word.speaker is not None else segment.speaker
        tokens.append(Token(text, space, word.start, word.end, speaker, index))
    return tokens


def _from_text(segment: Segment, index: int, no_space: bool) -> list[Token]:
    pieces = (_NO_SPACE_PIECE if no_space else _SPACED_PIECE).findall(segment.text)
    if not pieces:
        return []
    lengths = [len(p.strip()) for p in pieces]
    total = sum(lengths)
    span = max(segment.end - segment.start, 0.0)
    speaker = segment_speaker(segment)
    tokens, done = [], 0
    for piece, length in zip(pieces, lengths, strict=True):
        start = segment.start + span * done / total
        done += length
        end = segment.start + span * done / total
        space = piece[:1].isspace() or not no_space
        tokens.append(Token(piece.strip(), space, start, end, speaker, index))
    return tokens


def _monotone(tokens: list[Token]) -> list[Token]:
    # Aligners can emit words that start before their predecessor; layout assumes order.
    fixed: list[Token] = []
    floor = 0.0
    for token in tokens:
        start = max(token.start, floor)
        end = max(token.end, start)
        floor = start
        fixed.append(replace(token, start=start, end=end))
    return fixed
