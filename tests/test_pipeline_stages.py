"""The engine's later stages end to end: CTC alignment, speakers, channels."""

from __future__ import annotations

import pytest

import hark
from hark.engine import Engine
from helpers import FIXED, check_times


@pytest.fixture(scope="module")
def engine(test_models) -> Engine:
    return hark.load_engine(test_models / "whisper-tiny", device="cpu", compute_type="int8")


@pytest.fixture(scope="module")
def aligner(test_models) -> str:
    return str(test_models / "wav2vec2-align-tiny")


def test_ctc_alignment_times_every_word(engine, shared_audio, aligner) -> None:
    result = engine.transcribe(
        shared_audio / "silero_test.wav", language="en", align_model=aligner, **FIXED
    )
    assert result.alignment == "ctc"
    assert len(result.word_segments) > 20
    check_times(result)
    whisper = engine.transcribe(
        shared_audio / "silero_test.wav", language="en", align=False, **FIXED
    )
    assert whisper.alignment == "whisper"
    # Same words, different (CTC) times.
    assert [w.word for w in result.word_segments] == [w.word for w in whisper.word_segments]
    assert [w.start for w in result.word_segments] != [w.start for w in whisper.word_segments]


def test_aligner_precision_is_a_pipeline_setting(engine, test_models, shared_audio, aligner):
    """CPU default: the aligner's int8 copy; `align_compute_type="float32"`: the float net;
    the two give (slightly) different times for the same words."""
    from pathlib import Path

    from hark.settings import Settings

    def network(e: Engine) -> str:
        model = e.pipeline.aligners.get(("en", aligner), "en", aligner)
        return Path(model.network.session._model_path).name

    exact = hark.load_engine(
        test_models / "whisper-tiny",
        device="cpu",
        compute_type="int8",
        align_compute_type="float32",
    )
    assert (network(engine), network(exact)) == ("model.int8.onnx", "model.onnx")
    clip = shared_audio / "jfk.flac"
    a = engine.transcribe(clip, language="en", align_model=aligner, **FIXED)
    b = exact.transcribe(clip, language="en", align_model=aligner, **FIXED)
    assert a.alignment == b.alignment == "ctc"
    assert [w.word for w in a.word_segments] == [w.word for w in b.word_segments]
    check_times(a)
    check_times(b)
    with pytest.raises(ValueError, match="align_compute_type"):
        hark.load_engine(test_models / "whisper-tiny", device="cpu", align_compute_type="fp8")
    assert Settings().pipeline_kwargs()["align_compute_type"] == "auto"


def test_char_alignments_follow_their_sentence(engine, shared_audio, aligner) -> None:
    result = engine.transcribe(
        shared_audio / "jfk.flac",
        language="en",
        align_model=aligner,
        return_char_alignments=True,
        **FIXED,
    )
    chars = [c for s in result.segments for c in (s.chars or [])]
    assert chars and all(s.chars is not None for s in result.segments)
    for segment in result.segments:
        timed = [c for c in segment.chars or [] if c.start is not None]
        assert all(segment.start - 0.05 <= c.start <= segment.end + 0.05 for c in timed)


def test_language_without_aligner_falls_back(engine, shared_audio) -> None:
    # Haitian Creole has no default CTC aligner: Whisper's times are kept, nothing fails.
    result = engine.transcribe(shared_audio / "jfk.flac", language="ht", **FIXED)
    assert result.alignment == "whisper" and result.word_segments
    check_times(result)


def test_missing_aligner_offline_falls_back(engine, shared_audio, tmp_path) -> None:
    result = engine.transcribe(
        shared_audio / "jfk.flac", language="en", align_model="someone/not-downloaded", **FIXED
    )
    assert result.alignment == "whisper" and result.word_segments


def test_diarization_labels_every_word(engine, shared_audio) -> None:
    result = engine.transcribe(
        shared_audio / "pyannote/sample.wav",
        language="en",
        diarize=True,
        return_speaker_embeddings=True,
        **FIXED,
    )
    assert result.word_segments
    assert all(w.speaker for w in result.word_segments)
    assert all(s.speaker for s in result.segments)
    assert result.speakers == ["SPEAKER_00", "SPEAKER_01"]
    assert result.speaker_embeddings and set(result.speaker_embeddings) == set(result.speakers)
    # The diarizer's turns travel with the words, under the same (renumbered) labels.
    assert result.speaker_turns and {t.speaker for t in result.speaker_turns} == {
        "SPEAKER_00",
        "SPEAKER_01",
    }
    for segment in result.segments:  # segments never mix speakers
        assert {w.speaker for w in segment.words} == {segment.speaker}


def test_known_speaker_gets_its_name(engine, shared_audio) -> None:
    from hark.audio import load_audio

    audio = load_audio(shared_audio / "pyannote/sample.wav")
    # 10.0-14.8 s is one speaker alone in sample.rttm (speaker90).
    reference = audio[int(10.0 * 16000) : int(14.8 * 16000)]
    result = engine.transcribe(
        audio, language="en", diarize=True, num_speakers=2, speakers={"Alice": reference}, **FIXED
    )
    # Which words are Alice's depends on the random model's word times; the name reaching the
    # transcript is what the engine owns (matching itself is tested in test_diarize*).
    assert "Alice" in result.speakers
    assert any(s.speaker == "Alice" for s in result.segments)


def test_bad_speaker_counts_are_rejected() -> None:
    with pytest.raises(ValueError, match="min_speakers"):
        hark.TranscribeOptions(min_speakers=3, max_speakers=2)
    with pytest.raises(ValueError, match="num_speakers"):
        hark.TranscribeOptions(num_speakers=5, max_speakers=2)


def test_separate_channels_are_speakers(engine, shared_audio) -> None:
    result = engine.transcribe(
        shared_audio / "fw_stereo_diarization.wav", language="en", channels="separate", **FIXED
    )
    assert set(result.speakers) == {"SPEAKER_00", "SPEAKER_01"}
    assert all(w.speaker for w in result.word_segments)
    starts = [s.start for s in result.segments]
    assert starts == sorted(starts)
    assert result.duration == pytest.approx(5.0, abs=0.05)


def test_speakers_are_numbered_by_first_word() -> None:
    from hark.postprocess import renumber_speakers
    from hark.schema import Segment, SpeakerTurn, Transcript, Word

    def seg(start: float, speaker: str) -> Segment:
        word = Word(word="hi", start=start, end=start + 0.5, score=0.9, speaker=speaker)
        return Segment(start=start, end=start + 0.5, text="hi", words=[word], speaker=speaker)

    transcript = Transcript(
        segments=[
            seg(1, "SPEAKER_02"),
            seg(2, "Alice"),
            seg(3, "SPEAKER_00"),
            seg(4, "SPEAKER_02"),
        ],
        speaker_embeddings={
            "SPEAKER_00": [0.0],
            "SPEAKER_01": [1.0],
            "SPEAKER_02": [2.0],
            "Alice": [3.0],
        },
        speaker_turns=[
            SpeakerTurn(start=0.5, end=0.9, speaker="SPEAKER_01"),  # before any word
            SpeakerTurn(start=1, end=1.5, speaker="SPEAKER_02"),
        ],
    )
    result = renumber_speakers(transcript)
    assert [s.speaker for s in result.segments] == [
        "SPEAKER_00",
        "Alice",
        "SPEAKER_01",
        "SPEAKER_00",
    ]
    assert [w.speaker for w in result.word_segments] == [s.speaker for s in result.segments]
    # Embeddings follow their speakers; the silent SPEAKER_01 becomes the last number.
    assert result.speaker_embeddings == {
        "SPEAKER_00": [2.0],
        "SPEAKER_01": [0.0],
        "SPEAKER_02": [1.0],
        "Alice": [3.0],
    }
    assert result.speaker_turns is not None
    assert [t.speaker for t in result.speaker_turns] == ["SPEAKER_02", "SPEAKER_00"]
    assert renumber_speakers(result) == result
