"""A timed word of a live hypothesis, and the guards applied to every hypothesis.

Whisper writes a word with its leading space (" ask"); comparisons use a normalised form
(lower case, no punctuation) so that "you," and "you" agree.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

_NOT_WORD = re.compile(r"[^\w']+", re.UNICODE)
SENTENCE_END = (".", "?", "!", "。", "？", "！")


@dataclass(frozen=True)
class LiveWord:
    """A word with times in seconds from the session's start."""

    word: str
    start: float
    end: float
    probability: float = 1.0

    @property
    def key(self) -> str:
        """The word for comparisons: lower case, punctuation removed."""
        return normalise(self.word)

    def shifted(self, offset: float) -> LiveWord:
        return LiveWord(self.word, self.start + offset, self.end + offset, self.probability)


def normalise(word: str) -> str:
    return _NOT_WORD.sub("", word.lower())


def text_of(words: Sequence[LiveWord]) -> str:
    return "".join(w.word for w in words).strip()


def ends_sentence(word: LiveWord) -> bool:
    return word.word.rstrip().endswith(SENTENCE_END)


def collapse_repeats(
    words: Sequence[LiveWord], max_repeats: int = 2, longest: int = 6
) -> list[LiveWord]:
    """Words with runs of a repeated n-gram (n <= `longest`) cut to `max_repeats` copies.

    Whisper's failure mode on hard audio is a loop ("the the the the", "thank you. thank you.
    thank you."): a run longer than any speaker plausibly says is cut, whatever the
    compression-ratio guard let through (short loops compress too little to trip it).
    """
    out = list(words)
    changed = True
    while changed:
        changed = False
        for n in range(1, longest + 1):
            i = 0
            while i + n * (max_repeats + 1) <= len(out):
                gram = [w.key for w in out[i : i + n]]
                copies = 1
                while [w.key for w in out[i + copies * n : i + (copies + 1) * n]] == gram:
                    copies += 1
                if copies > max_repeats and any(gram):
                    del out[i + max_repeats * n : i + copies * n]
                    changed = True
                i += 1
    return out


SLIVER_S = 0.05
"""A word begun inside the committed audio that ends this little past it is that audio heard
again (cross-attention times come in 0.02 s steps, Silero frames in 0.032 s)."""


def drop_committed(
    hypothesis: Sequence[LiveWord],
    committed_tail: Sequence[LiveWord],
    *,
    tolerance: float = 0.2,
    max_overlap: int = 5,
    sealed: float | None = None,
) -> list[LiveWord]:
    """The part of a new hypothesis that is not already committed.

    Two guards, since cross-attention word times move between decodes: words that end before
    the last committed word's end (less `tolerance`) are dropped by time, then the first words
    are dropped where they repeat the committed tail word for word (up to `max_overlap`
    words), so a word decoded again at the seam of a commit is never committed twice; then
    first words still ending inside the committed audio go too, and the last committed word
    heard again just behind them. Only the end counts: when Whisper skips the already-final
    audio at a window's start, it stretches the first new word back over it; that word's
    start is moved to the committed end. `sealed`: where the committed audio ends when that
    is later than the last committed word (a pause began there: everything before it is
    final, whatever Whisper heard in it).
    """
    if not committed_tail and sealed is None:
        return list(hypothesis)
    tail_end = committed_tail[-1].end if committed_tail else None
    last_end = max(t for t in (tail_end, sealed) if t is not None)
    kept = [w for w in hypothesis if w.end > last_end - tolerance]
    tail = [w.key for w in committed_tail[-max_overlap:]]
    # Only words heard at the seam repeat it: after a pause, "Hello." said again 0.7 s after
    # the final "Hello." is new speech (the sealed copy before it is gone by time already).
    seam = -math.inf if tail_end is None else tail_end + tolerance
    for n in range(min(max_overlap, len(tail), len(kept)), 0, -1):
        if [w.key for w in kept[:n]] == tail[-n:] and kept[0].start < seam:
            kept = kept[n:]
            break
    else:
        # The last committed word heard again over its own audio, inflected otherwise
        # ("asked" final at a pause, then "Ask not what..." from 0.1 s before its end).
        if (
            kept
            and tail
            and kept[0].start < last_end - tolerance
            and _same_stem(kept[0].key, tail[-1])
        ):
            kept = kept[1:]
    # What is left that still ends inside the committed audio heard it again otherwise, or
    # heard nothing there ("New Jersey now." final, then "You know." at 93.00-93.10 s, before
    # "now." ended at 93.14 s): not new speech. Nor is a word begun there that reaches only
    # `SLIVER_S` past it ("know." 93.00-93.17 s, the next speech from 95.3 s: committed, it
    # became a final of its own, and 14 s late, since it waited for the next pause).
    while kept and (
        kept[0].end <= last_end or (kept[0].start < last_end and kept[0].end <= last_end + SLIVER_S)
    ):
        kept = kept[1:]
    # Behind such words, the last committed word again, heard in its own tail ("New Jersey
    # now." final, then "in the city now." at 92.9-93.1 s, speech going on to 93.3 s).
    if kept and tail and kept[0].start < last_end + tolerance and kept[0].key == tail[-1]:
        kept = kept[1:]
    return [
        LiveWord(w.word, min(max(w.start, last_end), w.end), w.end, w.probability)
        if w.start < last_end
        else w
        for w in kept
    ]


def _same_stem(a: str, b: str) -> bool:
    """One word is the other with an ending ("ask"/"asked", "stuff"/"stuffed")."""
    short, long = sorted((a, b), key=len)
    return len(short) >= 3 and long.startswith(short)
