"""`hark.live.timing`'s window choice and skip filling, as pure functions (the session tests
in test_live_policy.py exercise them through `LiveSession`)."""

from __future__ import annotations

import numpy as np

from hark.live.endpoint import SpeechFrames
from hark.live.timing import fill_skips, window_start
from hark.live.words import LiveWord
from hark.vad import FRAME_SECONDS


def spaced(text: str, start: float, step: float = 0.5, length: float = 0.4) -> list[LiveWord]:
    return [
        LiveWord(" " + w, start + i * step, start + i * step + length)
        for i, w in enumerate(text.split())
    ]


def test_a_short_buffer_is_decoded_whole() -> None:
    words = spaced("a b c d", 1.0)
    assert window_start(words, 0.5, 5.0, window=6.0) == ([], 0.5)
    assert window_start(words[:2], 0.0, 20.0, window=6.0) == ([], 0.0)  # too few words


def test_a_window_begins_between_two_words_about_its_length_before_the_end() -> None:
    words = spaced("w0 w1 w2 w3 w4 w5 w6 w7 w8 w9 w10 w11 w12 w13 w14 w15 w16 w17", 0.0)
    kept, start = window_start(words, 0.0, 9.0, window=6.0)
    # No clear boundary (every gap 0.1 s): the first word starting at or after 3.0 s.
    assert [w.word.strip() for w in kept] == ["w0", "w1", "w2", "w3", "w4", "w5"]
    assert start == max((words[5].end + words[6].start) / 2, words[6].start - 0.3)
    assert start <= words[6].start and start >= words[5].end


def test_a_window_prefers_a_sentence_start_within_the_slack() -> None:
    words = spaced("one two three four. five six seven eight nine ten eleven twelve", 0.0)
    words += spaced("thirteen fourteen fifteen sixteen seventeen eighteen", 6.0)
    # Nominal start 9.0 - 6.0 = 3.0 s (word 6); "five" at 2.0 s follows a sentence end and is
    # within 0.25 x 6 s of it.
    kept, start = window_start(words, 0.0, 9.0, window=6.0)
    assert kept[-1].word == " four." and 1.8 <= start <= 2.0


def test_a_window_never_starts_after_the_last_two_words() -> None:
    words = spaced("a b c", 0.0, step=0.2, length=0.1)  # all within the last 6 s of 10 s
    kept, start = window_start(words, 0.0, 10.0, window=6.0)
    assert [w.word for w in kept] == [" a"] and 0.1 <= start <= 0.2


def frames(speech: list[tuple[float, float]], seconds: float) -> SpeechFrames:
    out = SpeechFrames(capacity_s=seconds, threshold=0.5)
    t = (np.arange(round(seconds / FRAME_SECONDS)) + 0.5) * FRAME_SECONDS
    out.extend(np.array([any(a <= x < b for a, b in speech) for x in t], np.float32))
    return out


def test_fill_skips_puts_back_the_hypothesis_words_a_decode_stretched_one_word_over() -> None:
    tentative = spaced("i'm originally from chicago also", 1.0)
    speech = frames([(1.0, 3.5)], 5.0)
    # "I'm" stretched over 1.9 s of speech that held four more words.
    heard = [LiveWord(" I'm", 1.0, 2.9), LiveWord(" in", 3.0, 3.4)]
    assert [w.word for w in fill_skips(heard, tentative, speech)] == [
        *(w.word for w in tentative[:4]),
        " in",
    ]
    # Over silence, the stretched word stands (Whisper often stretches a word to a gap).
    quiet = frames([(1.0, 1.4), (3.0, 3.4)], 5.0)
    assert fill_skips(heard, tentative, quiet) == heard
