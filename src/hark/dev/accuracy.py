"""Word error rate and friends, for the accuracy tests and the real-model benchmark.

The normalisation is deliberately small (case, punctuation, hyphens, a few spellings) and the
same for every system compared, so differences between systems are differences in words.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

# British/American spellings that occur in the shared references (LibriSpeech is British).
_SPELLINGS = {"counselled": "counseled"}
_PUNCTUATION = re.compile(r"[^\w\s']")


def normalize_words(text: str) -> list[str]:
    """Lower case words: punctuation and hyphens become spaces, apostrophes inside words stay."""
    cleaned = _PUNCTUATION.sub(" ", text.lower().replace("-", " "))
    words = [w.strip("'") for w in cleaned.split()]
    return [_SPELLINGS.get(w, w) for w in words if w]


@dataclass(frozen=True)
class WordErrors:
    """Edit operations turning the reference into the hypothesis."""

    substitutions: int
    deletions: int
    insertions: int
    reference_words: int
    pairs: tuple[tuple[int | None, int | None], ...]
    """(reference index, hypothesis index) for each step of the alignment: a hit or a
    substitution has both, a deletion no hypothesis index, an insertion no reference index."""

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def rate(self) -> float:
        return self.errors / max(1, self.reference_words)


def align_words(reference: Sequence[str], hypothesis: Sequence[str]) -> WordErrors:
    """Levenshtein alignment of two word lists (unit costs), with its back trace."""
    n, m = len(reference), len(hypothesis)
    cost = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n + 1):
        cost[i][0] = i
    for j in range(m + 1):
        cost[0][j] = j
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            same = reference[i - 1] == hypothesis[j - 1]
            cost[i][j] = min(
                cost[i - 1][j - 1] + (0 if same else 1),
                cost[i - 1][j] + 1,
                cost[i][j - 1] + 1,
            )
    pairs: list[tuple[int | None, int | None]] = []
    subs = dels = ins = 0
    i, j = n, m
    while i or j:
        if i and j:
            same = reference[i - 1] == hypothesis[j - 1]
            if cost[i][j] == cost[i - 1][j - 1] + (0 if same else 1):
                subs += not same
                i, j = i - 1, j - 1
                pairs.append((i, j))
                continue
        if i and cost[i][j] == cost[i - 1][j] + 1:
            dels += 1
            i -= 1
            pairs.append((i, None))
        else:
            ins += 1
            j -= 1
            pairs.append((None, j))
    return WordErrors(subs, dels, ins, n, tuple(reversed(pairs)))


def error_spans(
    reference: Sequence[str], hypothesis: Sequence[str], errors: WordErrors
) -> list[str]:
    """Each run of errors in `errors` (from `align_words` on these lists) as "ref -> hyp",
    e.g. "neither did i -> needs a design", "then -> " (a deletion), " -> um" (an insertion)."""
    spans: list[str] = []
    said: list[str] = []
    heard: list[str] = []
    for i, j in (*errors.pairs, (None, None)):
        hit = i is not None and j is not None and reference[i] == hypothesis[j]
        if (hit or (i is None and j is None)) and (said or heard):
            spans.append(f"{' '.join(said)} -> {' '.join(heard)}")
            said, heard = [], []
        if not hit:
            said += [] if i is None else [reference[i]]
            heard += [] if j is None else [hypothesis[j]]
    return spans


def word_error_rate(reference: str, hypothesis: str) -> float:
    """WER of `hypothesis` against `reference` after `normalize_words`."""
    return align_words(normalize_words(reference), normalize_words(hypothesis)).rate


def longest_repeat(words: Sequence[str], max_ngram: int = 6) -> int:
    """The most times any n-gram (n <= `max_ngram`) occurs back to back: a decoding loop
    ("the the the the", or one sentence over and over) shows up as a large number."""
    best = 1 if words else 0
    for n in range(1, max_ngram + 1):
        for start in range(len(words) - n):
            count, at = 1, start + n
            while words[at : at + n] == words[start : start + n] and at + n <= len(words):
                count, at = count + 1, at + n
            best = max(best, count)
    return best
