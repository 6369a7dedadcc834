"""Which ONNX Runtime execution providers to use for a device, shared by every ONNX model.

Whisper runs on CTranslate2, which may see a GPU while the installed onnxruntime is the CPU
build (the RunPod image and the slim CUDA image do this on purpose). ONNX models asked for
"cuda" then run on the CPU with a warning rather than failing the request.
"""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)

Provider = str | tuple[str, dict[str, str]]


def runs_on_cuda(device: str) -> bool:
    """Whether ONNX models asked for `device` will run on the GPU here."""
    import onnxruntime as ort

    return device != "cpu" and "CUDAExecutionProvider" in ort.get_available_providers()


def execution_providers(
    device: str, device_index: int = 0, *, what: str = "model"
) -> list[Provider]:
    """Providers for "cpu", "cuda" or "auto"; `what` names the model in the warning."""
    import onnxruntime as ort

    if device not in ("cpu", "cuda", "auto"):
        raise ValueError(f"device must be 'cpu', 'cuda' or 'auto', not {device!r}")
    has_cuda = "CUDAExecutionProvider" in ort.get_available_providers()
    if device == "cuda" and not has_cuda:
        logger.warning(
            "The %s runs on CPU: this onnxruntime has no CUDA provider "
            "(install onnxruntime-gpu for the GPU).",
            what,
        )
    if device != "cpu" and has_cuda:
        return [("CUDAExecutionProvider", {"device_id": str(device_index)}), "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]
