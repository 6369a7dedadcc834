"""int8 aligners (hark.align.quantize): convolutions as matrix products, then dynamic int8."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hark.align import load_align_model
from hark.align.quantize import convs_to_matmuls, quantize_aligner
from hark.dev.fixtures.aligner import make_test_aligner


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("quantize") / "tiny"
    make_test_aligner(path, arch="tiny")
    return path


def run(path: Path, audio: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"input_values": audio[None]})[0][0]


@pytest.mark.parametrize("samples", [400, 16_000, 16_000 * 3 + 77])
def test_convolutions_as_matmuls_are_exact(tiny, tmp_path, samples) -> None:
    import onnx

    model = onnx.load(str(tiny / "model.onnx"))
    assert convs_to_matmuls(model) == 6  # every strided conv but the 1-channel first one
    assert sum(n.op_type == "Conv" for n in model.graph.node) == 2  # first + positional
    onnx.save_model(model, str(tmp_path / "mm.onnx"))
    audio = np.random.default_rng(samples).standard_normal(samples).astype(np.float32)
    np.testing.assert_allclose(
        run(tmp_path / "mm.onnx", audio), run(tiny / "model.onnx", audio), atol=1e-4
    )


@pytest.mark.parametrize("convolutions", [False, True])
def test_quantized_aligner_loads_and_agrees(tiny, tmp_path, shared_audio, convolutions) -> None:
    from faster_whisper import decode_audio

    out = tmp_path / "int8"
    out.mkdir()
    for f in tiny.glob("*.json"):
        (out / f.name).write_bytes(f.read_bytes())
    quantize_aligner(tiny / "model.onnx", out / "model.onnx", convolutions=convolutions)
    assert (out / "model.onnx").stat().st_size < (tiny / "model.onnx").stat().st_size
    audio = decode_audio(str(shared_audio / "jfk.flac"))
    full = load_align_model("en", str(tiny), cpu_threads=1).network.run(audio)
    int8 = load_align_model("en", str(out), cpu_threads=1).network.run(audio)
    assert int8.shape == full.shape
    # The random tiny model amplifies the encoder's quantization noise (a trained one less so).
    total_variation = 0.5 * np.abs(np.exp(int8) - np.exp(full)).sum(1).mean()
    assert total_variation < (0.7 if convolutions else 0.1)
