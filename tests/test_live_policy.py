"""The live commit policy and session on fake hypotheses (no model): LocalAgreement-2, the
duplicate and repetition guards, endpointing, the buffer cap and flat memory."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable

import numpy as np
import pytest

from hark.live import timing
from hark.live.buffer import AudioBuffer
from hark.live.endpoint import Endpointer, EndpointOptions, StreamingVad
from hark.live.events import (
    Committed,
    DecodedWindow,
    Final,
    Partial,
    SpeechStarted,
    SpeechStopped,
    UtteranceEnd,
)
from hark.live.policy import CommitPolicy, PolicyOptions
from hark.live.session import LiveSession, SessionOptions
from hark.live.words import LiveWord, collapse_repeats, drop_committed

SR = 16000


def words(text: str, start: float = 0.0, step: float = 0.4) -> list[LiveWord]:
    return [
        LiveWord(" " + w, start + i * step, start + i * step + step * 0.8)
        for i, w in enumerate(text.split())
    ]


def test_local_agreement_commits_the_common_prefix_once() -> None:
    policy = CommitPolicy()
    assert policy.update(words("and so my")) == []
    assert policy.tentative == words("and so my")
    committed = policy.update(words("and so my fellow"))
    assert [w.key for w in committed] == ["and", "so", "my"]
    assert [w.key for w in policy.tentative] == ["fellow"]
    # The next window decodes the committed words again: never committed twice.
    committed = policy.update(words("and so my fellow americans"))
    assert [w.key for w in committed] == ["fellow"]
    assert [w.key for w in policy.flush()] == ["americans"]


def test_kept_words_are_not_cleaned_again() -> None:
    """A hypothesis whose first words are the previous tentative ones (a partial that re-heard
    only its end) keeps them as they are: the duplicate guard would drop a leading "hello"
    after a final "Hello?" once more at every step."""
    policy = CommitPolicy(PolicyOptions(commit="pauses"))
    policy.flush([LiveWord(" Hello?", 0.0, 0.4)])
    policy.update([LiveWord(" hello", 0.05, 0.35), *words("hello oh hello", start=1.0)])
    assert [w.key for w in policy.tentative] == ["hello", "oh", "hello"]
    tail = words("i didn't know", start=3.0)
    policy.update([*policy.tentative, *tail], kept=3)
    assert [w.key for w in policy.tentative] == ["hello", "oh", "hello", "i", "didn't", "know"]
    assert [w.key for w in policy.flush()][:2] == ["hello", "oh"]


def test_disagreement_commits_nothing_until_two_agree() -> None:
    policy = CommitPolicy()
    policy.update(words("ask not what"))
    assert policy.update(words("ask knot what your")) == [words("ask")[0]]
    assert [w.key for w in policy.update(words("ask not what your country"))] == []
    assert [w.key for w in policy.update(words("ask not what your country can"))] == [
        "not",
        "what",
        "your",
        "country",
    ]


def test_punctuation_and_case_do_not_break_agreement() -> None:
    policy = CommitPolicy()
    policy.update([LiveWord(" Hello,", 0, 0.4), LiveWord(" world", 0.5, 0.9)])
    committed = policy.update([LiveWord(" hello", 0, 0.4), LiveWord(" world.", 0.5, 0.9)])
    assert [w.key for w in committed] == ["hello", "world"]


def test_a_reworded_seam_is_not_duplicated() -> None:
    committed = words("ask what you can do")
    # Times moved by a frame, and the first word starts before the last committed end.
    again = [w.shifted(0.05) for w in words("can do for your country", start=1.2)]
    fresh = drop_committed(again, committed)
    assert [w.key for w in fresh] == ["for", "your", "country"]


def test_the_last_committed_word_heard_again_behind_other_words_is_dropped() -> None:
    """A window that opens on the tail of the last final word: measured with the real base,
    "New Jersey now." final, then "in the city now." at 92.9-93.1 s before "He hoped..."
    from 95.8 s; "now." reached the next final."""
    committed = [LiveWord(" Jersey", 92.5, 92.85), LiveWord(" now.", 92.9, 93.0)]
    phantom = [
        LiveWord(" in", 92.9, 92.95),
        LiveWord(" the", 92.95, 93.0),
        LiveWord(" city", 93.0, 93.0),
        LiveWord(" now.", 93.0, 93.1),
    ]
    after = [LiveWord(" He", 95.8, 95.9), LiveWord(" hoped", 95.9, 96.2)]
    assert [w.key for w in drop_committed([*phantom, *after], committed)] == ["he", "hoped"]
    # Said again after the committed audio (and its tolerance), it is new speech.
    again = [phantom[0], LiveWord(" now.", 93.3, 93.4)]
    assert [w.key for w in drop_committed(again, committed)] == ["now"]
    # Heard again reaching a sliver past the committed end (a 5 s partial window, real base:
    # "you know." at 92.91-93.17 s after "now." ended at 93.14 s): not new either.
    tail = [LiveWord(" Jersey", 92.5, 92.85), LiveWord(" now.", 92.9, 93.14)]
    sliver = [LiveWord(" you", 92.91, 93.0), LiveWord(" know.", 93.0, 93.17), *after]
    assert [w.key for w in drop_committed(sliver, tail)] == ["he", "hoped"]
    # A word begun inside it that goes on past the sliver keeps its part after the end.
    longer = drop_committed([LiveWord(" know.", 93.0, 93.3), *after], tail)
    assert [(w.key, w.start) for w in longer][:1] == [("know", 93.14)]


def test_a_first_word_stretched_over_final_audio_is_kept_and_moved() -> None:
    # Whisper skipped the context (already final) and stretched "ask" back over it: measured
    # on jfk with the real base, "ask" 5.51-8.33 s after "you." ended at 7.44 s.
    committed = [LiveWord(" for", 6.84, 7.08), LiveWord(" you.", 7.08, 7.44)]
    hypothesis = [LiveWord(" ask", 5.51, 8.33), LiveWord(" what", 8.33, 8.73)]
    fresh = drop_committed(hypothesis, committed)
    assert [(w.key, w.start) for w in fresh] == [("ask", 7.44), ("what", 8.33)]


def test_repetition_loops_are_cut() -> None:
    loop = words("thank you thank you thank you thank you so much")
    assert [w.key for w in collapse_repeats(loop)] == ["thank", "you", "thank", "you", "so", "much"]
    assert [w.key for w in collapse_repeats(words("the the the the the"))] == ["the", "the"]
    normal = words("that that is is not that")
    assert collapse_repeats(normal) == normal


def test_flush_until_keeps_the_cut_word_tentative() -> None:
    policy = CommitPolicy()
    committed = policy.flush(words("one two three four"), until=1.0)
    assert [w.key for w in committed] == ["one", "two"]
    assert [w.key for w in policy.tentative] == ["three", "four"]


def test_audio_buffer_is_addressed_in_session_time() -> None:
    buf = AudioBuffer(2.0)
    buf.append(np.arange(SR, dtype=np.float32))
    buf.drop_before(0.5)
    assert buf.start == 0.5 and buf.end == 1.0
    assert buf.window(0.75, 0.8)[0] == 0.75 * SR
    buf.append(np.zeros(SR, dtype=np.float32))
    with pytest.raises(RuntimeError):
        buf.append(np.zeros(SR, dtype=np.float32))


def test_endpointer_hysteresis_and_pause() -> None:
    ep = Endpointer(EndpointOptions(silence_s=0.3, min_speech_s=0.064))
    probs = np.r_[np.zeros(10), np.ones(20), np.full(5, 0.4), np.ones(5), np.zeros(20)]
    changes = ep.update(probs.astype(np.float32), 0)
    assert [type(c).__name__ for c in changes] == ["SpeechStart", "SpeechStop"]
    assert changes[0].time == pytest.approx(10 * 0.032)
    assert changes[1].time == pytest.approx(40 * 0.032)
    # A click (one frame) starts nothing.
    assert Endpointer(EndpointOptions(min_speech_s=0.1)).update(np.r_[0, 1, 0.0], 0) == []


def test_streaming_vad_scores_each_frame_once_with_context() -> None:
    seen: list[int] = []

    def probs(audio: np.ndarray) -> np.ndarray:
        seen.append(audio.size)
        return np.arange(audio.size // 512, dtype=np.float32)

    vad = StreamingVad(probs, warmup_s=0.064)  # 2 frames of context
    assert vad.feed(np.zeros(700, np.float32)).tolist() == [0.0]
    out = vad.feed(np.zeros(1400, np.float32))  # 188 pending + 1400 = 3 whole frames
    assert out.tolist() == [1.0, 2.0, 3.0]  # the context frame's own score is dropped
    assert vad.frames == 4 and seen == [512, 2048]


# -- the session on a scripted "model" -------------------------------------------------------

# Samples carry their own session time (a ramp), so the fake model and the fake VAD know
# which part of the script a window covers without any shared state.
RAMP = 1e-4


def ramp(start: float, seconds: float) -> np.ndarray:
    n = round(seconds * SR)
    return ((start * SR + np.arange(n)) / SR * RAMP).astype(np.float32)


class Script:
    """Speech regions and their words; the fake decoder returns the words a window holds
    (a word cut by the window's end comes back garbled, as Whisper's last word does)."""

    def __init__(self, spoken: list[LiveWord], speech: list[tuple[float, float]]) -> None:
        self.spoken = spoken
        self.speech = speech
        self.calls: list[tuple[float, float, str | None]] = []

    async def decode(
        self, samples: np.ndarray, prompt: str | None, language: str | None
    ) -> DecodedWindow:
        t0 = float(samples[0]) / RAMP
        t1 = t0 + samples.size / SR
        self.calls.append((t0, t1, prompt))
        out = []
        for w in self.spoken:
            if w.start >= t0 - 0.01 and w.end <= t1:
                out.append(w.shifted(-t0))
            elif w.start < t1 < w.end and w.start >= t0:
                out.append(LiveWord(w.word[:2] + "-", w.start - t0, t1 - t0))
        return DecodedWindow(out, "en")

    def probabilities(self, audio: np.ndarray) -> np.ndarray:
        frames = audio.size // 512
        t = audio[: frames * 512 : 512] / RAMP
        inside = np.zeros(frames, dtype=np.float32)
        for s, e in self.speech:
            inside[(t >= s) & (t < e)] = 0.9
        return inside


async def run(
    session: LiveSession, total: float, piece: float = 0.1, start: float = 0.0
) -> list[object]:
    events: list[object] = []
    t = start
    while t < start + total - 1e-9:
        n = min(piece, start + total - t)
        events += await session.feed(ramp(t, n))
        t += n
    return events


def spoken_words(
    n: int,
    start: float,
    step: float = 0.4,
    sentence: int = 0,
    *,
    period: bool = True,
    gap: float = 0.0,
) -> list[LiveWord]:
    """`n` words `step` apart; with `sentence`, in phrases of that many words, each ending
    with a period (`period`) and followed by `gap` more seconds (a breath too short for the
    VAD: only the words' times show it)."""
    out = []
    for i in range(n):
        end_of_sentence = sentence and (i + 1) % sentence == 0
        text = f" w{i}" + ("." if end_of_sentence and period else "")
        at = start + i * step + (i // sentence * gap if sentence else 0.0)
        out.append(LiveWord(text, at, at + 0.3))
    return out


def final_words(events: list[object]) -> list[str]:
    return [w.word for e in events if isinstance(e, Final) for w in e.segment.words]


def test_session_words_come_out_once_in_order_with_a_final_at_the_pause() -> None:
    spoken = spoken_words(10, start=1.0)  # 1.0 .. 4.9 s
    script = Script(spoken, [(1.0, 5.0)])
    session = LiveSession(script.decode, script.probabilities)
    events = asyncio.run(run(session, 7.0))
    assert final_words(events) == [w.word.strip() for w in spoken]
    kinds = [type(e) for e in events]
    assert kinds.index(SpeechStarted) < kinds.index(Partial) < kinds.index(SpeechStopped)
    assert kinds.index(Committed) < kinds.index(Final)
    assert any(isinstance(e, UtteranceEnd) and e.reason == "pause" for e in events)
    # Finals carry session times, and the partial was cleared at the end.
    first = next(e for e in events if isinstance(e, Final)).segment
    assert first.words[0].start == pytest.approx(1.0)
    assert [e for e in events if isinstance(e, Partial)][-1].text == ""
    # After the pause, nothing more is decoded on silence.
    calls = len(script.calls)
    asyncio.run(run(session, 3.0, start=7.0))  # silence
    assert len(script.calls) == calls


def test_no_decode_and_no_text_on_silence() -> None:
    script = Script([], [])
    session = LiveSession(script.decode, script.probabilities)
    events = asyncio.run(run(session, 30.0, piece=0.5))
    assert script.calls == []
    assert not [e for e in events if isinstance(e, (Final, Partial, Committed))]
    assert session.buffer.duration <= session.options.context_s + 1e-6


def test_sentences_become_finals_before_the_pause_and_the_prompt_follows() -> None:
    spoken = spoken_words(30, start=0.5, sentence=5)  # 12 s of speech, six sentences
    script = Script(spoken, [(0.5, 12.5)])
    session = LiveSession(script.decode, script.probabilities)
    events = asyncio.run(run(session, 10.0))
    finals = [e.segment for e in events if isinstance(e, Final)]
    assert len(finals) >= 3  # before any pause
    assert all(s.text.endswith(".") for s in finals)
    assert any(p and "w4." in p for _, _, p in script.calls)
    events += asyncio.run(session.end())
    # The audio ends inside w23 (9.7-10.0 s): the words before it, each once, in order.
    assert final_words(events)[:23] == [w.word.strip() for w in spoken[:23]]
    assert len(final_words(events)) == 24


def test_windows_after_a_final_begin_between_words_at_a_sentence_start() -> None:
    """The audio kept before the words not yet final (`context_s`) begins between two final
    words, never inside one, and at a sentence's first word when one is near: a window cut
    mid-word or mid-sentence made the real Whisper base write a fragment and stop."""
    spoken = spoken_words(40, start=0.5, sentence=4)  # 16 s of speech, 4-word sentences
    script = Script(spoken, [(0.5, 16.5)])
    session = LiveSession(script.decode, script.probabilities)
    asyncio.run(run(session, 16.0))
    starts = {round(w.start, 3) for w in spoken}
    sentence_starts = {round(w.start, 3) for w in spoken[::4]}
    after_final = [t0 for t0, _, prompt in script.calls if prompt]
    assert after_final
    for t0 in after_final:
        # 0.3 s words every 0.4 s: a cut between words lies 0-0.1 s before the next start.
        following = min((s for s in starts if s >= t0 - 1e-6), default=None)
        assert following is not None and following - t0 <= 0.1 + 1e-6, t0
        assert round(following, 3) in sentence_starts, t0
    # The prompt is exactly the final text before the window.
    t0, _, prompt = script.calls[-1]
    before = [w.word.strip() for w in spoken if w.end <= t0 + 0.01]
    assert prompt is not None and prompt.split() == before[-len(prompt.split()) :]


def test_the_cap_bounds_the_buffer_on_speech_without_sentences_or_pauses() -> None:
    # 10 minutes of words without punctuation or pause, pushed as fast as possible.
    minutes = 10
    spoken = spoken_words(minutes * 150, start=0.0)
    script = Script(spoken, [(0.0, minutes * 60.0)])
    options = SessionOptions(max_buffer_s=8.0, step_s=2.0)
    session = LiveSession(script.decode, script.probabilities, options)
    biggest = 0
    out: list[object] = []

    async def push() -> None:
        nonlocal biggest
        for k in range(minutes * 60):
            out.extend(await session.feed(ramp(float(k), 1.0)))
            biggest = max(biggest, session.buffer.size)

    asyncio.run(push())
    assert biggest <= session.buffer.peak <= session.buffer.capacity <= (8.0 + 0.6) * SR
    assert max(t1 - t0 for t0, t1, _ in script.calls) <= 8.0 + 1e-6
    got = final_words(out)
    assert len(got) > 0.9 * len(spoken)
    assert len(got) == len(set(got))  # no word twice
    assert got == sorted(got, key=lambda w: int(w[1:]))  # in order


def test_a_block_with_two_pauses_is_finalised_by_one_decode_in_order() -> None:
    """A server that fell behind feeds everything queued at once: the pauses in it are still
    found and finalised, each utterance its own final with its own latency origin, with one
    decode, and each utterance's events come before the next one starts."""
    a, b, c = spoken_words(5, start=0.5), spoken_words(5, start=4.0), spoken_words(5, start=8.0)
    b = [LiveWord(" v" + w.word[2:], w.start, w.end) for w in b]
    script = Script([*a, *b, *c], [(0.5, 2.5), (4.0, 6.0), (8.0, 10.0)])
    session = LiveSession(script.decode, script.probabilities)
    events = asyncio.run(session.feed(ramp(0.0, 9.0)))
    assert len(script.calls) == 1  # both pauses, one window
    assert script.calls[0][1] == pytest.approx(6.0 + 0.3, abs=0.05)
    finals = [e for e in events if isinstance(e, Final)]
    assert [f.segment.text for f in finals] == ["w0 w1 w2 w3 w4", "v0 v1 v2 v3 v4"]
    assert [f.latency_from for f in finals] == pytest.approx([2.5, 6.0], abs=0.05)
    kinds = [type(e).__name__ for e in events if not isinstance(e, Partial)]
    assert kinds == [
        "SpeechStarted",
        "SpeechStopped",
        "Committed",
        "Final",
        "UtteranceEnd",
        "SpeechStarted",
        "SpeechStopped",
        "Committed",
        "Final",
        "UtteranceEnd",
        "SpeechStarted",
    ]
    # The next block is decoded at once, the newest audio: the third utterance so far.
    more = asyncio.run(session.feed(ramp(9.0, 0.5)))
    assert len(script.calls) == 2 and script.calls[1][1] == pytest.approx(9.5)
    assert any(isinstance(e, Partial) and "w0" in e.text for e in more)


@pytest.mark.parametrize("block", [0.1, 1.7, 4.0, 9.0])
def test_at_most_one_decode_per_block_whatever_its_size(block: float) -> None:
    """Each `feed` makes at most one decode (the buffer cap aside), so a caller feeding what
    arrived during the previous decode gets every decode's events at once and never
    compounds: and the words still come out once, in order, whatever the blocks."""
    spoken, speech = [], []
    for k in range(8):  # 2.4 s utterances with 1 s pauses
        start = 0.5 + 3.4 * k
        spoken += [LiveWord(f" u{k}w{i}", start + 0.4 * i, start + 0.4 * i + 0.3) for i in range(6)]
        speech.append((start, start + 2.4))
    script = Script(spoken, speech)
    session = LiveSession(script.decode, script.probabilities)
    events: list[object] = []

    async def push() -> None:
        t = 0.0
        while t < 28.0 - 1e-9:
            n = min(block, 28.0 - t)
            before = len(script.calls)
            events.extend(await session.feed(ramp(t, n)))
            assert len(script.calls) - before <= 1
            t += n
        events.extend(await session.end())

    asyncio.run(push())
    assert final_words(events) == [w.word.strip() for w in spoken]
    ends = [e for e in events if isinstance(e, UtteranceEnd) and e.reason == "pause"]
    assert len(ends) == 8


@pytest.mark.parametrize("silence_decode_s", [0.3, 0.1])
def test_the_final_at_a_pause_reuses_the_decode_made_as_the_silence_began(
    silence_decode_s: float,
) -> None:
    """Once a silence inside speech holds `silence_decode_s`, the buffer is decoded: if the
    silence becomes a pause, that hypothesis already covers the utterance and the silence after
    it, so the final needs no decode of its own (a pause costs nothing more than its 0.5 s)."""
    spoken = spoken_words(10, start=1.0)  # speech 1.0 .. 4.9 s, then silence
    script = Script(spoken, [(1.0, 5.0)])
    options = SessionOptions(silence_decode_s=silence_decode_s)
    session = LiveSession(script.decode, script.probabilities, options)
    events: list[object] = []

    async def push() -> None:
        t = 0.0
        while t < 7.0 - 1e-9:
            before = len(script.calls)
            got = await session.feed(ramp(t, 0.1))
            if any(isinstance(e, UtteranceEnd) for e in got):
                assert len(script.calls) == before  # no decode for the final
            events.extend(got)
            t += 0.1

    asyncio.run(push())
    assert final_words(events) == [w.word.strip() for w in spoken]
    assert any(isinstance(e, UtteranceEnd) and e.reason == "pause" for e in events)
    # The last decode ended 0.0-0.1 s after the silence held `silence_decode_s` (the early
    # one: audio comes in 0.1 s blocks), none after it.
    tail = 5.0 + silence_decode_s
    assert tail - 0.05 <= script.calls[-1][1] <= tail + 0.1 + 0.05
    final = next(e for e in events if isinstance(e, Final))
    assert final.latency_from == pytest.approx(5.0, abs=0.05)


def test_commit_sentences_keeps_an_unfinished_sentence_revisable() -> None:
    from hark.live.policy import PolicyOptions

    text = "so we went. and then we"
    policy = CommitPolicy(PolicyOptions(commit="sentences"))
    policy.update(words(text))
    committed = policy.update(words(text + " left"))
    assert [w.word for w in committed] == [" so", " we", " went."]
    assert [w.key for w in policy.tentative] == ["and", "then", "we", "left"]
    assert policy.update(words(text + " left the")) == []  # no sentence end agreed since
    held = CommitPolicy(PolicyOptions(commit="pauses"))
    held.update(words(text))
    assert held.update(words(text)) == [] and len(held.tentative) == 6
    assert [w.key for w in held.flush()][-1] == "we"


def test_a_reused_hypothesis_keeps_a_last_word_stretched_past_the_pause() -> None:
    """Whisper often ends a window's last word at the window's end: the final made from the
    decode at the start of the silence keeps that word (found by the timing-free replay of
    the long form: one word lost at almost every pause)."""
    spoken = spoken_words(10, start=1.0)
    script = Script(spoken, [(1.0, 5.0)])

    async def stretching(samples: np.ndarray, prompt: str | None, language: str | None):
        decoded = await script.decode(samples, prompt, language)
        words = list(decoded.words)
        if words:  # stretched to the window's end, and heard right only with the silence
            last = words[-1]
            t1 = float(samples[0]) / RAMP + samples.size / SR
            text = last.word if t1 > 5.3 else last.word[:2] + "-"
            words[-1] = LiveWord(text, last.start, samples.size / SR)
        return DecodedWindow(words, "en")

    session = LiveSession(stretching, script.probabilities)
    events = asyncio.run(run(session, 7.0))
    assert final_words(events) == [w.word.strip() for w in spoken]


def test_a_final_decoder_makes_the_finals_and_partials_stay_interim() -> None:
    """Two passes: step decodes (partials) on one decoder; the decode made as a silence
    begins, whose words the pause then finalises, on the other (e.g. a wider beam)."""
    spoken = [
        *spoken_words(6, start=1.0, sentence=0),  # 1.0 .. 3.3 s, then a pause
        *(w.shifted(5.0) for w in spoken_words(6, start=1.0)),  # 6.0 .. 8.3 s
    ]
    script = Script(spoken, [(1.0, 3.4), (6.0, 8.4)])
    wide = Script([LiveWord(w.word.upper(), w.start, w.end) for w in spoken], script.speech)
    options = SessionOptions(policy=PolicyOptions(commit="pauses"))
    session = LiveSession(script.decode, script.probabilities, options, final_decoder=wide.decode)
    events = asyncio.run(run(session, 10.0))
    events += asyncio.run(session.end())
    assert final_words(events) == [w.word.strip().upper() for w in spoken]
    partials = [e.text for e in events if isinstance(e, Partial) and e.text]
    assert partials[0] == partials[0].lower()  # the first steps: the interim decoder
    assert len(wide.calls) == 2  # one decode per utterance (the silence's), reused at the pause
    assert [round(t1, 1) for _, t1, _ in wide.calls] == [3.8, 8.8]  # 0.3 s into each silence
    assert len(script.calls) >= 2


class StopsAtSilence(Script):
    """Whisper's early stop: the transcript ends at the first silence of over 1 s between
    two words of the window (the real base wrote "You know." and nothing of the 10 s
    sentence after a 2 s gap), and the first word after silence is stamped at the window's
    first sample."""

    async def decode(
        self, samples: np.ndarray, prompt: str | None, language: str | None
    ) -> DecodedWindow:
        heard = (await super().decode(samples, prompt, language)).words
        out = heard[:1]
        for previous, word in itertools.pairwise(heard):
            if word.start - previous.end > 1.0:
                break
            out.append(word)
        if out and out[0].start > 0.5:
            out[0] = LiveWord(out[0].word, 0.0, out[0].end)
        return DecodedWindow(out, "en")


@pytest.mark.parametrize("prompted", [True, False])
def test_a_decode_that_stops_at_a_silence_is_continued_past_it(prompted: bool) -> None:
    first = spoken_words(5, start=1.0, sentence=5)  # 1.0 - 2.9 s, then 2 s of silence
    second = [w.shifted(4.0) for w in spoken_words(10, start=1.0, sentence=10)]  # 5.0 - 8.9
    script = StopsAtSilence(first + second, [(1.0, 3.0), (5.0, 9.0)])
    options = SessionOptions(prompt_finals=prompted)
    session = LiveSession(script.decode, script.probabilities, options)
    events = asyncio.run(run(session, 11.0))
    assert final_words(events) == [w.word.strip() for w in first + second]
    # The second decode of a window began just before the speech it had not heard, prompted
    # with the words the first one heard (the final's once: they were re-heard in its
    # context audio), unless its words become final and `prompt_finals` is off (the last).
    continued = [p for t0, _, p in script.calls if 4.5 <= t0 < 5.0]
    assert len(continued) >= 2 and (continued[-1] is None) is not prompted
    prompts = continued if prompted else continued[:-1]
    assert all(p and p.split() == ["w0", "w1", "w2", "w3", "w4."] for p in prompts)
    # A first word stamped at the window's start (in silence) is moved to its speech.
    starts = [e.segment.start for e in events if isinstance(e, Final)]
    assert starts[0] == pytest.approx(1.0, abs=0.15) and starts[1] == pytest.approx(4.9, abs=0.1)


def test_speech_that_no_word_covers_is_decoded_again_at_most_twice() -> None:
    only_final = SessionOptions(interim=False, early_final=False)
    # A noise the VAD calls speech and the model calls nothing: one more try from its onset.
    script = Script([], [(1.0, 6.0)])
    asyncio.run(run(LiveSession(script.decode, script.probabilities, only_final), 7.0))
    assert len(script.calls) == 2
    # Words 2 s apart in one stretch of speech, each decode stopping after one: the decode
    # and two continuations, then the rest is left (a model stuck in such a loop costs 3x).
    spoken = [LiveWord(f" w{i}", 1.0 + 2 * i, 1.3 + 2 * i) for i in range(4)]
    script = StopsAtSilence(spoken, [(1.0, 8.0)])
    events = asyncio.run(run(LiveSession(script.decode, script.probabilities, only_final), 9.0))
    assert len(script.calls) == 3
    assert final_words(events) == ["w0", "w1", "w2"]


def test_partials_of_a_long_utterance_re_hear_only_its_end() -> None:
    """Commit "pauses": the step decodes of an utterance longer than `partial_window_s` hear
    about its last `partial_window_s` (their words replace the newest hypothesis' from a word
    boundary on), the partial still reads the whole utterance, and the final decode hears all
    of it (with no `final_window_s`)."""
    spoken = spoken_words(40, start=0.5)  # 0.5 .. 16.4 s without a sentence end
    script = Script(spoken, [(0.5, 16.5)])
    wide = Script(spoken, script.speech)
    options = SessionOptions(final_window_s=None, policy=PolicyOptions(commit="pauses"))
    session = LiveSession(script.decode, script.probabilities, options, final_decoder=wide.decode)
    events = asyncio.run(run(session, 18.0))
    steps = [(t0, t1) for t0, t1, _ in script.calls]
    assert options.partial_window_s is not None
    assert max(t1 - t0 for t0, t1 in steps) <= options.partial_window_s + 0.4 + 1e-6
    assert any(t0 > 5.0 for t0, _ in steps)
    prompted = [p for t0, _, p in script.calls if t0 > 5.0]
    assert all(p and p.split()[0] == "w0" for p in prompted)  # the words kept, as the prompt
    partials = [e.text for e in events if isinstance(e, Partial) and e.text]
    longest = max(partials, key=len).split()
    assert longest[: len(longest) - 1] == [w.word.strip() for w in spoken][: len(longest) - 1]
    assert [round(t0, 1) for t0, _, _ in wide.calls] == [0.0]
    assert final_words(events) == [w.word.strip() for w in spoken]


@pytest.mark.parametrize("prompted", [False, True])
def test_the_final_of_a_long_utterance_re_hears_only_its_end(prompted: bool) -> None:
    """With `final_window_s`, the final decode of a 16 s utterance hears about its last 6 s;
    the words before come from the partials (the fake final decoder writes upper case)."""
    spoken = spoken_words(40, start=0.5)  # 0.5 .. 16.4 s without a sentence end
    script = Script(spoken, [(0.5, 16.5)])
    loud = [LiveWord(w.word.upper(), w.start, w.end) for w in spoken]
    wide = Script(loud, script.speech)
    options = SessionOptions(
        final_window_s=6.0, prompt_finals=prompted, policy=PolicyOptions(commit="pauses")
    )
    session = LiveSession(script.decode, script.probabilities, options, final_decoder=wide.decode)
    events = asyncio.run(run(session, 18.0))
    assert len(wide.calls) == 1
    t0, t1, prompt = wide.calls[0]
    assert 6.0 - 0.4 <= t1 - t0 <= 6.0 + 0.4 + 1e-6
    if prompted:  # the partial's words, as the prompt
        assert prompt and prompt.split()[0] == "w0"
    else:  # decoded as the files' chunks are
        assert prompt is None
    got = final_words(events)
    assert [w.lower() for w in got] == [w.word.strip() for w in spoken]
    cut = next(i for i, w in enumerate(got) if w.isupper())
    assert got[:cut] == [w.word.strip() for w in spoken[:cut]] and cut >= 20
    assert all(w.isupper() for w in got[cut:])


@pytest.mark.parametrize("period, gap", [(True, 0.0), (False, 0.25)])
def test_windows_begin_at_a_phrase_boundary_near_their_nominal_start(
    period: bool, gap: float
) -> None:
    """A partial or final window of a long utterance begins at the clear boundary nearest its
    nominal start (after a sentence end, or at a gap between words), when one is within a
    quarter of its length: begun mid-phrase, the real base heard "I'm | originally from
    Chicago also." as "in" and the phrase was lost."""
    spoken = spoken_words(40, 0.5, sentence=4, period=period, gap=gap)  # a boundary every ~1.6 s
    end = spoken[-1].end + 0.1
    script = Script(spoken, [(0.5, end)])
    wide = Script(spoken, script.speech)
    # 6 s windows: a quarter of one (1.5 s) always reaches a boundary 1.6-1.85 s apart.
    options = SessionOptions(
        partial_window_s=6.0, final_window_s=6.0, policy=PolicyOptions(commit="pauses")
    )
    session = LiveSession(script.decode, script.probabilities, options, final_decoder=wide.decode)
    events = asyncio.run(run(session, end + 1.5))
    windows = [(t0, t1) for t0, t1, _ in script.calls + wide.calls if t0 > 0.5]
    assert len(windows) >= 5 and len(wide.calls) == 1
    for t0, t1 in windows:
        first = next(i for i, w in enumerate(spoken) if w.start >= t0)
        assert first % 4 == 0, (t0, t1)  # the first word of a phrase
        assert t1 - t0 <= 6.0 * 1.25 + 0.4
    assert final_words(events) == [w.word.strip() for w in spoken]


class LoopsOnce(Script):
    """The first step window that begins after 4 s loops ("I think I think ...", as greedy
    decoding did on a window cut mid-phrase)."""

    looped = False

    async def decode(
        self, samples: np.ndarray, prompt: str | None, language: str | None
    ) -> DecodedWindow:
        heard = await super().decode(samples, prompt, language)
        if self.looped or float(samples[0]) / RAMP <= 4.0:
            return heard
        self.looped = True
        loop = [LiveWord(w, 0.1 * i, 0.1 * i + 0.1) for i, w in enumerate([" I", " think"] * 20)]
        return DecodedWindow(loop, "en", looped=True)


@pytest.mark.parametrize("looped", [True, False])
def test_a_step_decode_that_loops_is_no_hypothesis(looped: bool) -> None:
    """A step window whose text is a repetition loop (the decoder says so: compression
    ratio) leaves the partial as it was; taken as a hypothesis, its first words would stay
    before every later window and reach the final."""
    spoken = spoken_words(40, start=0.5)  # 0.5 .. 16.4 s without a sentence end
    script = LoopsOnce(spoken, [(0.5, 16.5)])
    wide = Script(spoken, script.speech)
    options = SessionOptions(policy=PolicyOptions(commit="pauses"), long_utterance_s=None)

    async def unflagged(samples: np.ndarray, prompt: str | None, language: str | None):
        # The same words, not flagged: the loop is kept (what the flag prevents).
        return DecodedWindow((await script.decode(samples, prompt, language)).words, "en")

    decoder = script.decode if looped else unflagged
    session = LiveSession(decoder, script.probabilities, options, final_decoder=wide.decode)
    events = asyncio.run(run(session, 18.0))
    assert script.looped
    partials = [e.text for e in events if isinstance(e, Partial)]
    got = final_words(events)
    if looped:
        assert not any("think" in text for text in partials)
        assert got == [w.word.strip() for w in spoken]
    else:
        assert "think" in got


class Skips(Script):
    """Windows beginning after 4 s leave out the words said `lo`-`hi` s into them: no word
    there ("gap"; at the start, Whisper taking a phrase for one the prompt holds), or the
    first of them stretched over all ("stretch": Whisper's "I'm" over 1.9 s of "I'm
    originally from Chicago also. I'm")."""

    def __init__(
        self,
        spoken: list[LiveWord],
        speech: list[tuple[float, float]],
        lo: float,
        hi: float,
        mode: str,
    ) -> None:
        super().__init__(spoken, speech)
        self.lo, self.hi, self.mode = lo, hi, mode

    async def decode(
        self, samples: np.ndarray, prompt: str | None, language: str | None
    ) -> DecodedWindow:
        heard = (await super().decode(samples, prompt, language)).words
        if float(samples[0]) / RAMP <= 4.0:
            return DecodedWindow(heard, "en")
        inside = [w for w in heard if self.lo <= w.start < self.hi]
        out = [w for w in heard if w not in inside]
        if inside and self.mode == "stretch":
            out.append(LiveWord(inside[0].word, inside[0].start, self.hi))
        return DecodedWindow(sorted(out, key=lambda w: w.start), "en")


@pytest.mark.parametrize(
    "lo, hi, mode", [(0.0, 1.5, "gap"), (1.0, 2.6, "gap"), (1.0, 2.6, "stretch")]
)
def test_words_a_window_skipped_stay_from_the_partial(lo: float, hi: float, mode: str) -> None:
    """A step or final window that re-hears the end of a long utterance and leaves out the
    speech at its start, or 1.6 s of it between two words, or stretches one word over that,
    keeps the newest hypothesis' words there instead of losing them (in partials and the
    final)."""
    spoken = spoken_words(40, start=0.5)  # 0.5 .. 16.4 s without a sentence end
    script = Skips(spoken, [(0.5, 16.5)], lo, hi, mode)
    options = SessionOptions(policy=PolicyOptions(commit="pauses"), long_utterance_s=None)
    session = LiveSession(script.decode, script.probabilities, options)
    events = asyncio.run(run(session, 18.0))
    assert sum(t0 > 4.0 for t0, _, _ in script.calls) >= 3  # windows re-heard the end only
    assert final_words(events) == [w.word.strip() for w in spoken]


class Murmurs(Script):
    """Speech, 0.4 s of silence, then 0.2 s between Silero's offset and onset (a breath):
    no speech, but the silence restarts after it."""

    def probabilities(self, audio: np.ndarray) -> np.ndarray:
        probs = super().probabilities(audio)
        t = audio[: probs.size * 512 : 512] / RAMP
        probs[(t >= 3.4) & (t < 3.6)] = 0.4
        return probs


def test_a_pause_after_a_breath_is_finalised_from_the_silence_decode() -> None:
    spoken = spoken_words(5, start=1.0)  # 1.0 - 2.9 s
    script = Murmurs(spoken, [(1.0, 3.0)])
    wide = Script(spoken, script.speech)
    options = SessionOptions(policy=PolicyOptions(commit="pauses"))
    session = LiveSession(script.decode, script.probabilities, options, final_decoder=wide.decode)
    events = asyncio.run(run(session, 5.0))
    assert any(isinstance(e, SpeechStopped) and e.time > 3.5 for e in events)
    assert final_words(events) == [w.word.strip() for w in spoken]
    assert len(wide.calls) == 1, wide.calls  # the silence decode's, not a second one


def test_a_sentence_before_a_short_silence_is_final_at_once() -> None:
    """Commit "pauses": a sentence followed by 0.4 s of silence (no pause: that takes 0.5 s)
    is final from the silence decode, not at the next pause; with `sentence_at_silence`
    off it waits for that pause."""
    first = spoken_words(5, start=1.0, sentence=5)  # 1.0 - 2.9 s, "w4."
    second = [LiveWord(f" v{i}", 3.45 + 0.4 * i, 3.75 + 0.4 * i) for i in range(4)]
    script = Script([*first, *second], [(1.0, 3.0), (3.4, 5.0)])

    def finals_by(seconds: float, **options: object) -> list[str]:
        session = LiveSession(
            script.decode,
            script.probabilities,
            SessionOptions(policy=PolicyOptions(commit="pauses"), **options),  # type: ignore[arg-type]
            final_decoder=script.decode,
        )
        return final_words(asyncio.run(run(session, seconds, piece=0.05)))

    assert finals_by(3.45) == [w.word.strip() for w in first]
    assert finals_by(3.45, sentence_at_silence=False) == []
    assert finals_by(6.0, sentence_at_silence=False) == [w.word.strip() for w in [*first, *second]]
    assert finals_by(6.0) == [w.word.strip() for w in [*first, *second]]


def test_no_step_decode_starts_while_a_silence_goes_on() -> None:
    # Speech, then 0.25 s of silence (too short for the silence decode), then speech again:
    # the step that fell due inside the silence waits for the speech.
    spoken = [*spoken_words(5, start=1.0), *spoken_words(2, start=3.35)]
    script = Script(spoken, [(1.0, 2.95), (3.3, 4.0)])
    options = SessionOptions(policy=PolicyOptions(commit="pauses"))
    session = LiveSession(script.decode, script.probabilities, options)
    asyncio.run(run(session, 3.6, piece=0.05))
    ends = [round(t1, 2) for _, t1, _ in script.calls]
    assert ends and all(not 3.0 < t1 < 3.3 for t1 in ends), ends


def test_the_cap_cuts_at_a_sentence_end_near_the_buffer_end() -> None:
    # 4-word sentences, no pause, commit "pauses": the cap finalises whole sentences only, so
    # the next window starts at a sentence's first word.
    spoken = spoken_words(60, start=0.5, sentence=4)
    script = Script(spoken, [(0.5, 25.0)])
    options = SessionOptions(max_buffer_s=10.0, policy=PolicyOptions(commit="pauses"))
    session = LiveSession(script.decode, script.probabilities, options)
    events = asyncio.run(run(session, 24.0))
    finals = [e.segment for e in events if isinstance(e, Final)]
    assert finals and all(s.text.endswith(".") for s in finals)
    events += asyncio.run(session.end())
    got = final_words(events)
    assert got[:59] == [w.word.strip() for w in spoken][:59]


def test_speech_frames_find_speech_after_a_silence() -> None:
    from hark.live.endpoint import SpeechFrames

    frames = SpeechFrames(capacity_s=2.0, threshold=0.5)
    # 0.32 s speech, 0.64 s silence, 0.32 s speech, 0.16 s silence, 0.32 s speech
    frames.extend(np.r_[np.ones(10), np.zeros(20), np.ones(10), np.zeros(5), np.ones(10)])
    assert frames.first_speech(0.4, 2.0) == pytest.approx(30 * 0.032)
    assert frames.seconds(0.0, 2.0) == pytest.approx(30 * 0.032)
    assert frames.speech_after_silence(0.0, 2.0, 0.3) == pytest.approx(30 * 0.032)
    assert frames.speech_after_silence(0.0, 2.0, 0.7) is None
    assert frames.speech_after_silence(1.0, 2.0, 0.3) is None
    two = SpeechFrames(capacity_s=3.0, threshold=0.5)
    two.extend(np.r_[np.ones(10), np.zeros(20), np.ones(10), np.zeros(20), np.ones(10)])
    assert two.speech_after_silence(0.0, 3.0, 0.3) == pytest.approx(30 * 0.032)  # the first
    frames.extend(np.zeros(50))  # older frames fall out of the 2 s held
    assert frames.first_speech(0.0, 1.0) is None and frames.seconds(0.0, 10.0) > 0


def test_speech_frames_find_the_last_breath() -> None:
    from hark.live.endpoint import SpeechFrames

    frames = SpeechFrames(capacity_s=4.0, threshold=0.5)
    # speech 0.32 s, silence 0.32 s, speech 0.32 s, silence 0.16 s, speech 0.32 s, silence
    frames.extend(np.r_[np.ones(10), np.zeros(10), np.ones(10), np.zeros(5), np.ones(10)])
    frames.extend(np.zeros(20))
    assert frames.last_silence(0.0, 4.0, 0.3) == pytest.approx(10 * 0.032)
    assert frames.last_silence(0.0, 4.0, 0.15) == pytest.approx(30 * 0.032)  # the last one
    assert frames.last_silence(0.0, 4.0, 0.4) is None  # the trailing silence has no speech after
    assert frames.last_silence(0.5, 4.0, 0.3) is None  # before `start`


def long_utterance(breath: float) -> tuple[list[LiveWord], Script]:
    """Words from 0.5 s with no sentence end and no pause, a 0.25 s breath at `breath`, and
    speech on to 16.5 s."""
    before = [w for w in spoken_words(40, start=0.5) if w.end <= breath]
    after = [LiveWord(f" v{i}", breath + 0.3 + 0.4 * i, breath + 0.6 + 0.4 * i) for i in range(40)]
    after = [w for w in after if w.end <= 16.4]
    return [*before, *after], Script([*before, *after], [(0.5, breath), (breath + 0.25, 16.5)])


@pytest.mark.parametrize("piece", [0.05, 1.5])
def test_a_long_utterance_is_final_at_a_breath(piece: float) -> None:
    """Commit "pauses": a breath (0.25 s) found 10 s or more into audio not yet final
    finalises its words from one final decode of the buffer up to 0.2 s into it, once the
    speech after it is heard (small pieces) or when it went by while a decode ran (1.5 s
    blocks); the words after it stay in the partial. Before 10 s, or with
    `long_utterance_s` off, a breath cuts nothing."""
    spoken, script = long_utterance(11.0)
    wide = Script(spoken, script.speech)
    options = SessionOptions(policy=PolicyOptions(commit="pauses"))
    session = LiveSession(script.decode, script.probabilities, options, final_decoder=wide.decode)
    events = asyncio.run(run(session, 14.0, piece=piece))
    first = [w.word.strip() for w in spoken if w.end <= 11.0]
    assert final_words(events) == first
    assert [(t0 <= 0.5, round(t1, 1)) for t0, t1, _ in wide.calls] == [(True, 11.2)]
    partials = [e for e in events if isinstance(e, Partial)]
    assert partials[-1].text.split()[0] == "v0"
    events += asyncio.run(run(session, 4.0, start=14.0, piece=piece))
    events += asyncio.run(session.end())
    assert final_words(events) == [w.word.strip() for w in spoken]
    for breath, off in ((8.0, {}), (11.0, {"long_utterance_s": None})):
        spoken, script = long_utterance(breath)
        session = LiveSession(
            script.decode,
            script.probabilities,
            SessionOptions(policy=PolicyOptions(commit="pauses"), **off),  # type: ignore[arg-type]
        )
        assert final_words(asyncio.run(run(session, 14.0, piece=piece))) == []


class StampsEarly(Script):
    """A word after a silence of over 1 s stamped at the end of the word before it (the real
    base: "He" at 93.14 s, right after "now.", for speech from 95.3 s)."""

    async def decode(
        self, samples: np.ndarray, prompt: str | None, language: str | None
    ) -> DecodedWindow:
        heard = (await super().decode(samples, prompt, language)).words
        out = heard[:1]
        for previous, word in itertools.pairwise(heard):
            early = word.start - previous.end > 1.0
            out.append(LiveWord(word.word, previous.end, word.end) if early else word)
        return DecodedWindow(out, "en")


class Restamped(Script):
    """The script's words with the times `restamp` gives each (in session seconds): Whisper's
    timing errors, one test's at a time."""

    def __init__(
        self,
        spoken: list[LiveWord],
        speech: list[tuple[float, float]],
        restamp: Callable[[LiveWord], LiveWord],
    ) -> None:
        super().__init__(spoken, speech)
        self.restamp = restamp

    async def decode(
        self, samples: np.ndarray, prompt: str | None, language: str | None
    ) -> DecodedWindow:
        heard = (await super().decode(samples, prompt, language)).words
        t0 = float(samples[0]) / RAMP
        return DecodedWindow([self.restamp(w.shifted(t0)).shifted(-t0) for w in heard], "en")


def final_words_of_one_utterance(script: Script, seconds: float = 6.0) -> list:
    """The final words of `seconds` of the script with its 1.5 s silence inside one utterance
    (a pause needs 2 s), then the end."""
    options = SessionOptions(endpoint=EndpointOptions(silence_s=2.0))
    session = LiveSession(script.decode, script.probabilities, options)
    events = asyncio.run(run(session, seconds))
    events += asyncio.run(session.end())
    return [w for e in events if isinstance(e, Final) for w in e.segment.words]


def test_a_word_stamped_before_a_silence_starts_after_it() -> None:
    first = spoken_words(4, start=1.0, sentence=4)  # 1.0 - 2.5 s
    second = [w.shifted(3.0) for w in spoken_words(4, start=1.0, sentence=4)]  # 4.0 - 5.5 s
    script = StampsEarly(first + second, [(1.0, 2.6), (4.0, 5.6)])
    words = final_words_of_one_utterance(script)
    assert [w.word for w in words] == [w.word.strip() for w in first + second]
    assert words[4].start == pytest.approx(3.9, abs=0.05)


def test_the_last_final_word_heard_again_inflected_is_not_repeated() -> None:
    committed = [LiveWord(" And", 31.0, 31.3), LiveWord(" asked", 32.37, 33.84)]
    again = [LiveWord(" Ask", 32.5, 34.2), LiveWord(" not", 34.3, 34.6)]
    assert [w.key for w in drop_committed(again, committed)] == ["not"]
    # A word after the committed audio is new, whatever it looks like.
    later = [LiveWord(" asking", 34.0, 34.5)]
    assert [w.key for w in drop_committed(later, committed)] == ["asking"]
    the = [LiveWord(" the", 1.0, 1.2)]
    assert [w.key for w in drop_committed([LiveWord(" there", 1.25, 1.6)], the)] == ["there"]


def test_a_word_stamped_wholly_in_the_silence_before_its_speech_is_moved_to_it() -> None:
    first = spoken_words(4, start=1.0, sentence=4)  # 1.0 - 2.5 s, "w3." the last
    second = [w.shifted(3.0) for w in spoken_words(4, start=1.0, sentence=4)]  # 4.0 - 5.5 s

    def early(w: LiveWord) -> LiveWord:
        if abs(w.start - 4.0) < 1e-6:  # "w0" of the second: from the first's speech's tail
            return LiveWord(w.word, 2.5, 3.5)
        if abs(w.end - 2.5) < 0.05:  # the first's last word: zero length
            return LiveWord(w.word, w.end, w.end)
        return w

    script = Restamped(first + second, [(1.0, 2.6), (4.0, 5.6)], early)
    words = final_words_of_one_utterance(script)
    assert [w.word for w in words] == [w.word.strip() for w in first + second]
    assert words[3].start == pytest.approx(2.5, abs=0.01)  # a zero-length word stays
    assert words[4].start == pytest.approx(3.9, abs=0.05)
    assert words[4].end == pytest.approx(4.4, abs=0.05)  # up to the next word


def test_audio_sealed_at_a_pause_is_not_heard_again() -> None:
    """The real server, 2 streams (session 13): "...fat and sauce." final at a pause, its last
    word ending at 21.19 s by its times and the speech at 21.73 s; the next window's context
    read the same audio as "toss." (21.19-21.36 s once moved to the final end), which became
    a final of its own with the next utterance, 3.7 s late."""
    policy = CommitPolicy(PolicyOptions(commit="pauses"))
    policy.flush([LiveWord(" and", 20.67, 20.83), LiveWord(" sauce.", 20.83, 21.19)])
    heard = [LiveWord(" toss.", 20.95, 21.36), LiveWord(" Stuff", 24.0, 24.3)]
    assert [w.key for w in policy.clean(heard)] == ["toss", "stuff"]  # past the sliver
    policy.seal(21.73)
    assert [w.key for w in policy.clean(heard)] == ["stuff"]
    # Words after the seal are new; one stretched back over it starts there.
    stretched = [LiveWord(" Stuff", 21.0, 24.3), LiveWord(" it", 24.3, 24.5)]
    assert [(w.key, w.start) for w in policy.clean(stretched)] == [("stuff", 21.73), ("it", 24.3)]
    policy.seal(20.0)  # never moves back
    assert [w.key for w in policy.clean(heard)] == ["stuff"]
    # The last final word said again after the pause is new speech: a replay draw of the
    # long form lost the second "Hello." (70.88 s) to the seam match, the copy heard inside
    # the sealed audio (69.98-70.24 s) being gone by time already.
    hello = CommitPolicy(PolicyOptions(commit="pauses"))
    hello.flush([LiveWord(" Hello.", 69.98, 70.16)])
    hello.seal(70.46)
    again = [LiveWord(" Hello?", 69.98, 70.24), LiveWord(" Hello.", 70.88, 71.18)]
    assert [(w.key, w.start) for w in hello.clean(again)] == [("hello", 70.88)]
    # Sealed before any word was committed (the first utterance was noise), it still holds.
    fresh = CommitPolicy(PolicyOptions(commit="pauses"))
    fresh.seal(21.73)
    assert [w.key for w in fresh.clean(heard)] == ["stuff"]


class HearsTheContextOtherwise(Script):
    """Windows that reach the second utterance from inside the first read the first's last
    word as another word, a little longer ("sauce." -> "toss.")."""

    async def decode(
        self, samples: np.ndarray, prompt: str | None, language: str | None
    ) -> DecodedWindow:
        heard = (await super().decode(samples, prompt, language)).words
        t0 = float(samples[0]) / RAMP
        if not t0 < 2.5 < 4.0 < t0 + samples.size / SR:
            return DecodedWindow(heard, "en")
        out = [LiveWord(" toss.", 2.35 - t0, 2.75 - t0) if w.word == " w3." else w for w in heard]
        return DecodedWindow(out, "en")


def test_a_final_at_a_pause_is_not_heard_again_by_the_next_utterance() -> None:
    first = spoken_words(4, start=1.0, sentence=4)  # 1.0 - 2.5 s, "w3." 2.2-2.5 s the last
    second = spoken_words(8, start=2.4, sentence=4)[4:]  # "w4" ... "w7." 4.0 - 5.5 s
    script = HearsTheContextOtherwise(first + second, [(1.0, 2.8), (4.0, 5.6)])
    session = LiveSession(script.decode, script.probabilities)
    events = asyncio.run(run(session, 7.0))
    events += asyncio.run(session.end())
    assert final_words(events) == [w.word.strip() for w in first + second]
    assert any(t0 < 2.5 < 4.0 < t1 for t0, t1, _ in script.calls)  # the context was heard


def test_words_heard_inside_the_committed_audio_are_not_new() -> None:
    # The real base after a final "...New Jersey now." (now. 92.90-93.14): "You know." squeezed
    # into 93.00-93.10, then the next sentence from 95.3 s.
    committed = [LiveWord(" Jersey", 92.4, 92.85), LiveWord(" now.", 92.9, 93.14)]
    again = [
        LiveWord(" You", 93.0, 93.05),
        LiveWord(" know.", 93.05, 93.1),
        LiveWord(" He", 95.3, 95.5),
    ]
    assert [w.key for w in drop_committed(again, committed)] == ["he"]


def test_word_starts_move_out_of_silence_but_not_off_their_own_speech() -> None:
    session = LiveSession(Script([], []).decode, Script([], []).probabilities)

    def in_speech(words: list[LiveWord]) -> list[LiveWord]:
        return timing.in_speech(words, session.speech)

    # Speech 0-1.0 s, silence 1.0-2.0 s, speech 2.0-2.5 s, silence 2.5-2.9 s, speech 2.9-4 s.
    frame = 0.032
    t = np.arange(round(4.0 / frame)) * frame
    speech = ((t < 1.0) | ((t >= 2.0) & (t < 2.5)) | (t >= 2.9)).astype(np.float32)
    session.speech.extend(speech)
    he = LiveWord(" He", 0.9, 2.3)  # from the last 0.1 s of the previous word's speech
    assert in_speech([he])[0].start == pytest.approx(1.9, abs=0.04)
    # "He" wholly in the silence, and Whisper's next word starts 0.05 s before Silero hears
    # its speech (2.0 s): moved up to the next word.
    early = LiveWord(" He", 1.05, 1.6)
    moved = in_speech([early, LiveWord(" hoped", 1.95, 2.3)])
    assert moved[0].start == pytest.approx(1.9, abs=0.04)  # Silero: speech from 2.0 s
    assert moved[0].end <= moved[1].start == 1.95
    said = LiveWord(" So", 2.0, 2.8)  # said from 2.0, then a pause before the next word
    after = LiveWord(" what", 2.9, 3.2)
    assert [w.start for w in in_speech([said, after])] == [2.0, 2.9]


def test_a_first_word_moved_to_the_final_end_by_the_duplicate_guard_is_moved_to_its_speech() -> (
    None
):
    # The real base: "He" stretched back over "now." (final, ends 93.14 s), the duplicate
    # guard moved its start to 93.14; its speech begins after a 2 s silence.
    first = spoken_words(4, start=1.0, sentence=4)  # 1.0 - 2.5 s, final at the pause
    second = [  # 4.5 - 6.0 s
        LiveWord(w.word.replace("w", "v"), w.start, w.end)
        for w in spoken_words(4, start=4.5, sentence=4)
    ]

    def stretched(w: LiveWord) -> LiveWord:
        return LiveWord(w.word, 2.0, 3.2) if abs(w.start - 4.5) < 1e-6 else w

    script = Restamped(first + second, [(1.0, 2.6), (4.5, 6.1)], stretched)
    options = SessionOptions(policy=PolicyOptions(commit="pauses"))
    session = LiveSession(script.decode, script.probabilities, options)
    events = asyncio.run(run(session, 7.5))
    words = [w for e in events if isinstance(e, Final) for w in e.segment.words]
    assert [w.word for w in words] == [w.word.strip() for w in first + second]
    assert words[4].start == pytest.approx(4.4, abs=0.05)
