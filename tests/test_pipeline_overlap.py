"""The scheduler computing the next batch's features while this one decodes: same results as
serial."""

from __future__ import annotations

from hark.audio import load_audio


def test_overlapped_features_give_the_same_transcript(test_models, shared_audio) -> None:
    """The scheduler computing the next batch's features in another thread (the GPU
    default) decodes exactly what the serial path does, with and without language detection
    (whose kept encoder outputs then skip those chunks' features)."""
    import hark
    from helpers import FIXED

    engine = hark.load_engine(test_models / "whisper-tiny", device="cpu", compute_type="int8")
    assert engine.scheduler.overlap_features is False  # CPU default
    audio = load_audio(shared_audio / "silero_test.wav")
    for language in ("en", None):
        options = dict(FIXED, language=language, batch_size=2)
        engine.scheduler.overlap_features = False
        serial = engine.transcribe(audio, **options)
        engine.scheduler.overlap_features = True
        overlapped = engine.transcribe(audio, **options)
        assert len(serial.segments) >= 3  # several batches of two chunks
        assert overlapped.model_dump() == serial.model_dump()
