"""Where a live stream's words and windows sit in its audio: word starts moved out of
silence (`in_speech`), where the audio kept before a window's new words begins
(`context_start`) and the final text a window is prompted with (`prompt_before`). Pure
functions of the finals and the speech frames, used by `hark.live.session`."""

from __future__ import annotations

from collections.abc import Sequence

from hark.live.endpoint import SpeechFrames
from hark.live.words import SENTENCE_END, LiveWord
from hark.schema import Segment, Word

WORD_SILENCE_S = 0.3
"""A word whose times hold this much silence did not start before it (see `in_speech`)."""


def in_speech(words: Sequence[LiveWord], speech: SpeechFrames) -> list[LiveWord]:
    """The words with their starts moved out of silence: Whisper stamps the first word
    after a silence at the silence's start ("He" at the first sample of a window that
    opens with 2 s of silence, or at 93.1-94.3 s, right after the previous word, for
    speech from 95.3 s), which puts captions early and a word into the utterance before
    it. A word whose span (up to the next word, for words of 0.5 s or more) holds a
    silence of `WORD_SILENCE_S`, with no speech of its own before that silence, starts
    0.1 s before the speech after it."""
    out: list[LiveWord] = []
    for i, word in enumerate(words):
        upto = words[i + 1].start if i + 1 < len(words) else word.end + 3.0
        # Looked past its end only for a word of 0.5 s or more: Whisper gives a
        # sentence's last word 0-0.1 s, often just after its speech; those stay. A
        # little past the next word's start: Silero hears speech begin up to ~0.1 s
        # after Whisper's time for it.
        long = word.end - word.start >= 0.5
        reach = max(word.end, upto + 0.3) if long else word.end
        onset = speech.speech_after_silence(word.start, reach, WORD_SILENCE_S)
        if onset is None or onset - 0.1 <= word.start:
            out.append(word)
            continue
        # Speech before that silence is the word's own (it is said, then a pause), unless
        # it goes on from before the word began: the tail of the word before (Whisper
        # ends words before Silero hears their end).
        leading = speech.seconds(word.start, onset - WORD_SILENCE_S)
        tail = speech.first_speech(word.start - 0.1, word.start) is not None
        if leading > (0.5 if tail else 0.1):
            out.append(word)
            continue
        start = onset - 0.1
        if word.end > start:  # the word holds the speech: only its start moves
            end = word.end
        else:  # moved wholly, not past the next word
            start = min(start, max(upto, word.start))
            end = max(start, min(start + word.end - word.start, upto))
        out.append(LiveWord(word.word, start, end, word.probability))
    return out


def context_start(finals: Sequence[Segment], t: float, reach: float = 1.5) -> float:
    """Where the audio kept before the words not yet final should begin, about `t`: between
    two final words, never inside one, and at a sentence start within `reach` of `t` when
    there is one. A window that begins inside a word, or inside a sentence whose first
    words are only in the prompt, can make Whisper write a fragment and stop ("Jersey."
    for 7 s of speech, losing every word after it)."""
    recent: list[Word] = []
    for segment in reversed(finals):
        recent[:0] = segment.words
        if segment.start < t - reach:
            break
    first: float | None = None
    for previous, word in zip([None, *recent], recent, strict=False):
        if word.start < t - reach:
            continue
        if word.start > t + reach and first is not None:
            break
        # Between the words (cross-attention times are rough), at most 0.3 s before it.
        before = t - reach if previous is None else (previous.end + word.start) / 2
        cut = max(before, word.start - 0.3)
        starts = previous is None or previous.word.endswith(SENTENCE_END)
        if starts and word.start <= t + reach:
            return cut
        if first is None and word.start >= t:
            first = cut
    return t if first is None else first


def prompt_before(finals: Sequence[Segment], t: float, chars: int) -> str | None:
    """The finalised text whose audio ends before `t` (the window's start), its last
    `chars`: prompting with words whose audio is in the window makes Whisper skip
    them and misplace what follows."""
    words: list[str] = []
    size = 0
    for segment in reversed(finals):
        for word in reversed(segment.words):
            if word.end <= t + 0.01 and size < chars:
                words.append(word.word)
                size += len(word.word) + 1
        if size >= chars:
            break
    return " ".join(reversed(words))[-chars:] or None
