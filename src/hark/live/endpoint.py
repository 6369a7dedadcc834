"""Streaming speech detection: Silero probabilities as audio arrives, and the decisions a live
session takes from them (speech started, speech stopped at a pause).

The Silero graph (`hark.silero`) scores whole arrays and returns no LSTM state, so each new
block is scored together with `warmup_s` of the audio before it, whose frames are thrown
away: the state has converged on the block's own audio by then, as `SileroVad` does for the
segments of a long file.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from hark.vad import FRAME_SAMPLES, FRAME_SECONDS, VadOptions

ProbabilityFn = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class EndpointOptions:
    """Attributes:
    onset: speech starts at a frame whose probability reaches this.
    offset: a frame below this counts as silence (hysteresis with onset).
    silence_s: silence after speech that ends an utterance (a pause: finals are sent).
    min_speech_s: speech shorter than this (a click, a cough) does not start an utterance.
    preroll_s: audio kept before speech starts (Whisper needs the onset of the first word).
    """

    # The files' VAD thresholds: a replay (bench/live_replay.py) endpoints as the server does.
    onset: float = VadOptions.onset
    offset: float = VadOptions.offset
    silence_s: float = 0.5
    min_speech_s: float = 0.1
    preroll_s: float = 0.3

    def __post_init__(self) -> None:
        if not 0.0 < self.offset <= self.onset <= 1.0:
            raise ValueError("need 0 < offset <= onset <= 1")
        if self.silence_s <= 0 or self.min_speech_s < 0 or self.preroll_s < 0:
            raise ValueError("silence_s must be > 0, min_speech_s and preroll_s >= 0")


class StreamingVad:
    """Speech probability of every complete 32 ms frame, as samples come in."""

    def __init__(self, probabilities: ProbabilityFn, warmup_s: float = 1.0) -> None:
        self._probabilities = probabilities
        self._warmup = round(warmup_s / FRAME_SECONDS) * FRAME_SAMPLES
        self._context = np.zeros(0, dtype=np.float32)  # last warm-up samples scored
        self._pending = np.zeros(0, dtype=np.float32)  # samples short of a whole frame
        self.frames = 0  # frames scored since the session started

    def feed(self, samples: np.ndarray) -> np.ndarray:
        """Probabilities of the frames completed by `samples` (frame i covers session samples
        [512 i, 512 (i + 1)))."""
        audio = np.concatenate([self._pending, samples]) if self._pending.size else samples
        whole = audio.size - audio.size % FRAME_SAMPLES
        self._pending = audio[whole:].copy()
        if whole == 0:
            return np.zeros(0, dtype=np.float32)
        block = audio[:whole]
        scored = np.concatenate([self._context, block]) if self._context.size else block
        probs = self._probabilities(scored)[self._context.size // FRAME_SAMPLES :]
        self._context = scored[-self._warmup :].copy() if self._warmup else self._context
        self.frames += probs.size
        return np.asarray(probs, dtype=np.float32)


@dataclass(frozen=True)
class SpeechStart:
    time: float  # session seconds where speech began


@dataclass(frozen=True)
class SpeechStop:
    time: float  # session seconds where speech ended (the pause began)


class Endpointer:
    """Speech start and pause decisions from frame probabilities (hysteresis, a minimum
    speech length, a minimum pause)."""

    def __init__(self, options: EndpointOptions | None = None) -> None:
        self.options = options or EndpointOptions()
        self.in_speech = False
        self._run_start: int | None = None  # first frame of a speech run not yet confirmed
        self._silence_start: int | None = None  # first silent frame after speech
        self.last_speech: float | None = None  # session time of the latest speech frame end

    @property
    def silence_since(self) -> float | None:
        """Session time where the silence now going on inside speech began (a pause not yet
        long enough to end the utterance), None while speech goes on or outside speech."""
        if not self.in_speech or self._silence_start is None:
            return None
        return self._silence_start * FRAME_SECONDS

    def update(self, probs: np.ndarray, first_frame: int) -> list[SpeechStart | SpeechStop]:
        o = self.options
        events: list[SpeechStart | SpeechStop] = []
        min_speech = max(1, round(o.min_speech_s / FRAME_SECONDS))
        min_silence = max(1, round(o.silence_s / FRAME_SECONDS))
        for k, p in enumerate(probs):
            i = first_frame + k
            if not self.in_speech:
                if p >= o.onset:
                    if self._run_start is None:
                        self._run_start = i
                    if i - self._run_start + 1 >= min_speech:
                        self.in_speech = True
                        self._silence_start = None
                        self.last_speech = (i + 1) * FRAME_SECONDS
                        events.append(SpeechStart(self._run_start * FRAME_SECONDS))
                elif p < o.offset:
                    self._run_start = None
            elif p < o.offset:
                if self._silence_start is None:
                    self._silence_start = i
                if i - self._silence_start + 1 >= min_silence:
                    self.in_speech = False
                    self._run_start = None
                    events.append(SpeechStop(self._silence_start * FRAME_SECONDS))
                    self._silence_start = None
            else:
                self._silence_start = None
                self.last_speech = (i + 1) * FRAME_SECONDS
        return events


class SpeechFrames:
    """The speech probabilities of the last `capacity_s` of a session, frame by frame: where
    the audio held in the buffer has speech. A decode's words are checked against it (a
    word stamped in silence, speech that no word covers)."""

    def __init__(self, capacity_s: float, threshold: float) -> None:
        self._probs: deque[float] = deque(maxlen=max(1, round(capacity_s / FRAME_SECONDS)))
        self.threshold = threshold
        self.frames = 0  # frames seen since the session started

    def extend(self, probs: np.ndarray) -> None:
        self._probs.extend(float(p) for p in probs)
        self.frames += len(probs)

    def _speech(self, start: float, end: float) -> tuple[int, np.ndarray]:
        """(first frame index, speech flags) of the frames held between `start` and `end`."""
        held = self.frames - len(self._probs)
        lo = max(held, math.floor(start / FRAME_SECONDS))
        hi = min(self.frames, math.ceil(end / FRAME_SECONDS))
        if hi <= lo:
            return lo, np.zeros(0, dtype=bool)
        probs = np.fromiter(itertools.islice(self._probs, lo - held, hi - held), np.float32)
        return lo, probs >= self.threshold

    def first_speech(self, start: float, end: float) -> float | None:
        """Session time of the first speech frame between `start` and `end`, if any."""
        lo, speech = self._speech(start, end)
        hits = np.flatnonzero(speech)
        return float((lo + hits[0]) * FRAME_SECONDS) if hits.size else None

    def speech_after_silence(self, start: float, end: float, silence_s: float) -> float | None:
        """Session time of the first speech frame after the first run of at least
        `silence_s` without speech between `start` and `end`, if there is such a run and
        speech after it."""
        lo, speech = self._speech(start, end)
        run = max(1, round(silence_s / FRAME_SECONDS))
        quiet = 0
        for i, frame in enumerate(speech):
            if not frame:
                quiet += 1
                continue
            if quiet >= run:
                return float((lo + i) * FRAME_SECONDS)
            quiet = 0
        return None

    def last_silence(self, start: float, end: float, silence_s: float) -> float | None:
        """Session time where the last run of at least `silence_s` without speech between
        `start` and `end` begins, when speech follows it before `end` (a breath inside
        speech, not the silence going on now)."""
        lo, speech = self._speech(start, end)
        hits = np.flatnonzero(speech)
        if hits.size < 2:
            return None
        gaps = np.diff(hits) - 1  # silent frames between two speech frames
        long = np.flatnonzero(gaps >= max(1, round(silence_s / FRAME_SECONDS)))
        return float((lo + hits[long[-1]] + 1) * FRAME_SECONDS) if long.size else None

    def seconds(self, start: float, end: float) -> float:
        """Seconds of speech between `start` and `end`."""
        return float(self._speech(start, end)[1].sum() * FRAME_SECONDS)
