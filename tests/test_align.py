"""hark.align end to end: the random-weight fixture aligner on real speech, model resolution."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from hark.align import (
    AlignError,
    AlignModel,
    AlignModelNotFound,
    AlignModelUnavailable,
    AlignOptions,
    align,
    converted_dir,
    load_align_model,
)
from hark.dev.fixtures.aligner import make_test_aligner
from hark.schema import Segment, Word

JFK = [
    (0.0, 4.4, " And so my fellow Americans, ask not what your country can do for you,"),
    (4.4, 11.0, " ask what you can do for your country."),
]


@pytest.fixture(scope="module")
def aligner_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("aligner") / "wav2vec2-tiny"
    make_test_aligner(path, arch="tiny")
    return path


@pytest.fixture(scope="module")
def aligner(aligner_dir: Path) -> AlignModel:
    return load_align_model("en", str(aligner_dir), cpu_threads=1)


@pytest.fixture(scope="module")
def jfk(shared_audio: Path) -> np.ndarray:
    from faster_whisper import decode_audio

    return decode_audio(str(shared_audio / "jfk.flac"))


@pytest.fixture(scope="module")
def silero(shared_audio: Path) -> np.ndarray:
    from faster_whisper import decode_audio

    return decode_audio(str(shared_audio / "silero_test.wav"))


def whisper_words(start: float, end: float, text: str) -> list[Word]:
    """Fallback words as Whisper gives them: even spread, leading spaces, punctuation attached."""
    tokens = text.split()
    edges = np.linspace(start, end, len(tokens) + 1)
    return [
        Word(word=" " + t, start=float(a), end=float(b), score=0.6)
        for t, a, b in zip(tokens, edges[:-1], edges[1:], strict=True)
    ]


def segment(start: float, end: float, text: str) -> Segment:
    return Segment(start=start, end=end, text=text, words=whisper_words(start, end, text))


def check_words(segments_in: list[Segment], segments_out: list[Segment]) -> None:
    """Same texts; every word has times inside its segment (and the input's), in order."""
    assert len(segments_in) == len(segments_out)
    for before, after in zip(segments_in, segments_out, strict=True):
        assert after.text == before.text
        assert [w.word for w in after.words] == before.text.split()
        assert before.start <= after.start <= after.end <= before.end
        previous = None
        for word in after.words:
            assert after.start <= word.start <= word.end <= after.end, word
            assert 0.0 <= word.score <= 1.0
            if previous is not None:
                assert previous.start <= word.start and previous.end <= word.end
            previous = word


@pytest.mark.parametrize("method", ["nearest", "linear", "ignore"])
def test_jfk_every_word_timed_inside_its_segment(aligner, jfk, method) -> None:
    segments = [segment(*s) for s in JFK]
    out = align(segments, jfk, aligner, interpolate_method=method)
    check_words(segments, out)
    assert all(w.interpolated is None for s in out for w in s.words)  # all CTC-aligned
    assert out[0].words[0].start < out[0].words[-1].start


def test_numbers_and_symbols_get_times(aligner, jfk) -> None:
    segments = [
        segment(0.0, 5.0, "It cost 1,250 dollars in 2024, about 50% more (€1,000)."),
        segment(5.0, 11.0, "R&D at 3 p.m. — 100 km/h!"),
    ]
    out = align(segments, jfk, aligner, return_char_alignments=True)
    check_words(segments, out)
    words = {w.word: w for s in out for w in s.words}
    for token in ("1,250", "2024,", "50%", "(€1,000).", "R&D", "3", "100", "km/h!"):
        assert words[token].interpolated is None, token
        assert words[token].end > words[token].start, token
    assert words["—"].interpolated is True  # punctuation alone: nothing to hear
    chars = out[0].chars
    assert chars is not None and "".join(c.char for c in chars) == segments[0].text
    assert all(c.start is not None for c in chars if c.char.isdigit())
    assert all(c.start is None for c in chars if c.char in " ,.()")


def test_empty_and_one_word_segments(aligner, jfk) -> None:
    segments = [
        Segment(start=1.0, end=2.0, text=""),
        Segment(start=2.0, end=2.1, text="  "),
        segment(7.5, 8.5, " Country."),
        segment(3.0, 3.4, " ..."),
    ]
    out = align(segments, jfk, aligner, return_char_alignments=True)
    assert out[0].words == [] and (out[0].start, out[0].end) == (1.0, 2.0)
    assert out[1].words == []
    check_words(segments[2:], out[2:])
    assert out[2].words[0].interpolated is None
    # Nothing alignable: Whisper's times, marked as such.
    assert out[3].words[0].interpolated is True and out[3].words[0].start == 3.0


def test_text_longer_than_the_frames_falls_back_gracefully(aligner, jfk) -> None:
    text = " ask not what your country can do for you ask what you can do for your country"
    segments = [segment(2.0, 2.1, text), segment(5.0, 5.0, " ask"), segment(30.0, 31.0, " late")]
    out = align(segments, jfk, aligner)
    check_words(segments, out)
    for s in out:
        assert all(w.interpolated is True for w in s.words)
    assert [w.start for w in out[0].words] == [w.start for w in segments[0].words]


def test_no_whisper_words_still_gives_every_word_times(aligner, jfk) -> None:
    segments = [Segment(start=0.0, end=11.0, text=" ".join(t for _, _, t in JFK))]
    out = align(segments, jfk, aligner)
    check_words(segments, out)


def test_long_segment_keeps_trellis_and_windows_bounded(aligner, silero, monkeypatch) -> None:
    import hark.align.aligner as aligner_module

    shapes: list[tuple[int, int]] = []
    real = aligner_module.forced_align

    def spy(log_probs, tokens, **kw):
        shapes.append((log_probs.shape[0], tokens.size))
        return real(log_probs, tokens, **kw)

    inputs: list[int] = []
    run = aligner.network.run
    monkeypatch.setattr(aligner_module, "forced_align", spy)
    monkeypatch.setattr(aligner.network, "run", lambda x: inputs.append(x.size) or run(x))
    words = ("the quick brown fox jumps over the lazy dog and then some 42 more " * 14).split()
    seg = segment(0.0, 60.0, " " + " ".join(words))
    options = AlignOptions(window_seconds=20.0, max_span_seconds=15.0)
    out = align([seg], silero, aligner, options=options)
    check_words([seg], out)
    aligned = sum(w.interpolated is None for w in out[0].words)
    assert aligned >= 0.9 * len(words)
    assert len(shapes) >= 4 and max(f for f, _ in shapes) <= (15.0 + 2 * 2.0) / 0.02
    assert sum(t for _, t in shapes) >= 0.9 * sum(len(w) + 1 for w in words) - len(shapes)
    assert len(inputs) >= 3 and max(inputs) <= (20.0 + 0.1) * 16_000


def test_windowed_emissions_keep_the_frame_grid(aligner, silero) -> None:
    audio = silero[: 16_000 * 45 + 777]
    whole = aligner.network.run(audio)
    windowed = aligner.log_probs(audio, window_seconds=10.0, context_seconds=1.0)
    assert windowed.shape == whole.shape == (aligner.network.frames(audio.size), 32)
    # Different context changes the values a little, not which frame is which.
    assert (whole.argmax(1) == windowed.argmax(1)).mean() > 0.8


def test_spaceless_language_aligns_per_character(aligner_dir, jfk) -> None:
    model = load_align_model("ja", str(aligner_dir), cpu_threads=1)
    assert not model.spaces
    seg = Segment(start=0.0, end=3.0, text="こんにちは世界")
    out = align([seg], jfk, model)
    assert [w.word for w in out[0].words] == list("こんにちは世界")
    assert all(w.interpolated is None for w in out[0].words)


def test_tiny_aligner_is_fast(aligner, silero) -> None:
    import time

    seg = segment(0.0, 30.0, " " + " ".join(["speech"] * 60))
    align([seg], silero, aligner)  # warm-up
    start = time.perf_counter()
    align([seg], silero, aligner)
    assert time.perf_counter() - start < 2.0  # ~0.2 s here; generous for loaded CI machines


def test_invalid_interpolate_method(aligner, jfk) -> None:
    with pytest.raises(ValueError):
        align([segment(*JFK[0])], jfk, aligner, interpolate_method="cubic")  # type: ignore[arg-type]


# --- model resolution -------------------------------------------------------------------------


@pytest.fixture
def empty_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HARK_CACHE_DIR", str(tmp_path / "hark"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return tmp_path


def test_language_without_aligner_is_unavailable(empty_cache) -> None:
    with pytest.raises(AlignModelUnavailable, match="No default alignment model") as info:
        load_align_model("xx")
    assert isinstance(info.value, AlignError)


def test_default_model_missing_offline_says_how_to_convert(empty_cache) -> None:
    with pytest.raises(AlignModelNotFound) as info:
        load_align_model("en-US", cache_dir=str(empty_cache), local_files_only=True)
    message = str(info.value)
    assert "facebook/wav2vec2-base-960h" in message
    assert "hark models convert-aligner facebook/wav2vec2-base-960h" in message


def test_named_model_missing_offline(empty_cache) -> None:
    with pytest.raises(AlignModelNotFound, match="hark models convert-aligner someone/w2v"):
        load_align_model("fr", "someone/w2v", local_files_only=True)
    with pytest.raises(AlignModelNotFound, match="does not exist"):
        load_align_model("fr", "./no/such/dir")


def test_local_directory_without_onnx(empty_cache, aligner_dir) -> None:
    plain = empty_cache / "plain"
    plain.mkdir()
    shutil.copy(aligner_dir / "vocab.json", plain)
    with pytest.raises(AlignModelNotFound, match="convert-aligner"):
        load_align_model("en", str(plain))


def test_converted_model_found_in_the_hark_cache(empty_cache, aligner_dir) -> None:
    shutil.copytree(aligner_dir, converted_dir("facebook/wav2vec2-base-960h"))
    model = load_align_model("en", local_files_only=True)
    assert model.name == "facebook/wav2vec2-base-960h" and model.language == "en"


def test_onnx_export_found_in_the_hugging_face_cache(empty_cache, aligner_dir) -> None:
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = empty_cache / "hf" / "models--org--w2v-onnx"
    snapshot = repo / "snapshots" / commit
    (snapshot / "onnx").mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    for f in aligner_dir.glob("*.json"):
        shutil.copy(f, snapshot)
    shutil.copy(aligner_dir / "model.onnx", snapshot / "onnx")
    model = load_align_model(
        "en", "org/w2v-onnx", cache_dir=str(empty_cache / "hf"), local_files_only=True
    )
    assert model.path == snapshot


# -- which network runs: the int8 copy on CPU by default -------------------------------------


def network_file(model: AlignModel) -> str:
    return Path(model.network.session._model_path).name  # type: ignore[attr-defined]


def copy_with(aligner_dir: Path, target: Path, *files: str) -> Path:
    target.mkdir()
    for f in aligner_dir.glob("*.json"):
        shutil.copy(f, target)
    for f in files:
        shutil.copy(aligner_dir / f, target / f)
    return target


def test_cpu_default_runs_the_int8_copy(aligner_dir, jfk, caplog) -> None:
    assert (aligner_dir / "model.int8.onnx").is_file()
    auto = load_align_model("en", str(aligner_dir), cpu_threads=1)
    exact = load_align_model("en", str(aligner_dir), cpu_threads=1, compute_type="float32")
    explicit = load_align_model("en", str(aligner_dir), cpu_threads=1, compute_type="int8")
    assert (network_file(auto), network_file(exact)) == ("model.int8.onnx", "model.onnx")
    assert network_file(explicit) == "model.int8.onnx"
    a, b = auto.network.run(jfk[:64_000]), exact.network.run(jfk[:64_000])
    assert a.shape == b.shape and not np.array_equal(a, b)
    # Both align every word.
    segments = [segment(*s) for s in JFK]
    for model in (auto, exact):
        check_words(segments, align(segments, jfk, model))
    assert "has no" not in caplog.text


def test_missing_precision_falls_back_with_a_warning(aligner_dir, tmp_path, caplog) -> None:
    float_only = copy_with(aligner_dir, tmp_path / "float", "model.onnx")
    int8_only = copy_with(aligner_dir, tmp_path / "int8", "model.int8.onnx")
    assert network_file(load_align_model("en", str(float_only))) == "model.onnx"
    assert "has no" not in caplog.text  # auto takes what there is, quietly
    assert network_file(load_align_model("en", str(int8_only))) == "model.int8.onnx"
    model = load_align_model("en", str(float_only), compute_type="int8")
    assert network_file(model) == "model.onnx"
    assert "has no int8 network" in caplog.text
    model = load_align_model("en", str(int8_only), compute_type="float32")
    assert network_file(model) == "model.int8.onnx"
    assert "has no float32 network" in caplog.text


def test_gpu_auto_prefers_the_float_network(aligner_dir) -> None:
    from hark.align import registry

    chosen = registry.choose_network(aligner_dir, "auto", "cuda")
    assert chosen.name == "model.onnx"
    assert registry.choose_network(aligner_dir, "auto", "cpu").name == "model.int8.onnx"


def test_invalid_align_compute_type(aligner_dir) -> None:
    with pytest.raises(ValueError, match="auto, float32, int8"):
        load_align_model("en", str(aligner_dir), compute_type="float16")
