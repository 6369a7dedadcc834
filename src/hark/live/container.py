"""A container stream from a browser (MediaRecorder's WebM/Opus or Ogg/Opus) decoded as it
arrives: bytes go into a bounded pipe that PyAV reads from its own thread, which demuxes,
decodes and resamples to 16 kHz mono float32.

The pipe is the back-pressure: when the decoder (or the session behind it) falls behind,
`write` waits, so the route stops reading the socket instead of buffering without bound.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable

import av
import numpy as np

from hark.live.pcm import TARGET_RATE


class PipeClosed(OSError):
    """The reader went away (the stream was aborted)."""


class BytePipe:
    """Bytes from the event loop to a reader thread; `write` blocks while `limit` bytes wait."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._chunks: deque[bytes] = deque()
        self._size = 0
        self._eof = False
        self._aborted = False
        self._cond = threading.Condition()

    @property
    def buffered(self) -> int:
        return self._size

    def write(self, data: bytes) -> None:
        with self._cond:
            while self._size >= self.limit and not self._aborted:
                self._cond.wait()
            if self._aborted:
                raise PipeClosed("the decoder stopped")
            self._chunks.append(bytes(data))
            self._size += len(data)
            self._cond.notify_all()

    def close(self) -> None:
        """End of input: the reader sees EOF once it has read everything."""
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    def abort(self) -> None:
        with self._cond:
            self._aborted = True
            self._chunks.clear()
            self._size = 0
            self._cond.notify_all()

    def read(self, n: int = -1) -> bytes:
        with self._cond:
            while not self._chunks and not self._eof and not self._aborted:
                self._cond.wait()
            if self._aborted:
                raise PipeClosed("the stream was aborted")
            if not self._chunks:
                return b""
            out = bytearray()
            while self._chunks and (n < 0 or len(out) < n):
                chunk = self._chunks.popleft()
                take = len(chunk) if n < 0 else min(len(chunk), n - len(out))
                out += chunk[:take]
                if take < len(chunk):
                    self._chunks.appendleft(chunk[take:])
            self._size -= len(out)
            self._cond.notify_all()
            return bytes(out)


class ContainerDecoder:
    """Decodes the pipe in a daemon thread: `on_samples(array)` for each decoded block (it may
    block: that is back-pressure), then `on_end(error)` once, with None after a clean end."""

    def __init__(
        self,
        on_samples: Callable[[np.ndarray], None],
        on_end: Callable[[BaseException | None], None],
        *,
        buffer_bytes: int = 256 * 1024,
    ) -> None:
        self.pipe = BytePipe(buffer_bytes)
        self._on_samples = on_samples
        self._on_end = on_end
        self._thread = threading.Thread(target=self._run, name="hark-live-container", daemon=True)
        self._thread.start()

    def abort(self) -> None:
        self.pipe.abort()

    def _run(self) -> None:
        error: BaseException | None = None
        try:
            self._decode()
        except PipeClosed:
            return  # aborted: nobody is listening any more
        except Exception as exc:  # any failure: the stream is undecodable
            error = exc
        self._on_end(error)

    def _decode(self) -> None:
        # No `seek` on the pipe: FFmpeg treats it as a live, non-seekable stream.
        with av.open(self.pipe, mode="r", options={"fflags": "nobuffer"}) as container:
            if not container.streams.audio:
                raise ValueError("the stream has no audio track")
            stream = container.streams.audio[0]
            resampler = av.AudioResampler(format="flt", layout="mono", rate=TARGET_RATE)
            for frame in container.decode(stream):
                self._emit(resampler.resample(frame))
            self._emit(resampler.resample(None))

    def _emit(self, frames: list[av.AudioFrame]) -> None:
        if frames:
            samples = np.concatenate([f.to_ndarray().reshape(-1) for f in frames])
            self._on_samples(samples.astype(np.float32, copy=False))
