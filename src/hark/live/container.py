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


Marker = Callable[[], None]
SMALL_CHUNK = 4096  # bytes written in pieces smaller than this are joined in the pipe


class BytePipe:
    """Bytes from the event loop to a reader thread; `write` blocks while `limit` bytes wait.

    `mark(callback)` puts a marker between the bytes: the reader calls it when it asks for
    more after taking every byte written before it (FFmpeg asks only once it has demuxed and
    decoded what it had), which is how a flush follows the audio sent before it."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._chunks: deque[bytes | Marker] = deque()
        self._size = 0
        self._eof = False
        self._aborted = False
        self._cond = threading.Condition()

    @property
    def buffered(self) -> int:
        return self._size

    @property
    def aborted(self) -> bool:
        return self._aborted

    def write(self, data: bytes) -> None:
        with self._cond:
            while self._size >= self.limit and not self._aborted:
                self._cond.wait()
            if self._aborted:
                raise PipeClosed("the decoder stopped")
            last = self._chunks[-1] if self._chunks else None
            if isinstance(last, bytes) and len(last) < SMALL_CHUNK:
                self._chunks[-1] = last + bytes(data)  # tiny messages: one entry, not many
            else:
                self._chunks.append(bytes(data))
            self._size += len(data)
            self._cond.notify_all()

    def mark(self, callback: Marker) -> None:
        """`callback()` once the bytes written so far are read; a mark right after another
        is dropped (it would fire at the same point)."""
        with self._cond:
            if self._aborted:
                raise PipeClosed("the decoder stopped")
            if self._chunks and callable(self._chunks[-1]):
                return
            self._chunks.append(callback)
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
        while True:
            with self._cond:
                while not self._chunks and not self._eof and not self._aborted:
                    self._cond.wait()
                if self._aborted or not self._chunks:
                    # Aborted: an end of file for FFmpeg (an exception raised in its read
                    # callback would only be printed); the decoder thread then sees `aborted`.
                    return b""
                head = self._chunks[0]
                if callable(head):
                    self._chunks.popleft()
                else:
                    return self._take(n)
            head()  # outside the lock: it may wait on the event loop

    def _take(self, n: int) -> bytes:
        """Bytes up to `n` (all if negative), stopping at a marker."""
        out = bytearray()
        while self._chunks and not callable(self._chunks[0]) and (n < 0 or len(out) < n):
            chunk = self._chunks.popleft()
            assert isinstance(chunk, bytes)
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
        self._resampler = self._new_resampler()
        self._thread = threading.Thread(target=self._run, name="hark-live-container", daemon=True)
        self._thread.start()

    def abort(self) -> None:
        self.pipe.abort()

    def flush(self, callback: Marker) -> None:
        """`callback()` from the decoder thread once every byte written so far is decoded and
        passed to `on_samples`, with what the resampler still held (its filter delay)."""

        def reached() -> None:
            resampler, self._resampler = self._resampler, self._new_resampler()
            self._emit(resampler.resample(None))
            callback()

        self.pipe.mark(reached)

    @staticmethod
    def _new_resampler() -> av.AudioResampler:
        return av.AudioResampler(format="flt", layout="mono", rate=TARGET_RATE)

    def _run(self) -> None:
        error: BaseException | None = None
        try:
            self._decode()
        except PipeClosed:
            return  # aborted: nobody is listening any more
        except Exception as exc:  # any failure: the stream is undecodable
            error = exc
        if not self.pipe.aborted:
            self._on_end(error)

    def _decode(self) -> None:
        # No `seek` on the pipe: FFmpeg treats it as a live, non-seekable stream.
        with av.open(self.pipe, mode="r", options={"fflags": "nobuffer"}) as container:
            if not container.streams.audio:
                raise ValueError("the stream has no audio track")
            stream = container.streams.audio[0]
            for frame in container.decode(stream):
                self._emit(self._resampler.resample(frame))
            self._emit(self._resampler.resample(None))

    def _emit(self, frames: list[av.AudioFrame]) -> None:
        if frames:
            samples = np.concatenate([f.to_ndarray().reshape(-1) for f in frames])
            self._on_samples(samples.astype(np.float32, copy=False))
