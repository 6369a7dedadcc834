"""LocalAgreement-n: which words of successive hypotheses are committed.

Every decode of the rolling buffer gives a hypothesis: the words Whisper hears in the audio
not yet committed. A word is committed once the last `agreement` hypotheses agree on it and on
everything before it (the longest common prefix, compared on normalised words): Whisper on a
longer window rarely changes words it already agreed on twice, while the last word or two of a
window, cut mid-word, change often. Committed words are never revised. At a pause (or when the
buffer reaches its cap) `flush` commits the rest of the latest hypothesis.

Pure: no audio, no model, no clock. The session feeds it hypotheses with session times.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from hark.live.words import LiveWord, collapse_repeats, drop_committed, ends_sentence


@dataclass(frozen=True)
class PolicyOptions:
    """Attributes:
    agreement: hypotheses in a row that must agree on a word before it is committed (2 is
        LocalAgreement-2; 1 commits every hypothesis at once).
    max_repeats: copies of a repeated n-gram kept in a row (`words.collapse_repeats`).
    overlap_words: committed words compared with a hypothesis' first words (duplicates).
    time_tolerance: seconds by which a re-decoded word may move and still count as the
        committed one.
    commit: what agreement may commit before a pause: "words" (every agreed word),
        "sentences" (the agreed words up to the last sentence end among them: a sentence
        still being spoken stays revisable), "pauses" (nothing: words are committed at
        pauses and at the buffer cap only; partials still show the hypotheses).
    """

    agreement: int = 2
    max_repeats: int = 2
    overlap_words: int = 5
    time_tolerance: float = 0.2
    commit: Literal["words", "sentences", "pauses"] = "words"

    def __post_init__(self) -> None:
        if self.agreement < 1:
            raise ValueError("agreement must be >= 1")
        if self.commit not in ("words", "sentences", "pauses"):
            raise ValueError("commit must be 'words', 'sentences' or 'pauses'")


class CommitPolicy:
    def __init__(self, options: PolicyOptions | None = None) -> None:
        self.options = options or PolicyOptions()
        self._history: deque[list[LiveWord]] = deque(maxlen=self.options.agreement)
        # The last committed words, for the duplicate guard (bounded: only the tail matters).
        self._recent: deque[LiveWord] = deque(maxlen=max(1, self.options.overlap_words))
        self.tentative: list[LiveWord] = []
        """Words of the latest hypothesis after the committed ones: the revisable tail."""
        self._sealed: float | None = None  # `seal`

    @property
    def last_end(self) -> float | None:
        """End of the last committed word (session seconds), None before the first."""
        return self._recent[-1].end if self._recent else None

    def clean(self, hypothesis: Sequence[LiveWord], kept: int = 0) -> list[LiveWord]:
        """A hypothesis less the committed words it repeats and its repetition loops. `kept`:
        its first words are the tentative ones of an earlier hypothesis, already clean, and
        the rest was heard after them (no committed word is next to it): cleaning them again
        would drop more each time ("hello" after a final "Hello?" goes, then the next
        "hello", ...)."""
        if kept:
            return [
                *hypothesis[:kept],
                *collapse_repeats(hypothesis[kept:], self.options.max_repeats),
            ]
        fresh = drop_committed(
            hypothesis,
            list(self._recent),
            tolerance=self.options.time_tolerance,
            max_overlap=self.options.overlap_words,
            sealed=self._sealed,
        )
        return collapse_repeats(fresh, self.options.max_repeats)

    def update(self, hypothesis: Sequence[LiveWord], kept: int = 0) -> list[LiveWord]:
        """Take a new hypothesis (`kept`: see `clean`); return the words it commits (maybe
        none)."""
        words = self.clean(hypothesis, kept)
        self._history.append(words)
        if len(self._history) < self.options.agreement:
            self.tentative = words
            return []
        agreed = self._committable(words, _common_prefix(list(self._history)))
        # The committed words take their times from the newest hypothesis (longest context).
        committed = words[:agreed]
        self._commit(committed)
        self.tentative = words[agreed:]
        return committed

    def _committable(self, words: list[LiveWord], agreed: int) -> int:
        """How many of the agreed words the `commit` option lets go."""
        if self.options.commit == "pauses":
            return 0
        if self.options.commit == "sentences":
            return next((i + 1 for i in range(agreed - 1, -1, -1) if ends_sentence(words[i])), 0)
        return agreed

    def flush(
        self,
        hypothesis: Sequence[LiveWord] | None = None,
        until: float | None = None,
        kept: int = 0,
    ) -> list[LiveWord]:
        """Commit the latest hypothesis (already clean) or `hypothesis` (cleaned, `kept`: see
        `clean`), up to words ending by `until` when given; the rest stays tentative."""
        words = self.clean(hypothesis, kept) if hypothesis is not None else list(self.tentative)
        cut = len(words) if until is None else sum(1 for w in words if w.end <= until)
        committed, rest = words[:cut], words[cut:]
        self._commit(committed)
        self.tentative = rest
        self._history.clear()
        if rest:
            self._history.append(rest)
        return committed

    def resume(self, words: Sequence[LiveWord]) -> None:
        """`words` (heard after the words just committed) are the tentative ones again."""
        self.tentative = list(words)
        self._history.clear()
        if words:
            self._history.append(self.tentative)

    def seal(self, until: float) -> None:
        """Everything said before `until` is final (a pause began there, and its final decode
        heard all of it): a later hypothesis' words that end by then heard that audio again
        ("sauce." final, then "toss." over the same audio from the next window's context,
        sent as a final of its own), whatever the last committed word's end."""
        self._sealed = max(until, self._sealed or until)

    def forget(self) -> None:
        """Drop the tentative words (the audio they came from is gone: a clear)."""
        self.tentative = []
        self._history.clear()

    def _commit(self, words: Sequence[LiveWord]) -> None:
        self._recent.extend(words)
        # Older hypotheses lose the committed prefix too, so the next agreement is on the rest.
        n = len(words)
        if n:
            self._history = deque(
                (
                    h[n:] if [w.key for w in h[:n]] == [w.key for w in words] else self.clean(h)
                    for h in self._history
                ),
                maxlen=self.options.agreement,
            )


def _common_prefix(hypotheses: list[list[LiveWord]]) -> int:
    n = min(len(h) for h in hypotheses)
    for i in range(n):
        key = hypotheses[0][i].key
        if any(h[i].key != key for h in hypotheses[1:]):
            return i
    return n
