"""Where a live stream's words and windows sit in its audio: word starts moved out of
silence (`in_speech`), where the audio kept before a window's new words begins
(`context_start`), where a window re-hearing an utterance's tail begins (`window_start`),
the words a decode skipped (`fill_skips`) and the final text a window is prompted with
(`prompt_before`). Pure functions of the words and the speech frames, used by
`hark.live.session`."""

from __future__ import annotations

from collections.abc import Sequence

from hark.live.endpoint import SpeechFrames
from hark.live.words import SENTENCE_END, LiveWord, ends_sentence
from hark.schema import Segment, Word

WORD_SILENCE_S = 0.3
"""A word whose times hold this much silence did not start before it (see `in_speech`)."""
SKIPPED_S = 1.0
"""A decode that leaves this much audio with speech without a word (at a window's start,
between two words, or under one word stretched over it) skipped it: the previous
hypothesis' words there stand."""
WINDOW_SLACK = 0.25
"""A partial or final window may begin this fraction of its length earlier or later than
nominal, at a clear boundary between two words..."""
CLEAR_GAP_S = 0.2
"""...after a sentence end, or at a gap this long between the words' times."""


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


def window_start(
    tentative: Sequence[LiveWord], buffer_start: float, end: float, window: float
) -> tuple[list[LiveWord], float]:
    """Where a decode of the buffer up to `end` begins: (the newest hypothesis' words kept
    before it, its start). With commit "pauses" the buffer holds the whole utterance (up to
    the 20 s cap): decoding all of it every step would cost a 20 s window per second of
    speech. Partials need only the tail re-heard, and a final the tail its partials heard
    last: the window begins between two words of the newest hypothesis (`tentative`) about
    `window` before the end (and before its last two words), at a clear boundary near there
    when there is one, and its words replace the hypothesis' from there on. The whole
    buffer when it is short."""
    whole: tuple[list[LiveWord], float] = ([], buffer_start)
    if end - buffer_start <= window or len(tentative) < 3:
        return whole
    target = end - window
    last = len(tentative) - 2
    cut = next((i for i, w in enumerate(tentative[:last]) if w.start >= target), last)
    # A window begun mid-phrase hears its first words cut and may mangle the phrase
    # ("I'm | originally from Chicago also." heard as "in"): begin at the clear boundary
    # nearest the nominal start when there is one within the slack.
    clear = [
        i
        for i in range(1, last + 1)
        if abs(tentative[i].start - target) <= WINDOW_SLACK * window
        and (
            ends_sentence(tentative[i - 1])
            or tentative[i].start - tentative[i - 1].end >= CLEAR_GAP_S
        )
    ]
    if clear:
        cut = min(clear, key=lambda i: abs(tentative[i].start - target))
    if cut == 0:
        return whole
    previous, word = tentative[cut - 1], tentative[cut]
    start = max((previous.end + word.start) / 2, word.start - 0.3)
    return list(tentative[:cut]), start


def skipped(speech: SpeechFrames, start: float, end: float) -> bool:
    """Whether a decode left out speech between `start` and `end` (no word, or one
    stretched over it): `SKIPPED_S` or more, half of it speech."""
    return end - start >= SKIPPED_S and speech.seconds(start, end) >= SKIPPED_S / 2


def said(tentative: Sequence[LiveWord], start: float, end: float) -> list[LiveWord]:
    """The newest hypothesis' words from `start` to `end`."""
    return [w for w in tentative if start - 0.05 <= w.start < end - 0.05 and w.end <= end + 0.1]


def fill_skips(
    heard: Sequence[LiveWord], tentative: Sequence[LiveWord], speech: SpeechFrames
) -> list[LiveWord]:
    """A decode's words, with the newest hypothesis' (`tentative`) where it skipped speech:
    a gap of `SKIPPED_S` between two words, or one word stretched over as long, with speech
    there. Prompted with the final text, Whisper may take a phrase for one already written
    and leave it out: "Texas originally from Chicago." final, a window from "Oh, | I'm
    originally from Chicago also. I'm in New Jersey" heard it as "I'm" over 1.9 s, then "in
    New Jersey", and the phrase was lost (so too at a window's start: the session keeps the
    hypothesis' words there)."""
    out: list[LiveWord] = []
    for i, word in enumerate(heard):
        # The word and the gap after it: the newest hypothesis' words there instead.
        until = heard[i + 1].start if i + 1 < len(heard) else word.end
        instead = said(tentative, word.start, until) if skipped(speech, word.start, until) else []
        out += instead if len(instead) > 1 else [word]
    return out
