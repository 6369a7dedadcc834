"""One live stream: audio in, partials and finals out.

    session = LiveSession(decoder, probabilities, SessionOptions())
    events = await session.feed(samples)        # 16 kHz mono float32, any length
    events += await session.flush()              # or session.end() when the audio is over

The policy (docs/live.md, "Commit policy"): audio goes into a rolling buffer; Silero scores
every 32 ms frame as it arrives. While nobody speaks nothing is decoded and the buffer keeps
only `preroll_s`. Once speech starts, the buffer (everything not yet final) is decoded every
`step_s` seconds of new audio, prompted with the text finalised before it; LocalAgreement-2
(`hark.live.policy`) commits the words two decodes in a row agree on. Committed words that end
a sentence become a final segment and their audio is dropped. A pause (`silence_s` of
non-speech) decodes the buffer once more and finalises everything; so does a buffer reaching
`max_buffer_s` (words of the last second excepted), which bounds memory and decode cost.

Decoding is injected (`WindowDecoder`), so the policy runs on fake hypotheses in tests; the
server passes `hark.live.windows`. Nothing here reads a clock except `feed`'s optional arrival
time, kept to measure latencies.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from hark.live.buffer import SAMPLE_RATE, AudioBuffer
from hark.live.endpoint import (
    Endpointer,
    EndpointOptions,
    ProbabilityFn,
    SpeechFrames,
    SpeechStart,
    StreamingVad,
)
from hark.live.events import (
    Committed,
    Event,
    Final,
    Partial,
    SpeakerFn,
    SpeechStarted,
    SpeechStopped,
    UtteranceEnd,
    WindowDecoder,
)
from hark.live.policy import CommitPolicy, PolicyOptions
from hark.live.timing import (
    context_start,
    fill_skips,
    in_speech,
    prompt_before,
    said,
    skipped,
    window_start,
)
from hark.live.words import LiveWord, ends_sentence, text_of
from hark.schema import ModelInfo, Segment, Transcript, Word
from hark.vad import FRAME_SAMPLES


@dataclass(frozen=True)
class SessionOptions:
    """Attributes:
    step_s: new audio between two decodes of the buffer while someone speaks.
    max_buffer_s: the cap: a buffer this long is finalised (all but its last second).
    keep_at_cap_s: at most this much audio survives a forced commit at the cap.
    piece_s: audio is taken in pieces of this length (endpoints are found per piece).
    min_window_s: windows shorter than this are not decoded (nothing to hear yet).
    prompt_chars: characters of the finalised text given to Whisper as the prompt.
    prompt_finals: prompt the decodes whose words become final too. Off, they get no text
        before them, as the files' chunks (`initial_prompt` still applies): prompted with the
        previous sentence, the real base read the long form's "ask not" as "asked not"
        (the server's `HARK_LIVE_FINAL_INPUT`, docs/benchmarks.md, session 11).
    context_s: audio before the uncommitted part kept at the start of every window (its
        words are already final and are dropped from the hypothesis): Whisper writes a short
        phrase heard alone as a shout ("ASK NOT!"), the same words after context normally.
    interim: decode while speech goes on (partials, commits); False: finals at pauses only.
    early_final: decode once a silence inside speech holds `silence_decode_s`, and finalise
        a pause from that decode (no decode of its own at the pause).
    silence_decode_s: the silence heard by that decode after the speech (every 0.1 s of it
        is 0.1 s more latency for every final at a pause).
    partial_window_s: with commit "pauses", a step decode (partials only) hears at most about
        this much of the buffer's end; the words before it are the previous partial's. The
        decodes whose words become final hear the whole buffer, or `final_window_s`.
        None: whole buffer.
    final_window_s: with commit "pauses", a decode whose words become final at once (a
        pause, `flush`, `end`) hears at most about this much of the buffer's end; the words
        before it are the latest partial's (heard while they were in the last
        `partial_window_s`). A long utterance's final then costs a short window's decode,
        not the whole utterance's at the final beam. None: the whole buffer.
    sentence_at_silence: with commit "pauses", the decode made as a silence begins (0.3 s)
        finalises its words when the last of them ends a sentence, before the silence is a
        pause (or not).
    long_utterance_s: with commit "pauses", audio not yet final is finalised at a breath
        (`long_silence_s` without speech, no pause) found this long or more after its start:
        run-on speech is cut there rather than at the cap, whose 20 s decode at the final
        beam (about 4 s on 2 CPU cores) delays the last final when the speech ends during
        it. None: off.
    long_silence_s: the shortest breath `long_utterance_s` cuts at.
    """

    step_s: float = 1.0
    max_buffer_s: float = 20.0
    keep_at_cap_s: float = 5.0
    piece_s: float = 0.256
    min_window_s: float = 0.3
    prompt_chars: int = 200
    prompt_finals: bool = True
    context_s: float = 3.0
    interim: bool = True
    early_final: bool = True
    silence_decode_s: float = 0.3
    partial_window_s: float | None = 5.0
    final_window_s: float | None = 6.0
    sentence_at_silence: bool = True
    long_utterance_s: float | None = 10.0
    long_silence_s: float = 0.2
    endpoint: EndpointOptions = field(default_factory=EndpointOptions)
    policy: PolicyOptions = field(default_factory=PolicyOptions)

    def __post_init__(self) -> None:
        if not 0.1 <= self.step_s <= 10:
            raise ValueError("step_s must be between 0.1 and 10")
        if not 2.0 <= self.max_buffer_s <= 29.0:
            raise ValueError("max_buffer_s must be between 2 and 29 (Whisper's window is 30 s)")
        if not 0.0 <= self.context_s <= self.max_buffer_s / 2:
            raise ValueError("context_s must be between 0 and half of max_buffer_s")
        if not 0.0 <= self.silence_decode_s <= 2.0:
            raise ValueError("silence_decode_s must be between 0 and 2")
        if not 0.0 < self.keep_at_cap_s < self.max_buffer_s:
            raise ValueError("keep_at_cap_s must be > 0 and below max_buffer_s")
        for name in ("partial_window_s", "final_window_s"):
            window = getattr(self, name)
            if window is not None and window < 2.0:
                raise ValueError(f"{name} must be at least 2 (or None)")


CONTINUATIONS = 2
"""Decodes at most made again after one that stopped short of the speech in its window."""
UNHEARD_GAP_S = 0.5
"""Speech starting this long after a decode's last word was not heard by it..."""
UNHEARD_SPEECH_S = 1.0
"""...when there is at least this much of it (Whisper may rightly skip a cough or a laugh)."""


class _Looped(Exception):
    """A step decode looped: its words are no hypothesis (the previous one stands)."""


@dataclass(frozen=True)
class _Pause:
    until: float  # the utterance's audio ends here (the pause plus a little)
    speech_end: float  # where the pause began
    index: int  # its place in the block's events (after its SpeechStopped)
    speech: bool  # speech was heard since the last final (a clear() forgets it)


class LiveSession:
    def __init__(
        self,
        decoder: WindowDecoder,
        probabilities: ProbabilityFn,
        options: SessionOptions | None = None,
        *,
        language: str | None = None,
        speakers: SpeakerFn | None = None,
        final_decoder: WindowDecoder | None = None,
    ) -> None:
        """`final_decoder`: for the decodes whose words become final at once (at a pause, the
        cap, `flush`, `end`), e.g. a wider beam than the interim ones; with it, a pause is
        always decoded on its own (`early_final` does not apply)."""
        self.options = o = options or SessionOptions()
        self._decoder = decoder
        self._final_decoder = final_decoder
        self._speakers = speakers
        self.language = language
        self.buffer = AudioBuffer(o.max_buffer_s + 2 * o.piece_s)
        self.vad = StreamingVad(probabilities)
        self.speech = SpeechFrames(self.buffer.capacity / SAMPLE_RATE + 1.0, o.endpoint.onset)
        self.endpointer = Endpointer(o.endpoint)
        self.policy = CommitPolicy(o.policy)
        self.pending: list[LiveWord] = []  # committed, not yet in a final
        self.finals: list[Segment] = []
        self.samples = 0  # samples received since the session started
        self.decodes = 0
        self._utterance = False  # speech heard since the last final at a pause
        self._utterance_start: float | None = None
        self._first_partial = False
        self._last_decode_end = 0.0
        self._partial = ""
        self._arrivals: deque[tuple[float, float]] = deque(maxlen=512)
        self._frames = 0  # VAD frames taken by the endpointer
        self._pauses: list[_Pause] = []  # pauses of the block being read, not yet finalised
        self._heard_until: float | None = None  # end of the window of the policy's hypothesis
        self._heard_final = False  # that hypothesis came from the final decoder (or the only one)
        self._cut_until = 0.0  # the last cut at a breath (`_cut`)

    # -- public -------------------------------------------------------------------------------

    @property
    def time(self) -> float:
        """Session seconds received."""
        return self.samples / SAMPLE_RATE

    @property
    def behind(self) -> float:
        """Seconds of speech received but not decoded yet."""
        return max(0.0, self.buffer.end - self._last_decode_end) if self._utterance else 0.0

    def arrived_at(self, t: float) -> float | None:
        """The arrival time (as given to `feed`) of the audio at session time `t`."""
        for end, arrived in self._arrivals:
            if end >= t:
                return arrived
        return self._arrivals[-1][1] if self._arrivals else None

    async def feed(self, samples: np.ndarray, arrived: float | None = None) -> list[Event]:
        """Take audio (any length: a server that fell behind passes everything queued at once)
        and return the events it causes. At most one decode per call, except when the buffer
        fills up: pauses found in the block are finalised together by one decode of the
        buffer up to the last of them, and an interim decode is made only when the call made
        no other. So a caller that feeds whatever arrived while the previous call decoded
        always decodes the newest audio, skips stale steps, and gets each decode's events as
        soon as it returns."""
        o = self.options
        events: list[Event] = []
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        # Silero scores the whole block in one call; endpoints are then taken piece by piece.
        probs = self.vad.feed(samples)
        self.speech.extend(probs)
        used = 0
        decoded = False
        step = max(FRAME_SAMPLES, round(o.piece_s * SAMPLE_RATE) // FRAME_SAMPLES * FRAME_SAMPLES)
        for i in range(0, samples.size, step):
            piece = samples[i : i + step]
            if self.buffer.duration + piece.size / SAMPLE_RATE > o.max_buffer_s and self._pauses:
                events = await self._finalize_pauses(events)
                decoded = True
            if self.buffer.duration + piece.size / SAMPLE_RATE > o.max_buffer_s:
                events += await self._cap()
                decoded = True
            self.buffer.append(piece)
            self.samples += piece.size
            if arrived is not None:
                self._arrivals.append((self.time, arrived))
            first = self._frames
            self._frames = self.samples // FRAME_SAMPLES
            mine, used = probs[used : used + self._frames - first], used + self._frames - first
            for change in self.endpointer.update(mine, first):
                if isinstance(change, SpeechStart):
                    if not self._utterance:
                        self._utterance_start = change.time
                        self._first_partial = True
                    self._utterance = True
                    events.append(SpeechStarted(change.time))
                else:
                    events.append(SpeechStopped(change.time))
                    # Finalised after the block is read, with the block's other pauses: its
                    # events go here, before the next utterance's.
                    until = change.time + o.endpoint.preroll_s
                    self._pauses.append(_Pause(until, change.time, len(events), self._utterance))
                    self._utterance = False
            if not self._utterance and not self._pauses:
                # Silence: nothing to decode; keep the context and a starting word's onset.
                keep = max(o.endpoint.preroll_s, o.context_s)
                self.buffer.drop_before(context_start(self.finals, self.buffer.end - keep))
        if self._pauses:
            events = await self._finalize_pauses(events)
            decoded = True
        if not decoded and o.interim and self._utterance:
            breath = self._breath()
            if breath is not None:
                events += await self._cut(breath)
            else:
                due = self._interim_due()
                if due is not None:
                    events += await self._interim(final=due == "silence")
        return events

    def _interim_due(self) -> Literal["step", "silence"] | None:
        """A step of new audio since the last decode, or a silence that may become a pause:
        decoded once it holds `silence_decode_s` of the silence, that window holds everything a
        final decode would, so the final at the pause needs no decode of its own (with a
        final decoder, this decode is made on it)."""
        quiet = self.endpointer.silence_since
        if quiet is None or not self.options.early_final:
            due = self.buffer.end - self._last_decode_end >= self.options.step_s
            return "step" if due else None
        # A silence is going on: no step decode now (it would delay the final one by its
        # length if the silence becomes a pause); speech that resumes is stepped at once.
        tail = quiet + self.options.silence_decode_s
        if not self.buffer.end >= tail > self._last_decode_end:
            return None
        # Not again when the last silence decode heard everything said (a breath between).
        return None if self._heard(self.buffer.end) else "silence"

    async def flush(self) -> list[Event]:
        """Finalise everything heard so far."""
        return await self._finalize(self.buffer.end, "flush", self.buffer.end)

    async def end(self) -> list[Event]:
        """The audio is over: the last finals."""
        return await self._finalize(self.buffer.end, "end", self.buffer.end)

    def clear(self) -> list[Event]:
        """Forget the audio not yet final and its tentative words (committed ones stay)."""
        self.buffer.drop_before(self.buffer.end)
        self.policy.forget()
        self._heard_until = None
        self._utterance = False
        return self._set_partial("", self.buffer.end, self.buffer.end, None)

    def transcript(self, model: ModelInfo | None = None, task: str = "transcribe") -> Transcript:
        return Transcript(
            segments=list(self.finals),
            language=self.language,
            duration=self.time,
            task=task,  # type: ignore[arg-type]
            alignment="whisper" if any(s.words for s in self.finals) else None,
            model=model,
        )

    # -- steps --------------------------------------------------------------------------------

    async def _interim(self, final: bool = False) -> list[Event]:
        end = self.buffer.end
        try:
            hypothesis, kept = await self._hypothesis(end, final=final)
        except _Looped:
            return []
        self._heard_until = end
        self._heard_final = final or (self._final_decoder is None and not kept)
        until = self._sentence_before_silence(hypothesis) if final else None
        if until is not None:
            committed = self.policy.flush(hypothesis, until=until, kept=kept)
        else:
            committed = self.policy.update(hypothesis, kept)
        speech_end = self.endpointer.silence_since if until is not None else None
        events = await self._commit(committed, sentences=True, latency_from=speech_end)
        tail = self.pending + self.policy.tentative
        latency_from = None
        if tail and self._first_partial:
            latency_from, self._first_partial = self._utterance_start, False
        if tail:
            events += self._set_partial(text_of(tail), tail[0].start, tail[-1].end, latency_from)
        return events

    def _sentence_before_silence(self, hypothesis: list[LiveWord]) -> float | None:
        """With commit "pauses" and `sentence_at_silence`: where the silence decode's words
        may be final although the silence is no pause yet, i.e. the end of its last word
        when that word ends a sentence before the silence (a dialogue's turns are often
        0.3 s apart: its sentences are final then, not at the next pause or the cap)."""
        quiet = self.endpointer.silence_since
        if not self.options.sentence_at_silence or quiet is None or not hypothesis:
            return None
        if self.policy.options.commit != "pauses":
            return None
        last = hypothesis[-1]
        return last.end + 1e-3 if ends_sentence(last) and last.end <= quiet + 0.3 else None

    def _breath(self) -> float | None:
        """With `long_utterance_s`: where to cut the audio not yet final at a breath, i.e.
        `long_silence_s` into the last silence that long, with speech after it, found
        `long_utterance_s` or more after that audio's start (also one that went by while a
        decode ran). A silence still going on is left to the silence decode: it may be a
        pause, whose final re-hears only the last `final_window_s`."""
        o = self.options
        if o.long_utterance_s is None or self.policy.options.commit != "pauses":
            return None
        final = self.finals[-1].end if self.finals else 0.0
        start = max(self._utterance_start or 0.0, final, self._cut_until) + o.long_utterance_s
        silence = self.speech.last_silence(start, self.buffer.end, o.long_silence_s)
        return None if silence is None else silence + o.long_silence_s

    async def _cut(self, until: float) -> list[Event]:
        """Finalise the words before `until` from a final decode of the buffer up to there
        (the whole buffer, as the cap: a final window leans on the partials' words, and a
        beam-1 partial of a run-on utterance drops a phrase now and then); the partial's
        words after it stay tentative."""
        after = [w for w in self.policy.tentative if w.start >= until]
        hypothesis = await self._decode(self.buffer.start, until, final=True)
        self._cut_until = until
        events = await self._commit(self.policy.flush(hypothesis), sentences=False)
        events += await self._final(len(self.pending), None)
        self.policy.resume(after)
        # A pause that follows needs no decode of its own when no speech came after `until`.
        self._heard_until, self._heard_final = until, True
        self.buffer.drop_before(context_start(self.finals, until - self.options.context_s))
        tail = self.pending + after
        if not tail:
            return events + self._set_partial("", until, until, None)
        return events + self._set_partial(text_of(tail), tail[0].start, tail[-1].end, None)

    async def _hypothesis(self, end: float, *, final: bool) -> tuple[list[LiveWord], int]:
        """The words of the buffer up to `end` (a decode of its tail, `_split`, after the
        partial's words before that tail) and how many of them are the partial's."""
        kept, start = self._split(end, final=final)
        heard = await self._decode(start, end, final=final, before=kept)
        if kept:
            first = heard[0].start if heard else end
            if skipped(self.speech, start, first):
                kept += said(self.policy.tentative, start, first)
        return kept + fill_skips(heard, self.policy.tentative, self.speech), len(kept)

    def _split(self, end: float, *, final: bool) -> tuple[list[LiveWord], float]:
        """Where a decode may begin (`window_start`), with the previous partial's words kept
        before it: only with commit "pauses", where nothing is committed before a pause (the
        other modes' agreement needs every word heard again)."""
        o = self.options
        window = o.final_window_s if final else o.partial_window_s
        if window is None or self.policy.options.commit != "pauses":
            return [], self.buffer.start
        return window_start(self.policy.tentative, self.buffer.start, end, window)

    async def _finalize(self, until: float, reason: str, speech_end: float) -> list[Event]:
        events: list[Event] = []
        if self._utterance or self.pending or self.policy.tentative:
            words = await self._final_words(until)
            events += await self._commit(words, sentences=False)
            events += await self._final(len(self.pending), speech_end)
        self._utterance = False
        events += self._after_final(until)
        events.append(UtteranceEnd(reason))
        return events

    async def _final_words(self, until: float, reuse: bool = True) -> list[LiveWord]:
        """Commit every word up to `until`: the newest hypothesis' when a final decode heard
        them all (and `reuse`), else a new final decode's."""
        if reuse and self._heard(until):
            # All its words are the utterance's (Whisper often stretches the last word's end
            # to the window's end, past `until`: cutting there would lose it).
            return self.policy.flush()
        hypothesis, kept = await self._hypothesis(until, final=True)
        return self.policy.flush(hypothesis, kept=kept)

    def _heard(self, until: float) -> bool:
        """Whether the newest hypothesis, from a final decode, heard everything said up to
        `until`: its window reached there, or nothing was said (no frame at the onset)
        after the window's end. A silence decode often ends a few frames before the pause
        begins (Silero's probability hovering between offset and onset after the last
        word): decoding again would double the final's latency for nothing."""
        if self._heard_until is None or not self._heard_final or not self.options.early_final:
            return False
        if self._heard_until >= until - 0.02:
            return True
        return self.speech.first_speech(self._heard_until, until) is None

    async def _finalize_pauses(self, events: list[Event]) -> list[Event]:
        """Finalise the utterances ended by the pauses found in this block with one decode of
        the buffer up to the last pause; each pause's events are put where it was found
        (after its SpeechStopped), so that an utterance's words, finals and end come before
        the next utterance's start."""
        pauses, self._pauses = self._pauses, []
        until = pauses[-1].until
        words: list[LiveWord] = []
        # One pause: the last interim decoded the utterance and the silence after it, as a
        # rule (no new decode then); several: one decode for all of them.
        one = len(pauses) == 1
        speech = any(p.speech for p in pauses) or bool(self.pending or self.policy.tentative)
        if speech or (one and self._heard(until)):
            words = await self._final_words(until, reuse=one)
        out: list[Event] = []
        at = 0
        for k, pause in enumerate(pauses):
            out += events[at : pause.index]
            at = pause.index
            last = k == len(pauses) - 1
            mine = words if last else [w for w in words if w.start < pause.until]
            words = words[len(mine) :]
            out += await self._commit(mine, sentences=False)
            out += await self._final(len(self.pending), pause.speech_end)
            if last:
                self.policy.seal(pause.speech_end)
                out += self._after_final(until)
            out.append(UtteranceEnd("pause"))
        out += events[at:]
        return out

    def _after_final(self, until: float) -> list[Event]:
        """Everything up to `until` is final: drop its audio (but the context)."""
        self.buffer.drop_before(context_start(self.finals, until - self.options.context_s))
        self.policy.forget()
        self._heard_until = None
        return self._set_partial("", until, until, None)

    async def _cap(self) -> list[Event]:
        """The buffer is full of speech without a pause: finalise all but the last second, or
        up to a sentence end in the last `keep_at_cap_s` (less 1 s) when there is one: the
        next window then begins at a sentence start (see `timing.context_start`)."""
        o = self.options
        end = self.buffer.end
        # The whole buffer (not `final_window_s`): 20 s of speech with no pause are the
        # partials' weakest words (a cap on the last 6 s, or at beam 1, lost ~4 WER points).
        hypothesis = await self._decode(self.buffer.start, end, final=True)
        until = end - 1.0
        ends = [
            w.end
            for w in self.policy.clean(hypothesis)
            if ends_sentence(w) and end - o.keep_at_cap_s + 1.0 <= w.end <= until
        ]
        until = ends[-1] + 1e-3 if ends else until
        events = await self._commit(self.policy.flush(hypothesis, until=until), sentences=True)
        events += await self._final(len(self.pending), None)
        self._heard_until = end
        last = self.policy.last_end or 0.0
        self.buffer.drop_before(
            max(context_start(self.finals, last - o.context_s), end - o.keep_at_cap_s)
        )
        return events

    async def _commit(
        self, words: list[LiveWord], *, sentences: bool, latency_from: float | None = None
    ) -> list[Event]:
        """`latency_from`: the speech end the finals made here count their latency from."""
        events: list[Event] = []
        if not words:
            return events
        # Again: the duplicate guard moves a first word stretched back over final audio to
        # the final end, which can put it back before a silence ("He" 93.14-94.32 s).
        words = in_speech(words, self.speech)
        events.append(Committed(words))
        self.pending.extend(words)
        if sentences:
            # A committed sentence end closes a final at once; its audio is no longer needed.
            ends = [i for i, w in enumerate(self.pending) if ends_sentence(w)]
            if ends:
                count = ends[-1] + 1
                events += await self._final(count, latency_from)
                context = context_start(self.finals, self.finals[-1].end - self.options.context_s)
                self.buffer.drop_before(context)
        return events

    async def _final(self, count: int, latency_from: float | None) -> list[Event]:
        """The first `count` pending words as final segments, one per sentence."""
        words, self.pending = self.pending[:count], self.pending[count:]
        events: list[Event] = []
        while words:
            cut = next((i + 1 for i, w in enumerate(words) if ends_sentence(w)), len(words))
            sentence, words = words[:cut], words[cut:]
            segment = await self._segment(sentence)
            self.finals.append(segment)
            events.append(Final(segment, len(self.finals) - 1, latency_from))
        return events

    async def _segment(self, words: list[LiveWord]) -> Segment:
        speaker = None
        if self._speakers is not None:
            speaker = await self._speakers(self.buffer.window(words[0].start, words[-1].end))
        return Segment(
            start=words[0].start,
            end=max(w.end for w in words),
            text=text_of(words),
            speaker=speaker,
            language=self.language,
            words=[
                Word(
                    word=w.word.strip(),
                    start=w.start,
                    end=w.end,
                    score=min(1.0, max(0.0, w.probability)),
                    speaker=speaker,
                )
                for w in words
            ],
        )

    async def _decode(
        self, start: float, end: float, *, final: bool = False, before: list[LiveWord] | None = None
    ) -> list[LiveWord]:
        """The words heard in the buffer between `start` and `end` (session times). Whisper
        sometimes ends its transcript early, at a silence inside the window ("You know." and
        nothing of the 10 s sentence after a 2 s gap): speech that no word reaches is decoded
        again from where it starts, prompted with the words so far (as Whisper's own
        30-s loop seeks past the last timestamp), at most `CONTINUATIONS` times. `before`:
        words heard before `start` that are not final yet (prompted after the final text)."""
        start = max(start, self.buffer.start)
        self._last_decode_end = max(self._last_decode_end, min(end, self.buffer.end))
        words = await self._decode_window(start, end, before, final=final)
        for _ in range(CONTINUATIONS):
            covered = words[-1].end if words else start
            onset = self.speech.first_speech(covered + UNHEARD_GAP_S, end)
            if onset is None or self.speech.seconds(onset, end) < UNHEARD_SPEECH_S:
                break
            heard = [*(before or []), *words]
            more = await self._decode_window(max(covered, onset - 0.3), end, heard, final=final)
            if not more:
                break
            words += more
        return words

    async def _decode_window(
        self, start: float, end: float, before: list[LiveWord] | None, *, final: bool
    ) -> list[LiveWord]:
        samples = self.buffer.window(start, end)
        start = max(start, self.buffer.start)
        if samples.size < self.options.min_window_s * SAMPLE_RATE:
            return []
        self.decodes += 1
        decoder = self._final_decoder if final and self._final_decoder else self._decoder
        prompt = None
        if not final or self.options.prompt_finals:
            prompt = prompt_before(self.finals, start, self.options.prompt_chars)
            # Words of `before` re-heard in final audio are in that text already.
            last = self.finals[-1].end if self.finals else -math.inf
            fresh = [w for w in before or [] if (w.start + w.end) / 2 > last]
            if fresh:
                prompt = f"{prompt or ''} {text_of(fresh)}".strip()[-self.options.prompt_chars :]
        decoded = await decoder(samples, prompt, self.language)
        if decoded.looped and not final:
            # A partial window cut mid-phrase sent greedy decoding round a loop ("I think I
            # think ..." for 8 s of speech): kept, its first words would stay in every
            # later partial and in the final (they are before the windows re-heard).
            raise _Looped
        if self.language is None and decoded.words:
            self.language = decoded.language  # detected once, on the first speech
        limit = samples.size / SAMPLE_RATE + 0.05
        return in_speech([w.shifted(start) for w in decoded.words if w.start < limit], self.speech)

    def _set_partial(
        self, text: str, start: float, end: float, latency_from: float | None
    ) -> list[Event]:
        if text == self._partial:
            return []
        self._partial = text
        return [Partial(text, start, end, latency_from)]
