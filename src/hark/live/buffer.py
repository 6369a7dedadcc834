"""The rolling audio buffer of one stream: bounded, addressed in session seconds."""

from __future__ import annotations

import numpy as np

SAMPLE_RATE = 16000


class BufferFullError(RuntimeError):
    """The session appended past the buffer's capacity (it must force a commit first)."""


class AudioBuffer:
    """16 kHz float32 samples from `start` (session seconds) to `end`, in one preallocated
    array of `capacity_s`: appending never allocates, dropping moves the rest to the front.
    The session drops committed audio and silence, so what it holds is the uncommitted speech
    (at most its cap) plus one append."""

    def __init__(self, capacity_s: float) -> None:
        self._data = np.zeros(round(capacity_s * SAMPLE_RATE), dtype=np.float32)
        self._size = 0
        self._first = 0  # session sample index of _data[0]
        self.peak = 0  # the most samples ever held

    @property
    def capacity(self) -> int:
        return self._data.size

    @property
    def size(self) -> int:
        """Samples held."""
        return self._size

    @property
    def start(self) -> float:
        return self._first / SAMPLE_RATE

    @property
    def end(self) -> float:
        return (self._first + self._size) / SAMPLE_RATE

    @property
    def duration(self) -> float:
        return self._size / SAMPLE_RATE

    def append(self, samples: np.ndarray) -> None:
        n = samples.size
        if self._size + n > self._data.size:
            raise BufferFullError(
                f"{n} samples do not fit ({self._size} of {self._data.size} held)"
            )
        self._data[self._size : self._size + n] = samples
        self._size += n
        self.peak = max(self.peak, self._size)

    def drop_before(self, t: float) -> None:
        """Forget the audio before session time `t` (clamped to what is held)."""
        k = min(self._size, max(0, round(t * SAMPLE_RATE) - self._first))
        if k:
            self._data[: self._size - k] = self._data[k : self._size]
            self._size -= k
            self._first += k

    def window(self, start: float | None = None, end: float | None = None) -> np.ndarray:
        """A copy of the samples between session times `start` and `end` (clamped)."""
        lo = (
            0
            if start is None
            else min(self._size, max(0, round(start * SAMPLE_RATE) - self._first))
        )
        hi = (
            self._size
            if end is None
            else min(self._size, max(lo, round(end * SAMPLE_RATE) - self._first))
        )
        return self._data[lo:hi].copy()
