"""Raw PCM from a client: signed 16-bit little-endian mono at any common rate -> 16 kHz float32.

Frames may split a sample in two (an odd number of bytes): the odd byte waits for the next
frame. Other rates go through FFmpeg's resampler (PyAV), which keeps its filter state from
one frame to the next, so frame boundaries leave no clicks.
"""

from __future__ import annotations

import av
import numpy as np

TARGET_RATE = 16000
RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)


class PcmDecoder:
    def __init__(self, sample_rate: int = TARGET_RATE) -> None:
        if sample_rate not in RATES:
            raise ValueError(
                f"sample_rate must be one of {', '.join(map(str, RATES))}, not {sample_rate}"
            )
        self.sample_rate = sample_rate
        self._odd = b""
        self._resampler = (
            None
            if sample_rate == TARGET_RATE
            else av.AudioResampler(format="flt", layout="mono", rate=TARGET_RATE)
        )

    def feed(self, data: bytes) -> np.ndarray:
        if self._odd:
            data = self._odd + data
        cut = len(data) - len(data) % 2
        self._odd = data[cut:]
        pcm = np.frombuffer(data[:cut], dtype="<i2")
        if self._resampler is None or pcm.size == 0:
            return pcm.astype(np.float32) / 32768.0
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = self.sample_rate
        return self._join(self._resampler.resample(frame))

    def finish(self) -> np.ndarray:
        """What the resampler still holds (its filter delay); an odd last byte is dropped."""
        self._odd = b""
        return self._join(self._resampler.resample(None)) if self._resampler else _EMPTY

    @staticmethod
    def _join(frames: list[av.AudioFrame]) -> np.ndarray:
        if not frames:
            return _EMPTY
        return np.concatenate([f.to_ndarray().reshape(-1) for f in frames]).astype(np.float32)


_EMPTY = np.zeros(0, dtype=np.float32)


def _g711_tables() -> tuple[np.ndarray, np.ndarray]:
    """ITU-T G.711 mu-law and A-law byte -> linear sample (float32 in [-1, 1])."""
    codes = np.arange(256, dtype=np.int32)
    u = ~codes & 0xFF
    exponent, mantissa = (u >> 4) & 7, u & 0x0F
    mu = (((mantissa << 3) + 0x84) << exponent) - 0x84
    mu = np.where(u & 0x80, -mu, mu)
    a = codes ^ 0x55
    exponent, mantissa = (a >> 4) & 7, a & 0x0F
    alaw = np.where(exponent == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << (exponent - 1))
    alaw = np.where(a & 0x80, alaw, -alaw)
    return (mu / 32768.0).astype(np.float32), (alaw / 32768.0).astype(np.float32)


MULAW, ALAW = _g711_tables()


class G711Decoder:
    """8 kHz G.711 (`audio/pcmu` or `audio/pcma`, telephony) -> 16 kHz float32."""

    def __init__(self, law: str) -> None:
        self._table = MULAW if law == "pcmu" else ALAW
        self._resampler = av.AudioResampler(format="flt", layout="mono", rate=TARGET_RATE)

    def feed(self, data: bytes) -> np.ndarray:
        if not data:
            return _EMPTY
        linear = self._table[np.frombuffer(data, dtype=np.uint8)]
        frame = av.AudioFrame.from_ndarray(linear.reshape(1, -1), format="flt", layout="mono")
        frame.sample_rate = 8000
        return PcmDecoder._join(self._resampler.resample(frame))

    def finish(self) -> np.ndarray:
        return PcmDecoder._join(self._resampler.resample(None))
