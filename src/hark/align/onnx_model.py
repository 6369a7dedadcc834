"""The CTC acoustic model on ONNX Runtime: 16 kHz waveform -> frame log-probabilities.

Long audio is run in overlapping windows (self-attention cost and memory grow with the square
of the length); each window contributes only the frames of its core, so the frame grid of the
whole stretch is the same as one pass would give.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hark.align.errors import AlignError
from hark.onnx_providers import execution_providers

# wav2vec2's feature encoder: kernels 10,3,3,3,3,2,2 with strides 5,2,2,2,2,2,2.
DEFAULT_CONV_KERNEL: tuple[int, ...] = (10, 3, 3, 3, 3, 2, 2)
DEFAULT_CONV_STRIDE: tuple[int, ...] = (5, 2, 2, 2, 2, 2, 2)


def receptive_field(kernels: tuple[int, ...], strides: tuple[int, ...]) -> tuple[int, int]:
    """(samples one frame sees, samples between frames) of a stack of 1-D convolutions."""
    field, hop = 1, 1
    for kernel, stride in zip(kernels, strides, strict=True):
        field += (kernel - 1) * hop
        hop *= stride
    return field, hop


def log_softmax(x: np.ndarray) -> np.ndarray:
    peak = x.max(axis=-1, keepdims=True)
    shifted = x - peak
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


class OnnxCTCNetwork:
    """An ONNX CTC model: `input_values` [batch, samples] in, [batch, frames, vocab] out.

    The output may be logits or log-probabilities (log-softmax is applied either way).
    Thread-safe: ONNX Runtime sessions may be run concurrently.
    """

    def __init__(
        self,
        model_path: Path,
        *,
        device: str = "cpu",
        device_index: int = 0,
        cpu_threads: int = 0,
        do_normalize: bool = True,
        conv_kernel: tuple[int, ...] = DEFAULT_CONV_KERNEL,
        conv_stride: tuple[int, ...] = DEFAULT_CONV_STRIDE,
    ) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = max(cpu_threads, 0)
        options.inter_op_num_threads = 1
        # Calls come one segment at a time with numpy work in between: idle threads that spin
        # would only take cores from the rest of the pipeline.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(
                str(model_path),
                options,
                providers=execution_providers(device, device_index, what="aligner"),
            )
        except Exception as exc:  # onnxruntime raises its own exception types
            raise AlignError(f"Could not load the alignment model {model_path}: {exc}") from exc
        inputs = self.session.get_inputs()
        self.input_name = inputs[0].name
        # Some hub exports are float16 end to end.
        self.input_dtype = np.float16 if inputs[0].type == "tensor(float16)" else np.float32
        self.mask_name = next((i.name for i in inputs[1:] if "mask" in i.name), None)
        self.device = "cuda" if "CUDAExecutionProvider" in self.session.get_providers() else "cpu"
        self.do_normalize = do_normalize
        self.field, self.hop = receptive_field(conv_kernel, conv_stride)

    def frames(self, samples: int) -> int:
        """Frames the model produces for `samples` samples (at least the one of a padded
        minimum-length input)."""
        return max((samples - self.field) // self.hop + 1, 1)

    def run(self, waveform: np.ndarray) -> np.ndarray:
        """Log-probabilities [frames, vocab] of one stretch of audio, in a single pass."""
        x = np.ascontiguousarray(waveform, dtype=np.float32)
        if x.size < self.field:  # shorter than one frame: pad, as WhisperX does
            x = np.pad(x, (0, self.field - x.size))
        if self.do_normalize:
            x = (x - x.mean()) / np.sqrt(x.var() + 1e-7)
        feeds = {self.input_name: x[None, :].astype(self.input_dtype, copy=False)}
        if self.mask_name:
            feeds[self.mask_name] = np.ones_like(feeds[self.input_name], dtype=np.int64)
        try:
            out = self.session.run(None, feeds)[0]
        except Exception as exc:
            raise AlignError(f"The alignment model failed: {exc}") from exc
        return log_softmax(out[0].astype(np.float32, copy=False))

    def log_probs(
        self,
        waveform: np.ndarray,
        *,
        window_seconds: float,
        context_seconds: float,
        sample_rate: int = 16_000,
    ) -> np.ndarray:
        """Log-probabilities [frames, vocab] of any length of audio, windowed when longer than
        `window_seconds`; each window sees `context_seconds` more audio on either side."""
        n = int(waveform.size)
        window = int(window_seconds * sample_rate) // self.hop * self.hop
        context = int(context_seconds * sample_rate) // self.hop * self.hop
        core = window - 2 * context
        if n <= window or core < self.hop:
            return self.run(waveform)
        total = self.frames(n)
        parts = []
        first = 0  # first frame still to produce
        while first < total:
            core_start = first * self.hop
            last = min(first + core // self.hop, total)  # frames [first, last) of this window
            lo = max(core_start - context, 0)
            hi = min((last - 1) * self.hop + self.field + context, n)
            out = self.run(waveform[lo:hi])
            offset = first - lo // self.hop
            got = out[offset : offset + (last - first)]
            if got.shape[0] == 0:  # the model's frame grid differs from ours: stop cleanly
                break
            parts.append(got)
            first += got.shape[0]
        return np.concatenate(parts, axis=0)
