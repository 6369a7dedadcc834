"""Transcript text -> the token sequence a CTC model can be forced through.

Every character either maps to model columns (lower-cased, or its accent-free base letters),
is dropped (punctuation, spaces, music notes: not spoken), or becomes a *wildcard* token that
stands for "some letters": digits, currency, %, other scripts. Wildcards are what give
"1,250 dollars in 2024" times although an English character model cannot spell "1".
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

import numpy as np

WILDCARD = -2
"""Token id of the wildcard; `ctc.with_wildcard` turns it into a real emission column."""

SPACELESS_LANGUAGES: frozenset[str] = frozenset({"ja", "zh", "yue", "th", "lo", "my", "km", "bo"})
"""Languages written without spaces between words: each character is a word (as in WhisperX),
except runs of Latin letters and digits, which stay one word."""

BLANK_TOKENS = ("<pad>", "[PAD]", "<blank>", "<ctc_blank>", "[pad]")

_APOSTROPHES = frozenset("’‘ʼ`´")
# Punctuation that is read aloud ("50%", "R&D", "@home"): wildcard rather than dropped.
_SPOKEN_PUNCTUATION = frozenset("%‰‱&@#§")
# Symbols that are never read aloud; aligning them would steal frames from real words.
_SILENT_SYMBOLS = frozenset("♪♫♬♩|~^`*")
_SPACELESS_WORD = re.compile(r"[A-Za-z0-9]+(?:['’.,][A-Za-z0-9]+)*|\S")
_SPACED_WORD = re.compile(r"\S+")


@dataclass(frozen=True)
class Vocabulary:
    """The characters a CTC model emits, as the aligner needs them."""

    ids: dict[str, int]
    """Lower-cased single characters -> output column."""
    blank_id: int
    delimiter_id: int | None
    """Column of the word delimiter ("|"), or None when the model has none."""
    letter_ids: np.ndarray = field(repr=False)
    """Columns a wildcard may stand for: every character but blank and delimiter."""

    @classmethod
    def from_tokens(
        cls, tokens: dict[str, int], *, blank: str | int | None = None, delimiter: str = "|"
    ) -> Vocabulary:
        """Build from a `vocab.json` mapping; multi-character tokens (`<unk>`, `<s>`) are
        special and never aligned. `blank` defaults to the pad token, else column 0."""
        if isinstance(blank, int):
            blank_id = blank
        else:
            names = (blank,) if blank else BLANK_TOKENS
            blank_id = next((tokens[n] for n in names if n in tokens), 0)
        delimiter_id = tokens.get(delimiter)
        ids: dict[str, int] = {}
        for token, index in tokens.items():
            if len(token) != 1 or index in (blank_id, delimiter_id):
                continue
            key = token.lower()
            # An exact lower-case entry wins over an upper-case one that lower-cases to it.
            if key not in ids or token == key:
                ids[key] = index
        letters = np.array(sorted(set(ids.values())), dtype=np.int64)
        return cls(ids=ids, blank_id=blank_id, delimiter_id=delimiter_id, letter_ids=letters)

    def columns(self, char: str) -> tuple[int, ...] | None:
        """Model columns for one character of the text; `(WILDCARD,)` when the model cannot
        emit it; None when it is not spoken (punctuation, spaces)."""
        lower = char.lower()
        if lower in self.ids:
            return (self.ids[lower],)
        if char in _APOSTROPHES and "'" in self.ids:
            return (self.ids["'"],)
        if char in _SPOKEN_PUNCTUATION:
            return (WILDCARD,)
        category = unicodedata.category(char)
        if char in _SILENT_SYMBOLS or category[0] in "PZC" or category in ("Mn", "Me", "Sk"):
            return None
        base = "".join(
            c for c in unicodedata.normalize("NFKD", lower) if not unicodedata.combining(c)
        )
        if base and base != lower and all(c in self.ids for c in base):
            return tuple(self.ids[c] for c in base)
        return (WILDCARD,)


@dataclass(frozen=True)
class AlignmentText:
    """A segment's text prepared for forced alignment."""

    text: str
    words: tuple[tuple[int, int], ...]
    """[start, end) character spans of the words, in order."""
    tokens: np.ndarray
    """Model columns to force through (`WILDCARD` for wildcards)."""
    token_chars: np.ndarray
    """Index in `text` of the character each token stands for; -1 for word delimiters."""
    optional: np.ndarray
    """True for tokens the path may skip (word delimiters: models do not always emit them)."""


def word_spans(text: str, *, spaces: bool = True) -> list[tuple[int, int]]:
    """[start, end) spans of the words of `text`: whitespace-separated tokens, or characters
    (and Latin/digit runs) for languages written without spaces."""
    pattern = _SPACED_WORD if spaces else _SPACELESS_WORD
    return [m.span() for m in pattern.finditer(text)]


def prepare_text(text: str, vocabulary: Vocabulary, *, spaces: bool = True) -> AlignmentText:
    """Tokens for `text`; word delimiters go between words when `spaces` and the model has one."""
    words = word_spans(text, spaces=spaces)
    tokens: list[int] = []
    chars: list[int] = []
    optional: list[bool] = []
    use_delimiter = spaces and vocabulary.delimiter_id is not None
    for start, end in words:
        word_tokens: list[tuple[int, int]] = []
        for index in range(start, end):
            for column in vocabulary.columns(text[index]) or ():
                word_tokens.append((column, index))
        if not word_tokens:
            continue
        if use_delimiter and tokens:
            tokens.append(vocabulary.delimiter_id)  # type: ignore[arg-type]
            chars.append(-1)
            optional.append(True)
        for column, index in word_tokens:
            tokens.append(column)
            chars.append(index)
            optional.append(False)
    return AlignmentText(
        text=text,
        words=tuple(words),
        tokens=np.array(tokens, dtype=np.int64),
        token_chars=np.array(chars, dtype=np.int64),
        optional=np.array(optional, dtype=bool),
    )
