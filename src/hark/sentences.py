"""Sentence-level segments from timed words, without any downloaded tokenizer data.

Whisper in batched mode returns one text per <= 30 s chunk; subtitles, TXT lines and speaker
turns read better per sentence. A sentence ends at a word ending in terminal punctuation,
unless that word is a known abbreviation or an initial ("Mr.", "e.g.", "J.").
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from hark.schema import Segment, Word

_TERMINAL = (".", "!", "?", "…", "。", "！", "？", "؟", "।")
_CLOSERS = "\"'”’»)]}"
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof sr jr st vs etc e.g i.e approx dept est fig inc ltd co corp no vol "
    "jan feb mar apr jun jul aug sep sept oct nov dec mt ft gen col lt sgt capt rev".split()
)
_INITIAL = re.compile(r"^(?:[A-Za-z]\.)+$")


def ends_sentence(word: str) -> bool:
    """True when `word` closes a sentence."""
    token = word.strip().rstrip(_CLOSERS)
    if not token.endswith(_TERMINAL):
        return False
    if token.endswith("."):
        bare = token.rstrip(".").lower()
        if bare in _ABBREVIATIONS or _INITIAL.match(token):
            return False
    return True


def split_sentences(words: list[Word], **fields: object) -> list[Segment]:
    """Group words into sentence segments; `fields` are copied onto every segment."""
    segments: list[Segment] = []
    current: list[Word] = []
    for i, word in enumerate(words):
        current.append(word)
        if i == len(words) - 1 or ends_sentence(word.word):
            segments.append(segment_from_words(current, **fields))
            current = []
    return segments


def segment_from_words(words: Iterable[Word], **fields: object) -> Segment:
    words = list(words)
    return Segment(
        start=words[0].start,
        end=max(w.end for w in words),
        text=join_words(w.word for w in words),
        words=words,
        **fields,  # type: ignore[arg-type]
    )


def join_words(words: Iterable[str]) -> str:
    """Join word strings with spaces, except for scripts written without them."""
    out = ""
    for word in words:
        word = word.strip()
        if not word:
            continue
        if out and not (_is_unspaced(out[-1]) and _is_unspaced(word[0])):
            out += " "
        out += word
    return out


def _is_unspaced(char: str) -> bool:
    code = ord(char)
    return (
        0x3040 <= code <= 0x30FF  # kana
        or 0x3400 <= code <= 0x9FFF  # CJK
        or 0x0E00 <= code <= 0x0E7F  # Thai
        or 0xFF00 <= code <= 0xFFEF  # full-width forms
    )
