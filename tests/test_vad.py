from __future__ import annotations

import numpy as np
import pytest

from hark.audio import load_audio
from hark.vad import (
    FRAME_SECONDS,
    SAMPLE_RATE,
    SpeechChunk,
    VadOptions,
    _cut_long,
    detect_speech,
    merge_regions,
    speech_probabilities,
    speech_regions,
)

FILES = [
    "jfk.flac",
    "silero_test.wav",
    "pyannote/sample.wav",
    "pyannote/dev00.wav",
    "librispeech/1089-134686-0000.flac",
    "fw_stereo_diarization.wav",
]


def _check_invariants(audio: np.ndarray, options: VadOptions) -> None:
    probs = speech_probabilities(audio)
    chunks = detect_speech(audio, options, probs=probs)
    duration = audio.size / SAMPLE_RATE
    previous_end = 0.0
    for chunk in chunks:
        assert chunk.duration <= options.chunk_size + 1e-6
        assert chunk.audio(audio).size == pytest.approx(chunk.duration * SAMPLE_RATE, abs=2)
        assert 0.0 <= chunk.start < chunk.end <= duration + 1e-6
        assert chunk.start >= previous_end - 1e-6, "chunks overlap or are out of order"
        previous_end = chunk.end
        for s, e in chunk.regions:
            assert chunk.start - 1e-6 <= s < e <= chunk.end + 1e-6
    # Every raw speech region is inside some chunk.
    for s, e in speech_regions(probs, options):
        s_sec, e_sec = s * FRAME_SECONDS, min(duration, e * FRAME_SECONDS)
        covered = sum(max(0.0, min(e_sec, c.end) - max(s_sec, c.start)) for c in chunks)
        assert covered >= (e_sec - s_sec) - 1e-3, f"speech {s_sec:.2f}-{e_sec:.2f} not covered"


@pytest.fixture(scope="module")
def long_audio(shared_audio) -> np.ndarray:
    """About 2.5 minutes of real speech with pauses (every shared clip, end to end)."""
    return np.concatenate([load_audio(shared_audio / f) for f in FILES])


def test_finds_speech_in_jfk(shared_audio) -> None:
    audio = load_audio(shared_audio / "jfk.flac")
    chunks = detect_speech(audio)
    assert len(chunks) == 1
    # "And so my fellow Americans ... your country." runs from ~0.3 s to ~10.5 s.
    assert chunks[0].start < 0.6 and chunks[0].end > 10.0


def test_finds_speech_with_pauses(shared_audio) -> None:
    audio = load_audio(shared_audio / "silero_test.wav")
    chunks = detect_speech(audio)
    regions = [r for c in chunks for r in c.regions]
    assert len(chunks) >= 2 and len(regions) >= 5
    speech = sum(e - s for s, e in regions)
    assert 30.0 < speech < 60.0


def test_no_speech_in_silence(shared_audio) -> None:
    audio = load_audio(shared_audio / "pyannote/empty.wav")
    assert detect_speech(audio) == []
    assert detect_speech(np.zeros(0, dtype=np.float32)) == []
    assert detect_speech(np.zeros(5 * SAMPLE_RATE, dtype=np.float32)) == []


@pytest.mark.parametrize("chunk_size", [30.0, 12.0, 5.0])
def test_chunk_invariants_on_long_audio(long_audio, chunk_size) -> None:
    _check_invariants(long_audio, VadOptions(chunk_size=chunk_size))


@pytest.mark.parametrize("name", FILES)
def test_chunk_invariants_per_file(shared_audio, name) -> None:
    _check_invariants(load_audio(shared_audio / name), VadOptions())


def test_long_region_is_cut_at_lowest_probability() -> None:
    probs = np.full(2000, 0.9, dtype=np.float32)
    probs[700] = 0.55  # the least speech-like frame in the allowed window
    pieces = _cut_long(0, 2000, probs, max_frames=900)
    assert pieces[0] == (0, 700)
    assert all(e - s <= 900 for s, e in pieces)
    assert pieces[-1][1] == 2000
    assert [p[0] for p in pieces[1:]] == [p[1] for p in pieces[:-1]]


def test_continuous_speech_longer_than_chunk_is_split() -> None:
    # 70 s of "speech" probabilities with no pause at all.
    probs = np.full(int(70 / FRAME_SECONDS), 0.95, dtype=np.float32)
    audio = np.zeros(70 * SAMPLE_RATE, dtype=np.float32)
    chunks = detect_speech(audio, VadOptions(), probs=probs)
    assert len(chunks) == 3
    assert all(c.duration <= 30.0 for c in chunks)
    assert chunks[0].start == 0.0 and abs(chunks[-1].end - 70.0) < 0.05


def test_hysteresis_and_cleanup() -> None:
    probs = np.array([0.1] * 10 + [0.6] + [0.4] * 20 + [0.2] * 3 + [0.7] * 20 + [0.1] * 50)
    options = VadOptions(onset=0.5, offset=0.35, min_silence_ms=0, min_speech_ms=0)
    # 0.4 stays speech (above offset); the 3-frame dip at 0.2 ends the region.
    assert speech_regions(probs, options) == [(10, 31), (34, 54)]
    merged = VadOptions(onset=0.5, offset=0.35, min_silence_ms=200, min_speech_ms=0)
    assert speech_regions(probs, merged) == [(10, 54)]
    strict = VadOptions(onset=0.5, offset=0.35, min_silence_ms=0, min_speech_ms=1000)
    assert speech_regions(probs, strict) == []


def test_merge_packs_speech_up_to_chunk_size() -> None:
    regions = [(0.0, 5.0), (6.0, 12.0), (20.0, 29.0), (31.0, 40.0), (50.0, 55.0)]
    chunks = merge_regions(regions, 30.0)
    # 5 + 6 + 9 + 9 = 29 s of speech fit in one chunk; the next 5 s do not.
    assert [(c.start, c.end) for c in chunks] == [(0.0, 40.0), (50.0, 55.0)]
    assert chunks[0].regions == regions[:4]
    assert chunks[0].duration == pytest.approx(29.0)


def test_chunk_audio_and_time_mapping() -> None:
    samples = np.arange(10 * SAMPLE_RATE, dtype=np.float32)
    chunk = SpeechChunk(1.0, 7.0, [(1.0, 2.0), (5.0, 7.0)])
    audio = chunk.audio(samples)
    assert audio.size == 3 * SAMPLE_RATE
    assert audio[0] == SAMPLE_RATE and audio[SAMPLE_RATE] == 5 * SAMPLE_RATE
    assert chunk.to_absolute(0.5) == pytest.approx(1.5)
    assert chunk.to_absolute(1.0) == pytest.approx(5.0)  # a start on the seam: next region
    assert chunk.to_absolute(1.0, is_end=True) == pytest.approx(2.0)  # an end: earlier one
    assert chunk.to_absolute(2.5) == pytest.approx(6.5)
    assert chunk.to_absolute(9.0) == pytest.approx(7.0)  # past the end: clamped


@pytest.mark.parametrize(
    "kwargs",
    [dict(onset=0.0), dict(onset=0.3, offset=0.5), dict(chunk_size=31), dict(speech_pad_ms=-1)],
)
def test_invalid_options(kwargs) -> None:
    with pytest.raises(ValueError):
        VadOptions(**kwargs)
