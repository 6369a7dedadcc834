"""The shared real speech with references (`../shared/audio`), and a long-form mix of it.

Used by the accuracy tests and `bench/real_asr.py`, so both score the same audio the same way.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16_000
# Silences put between the clips of the long form: shorter than, about, and longer than the
# VAD's merge gap, so chunk seams fall both inside and between utterances.
LONG_FORM_GAPS = (0.3, 2.0, 6.0)
# Clip order of the long form (each clip twice, ~2 minutes with the gaps).
LONG_FORM_ORDER = ("sample", "jfk", "libri0", "libri1", "sample", "libri0", "jfk", "libri1")


# Every shared recording of speech, for speed benchmarks and VAD checks (no references needed).
SPEECH_FILES = (
    "silero_test.wav",
    "pyannote/sample.wav",
    "pyannote/dev00.wav",
    "pyannote/dev01.wav",
    "jfk.flac",
    "librispeech/1089-134686-0000.flac",
    "librispeech/1089-134686-0001.flac",
)


def shared_speech(
    audio_dir: Path, seconds: float, files: Sequence[str] = SPEECH_FILES, offset: float = 0.0
) -> np.ndarray:
    """`seconds` of the `files` end to end, repeated as needed, starting `offset` s in."""
    from hark.audio import load_audio

    one = np.concatenate([load_audio(audio_dir / name) for name in files])
    start = round(offset * SAMPLE_RATE) % one.size
    samples = round(seconds * SAMPLE_RATE)
    return np.tile(one, -(-(start + samples) // one.size) + 1)[start : start + samples]


@dataclass(frozen=True)
class Clip:
    """One recording as 16 kHz mono float32 and its reference words (None when unknown)."""

    name: str
    audio: np.ndarray
    reference: str

    @property
    def duration(self) -> float:
        return self.audio.size / SAMPLE_RATE


@dataclass(frozen=True)
class StmTurn:
    speaker: str
    start: float
    end: float
    text: str


def read_stm(path: Path, uri: str) -> list[StmTurn]:
    """`uri channel speaker start end text...` lines of one recording."""
    turns = []
    for line in path.read_text().splitlines():
        parts = line.split(maxsplit=5)
        if len(parts) == 6 and parts[0] == uri:
            turns.append(StmTurn(parts[2], float(parts[3]), float(parts[4]), parts[5]))
    return turns


def reference_clips(audio_dir: Path) -> list[Clip]:
    """`jfk.flac`, the two LibriSpeech utterances and `pyannote/sample.wav`, with references."""
    from hark.audio import load_audio

    jfk = (
        "And so my fellow Americans, ask not what your country can do for you, "
        "ask what you can do for your country."
    )
    libri = {}
    for line in (audio_dir / "librispeech" / "1089-134686.trans.txt").read_text().splitlines():
        key, _, text = line.partition(" ")
        libri[key] = text
    sample_text = " ".join(
        t.text for t in read_stm(audio_dir / "pyannote" / "sample.stm", "sample")
    )
    files = [
        ("jfk", audio_dir / "jfk.flac", jfk),
        ("libri0", audio_dir / "librispeech" / "1089-134686-0000.flac", libri["1089-134686-0000"]),
        ("libri1", audio_dir / "librispeech" / "1089-134686-0001.flac", libri["1089-134686-0001"]),
        ("sample", audio_dir / "pyannote" / "sample.wav", sample_text),
    ]
    return [Clip(name, load_audio(path), text) for name, path, text in files]


def long_form(clips: list[Clip]) -> Clip:
    """The clips in `LONG_FORM_ORDER`, separated by silences cycling through `LONG_FORM_GAPS`."""
    by_name = {clip.name: clip for clip in clips}
    parts: list[np.ndarray] = []
    texts: list[str] = []
    gaps = itertools.cycle(LONG_FORM_GAPS)
    for index, name in enumerate(LONG_FORM_ORDER):
        if index:
            parts.append(np.zeros(round(next(gaps) * SAMPLE_RATE), np.float32))
        parts.append(by_name[name].audio)
        texts.append(by_name[name].reference)
    return Clip("long form", np.concatenate(parts), " ".join(texts))
