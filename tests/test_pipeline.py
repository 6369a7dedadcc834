"""End to end: real audio through the real engine with a random-weight Whisper model."""

from __future__ import annotations

import io
import threading
import time

import numpy as np
import pytest
from faster_whisper.tokenizer import _LANGUAGE_CODES

import hark
from hark.audio import load_audio
from hark.decode_options import ChunkResult, DecodeOptions, better, needs_fallback
from hark.engine import Engine
from hark.model_files import ModelNotFoundError
from hark.options import TranscribeOptions
from hark.pipeline import Progress
from hark.scheduler import CancelledError
from hark.vad import SpeechChunk
from helpers import FIXED, check_times


@pytest.fixture(scope="module")
def engine(test_models) -> Engine:
    return hark.load_engine(test_models / "whisper-tiny", device="cpu", compute_type="int8")


def test_transcribes_jfk(engine, shared_audio) -> None:
    result = engine.transcribe(shared_audio / "jfk.flac", language="en", **FIXED)
    assert result.duration == pytest.approx(11.0, abs=0.01)
    assert result.language == "en" and result.language_probability == 1.0
    assert result.segments and result.alignment == "whisper"
    assert len(result.word_segments) >= 10
    check_times(result)
    data = result.to_dict()
    assert set(data) >= {"segments", "word_segments", "language", "duration"}
    assert set(data["segments"][0]) >= {"start", "end", "text", "words"}
    assert set(data["word_segments"][0]) == {"word", "start", "end", "score"}
    assert data["model"]["device"] == "cpu"


def test_silence_gives_empty_transcript(engine, shared_audio) -> None:
    result = engine.transcribe(shared_audio / "pyannote/empty.wav")
    assert result.segments == [] and result.word_segments == []
    assert result.language is None and result.alignment is None
    assert result.duration == pytest.approx(1.0, abs=0.01)


def test_batch_size_does_not_change_greedy_results(engine, shared_audio) -> None:
    audio = np.concatenate(
        [
            load_audio(shared_audio / f)
            for f in ["silero_test.wav", "pyannote/sample.wav", "pyannote/dev00.wav"]
        ]
    )
    one = engine.transcribe(audio, language="en", batch_size=1, **FIXED)
    eight = engine.transcribe(audio, language="en", batch_size=8, **FIXED)
    assert len(one.segments) > 3
    assert one.to_dict() == eight.to_dict()
    check_times(one)


def test_input_kinds_agree(engine, shared_audio) -> None:
    path = shared_audio / "librispeech/1089-134686-0001.flac"
    data = path.read_bytes()
    results = [
        engine.transcribe(source, language="en", **FIXED).to_dict()
        for source in (path, str(path), data, io.BytesIO(data), load_audio(path))
    ]
    assert all(r == results[0] for r in results[1:])


def test_language_detection_uses_speech_chunks(engine, shared_audio) -> None:
    result = engine.detect_language(shared_audio / "silero_test.wav")
    assert result is not None
    assert result.language in _LANGUAGE_CODES
    probs = [c.probability for c in result.candidates]
    assert probs == sorted(probs, reverse=True) and len(probs) == 5
    assert 0.0 < result.probability <= 1.0 and result.candidates[0].language == result.language
    assert engine.detect_language(shared_audio / "pyannote/empty.wav") is None
    transcript = engine.transcribe(shared_audio / "silero_test.wav", **FIXED)
    assert transcript.language == result.language
    assert [c.model_dump() for c in transcript.language_candidates] == [
        c.model_dump() for c in result.candidates
    ]


def test_auto_per_chunk_language(engine, shared_audio) -> None:
    result = engine.transcribe(shared_audio / "silero_test.wav", language="auto-per-chunk", **FIXED)
    assert result.segments
    assert all(s.language in _LANGUAGE_CODES for s in result.segments)
    assert result.language in {s.language for s in result.segments}


def test_suppress_numerals(engine, shared_audio) -> None:
    result = engine.transcribe(
        shared_audio / "silero_test.wav",
        language="en",
        suppress_numerals=True,
        **{**FIXED, "max_new_tokens": 60},
    )
    assert result.segments
    assert not any(ch.isdigit() for ch in " ".join(s.text for s in result.segments))


def test_translate_prompt_and_hotwords_run(engine, shared_audio) -> None:
    result = engine.transcribe(
        shared_audio / "jfk.flac",
        task="translate",
        language="de",
        initial_prompt="Kennedy, inauguration.",
        hotwords="Americans",
        **FIXED,
    )
    assert result.task == "translate" and result.segments
    check_times(result)


def test_temperature_fallback_end_to_end(engine, shared_audio) -> None:
    # A compression-ratio threshold of 0 fails every attempt: all temperatures get tried and
    # the best attempt is kept without error.
    options = dict(
        FIXED,
        temperature=[0.0, 0.5, 1.0],
        compression_ratio_threshold=0.0,
        log_prob_threshold=None,
        best_of=2,
    )
    result = engine.transcribe(shared_audio / "jfk.flac", language="en", **options)
    assert result.segments
    assert all(s.temperature in (0.0, 0.5, 1.0) for s in result.segments)


def _result(avg_logprob: float, ratio: float, no_speech: float = 0.0, t: float = 0.0):
    return ChunkResult(SpeechChunk(0, 1), "en", [1], "x", avg_logprob, no_speech, ratio, t)


def test_fallback_rules() -> None:
    options = DecodeOptions()
    assert not needs_fallback(_result(-0.5, 1.5), options)
    assert needs_fallback(_result(-1.5, 1.5), options)  # unlikely
    assert needs_fallback(_result(-0.5, 3.0), options)  # repetitive
    assert not needs_fallback(_result(-1.5, 1.5, no_speech=0.9), options)  # silence
    good = _result(-0.4, 1.5, t=0.2)
    assert better(_result(-1.5, 1.5), good, options) is good
    # Both fail: prefer the non-repetitive one even if it is less likely.
    plain, looping = _result(-2.0, 1.5), _result(-1.2, 3.0, t=0.2)
    assert better(plain, looping, options) is plain


def test_progress_reports_asr_until_done(engine, shared_audio) -> None:
    events: list[Progress] = []
    engine.transcribe(
        shared_audio / "silero_test.wav",
        language="en",
        batch_size=1,
        progress=events.append,
        **FIXED,
    )
    asr = [e for e in events if e.stage == "asr"]
    assert len(asr) >= 3
    assert [e.done for e in asr] == sorted(e.done for e in asr)
    assert asr[-1].done == asr[-1].total == pytest.approx(60.0, abs=0.01)


@pytest.mark.parametrize(
    ("options", "field"),
    [
        (dict(language="klingon"), "language"),
        (dict(vad_onset=0.2, vad_offset=0.4), "vad_offset"),
        (dict(beam_size=0), "beam_size"),
        (dict(temperature="0,-1"), "temperature"),
        (dict(no_such_option=1), "no_such_option"),
        (dict(chunk_size=45), "chunk_size"),
    ],
)
def test_bad_options_name_the_field(options, field) -> None:
    with pytest.raises(ValueError, match=field):
        TranscribeOptions(**options)


def test_options_parse_strings() -> None:
    options = TranscribeOptions(
        temperature="0, 0.4", suppress_tokens="-1,50257", max_new_tokens=24, language="EN"
    )
    assert options.temperature == [0.0, 0.4]
    assert options.suppress_tokens == [-1, 50257]
    assert options.language == "en"


def test_model_resolution_errors(tmp_path, monkeypatch) -> None:
    with pytest.raises(ModelNotFoundError, match="Unknown Whisper model 'enormous'"):
        hark.load_engine("enormous")
    with pytest.raises(ModelNotFoundError, match=r"model\.bin is missing"):
        hark.load_engine(tmp_path)
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        hark.load_engine(tmp_path / "nope" / "model")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotFoundError) as excinfo:
        hark.load_engine("large-v2", download_root=tmp_path)
    message = str(excinfo.value)
    assert "Systran/faster-whisper-large-v2" in message
    assert "hark models download large-v2" in message and str(tmp_path) in message


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda audio: b"", "empty_audio"),
        (lambda audio: b"this is a text file, not audio\n" * 20, "not_audio"),
        (lambda audio: (audio / "jfk.flac").read_bytes()[:400_000], "corrupt_audio"),
    ],
)
def test_bad_input_is_a_typed_error(engine, shared_audio, make, code) -> None:
    from hark.audio import AudioError

    with pytest.raises(AudioError) as excinfo:
        engine.transcribe(make(shared_audio), **FIXED)
    assert excinfo.value.code == code


def test_duration_limit(engine, shared_audio) -> None:
    from hark.audio import AudioTooLongError

    with pytest.raises(AudioTooLongError, match="11"):
        engine.transcribe(shared_audio / "jfk.flac", max_duration=5, **FIXED)


# -- language detection's encodings are reused by the ASR batch (CPU) ----------------------


class CountingEncoder:
    """Wraps the Whisper model's `encode` to count the chunks it encodes."""

    def __init__(self, engine: Engine) -> None:
        self.model = engine.pipeline.asr.model
        self.inner = self.model.encode
        self.chunks = 0

    def __enter__(self) -> CountingEncoder:
        def encode(features, *args, **kwargs):
            self.chunks += len(features)
            return self.inner(features, *args, **kwargs)

        self.model.encode = encode
        return self

    def __exit__(self, *exc: object) -> None:
        del self.model.encode  # back to the class's method


@pytest.mark.parametrize("clip", ["jfk.flac", "silero_test.wav", "pyannote/dev00.wav"])
def test_detection_encodings_are_not_encoded_again(engine, shared_audio, clip) -> None:
    audio = load_audio(shared_audio / clip)
    options = dict(language_detection_chunks=3, **FIXED)
    chunks = len(engine.pipeline.prepare(audio, TranscribeOptions(language="en")).chunks)
    with CountingEncoder(engine) as counter:
        detected = engine.transcribe(audio, **options)
    # Detection encodes min(3, chunks) chunks, which the batch then reuses: each chunk once.
    assert counter.chunks == chunks
    given = engine.transcribe(audio, language=detected.language, **options)
    assert detected.text == given.text
    assert [w.start for w in detected.word_segments] == [w.start for w in given.word_segments]
    # The same with a smaller batch, split differently.
    with Engine(engine.pipeline, batch_size=4) as small, CountingEncoder(engine) as counter:
        scheduled = small.transcribe(audio, **options)
    assert counter.chunks == chunks
    assert scheduled.text == detected.text


def test_fallback_retries_reuse_the_batch_encoding(engine, shared_audio, monkeypatch) -> None:
    """Temperature fallback slices the batch's encoder output instead of encoding again."""
    audio = load_audio(shared_audio / "silero_test.wav")
    chunks = len(engine.pipeline.prepare(audio, TranscribeOptions(language="en")).chunks)
    temperatures: list[float] = []
    generate = engine.pipeline.asr._generate

    def counting(encoder_output, indices, *args):
        temperatures.append(args[-1])
        assert encoder_output.shape[0] == len(indices)
        return generate(encoder_output, indices, *args)

    monkeypatch.setattr(engine.pipeline.asr, "_generate", counting)
    # A compression-ratio threshold every text fails: every chunk is retried at each step.
    with CountingEncoder(engine) as counter:
        result = engine.transcribe(
            audio,
            language="en",
            temperature=[0.0, 0.5, 1.0],
            compression_ratio_threshold=0.01,
            **{k: v for k, v in FIXED.items() if k != "temperature"},
        )
    assert sorted(set(temperatures)) == [0.0, 0.5, 1.0]
    assert counter.chunks == chunks
    assert result.segments


def test_default_compute_type_is_int8_on_cpu(test_models, monkeypatch) -> None:
    # The fixture model is saved as float16; "default" must not fall back to float32 on CPU.
    from hark.asr import resolve_compute_type

    default = hark.load_engine(test_models / "whisper-tiny", device="cpu")
    assert default.model_info.compute_type.startswith("int8")  # CTranslate2 says int8_float32
    assert default.model_info.requested_compute_type == "default"
    explicit = hark.load_engine(test_models / "whisper-tiny", device="cpu", compute_type="float32")
    assert explicit.model_info.compute_type == "float32"
    # No GPU here: what CTranslate2 would report for a recent one, then for one without float16.
    import ctranslate2

    monkeypatch.setattr(ctranslate2, "get_supported_compute_types", lambda d: {"float16", "int8"})
    assert resolve_compute_type("default", "cuda") == "float16"
    monkeypatch.setattr(ctranslate2, "get_supported_compute_types", lambda d: {"float32"})
    assert resolve_compute_type("default", "cuda") == "float32"
    assert resolve_compute_type("int8_float16", "cuda") == "int8_float16"


def test_a_missing_aligner_is_reported_once_per_language(engine, shared_audio, monkeypatch, caplog):
    from hark import postprocess

    monkeypatch.setattr(postprocess, "_warned_languages", set())
    for _ in range(3):
        result = engine.transcribe(shared_audio / "jfk.flac", language="fr", **FIXED)
        assert result.alignment == "whisper"
    assert caplog.text.count("keeping Whisper's word times") == 1


def test_idle_aligners_unload(test_models, shared_audio) -> None:
    model = test_models / "whisper-tiny"
    engine = hark.load_engine(model, device="cpu", compute_type="int8", model_idle_unload_s=0.3)
    aligner = str(test_models / "wav2vec2-align-tiny")
    result = engine.transcribe(
        shared_audio / "jfk.flac", language="en", align_model=aligner, **FIXED
    )
    assert result.alignment == "ctc" and engine.pipeline.aligners.loaded()
    deadline = time.monotonic() + 10
    while engine.pipeline.aligners.loaded():
        assert time.monotonic() < deadline, "the aligner stayed loaded"
        time.sleep(0.05)
    again = engine.transcribe(
        shared_audio / "jfk.flac", language="en", align_model=aligner, **FIXED
    )
    assert again.alignment == "ctc" and again.text == result.text


def test_language_detection_reports_its_stages_so_a_caller_can_stop_it(
    engine, shared_audio
) -> None:
    # /detect-language stops on a deadline or a client gone: its cancel event is checked at
    # each stage the progress callback hears.
    seen: list[str] = []
    result = engine.detect_language(
        shared_audio / "jfk.flac", progress=lambda p: seen.append(p.stage)
    )
    assert seen == ["vad", "language"] and result is not None
    cancel = threading.Event()

    def cancel_at_language(progress) -> None:
        if progress.stage == "vad":
            cancel.set()

    with pytest.raises(CancelledError):
        engine.detect_language(
            shared_audio / "jfk.flac", progress=cancel_at_language, cancel=cancel
        )

    class Stop(Exception):
        pass

    def stop_before_encoding(progress) -> None:
        if progress.stage == "language":
            raise Stop

    with pytest.raises(Stop):
        engine.detect_language(shared_audio / "jfk.flac", progress=stop_before_encoding)


def test_generation_is_bounded_by_the_chunk_length(engine, shared_audio, monkeypatch) -> None:
    """A chunk gets at most 30 tokens per second of its audio (+20): a loop on a short live
    window stops there, not at the model's 448 tokens. Random weights with end-of-text
    suppressed run to whatever bound applies."""
    import hark.asr
    from hark.asr import TOKEN_MARGIN, TOKENS_PER_SECOND

    asr = engine.pipeline.asr
    audio = load_audio(shared_audio / "jfk.flac")
    options = TranscribeOptions(**{**FIXED, "max_new_tokens": 200}).decode()

    def tokens(seconds: float) -> int:
        chunk = SpeechChunk(0.0, seconds)
        (result,) = asr.transcribe_batch([chunk.audio(audio)], [chunk], ["en"], options)
        return len(result.tokens)

    short, longer, whole = tokens(1.0), tokens(3.0), tokens(11.0)
    assert 0 < short <= TOKENS_PER_SECOND + TOKEN_MARGIN
    assert short < longer <= 3 * TOKENS_PER_SECOND + TOKEN_MARGIN
    assert longer < whole  # the request's own cap (200) binds there
    monkeypatch.setattr(hark.asr, "TOKENS_PER_SECOND", 1000)
    assert tokens(1.0) == whole
