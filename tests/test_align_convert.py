"""`convert_aligner` (torch + transformers, extra `hark[convert]`): skipped where absent.

Also checks that the torch-free fixture graph is the real Wav2Vec2ForCTC: the same weights in
Transformers give the same log-probabilities.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hark.align import load_align_model
from hark.dev.fixtures.aligner import make_test_aligner, save_as_transformers

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")


def torch_log_probs(model_dir: Path, audio: np.ndarray) -> np.ndarray:
    from transformers import Wav2Vec2ForCTC

    model = Wav2Vec2ForCTC.from_pretrained(str(model_dir)).eval()
    x = (audio - audio.mean()) / np.sqrt(audio.var() + 1e-7)
    with torch.no_grad():
        logits = model(torch.from_numpy(x)[None]).logits
    return torch.log_softmax(logits, dim=-1)[0].numpy()


@pytest.fixture(scope="module")
def hf_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("convert")
    make_test_aligner(root / "onnx", arch="tiny")
    return root / "onnx", save_as_transformers(root / "onnx", root / "hf")


@pytest.fixture(scope="module")
def audio(shared_audio: Path) -> np.ndarray:
    from faster_whisper import decode_audio

    return decode_audio(str(shared_audio / "jfk.flac"))[: 16_000 * 4]


def test_fixture_graph_is_wav2vec2_for_ctc(hf_checkpoint, audio) -> None:
    onnx_dir, hf_dir = hf_checkpoint
    model = load_align_model("en", str(onnx_dir), cpu_threads=1, compute_type="float32")
    np.testing.assert_allclose(model.network.run(audio), torch_log_probs(hf_dir, audio), atol=1e-3)


@pytest.mark.parametrize("quantize", ["none", "int8", "int8-conv"])
def test_convert_aligner_matches_transformers(hf_checkpoint, audio, tmp_path, quantize) -> None:
    from hark.align.convert import convert_aligner

    _, hf_dir = hf_checkpoint
    out = convert_aligner(str(hf_dir), tmp_path / "converted", quantize=quantize)
    assert (out / "model.onnx").is_file() and (out / "vocab.json").is_file()
    assert (out / "model.int8.onnx").is_file() == (quantize != "none")
    reference = torch_log_probs(hf_dir, audio)
    # The float network is always there and always exact.
    exact = load_align_model("en", str(out), cpu_threads=1, compute_type="float32")
    assert exact.vocabulary.blank_id == 0 and exact.vocabulary.delimiter_id == 4
    np.testing.assert_allclose(exact.network.run(audio), reference, atol=1e-3)
    # The CPU default runs the int8 copy when there is one.
    default = load_align_model("en", str(out), cpu_threads=1)
    ours = default.network.run(audio)
    assert ours.shape == reference.shape
    if quantize == "none":
        np.testing.assert_allclose(ours, reference, atol=1e-3)
        return
    assert not np.allclose(ours, reference, atol=1e-3)  # really the int8 network
    # int8-conv's encoder noise is large on this random tiny model (test_align_quantize.py).
    if quantize == "int8":
        assert (ours.argmax(1) == reference.argmax(1)).mean() > 0.9


def test_convert_into_the_cache_is_found_offline(hf_checkpoint, tmp_path, monkeypatch) -> None:
    from hark.align.convert import convert_aligner

    monkeypatch.setenv("HARK_CACHE_DIR", str(tmp_path))
    _, hf_dir = hf_checkpoint
    # A local checkpoint stands in for a hub id: the cache layout is the same.
    out = convert_aligner(str(hf_dir))
    assert out == tmp_path / "aligners" / str(hf_dir).replace("/", "--")
    with pytest.raises(ValueError):
        convert_aligner(str(hf_dir), quantize="int4")
