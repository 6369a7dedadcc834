"""What a live session exchanges with the rest of Hark: the decoder it is given (a window
in, the words heard out) and the events it returns (`hark.live.session`); the WebSocket
routes turn the events into their protocols' messages."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import numpy as np

from hark.live.words import LiveWord
from hark.schema import Segment


@dataclass(frozen=True)
class DecodedWindow:
    """What the model heard in one window: words timed from the window's start."""

    words: list[LiveWord]
    language: str | None = None
    looped: bool = False  # its text is a repetition loop (compression ratio over the limit)


WindowDecoder = Callable[[np.ndarray, str | None, str | None], Awaitable[DecodedWindow]]
"""`await decoder(samples, prompt, language)`."""

SpeakerFn = Callable[[np.ndarray], Awaitable[str | None]]
"""`await speakers(segment_audio)`: the segment's speaker label."""


@dataclass(frozen=True)
class SpeechStarted:
    time: float


@dataclass(frozen=True)
class SpeechStopped:
    time: float


@dataclass(frozen=True)
class Committed:
    """Words committed (never revised); they reach a final later."""

    words: list[LiveWord]


@dataclass(frozen=True)
class Partial:
    """The revisable text after the last final ("" clears it)."""

    text: str
    start: float
    end: float
    latency_from: float | None = None  # session time whose arrival the latency counts from


@dataclass(frozen=True)
class Final:
    segment: Segment
    index: int  # 0, 1, 2, ... in the session
    latency_from: float | None = None


@dataclass(frozen=True)
class UtteranceEnd:
    """Everything heard so far is final (a pause, a flush, the end of the audio)."""

    reason: str


Event = SpeechStarted | SpeechStopped | Committed | Partial | Final | UtteranceEnd
