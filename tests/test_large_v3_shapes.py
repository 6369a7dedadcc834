"""large-v3 shapes: 128 mel bins and the 51,866-token vocabulary with <|yue|>, and turbo's
shallow decoder, as random-weight fixtures at tiny's width (the full-size large-v3,
large-v3-turbo and distil-large-v3 are built on demand: `hark dev make-test-models --arch`)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from tokenizers import Tokenizer

import hark
from hark.dev import whisper_tokenizer as wt
from hark.dev.fixtures import whisper as tm
from helpers import FIXED, check_times

V3_MODELS = ("whisper-v3-tiny", "whisper-v3-turbo-tiny")


@pytest.fixture(scope="module")
def v3_models(test_models: Path) -> Path:
    tm.ensure_test_models(test_models, [], extra=V3_MODELS)
    return test_models


def test_full_size_architectures() -> None:
    archs = tm.WHISPER_ARCHITECTURES
    for name in ("large-v3", "large-v3-turbo", "distil-large-v3"):
        arch = archs[name]
        assert (arch.d_model, arch.encoder_layers, arch.heads) == (1280, 32, 20)
        assert arch.n_mels == 128 and arch.vocab_size == 51_866
        assert name in tm.LARGE_ARCHITECTURES and not tm.BUILDERS[arch.model_name].default
    assert archs["large-v3"].decoder_layers == 32
    assert archs["large-v3-turbo"].decoder_layers == 4
    assert archs["distil-large-v3"].decoder_layers == 2
    assert archs["large-v2"].n_mels == 80 and archs["large-v2"].vocab_size == 51_865


def test_v3_tokenizer_ids(v3_models: Path) -> None:
    tokenizer = Tokenizer.from_file(str(v3_models / "whisper-v3-tiny" / "tokenizer.json"))
    assert tokenizer.get_vocab_size() == 51_866
    expected = {
        "<|endoftext|>": 50257,
        "<|en|>": 50259,
        "<|su|>": 50357,
        "<|yue|>": 50358,
        "<|translate|>": 50359,
        "<|transcribe|>": 50360,
        "<|notimestamps|>": 50364,
        "<|0.00|>": 50365,
        "<|30.00|>": 51865,
    }
    assert {token: tokenizer.token_to_id(token) for token in expected} == expected
    config = json.loads((v3_models / "whisper-v3-tiny" / "config.json").read_text())
    assert config["lang_ids"] == list(range(50259, 50359))
    assert {50358} & set(config["suppress_ids"]) == set()  # <|yue|> is a language, not a task
    assert {50258, 50359, 50360, 50361, 50362, 50363} <= set(config["suppress_ids"])
    turbo = json.loads((v3_models / "whisper-v3-turbo-tiny" / "config.json").read_text())
    assert turbo["alignment_heads"] == [[0, head] for head in range(6)]  # one decoder layer
    preprocessor = json.loads(
        (v3_models / "whisper-v3-tiny" / "preprocessor_config.json").read_text()
    )
    assert preprocessor["feature_size"] == 128


@pytest.mark.parametrize("name", V3_MODELS)
def test_hark_decodes_v3_shapes(v3_models: Path, shared_audio: Path, name: str) -> None:
    engine = hark.load_engine(v3_models / name, device="cpu", compute_type="int8")
    assert engine.pipeline.asr.n_mels == 128
    assert "yue" in engine.pipeline.asr.languages
    result = engine.transcribe(shared_audio / "jfk.flac", language="en", **FIXED)
    assert result.language == "en" and result.word_segments
    check_times(result)
    # Language detection reads the 100 language tokens.
    detected = engine.detect_language(shared_audio / "jfk.flac")
    assert detected is not None and detected.language in wt.LANGUAGES_V3


def test_mel_bins_come_from_the_model(v3_models: Path, shared_audio: Path, tmp_path) -> None:
    """Without preprocessor_config.json faster-whisper computes 80 bins; Hark asks the model."""
    from faster_whisper import WhisperModel

    bare = tmp_path / "v3-no-preprocessor"
    shutil.copytree(v3_models / "whisper-v3-tiny", bare)
    (bare / "preprocessor_config.json").unlink()
    assert WhisperModel(str(bare), device="cpu").feature_extractor.mel_filters.shape[0] == 80
    engine = hark.load_engine(bare, device="cpu", compute_type="int8")
    audio = hark.audio.load_audio(shared_audio / "jfk.flac")
    assert engine.pipeline.asr.features([audio]).shape == (1, 128, 3000)
    result = engine.transcribe(audio, language="en", **FIXED)
    assert result.word_segments
    check_times(result)
