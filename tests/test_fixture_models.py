"""Random-weight Whisper test models: tokenizer ids, determinism, faster-whisper end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tokenizers import Tokenizer
from typer.testing import CliRunner

from hark.dev import whisper_tokenizer as wt
from hark.dev.fixtures import whisper as tm

JFK_IDS = [400, 370, 452, 7177, 6280, 11, 1029, 406]


@pytest.fixture(scope="module")
def tokenizer(test_models: Path) -> Tokenizer:
    return Tokenizer.from_file(str(test_models / "whisper-tiny" / "tokenizer.json"))


@pytest.fixture(scope="module")
def tiny(test_models: Path):
    from faster_whisper import WhisperModel

    return WhisperModel(
        str(test_models / "whisper-tiny"), device="cpu", compute_type="int8", cpu_threads=2
    )


def test_layout(test_models: Path) -> None:
    for name in ("whisper-tiny", "whisper-base"):
        model = test_models / name
        for file in ("model.bin", "config.json", "tokenizer.json", "preprocessor_config.json"):
            assert (model / file).is_file(), f"{name}/{file}"
        assert tm.is_up_to_date(test_models, name)
    config = json.loads((test_models / "whisper-tiny" / "config.json").read_text())
    assert config["lang_ids"] == list(range(50259, 50358))
    assert config["alignment_heads"] == [[layer, head] for layer in (2, 3) for head in range(6)]
    assert config["suppress_ids_begin"] == [220, 50257]
    assert {50258, 50358, 50359, 50360, 50361, 50362} <= set(config["suppress_ids"])
    preprocessor = json.loads(
        (test_models / "whisper-base" / "preprocessor_config.json").read_text()
    )
    assert preprocessor["feature_size"] == 80
    assert preprocessor["sampling_rate"] == 16_000


def test_special_token_ids(tokenizer: Tokenizer) -> None:
    assert tokenizer.get_vocab_size() == 51_865
    expected = {
        "<|endoftext|>": 50257,
        "<|startoftranscript|>": 50258,
        "<|en|>": 50259,
        "<|su|>": 50357,
        "<|translate|>": 50358,
        "<|transcribe|>": 50359,
        "<|notimestamps|>": 50363,
        "<|0.00|>": 50364,
        "<|30.00|>": 51864,
    }
    assert {token: tokenizer.token_to_id(token) for token in expected} == expected


def test_encode_decode(tokenizer: Tokenizer) -> None:
    ids = tokenizer.encode(" And so my fellow Americans, ask not", add_special_tokens=False).ids
    assert ids == JFK_IDS
    text = "Héllo wörld! 你好，世界。 naïve  spaces\n♪ don't 123"
    ids = tokenizer.encode(text, add_special_tokens=False).ids
    assert tokenizer.decode(ids) == text


def test_vocabulary_matches_tokenizer(test_models: Path, tokenizer: Tokenizer) -> None:
    vocabulary = json.loads((test_models / "whisper-tiny" / "vocabulary.json").read_text())
    assert len(vocabulary) == 51_865
    for i in (0, 400, 50257, 50259, 50363, 51864):
        assert vocabulary[i] == tokenizer.id_to_token(i)


def test_tiny_is_deterministic(tmp_path: Path) -> None:
    arch = tm.WHISPER_ARCHITECTURES["tiny"]
    tm.build_whisper_model(arch, tmp_path / "a")
    tm.build_whisper_model(arch, tmp_path / "b")
    for file in ("model.bin", "config.json", "tokenizer.json", "vocabulary.json"):
        assert (tmp_path / "a" / file).read_bytes() == (tmp_path / "b" / file).read_bytes(), file


def test_detect_language(tiny, shared_audio: Path) -> None:
    from faster_whisper import decode_audio

    audio = decode_audio(str(shared_audio / "jfk.flac"))
    language, probability, all_probabilities = tiny.detect_language(audio)
    assert language in wt.LANGUAGES
    assert 0.0 < probability <= 1.0
    assert len(all_probabilities) == len(wt.LANGUAGES)


def test_transcribe_with_word_timestamps(tiny, shared_audio: Path) -> None:
    segments, info = tiny.transcribe(
        str(shared_audio / "jfk.flac"),
        language="en",
        beam_size=1,
        temperature=0.0,
        word_timestamps=True,
        max_new_tokens=20,
        condition_on_previous_text=False,
    )
    segments = list(segments)
    assert info.language == "en"
    words = [word for segment in segments for word in segment.words or []]
    assert words, "random-weight decoding should emit some tokens"
    for word in words:
        assert 0.0 <= word.start <= word.end <= info.duration + 0.05
    starts = [word.start for word in words]
    assert starts == sorted(starts)


def test_greedy_decoding_stops_by_itself(tiny, shared_audio: Path) -> None:
    # The documented random-weight behaviour: some text, then end-of-text within a few dozen.
    segments, _ = tiny.transcribe(
        str(shared_audio / "jfk.flac"),
        language="en",
        beam_size=1,
        temperature=0.0,
        without_timestamps=True,
        condition_on_previous_text=False,
    )
    first = next(iter(segments))
    assert 5 <= len(first.tokens) <= 60
    assert first.avg_logprob > -1.0  # confident: no temperature fallback


def test_ensure_is_idempotent(test_models: Path) -> None:
    stamp = test_models / "whisper-tiny" / tm.STAMP_NAME
    before = stamp.stat().st_mtime_ns
    paths = tm.ensure_test_models(test_models)
    assert paths["whisper-tiny"] == test_models / "whisper-tiny"
    assert stamp.stat().st_mtime_ns == before


def test_registry_builds_default_builders_and_rebuilds_stale(tmp_path: Path) -> None:
    calls: list[Path] = []

    def build(directory: Path) -> None:
        calls.append(directory)
        (directory / "weights.txt").write_text(str(len(calls)))

    name = "fixture-probe"
    tm.register_builder(name, build, default=True, version="1")
    try:
        paths = tm.ensure_test_models(tmp_path, architectures=())
        assert paths[name] == tmp_path / name
        tm.ensure_test_models(tmp_path, architectures=())
        assert len(calls) == 1
        tm.register_builder(name, build, default=True, version="2")
        tm.ensure_test_models(tmp_path, architectures=())
        assert len(calls) == 2
        assert (tmp_path / name / "weights.txt").read_text() == "2"
        assert not list(tmp_path.glob(f".{name}.tmp-*"))
    finally:
        del tm.BUILDERS[name]


def test_large_is_not_a_default() -> None:
    assert not tm.BUILDERS["whisper-large-v2"].default
    assert "large-v2" not in tm.DEFAULT_ARCHITECTURES
    with pytest.raises(ValueError, match="unknown Whisper architecture"):
        tm.ensure_test_models(Path("/nonexistent-never-created"), architectures=("huge",))


def test_cli_writes_models(tmp_path: Path) -> None:
    from hark.dev.cli import app

    target = tmp_path / "models"
    runner = CliRunner()
    result = runner.invoke(app, ["make-test-models", str(target), "--arch", "tiny"])
    assert result.exit_code == 0, result.output
    assert (target / "whisper-tiny" / "model.bin").is_file()
    assert not (target / "whisper-base").exists()
    assert "whisper-tiny" in result.output and "built" in result.output
    again = runner.invoke(app, ["make-test-models", str(target), "--arch", "tiny"])
    assert again.exit_code == 0, again.output
    assert "up to date" in again.output
    bad = runner.invoke(app, ["make-test-models", str(target), "--arch", "huge"])
    assert bad.exit_code != 0
