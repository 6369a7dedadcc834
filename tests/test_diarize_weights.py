"""Torch-free checkpoint reading, the GE2E encoder and the feature front ends."""

from __future__ import annotations

import io
import os
import pickle
import subprocess
import sys
import types
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest

from hark.diarize.errors import CheckpointFormatError, UnsafeCheckpointError
from hark.diarize.fbank import FbankOptions, fbank
from hark.diarize.ge2e import (
    GE2EEncoder,
    build_graph,
    default_weights_path,
    mel_filterbank,
    mel_spectrogram,
)
from hark.diarize.weights import LEGACY_MAGIC, load_checkpoint, load_state_dict


@pytest.fixture(scope="module")
def ge2e_weights() -> dict[str, np.ndarray]:
    return load_state_dict(default_weights_path(), "model_state")


@pytest.fixture(scope="module")
def encoder(ge2e_weights: dict[str, np.ndarray]) -> GE2EEncoder:
    return GE2EEncoder(ge2e_weights, cpu_threads=2)


def _chirp() -> np.ndarray:
    t = np.arange(8000) / 16000
    signal = 0.3 * np.sin(2 * np.pi * (200 + 1500 * t) * t) + 0.05 * np.sin(2 * np.pi * 3100 * t)
    return signal.astype(np.float32)


# ---- checkpoint reader -------------------------------------------------------------------


def test_reads_resemblyzer_weights_without_torch(ge2e_weights: dict[str, np.ndarray]) -> None:
    # In a fresh interpreter: other tests in this process may have imported torch already.
    code = (
        "import sys\n"
        "from hark.diarize.ge2e import default_weights_path\n"
        "from hark.diarize.weights import load_state_dict\n"
        "load_state_dict(default_weights_path(), 'model_state')\n"
        "assert 'torch' not in sys.modules and 'resemblyzer' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    assert ge2e_weights["lstm.weight_ih_l0"].shape == (1024, 40)
    for layer in range(3):
        assert ge2e_weights[f"lstm.weight_hh_l{layer}"].shape == (1024, 256)
        assert ge2e_weights[f"lstm.bias_ih_l{layer}"].shape == (1024,)
    assert ge2e_weights["lstm.weight_ih_l1"].shape == (1024, 256)
    assert ge2e_weights["linear.weight"].shape == (256, 256)
    assert all(v.dtype == np.float32 and np.isfinite(v).all() for v in ge2e_weights.values())
    # Views into one shared storage at different offsets must not alias each other.
    assert not np.array_equal(ge2e_weights["lstm.bias_ih_l0"], ge2e_weights["lstm.bias_hh_l0"])


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, (f"touch {self.marker}",))


def _legacy_prefix() -> bytes:
    info = {"protocol_version": 1001, "little_endian": True, "type_sizes": {"int": 4}}
    return b"".join(pickle.dumps(x, protocol=2) for x in (LEGACY_MAGIC, 1001, info))


def test_refuses_a_legacy_checkpoint_that_calls_os_system(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    path.write_bytes(_legacy_prefix() + pickle.dumps({"model": _Exploit(marker)}, protocol=2))
    with pytest.raises(UnsafeCheckpointError, match=r"system"):
        load_checkpoint(path)
    assert not marker.exists()


def test_refuses_a_zip_checkpoint_that_calls_os_system(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps(_Exploit(marker), protocol=2))
    with pytest.raises(UnsafeCheckpointError):
        load_checkpoint(path)
    assert not marker.exists()


def test_rejects_files_that_are_not_checkpoints(tmp_path: Path) -> None:
    path = tmp_path / "junk.pt"
    path.write_bytes(pickle.dumps(12345, protocol=2) + b"rest")
    with pytest.raises(CheckpointFormatError, match="magic"):
        load_checkpoint(path)
    path.write_bytes(b"\x00\x01not a pickle")
    with pytest.raises(CheckpointFormatError):
        load_checkpoint(path)


class _FakeStorage:
    def __init__(self, key: str, data: np.ndarray) -> None:
        self.key, self.data = key, data


def _fake_torch(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """Just enough of a `torch` module for pickle to write PyTorch's references by name."""
    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")

    class FloatStorage:
        pass

    def _rebuild_tensor_v2(*args: object) -> None:
        raise AssertionError("never called while pickling")

    FloatStorage.__module__, FloatStorage.__qualname__ = "torch", "FloatStorage"
    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    torch.FloatStorage = FloatStorage  # type: ignore[attr-defined]
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch._utils", utils)
    return torch


class _Tensor:
    def __init__(self, storage: _FakeStorage, offset: int, size: tuple, stride: tuple) -> None:
        self.args = (storage, offset, size, stride, False, OrderedDict())

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (sys.modules["torch._utils"]._rebuild_tensor_v2, self.args)


def _checkpoint_pickle(torch: types.ModuleType, state: object) -> bytes:
    class Pickler(pickle.Pickler):
        def persistent_id(self, obj: object) -> object:
            if isinstance(obj, _FakeStorage):
                return ("storage", torch.FloatStorage, obj.key, "cpu", obj.data.size)
            return None

    buffer = io.BytesIO()
    Pickler(buffer, protocol=2).dump(state)
    return buffer.getvalue()


@pytest.mark.parametrize("layout", ["legacy", "zip"])
def test_reads_strided_views_in_both_formats(
    layout: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    torch = _fake_torch(monkeypatch)
    data = np.arange(10, dtype=np.float32)
    storage = _FakeStorage("7", data)
    state = OrderedDict(
        plain=_Tensor(storage, 0, (2, 3), (3, 1)),
        transposed=_Tensor(storage, 1, (3, 2), (1, 3)),  # a view with strides, at an offset
    )
    body = _checkpoint_pickle(torch, {"model_state": state})
    path = tmp_path / "model.pt"
    if layout == "legacy":
        keys = pickle.dumps(["7"], protocol=2)
        raw = np.int64(data.size).tobytes() + data.tobytes()
        path.write_bytes(_legacy_prefix() + body + keys + raw)
    else:
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("model/data.pkl", body)
            archive.writestr("model/data/7", data.tobytes())
    monkeypatch.delitem(sys.modules, "torch")  # reading must not need it
    weights = load_state_dict(path, "model_state")
    np.testing.assert_array_equal(weights["plain"], data[:6].reshape(2, 3))
    np.testing.assert_array_equal(weights["transposed"], data[1:7].reshape(2, 3).T)


# ---- GE2E encoder ------------------------------------------------------------------------


def test_mel_front_end_matches_librosa() -> None:
    # Reference values from librosa 0.11 (filters.mel and feature.melspectrogram defaults).
    bank = mel_filterbank()
    assert bank.shape == (40, 201)
    np.testing.assert_allclose(bank.sum(), 0.9994971752166748, rtol=1e-5)
    np.testing.assert_allclose(
        bank[3, 6:10], [0.0035637999, 0.0109541, 0.0088407, 0.0014505], rtol=1e-4
    )
    mel = mel_spectrogram(_chirp())
    assert mel.shape == (51, 40) and mel.dtype == np.float32
    np.testing.assert_allclose(mel.sum(), 810.9775390625, rtol=1e-4)
    np.testing.assert_allclose(
        mel[10, :8], [0.0, 0.0, 0.0, 0.0004, 0.0274, 4.6728, 12.6648, 0.9789], atol=2e-4
    )


def test_generated_graph_matches_the_numpy_reference(encoder: GE2EEncoder) -> None:
    rng = np.random.default_rng(0)
    mels = rng.gamma(1.0, 0.5, size=(3, 160, 40)).astype(np.float32)
    np.testing.assert_allclose(encoder.embed_mels(mels), encoder.forward_numpy(mels), atol=1e-5)


def test_generated_graph_is_valid_onnx(ge2e_weights: dict[str, np.ndarray]) -> None:
    onnx = pytest.importorskip("onnx")
    model = onnx.load_from_string(build_graph(ge2e_weights))
    onnx.checker.check_model(model, full_check=True)
    assert [n.op_type for n in model.graph.node].count("LSTM") == 3


def test_encoder_is_deterministic_and_normalised(encoder: GE2EEncoder, shared_audio: Path) -> None:
    from hark.audio import load_audio

    audio = load_audio(shared_audio / "jfk.flac")
    starts = np.arange(0, len(audio) - 25600, 8000)
    first = encoder.embed_windows(audio, starts, 25600)
    second = encoder.embed_windows(audio, starts, 25600)
    assert first.shape == (len(starts), 256)
    np.testing.assert_array_equal(first, second)
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-5)
    assert (first >= 0).all()  # ReLU before normalisation, as in Resemblyzer
    # One voice: neighbouring windows agree closely.
    assert float(np.mean(np.sum(first[1:] * first[:-1], axis=1))) > 0.8


def test_encoder_pads_windows_past_the_end(encoder: GE2EEncoder) -> None:
    audio = _chirp()  # 0.5 s: shorter than one 1.6 s window
    out = encoder.embed_windows(audio, np.array([0]), 25600)
    assert out.shape == (1, 256) and np.isfinite(out).all()
    assert encoder.embed_clip(audio).shape == (256,)


# ---- Kaldi fbank -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("window", "row7", "mean"),
    [
        # Reference: kaldi-native-fbank 1.x, 80 bins, dither 0, samples scaled to 16-bit range.
        (
            "hamming",
            [12.5614, 11.8554, 13.3224, 13.1057, 12.3928, 14.4230, 13.0461, 11.7642],
            14.3387,
        ),
        ("povey", [10.8474, 15.8438, 12.7797, 6.1313, 3.8161, 11.1863, 5.9354, 0.4193], 8.3513),
    ],
)
def test_fbank_matches_kaldi(window: str, row7: list[float], mean: float) -> None:
    feats = fbank(_chirp(), FbankOptions(window_type=window))  # type: ignore[arg-type]
    assert feats.shape == (48, 80)
    np.testing.assert_allclose(feats[7, ::10], row7, atol=2e-3)
    np.testing.assert_allclose(feats.mean(), mean, atol=1e-3)


def test_fbank_of_too_short_audio_is_empty() -> None:
    assert fbank(np.zeros(100, np.float32)).shape == (0, 80)
