"""Decoded frames to output samples: FFmpeg resampling and downmix, and a growing buffer."""

from __future__ import annotations

import errno
from typing import Any

import av
import numpy as np


class FrameConverter:
    """FFmpeg resampling, remixing and conversion to planar float32 (fltp) for one input format.

    The same filter graph as PyAV's AudioResampler, plus `rematrix_maxval=1`: without it a float
    downmix adds channels at 0.707 each (stereo speech gets 3 dB louder and can pass 1.0); with
    it stereo becomes (L + R) / 2 like the s16 output of the ffmpeg CLI Whisper uses, and
    surround is mixed with normalised weights.
    """

    def __init__(self, frame: Any, rate: int, layout: str) -> None:
        self.graph = av.filter.Graph()
        extra = {"time_base": str(frame.time_base)} if frame.time_base is not None else {}
        source = self.graph.add(
            "abuffer",
            sample_rate=str(frame.sample_rate),
            sample_fmt=frame.format.name,
            channel_layout=frame.layout.name,
            **extra,
        )
        remix = self.graph.add("aresample", rematrix_maxval="1")
        convert = self.graph.add(
            "aformat", sample_rates=str(rate), sample_fmts="fltp", channel_layouts=layout
        )
        sink = self.graph.add("abuffersink")
        source.link_to(remix)
        remix.link_to(convert)
        convert.link_to(sink)
        self.graph.configure()

    def convert(self, frame: Any | None) -> list[Any]:
        """Converted frames for `frame`; None flushes the samples held back as filter delay."""
        self.graph.push(frame)
        out: list[Any] = []
        while True:
            try:
                out.append(self.graph.pull())
            except EOFError:
                break
            except av.FFmpegError as e:
                if e.errno != errno.EAGAIN:
                    raise
                break
        return out


class GrowingBuffer:
    """Float32 rows that grow in place (realloc), so samples are never held twice."""

    def __init__(self, capacity: int) -> None:
        self._capacity = max(capacity, 1024)
        self._rows: list[np.ndarray] = []
        self.length = 0

    def append(self, chunk: np.ndarray) -> None:
        if not self._rows:
            self._rows = [np.empty(self._capacity, np.float32) for _ in range(chunk.shape[0])]
        n = chunk.shape[1]
        end = self.length + n
        if end > self._capacity:
            self._capacity = max(end, self._capacity + self._capacity // 2)
            for row in self._rows:
                # No views of the rows exist, so moving the data is safe.
                row.resize(self._capacity, refcheck=False)
        for row, values in zip(self._rows, chunk, strict=True):
            row[self.length : end] = values
        self.length = end

    def result(self, separate: bool) -> np.ndarray:
        for row in self._rows:
            row.resize(self.length, refcheck=False)
        rows, self._rows = self._rows, []
        if not separate:
            return rows[0]
        # One copy for the (channels, samples) layout; mono output has none.
        return np.stack(rows)
