"""ONNX models asked for "cuda" on a CPU-only onnxruntime run on the CPU (the RunPod and slim
CUDA images pair a GPU CTranslate2 with the CPU onnxruntime), never fail the request."""

from __future__ import annotations

import logging
from pathlib import Path

import onnxruntime
import pytest

from hark.align import load_align_model
from hark.audio import load_audio
from hark.diarize import Diarizer
from hark.onnx_providers import execution_providers

needs_cpu_only_ort = pytest.mark.skipif(
    "CUDAExecutionProvider" in onnxruntime.get_available_providers(),
    reason="this onnxruntime has a CUDA provider: nothing to fall back from",
)


@needs_cpu_only_ort
def test_cuda_request_falls_back_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="hark.onnx_providers"):
        assert execution_providers("cuda", what="aligner") == ["CPUExecutionProvider"]
    assert "aligner runs on CPU" in caplog.text
    assert execution_providers("auto") == ["CPUExecutionProvider"]
    with pytest.raises(ValueError, match="device"):
        execution_providers("tpu")


@needs_cpu_only_ort
def test_models_load_and_run_when_cuda_is_asked_for(test_models: Path, shared_audio: Path) -> None:
    audio = load_audio(shared_audio / "pyannote/sample.wav")
    diarization = Diarizer.load(device="cuda")(audio, num_speakers=2)
    assert len(diarization.speakers) == 2
    aligner = load_align_model("en", str(test_models / "wav2vec2-align-tiny"), device="cuda")
    assert aligner is not None
    onnx_embedding = Diarizer.load(str(test_models / "speaker-wespeaker"), device="cuda")
    assert onnx_embedding(audio[: 16000 * 10]).turns is not None
