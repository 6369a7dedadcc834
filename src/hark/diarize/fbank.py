"""Kaldi-compatible log mel filterbank features in numpy.

WeSpeaker and 3D-Speaker embedding models are trained on `torchaudio.compliance.kaldi.fbank`
features (25 ms frames every 10 ms, edges snipped, DC removed, pre-emphasis 0.97, FFT padded to
512, Kaldi's mel scale from 20 Hz to Nyquist, log power floored at float32 epsilon, no energy
term, no dither). This module reproduces that front end without torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np

WindowType = Literal["hamming", "povey", "hanning"]


@dataclass(frozen=True)
class FbankOptions:
    """Front-end settings of an embedding model.

    Attributes:
        num_mel_bins: Number of mel bands (80 for WeSpeaker and 3D-Speaker models).
        window_type: Frame window; WeSpeaker uses "hamming", 3D-Speaker Kaldi's "povey".
        scale: Factor applied to [-1, 1] samples first; WeSpeaker feeds 16-bit integer range
            (32768), 3D-Speaker the float range (1.0). After mean normalisation it only matters
            near the log floor.
        sample_rate: Input sample rate in Hz.
        frame_length_ms: Frame length.
        frame_shift_ms: Frame shift.
        low_freq: Lowest mel band edge in Hz.
        preemphasis: Pre-emphasis coefficient.
    """

    num_mel_bins: int = 80
    window_type: WindowType = "hamming"
    scale: float = 32768.0
    sample_rate: int = 16000
    frame_length_ms: float = 25.0
    frame_shift_ms: float = 10.0
    low_freq: float = 20.0
    preemphasis: float = 0.97

    @property
    def frame_length(self) -> int:
        return int(self.sample_rate * self.frame_length_ms / 1000)

    @property
    def frame_shift(self) -> int:
        return int(self.sample_rate * self.frame_shift_ms / 1000)


def _mel(freq: np.ndarray) -> np.ndarray:
    return 1127.0 * np.log1p(freq / 700.0)


@lru_cache(maxsize=8)
def _mel_banks(num_bins: int, n_fft: int, sample_rate: int, low_freq: float) -> np.ndarray:
    """(num_bins, n_fft // 2 + 1) triangular filters on Kaldi's mel scale (Nyquist bin zero)."""
    high_freq = sample_rate / 2.0
    mel_low, mel_high = _mel(np.array(low_freq)), _mel(np.array(high_freq))
    delta = (mel_high - mel_low) / (num_bins + 1)
    left = mel_low + np.arange(num_bins) * delta
    center, right = left + delta, left + 2 * delta
    mel = _mel(np.arange(n_fft // 2) * (sample_rate / n_fft))[None, :]
    up = (mel - left[:, None]) / (center - left)[:, None]
    down = (right[:, None] - mel) / (right - center)[:, None]
    banks = np.maximum(0.0, np.minimum(up, down))
    return np.pad(banks, ((0, 0), (0, 1)))


@lru_cache(maxsize=8)
def _window(kind: WindowType, length: int) -> np.ndarray:
    n = np.arange(length)
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * n / (length - 1))
    if kind == "hamming":
        return 0.54 - 0.46 * np.cos(2 * np.pi * n / (length - 1))
    if kind == "povey":
        return hann**0.85
    return hann


def num_frames(num_samples: int, options: FbankOptions) -> int:
    """Frames Kaldi produces for `num_samples` with snipped edges."""
    if num_samples < options.frame_length:
        return 0
    return 1 + (num_samples - options.frame_length) // options.frame_shift


def fbank(audio: np.ndarray, options: FbankOptions | None = None) -> np.ndarray:
    """(frames, num_mel_bins) float32 log mel energies; frame i starts at sample i * shift."""
    options = options or FbankOptions()
    length, shift = options.frame_length, options.frame_shift
    samples = np.asarray(audio, dtype=np.float64) * options.scale
    count = num_frames(len(samples), options)
    if count == 0:
        return np.zeros((0, options.num_mel_bins), dtype=np.float32)
    frames = np.lib.stride_tricks.as_strided(
        samples, shape=(count, length), strides=(shift * samples.itemsize, samples.itemsize)
    )
    frames = frames - frames.mean(axis=1, keepdims=True)
    # Kaldi pre-emphasis replicates each frame's first sample as its own predecessor.
    previous = np.concatenate([frames[:, :1], frames[:, :-1]], axis=1)
    frames = (frames - options.preemphasis * previous) * _window(options.window_type, length)
    n_fft = 1 << (length - 1).bit_length()
    spectrum = np.fft.rfft(frames, n=n_fft, axis=1)
    power = spectrum.real**2 + spectrum.imag**2
    banks = _mel_banks(options.num_mel_bins, n_fft, options.sample_rate, options.low_freq)
    energies = power @ banks.T
    return np.log(np.maximum(energies, np.finfo(np.float32).eps)).astype(np.float32)
