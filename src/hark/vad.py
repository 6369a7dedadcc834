"""Voice activity detection and WhisperX-style cut & merge into ASR chunks.

Speech probabilities come from Silero VAD v6 (ONNX), the copy bundled inside faster-whisper,
so nothing is downloaded; `hark.silero` runs it (batched streams, every core or the GPU).
Regions are found with hysteresis (`onset`/`offset`), cleaned (`min_silence_ms`,
`min_speech_ms`, `speech_pad_ms`), regions longer than `chunk_size` are cut at their least
speech-like frame (WhisperX's rule), and consecutive regions are merged into chunks holding at
most `chunk_size` seconds of speech.

A chunk's audio is its speech regions joined end to end, without the silence between them
(as faster-whisper's batched mode does): Whisper pads every item to 30 s anyway, so packing
speech tightly means fewer chunks to decode, and less silence to hallucinate on.
`SpeechChunk.to_absolute` maps a time inside the chunk back to the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from hark.silero import SileroVad

SAMPLE_RATE = 16000
FRAME_SAMPLES = 512  # Silero's window at 16 kHz: one probability per 32 ms
FRAME_SECONDS = FRAME_SAMPLES / SAMPLE_RATE
# Speech a chunk must still hold once both pads are taken off `chunk_size`: below this a long
# region would be cut into pieces of a frame or two (thousands of near-empty chunks).
MIN_CHUNK_SPEECH_S = 0.25


@dataclass(frozen=True)
class VadOptions:
    """How speech is found and grouped into chunks for batched decoding.

    Attributes:
      onset: a region starts where the speech probability reaches this value.
      offset: a region ends where the probability falls below this value (hysteresis).
      min_speech_ms: regions shorter than this are dropped.
      min_silence_ms: gaps shorter than this do not end a region.
      speech_pad_ms: each region is widened by this much on both sides.
      chunk_size: longest chunk handed to Whisper, in seconds (Whisper's window is 30 s).
    """

    onset: float = 0.5
    offset: float = 0.363
    min_speech_ms: int = 250
    min_silence_ms: int = 160
    speech_pad_ms: int = 200
    chunk_size: float = 30.0

    def __post_init__(self) -> None:
        if not 0.0 < self.onset <= 1.0:
            raise ValueError(f"vad_onset must be in (0, 1], got {self.onset}")
        if not 0.0 < self.offset <= self.onset:
            raise ValueError(
                f"vad_offset must be in (0, vad_onset={self.onset}], got {self.offset}"
            )
        if min(self.min_speech_ms, self.min_silence_ms, self.speech_pad_ms) < 0:
            raise ValueError("min_speech_ms, min_silence_ms and speech_pad_ms must be >= 0")
        if not 1.0 <= self.chunk_size <= 30.0:
            raise ValueError(f"chunk_size must be between 1 and 30 seconds, got {self.chunk_size}")
        check_pad_fits(self.speech_pad_ms, self.chunk_size)


def check_pad_fits(speech_pad_ms: float, chunk_size: float) -> None:
    """ValueError naming both options when two pads leave (almost) no room for speech in a
    chunk: such requests are refused up front instead of cut into thousands of tiny pieces."""
    room = chunk_size - 2 * speech_pad_ms / 1000
    if room < MIN_CHUNK_SPEECH_S:
        raise ValueError(
            f"speech_pad_ms ({speech_pad_ms:g}) is too large for chunk_size ({chunk_size:g} s): "
            f"chunk_size - 2 * speech_pad_ms must leave at least {MIN_CHUNK_SPEECH_S:g} s "
            "of speech per chunk"
        )


@dataclass(frozen=True)
class SpeechChunk:
    """Speech regions decoded by Whisper as one item of a batch."""

    start: float
    end: float
    # The speech regions in this chunk (seconds, absolute, in order, not overlapping).
    regions: list[tuple[float, float]] = field(default_factory=list)

    @property
    def duration(self) -> float:
        """Length of the audio Whisper sees: the speech regions joined."""
        return sum(e - s for s, e in self.regions) if self.regions else self.end - self.start

    def audio(self, samples: np.ndarray) -> np.ndarray:
        """This chunk's audio cut out of the whole file's 16 kHz samples."""
        spans = self.regions or [(self.start, self.end)]
        parts = [samples[round(s * SAMPLE_RATE) : round(e * SAMPLE_RATE)] for s, e in spans]
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def to_absolute(self, t: float, *, is_end: bool = False) -> float:
        """Map a time inside the chunk's audio to a time in the file.

        A time exactly on the seam between two regions belongs to the earlier region when it
        is an end time, so a word ending at the seam does not stretch over the silence.
        """
        offset = 0.0
        for s, e in self.regions or [(self.start, self.end)]:
            length = e - s
            if t < offset + length or (is_end and t <= offset + length):
                return s + max(0.0, t - offset)
            offset += length
        return self.end


def speech_probabilities(audio: np.ndarray, model: SileroVad | None = None) -> np.ndarray:
    """One Silero speech probability per 32 ms frame of 16 kHz mono audio, from `model` (a
    pipeline's own) or the process's default CPU one. No lock: sessions run concurrently."""
    from hark.silero import default_vad

    if audio.size == 0:
        return np.zeros(0, dtype=np.float32)
    return (model or default_vad())(audio)


def speech_regions(probs: np.ndarray, options: VadOptions) -> list[tuple[int, int]]:
    """Speech regions as [start, end) frame indices, before padding and chunking."""
    regions: list[tuple[int, int]] = []
    start: int | None = None
    for i, p in enumerate(probs):
        if start is None and p >= options.onset:
            start = i
        elif start is not None and p < options.offset:
            regions.append((start, i))
            start = None
    if start is not None:
        regions.append((start, len(probs)))

    min_gap = options.min_silence_ms / 1000 / FRAME_SECONDS
    merged: list[tuple[int, int]] = []
    for region in regions:
        if merged and region[0] - merged[-1][1] < min_gap:
            merged[-1] = (merged[-1][0], region[1])
        else:
            merged.append(region)

    min_len = options.min_speech_ms / 1000 / FRAME_SECONDS
    return [r for r in merged if r[1] - r[0] >= min_len]


def _cut_long(start: int, end: int, probs: np.ndarray, max_frames: int) -> list[tuple[int, int]]:
    """Cut a region longer than max_frames at its least speech-like frame (WhisperX's rule:
    look in the second half of the allowed window so pieces are never tiny).

    Every cut is at least one frame after the previous one, so the loop ends after at most
    `end - start` rounds whatever `max_frames` is."""
    max_frames = max(1, max_frames)
    pieces = []
    while end - start > max_frames:
        lo = start + max(1, max_frames // 2)
        hi = max(lo + 1, start + max_frames)
        cut = lo + int(np.argmin(probs[lo:hi]))
        pieces.append((start, cut))
        start = cut
    pieces.append((start, end))
    return pieces


def detect_speech(
    audio: np.ndarray, options: VadOptions | None = None, probs: np.ndarray | None = None
) -> list[SpeechChunk]:
    """Find speech in 16 kHz mono audio and group it into chunks of <= chunk_size seconds.

    Chunks are in time order, do not overlap, hold at most chunk_size seconds of speech each,
    and together cover every detected speech region.
    """
    options = options or VadOptions()
    if probs is None:
        probs = speech_probabilities(audio)
    duration = audio.size / SAMPLE_RATE
    pad = options.speech_pad_ms / 1000

    max_frames = max(1, int((options.chunk_size - 2 * pad) / FRAME_SECONDS))
    regions: list[tuple[float, float]] = []
    for start, end in speech_regions(probs, options):
        for s, e in _cut_long(start, end, probs, max_frames):
            s_sec = max(0.0, s * FRAME_SECONDS - pad)
            e_sec = min(duration, e * FRAME_SECONDS + pad)
            if regions and s_sec < regions[-1][1]:
                # Padding made neighbours overlap: meet in the middle of the overlap.
                mid = (s_sec + regions[-1][1]) / 2
                regions[-1] = (regions[-1][0], mid)
                s_sec = mid
            if e_sec > s_sec:
                regions.append((s_sec, e_sec))
    return merge_regions(regions, options.chunk_size)


def merge_regions(regions: list[tuple[float, float]], chunk_size: float) -> list[SpeechChunk]:
    """Greedily group consecutive regions while their joined speech fits in chunk_size."""
    chunks: list[SpeechChunk] = []
    current: list[tuple[float, float]] = []
    speech = 0.0
    for region in regions:
        length = region[1] - region[0]
        if current and speech + length > chunk_size:
            chunks.append(SpeechChunk(current[0][0], current[-1][1], current))
            current, speech = [], 0.0
        current.append(region)
        speech += length
    if current:
        chunks.append(SpeechChunk(current[0][0], current[-1][1], current))
    return chunks
