"""`hark.diarize` on real speech (../shared/audio), with the embedded default and the fixtures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hark.audio import load_audio
from hark.diarize import (
    DiarizationError,
    Diarizer,
    ModelFormatError,
    ModelNotFoundError,
    SpeakerCountError,
    assign_speakers,
    diarize_channels,
    load_embedding_model,
)
from hark.schema import Segment, Transcript, Word
from helpers import Turns, der, read_rttm


@pytest.fixture(scope="module")
def diarizer() -> Diarizer:
    return Diarizer.load(cpu_threads=2)


@pytest.fixture(scope="module")
def sample(shared_audio: Path) -> tuple[np.ndarray, Turns]:
    pyannote = shared_audio / "pyannote"
    return load_audio(pyannote / "sample.wav"), read_rttm(pyannote / "sample.rttm", "sample")


def _turns(diarization: object) -> Turns:
    return [(t.start, t.end, t.speaker) for t in diarization.turns]  # type: ignore[attr-defined]


def test_der_helper_agrees_with_known_cases() -> None:
    reference = [(0.0, 2.0, "a"), (2.0, 4.0, "b")]
    assert der(reference, [(0.0, 2.0, "x"), (2.0, 4.0, "y")], 4.0) == 0.0
    assert der(reference, [(0.0, 4.0, "x")], 4.0, collar=0.0) == pytest.approx(0.5)
    assert der(reference, [], 4.0, collar=0.0) == pytest.approx(1.0)


def test_default_finds_two_speakers_on_sample_and_beats_one_speaker(
    diarizer: Diarizer, sample: tuple[np.ndarray, Turns]
) -> None:
    audio, reference = sample
    result = diarizer(audio)
    assert result.speakers == ["SPEAKER_00", "SPEAKER_01"]
    turns = _turns(result)
    assert all(0.0 <= s < e <= 30.0 + 1e-6 for s, e, _ in turns)
    assert [s for s, _, _ in turns] == sorted(s for s, _, _ in turns)
    one_speaker = [(s, e, "all") for s, e, _ in turns]
    # Measured: 8.4 % against 47.7 % for one speaker (pyannote.metrics agrees, bench/).
    error, baseline = der(reference, turns, 30.0), der(reference, one_speaker, 30.0)
    assert baseline > 0.40
    assert error < 0.20
    assert error < baseline - 0.25


def test_num_speakers_and_bounds_on_real_audio(
    diarizer: Diarizer, sample: tuple[np.ndarray, Turns]
) -> None:
    audio, _ = sample
    assert len(diarizer(audio, num_speakers=3).speakers) == 3
    assert len(diarizer(audio, max_speakers=1).speakers) == 1
    assert len(diarizer(audio, min_speakers=2, max_speakers=4).speakers) == 2


def test_known_speaker_gets_its_name(diarizer: Diarizer, sample: tuple[np.ndarray, Turns]) -> None:
    audio, reference = sample
    # Enrol a cut of one speaker (speaker91 alone from 21.9 s to 28.4 s in the reference).
    enrolment = audio[int(21.9 * 16000) : int(28.4 * 16000)]
    result = diarizer(audio, known_speakers={"Alice": enrolment}, return_embeddings=True)
    assert sorted(result.speakers) == ["Alice", "SPEAKER_00"]
    alice = [(s, e) for s, e, label in _turns(result) if label == "Alice"]
    reference_alice = [(s, e) for s, e, label in reference if label == "speaker91"]
    shared = sum(max(0.0, min(e, re) - max(s, rs)) for s, e in alice for rs, re in reference_alice)
    assert shared / sum(e - s for s, e in alice) > 0.7
    assert result.embeddings is not None and set(result.embeddings) == {"Alice", "SPEAKER_00"}
    vector = np.array(result.embeddings["Alice"])
    assert vector.shape == (256,) and np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-6)


def test_unknown_reference_speaker_is_not_matched(
    diarizer: Diarizer, sample: tuple[np.ndarray, Turns], shared_audio: Path
) -> None:
    audio, _ = sample
    stranger = load_audio(shared_audio / "librispeech" / "1089-134686-0000.flac")
    result = diarizer(audio, known_speakers={"Stranger": stranger})
    assert result.speakers == ["SPEAKER_00", "SPEAKER_01"]


def test_reference_sample_without_speech_is_an_error(
    diarizer: Diarizer, sample: tuple[np.ndarray, Turns]
) -> None:
    with pytest.raises(DiarizationError, match=r"'Bob'.*speech"):
        diarizer(sample[0], known_speakers={"Bob": np.zeros(32000, np.float32)})


def test_silence_and_empty_audio_give_no_turns(diarizer: Diarizer, shared_audio: Path) -> None:
    assert diarizer(load_audio(shared_audio / "pyannote" / "empty.wav")).turns == []
    assert diarizer(np.zeros(0, np.float32)).turns == []


def test_bad_inputs_raise_clear_errors(diarizer: Diarizer) -> None:
    audio = np.zeros(16000, np.float32)
    with pytest.raises(ValueError, match=r"min_speakers .*max_speakers"):
        diarizer(audio, min_speakers=3, max_speakers=2)
    with pytest.raises(SpeakerCountError, match="num_speakers"):
        diarizer(audio, num_speakers=0)
    with pytest.raises(DiarizationError, match="mono"):
        diarizer(np.zeros((2, 16000), np.float32))


def test_missing_model_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotFoundError, match="not found in the local Hugging Face cache"):
        Diarizer.load("no-such-org/no-such-model", cache_dir=tmp_path, local_files_only=True)
    with pytest.raises(ModelNotFoundError, match="no such file"):
        load_embedding_model(str(tmp_path / "missing.onnx"))
    with pytest.raises(ModelNotFoundError):
        Diarizer.load(segmentation_model=str(tmp_path), local_files_only=True)


def test_per_channel_labelling(shared_audio: Path) -> None:
    stereo = load_audio(shared_audio / "fw_stereo_diarization.wav", channels="separate")
    result = diarize_channels(stereo)
    assert result.speakers == ["SPEAKER_00", "SPEAKER_01"]
    by_speaker = {s: [t for t in result.turns if t.speaker == s] for s in result.speakers}
    left, right = by_speaker["SPEAKER_00"], by_speaker["SPEAKER_01"]
    # Left talks for the whole 5 s, right (a shorter sentence) stops before 3 s.
    assert sum(t.duration for t in left) > 4.0
    assert 2.0 < sum(t.duration for t in right) < 3.2
    assert max(t.end for t in right) < 3.2
    named = diarize_channels(stereo, names=["agent", "caller"])
    assert named.speakers == ["agent", "caller"]
    # A word at 4 s (only the left channel speaks then) goes to the left speaker.
    words = [Word(word="curtain", start=4.0, end=4.4, score=0.9)]
    transcript = Transcript(segments=[Segment(start=4.0, end=4.4, text="curtain", words=words)])
    assert assign_speakers(transcript, named).segments[0].speaker == "agent"
    with pytest.raises(DiarizationError, match="channel names"):
        diarize_channels(stereo, names=["only-one"])


@pytest.mark.parametrize(("name", "dim"), [("speaker-wespeaker", 256), ("speaker-campplus", 192)])
def test_pluggable_onnx_embedding(
    name: str, dim: int, test_models: Path, sample: tuple[np.ndarray, Turns]
) -> None:
    diarizer = Diarizer.load(str(test_models / name / "model.onnx"), cpu_threads=2)
    assert diarizer.embedding.dim == dim
    audio, _ = sample
    result = diarizer(audio, num_speakers=2, return_embeddings=True)
    assert result.speakers == ["SPEAKER_00", "SPEAKER_01"]
    assert all(0.0 <= t.start < t.end <= 30.0 + 1e-6 for t in result.turns)
    assert result.embeddings is not None
    assert all(len(v) == dim for v in result.embeddings.values())
    # A directory holding one model works as well as the file.
    assert Diarizer.load(str(test_models / name)).embedding.dim == dim


def test_onnx_front_end_follows_the_toolkit(test_models: Path) -> None:
    wespeaker = load_embedding_model(str(test_models / "speaker-wespeaker"))
    campplus = load_embedding_model(str(test_models / "speaker-campplus"))
    assert wespeaker.fbank_options.window_type == "hamming"  # type: ignore[attr-defined]
    assert campplus.fbank_options.window_type == "povey"  # type: ignore[attr-defined]


def test_model_with_the_wrong_interface(test_models: Path) -> None:
    with pytest.raises(ModelFormatError):
        load_embedding_model(str(test_models / "speaker-segmentation" / "model.onnx"))


def test_segmentation_model_path(test_models: Path, sample: tuple[np.ndarray, Turns]) -> None:
    diarizer = Diarizer.load(
        segmentation_model=str(test_models / "speaker-segmentation"), cpu_threads=2
    )
    assert diarizer.segmentation is not None
    assert (diarizer.segmentation.frame_step, diarizer.segmentation.frame_length) == (270, 991)
    audio, _ = sample
    result = diarizer(audio, num_speakers=2)
    assert 1 <= len(result.speakers) <= 2
    assert set(result.speakers) <= {"SPEAKER_00", "SPEAKER_01"}
    assert all(0.0 <= t.start < t.end <= 30.0 + 1e-6 for t in result.turns)
    # The fixture's silence class wins on quiet audio: the silent first 6 s stay mostly empty.
    early = sum(min(t.end, 6.0) - t.start for t in result.turns if t.start < 6.0)
    assert early < 3.0
