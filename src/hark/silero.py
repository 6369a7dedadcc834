"""Silero VAD v6 on Hark's own ONNX Runtime session: batched, multi-threaded, GPU when asked.

faster-whisper's Silero session runs with one thread and feeds the whole file as one sequence:
its encoder is a 1-D CNN applied to each 32 ms frame separately, which ONNX Runtime executes as
one tiny convolution per frame (most of the time), then the LSTM steps through the file one
frame at a time. Here the same weights (the v6 ONNX file inside faster-whisper) are rebuilt
into another graph, in memory, when the session is created:

- the encoder is a few large matrix products over every frame at once: the STFT as the frame's
  four 256-sample windows times the Fourier basis, and each small convolution (fixed lengths
  4 -> 4 -> 2 -> 1) as the dense matrix it is on those lengths, so the work is GEMMs that use
  every core given (or the GPU);
- the LSTM takes a batch of independent streams: the file is split into segments, each
  segment's stream starts `warmup_seconds` early (from a zero state, like the file's start),
  and those warm-up frames are dropped, so the state has converged on the segment's own audio
  by the time its probabilities count. The first segment starts at the file's start, exactly
  as the sequential model does.

Speech probabilities match the sequential model to float rounding on the first segment and
closely after the warm-up elsewhere (the tests measure speech decisions on the shared audio).
A `SileroVad` is thread-safe without a lock: ONNX Runtime sessions run concurrent requests.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from hark.onnx_reader import OnnxReadError, read_onnx

SAMPLE_RATE = 16000
FRAME = 512  # samples per probability (32 ms)
CONTEXT = 64  # samples of the previous frame each frame sees (Silero v5/v6 at 16 kHz)
HIDDEN = 128
WINDOW = 256  # the STFT inside the model: 256-sample windows, hop 128
HOP = 128


@dataclass(frozen=True)
class SileroConfig:
    """How the file is split into streams and how much work one session call takes.

    Attributes:
      threads: intra-op threads of the CPU session (0: every core of this process).
      segment_seconds: longest stretch of audio one stream scores (after its warm-up).
      warmup_seconds: audio each stream (but the first) runs through before its segment, so
        the LSTM state is the one the sequential model would have there.
      max_frames_per_run: frames (32 ms) per session call; bounds the memory of long files.
    """

    threads: int = 0
    segment_seconds: float = 30.0
    warmup_seconds: float = 4.0
    max_frames_per_run: int = 16384

    def __post_init__(self) -> None:
        if self.threads < 0:
            raise ValueError(f"threads must be >= 0, got {self.threads}")
        if self.segment_seconds < 1.0:
            raise ValueError(f"segment_seconds must be >= 1, got {self.segment_seconds}")
        if self.warmup_seconds < 0:
            raise ValueError(f"warmup_seconds must be >= 0, got {self.warmup_seconds}")
        if self.max_frames_per_run < 1:
            raise ValueError(f"max_frames_per_run must be >= 1, got {self.max_frames_per_run}")

    @property
    def segment_frames(self) -> int:
        return max(1, round(self.segment_seconds * SAMPLE_RATE / FRAME))

    @property
    def warmup_frames(self) -> int:
        return round(self.warmup_seconds * SAMPLE_RATE / FRAME)


def silero_v6_path() -> str:
    """The Silero VAD v6 ONNX file that ships inside the faster-whisper wheel."""
    from faster_whisper.utils import get_assets_path

    return os.path.join(get_assets_path(), "silero_vad_v6.onnx")


class SileroVad:
    """Speech probability per 32 ms frame of 16 kHz mono audio.

    `device` is "cpu", "cuda" or "auto": the CUDA provider is used when onnxruntime has one
    (onnxruntime-gpu), the CPU otherwise. The session is created on first use.
    """

    def __init__(
        self,
        config: SileroConfig | None = None,
        *,
        device: str = "cpu",
        device_index: int = 0,
        model_path: str | None = None,
    ) -> None:
        self.config = config or SileroConfig()
        self.device = device
        self.device_index = device_index
        self.model_path = model_path
        self._session: Any = None
        self._create_lock = threading.Lock()

    @property
    def session(self) -> Any:
        if self._session is None:
            with self._create_lock:  # only the first call waits: creating is not repeated
                if self._session is None:
                    self._session = self._create_session()
        return self._session

    @property
    def providers(self) -> list[str]:
        return list(self.session.get_providers())

    def _create_session(self) -> Any:
        import onnxruntime as ort

        from hark.cores import default_cpu_threads
        from hark.onnx_providers import execution_providers

        options = ort.SessionOptions()
        options.intra_op_num_threads = self.config.threads or default_cpu_threads()
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        # Threads that spin between calls would take CPU from the decoder running meanwhile.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        providers = execution_providers(self.device, self.device_index, what="Silero VAD")
        graph = batched_graph(self.model_path or silero_v6_path())
        return ort.InferenceSession(graph, options, providers=providers)

    def __call__(self, audio: np.ndarray) -> np.ndarray:
        """One probability per 512 samples (the last frame zero-padded), float32."""
        audio = np.asarray(audio, dtype=np.float32).reshape(-1)
        frames = -(-audio.size // FRAME)
        if frames == 0:
            return np.zeros(0, dtype=np.float32)
        plan = plan_streams(frames, self.config.segment_frames, self.config.warmup_frames)
        windows = frame_windows(audio, plan.starts[-1] + plan.length)
        probs = np.zeros(plan.starts[-1] + plan.length, dtype=np.float32)
        per_run = max(1, self.config.max_frames_per_run // plan.length)
        for first in range(0, len(plan.starts), per_run):
            starts = plan.starts[first : first + per_run]
            x = windows(starts, plan.length)  # (streams, time, 4, 256)
            state = np.zeros((1, len(starts), HIDDEN), dtype=np.float32)
            (out,) = self.session.run(["probs"], {"windows": x, "h": state, "c": state})
            for k, start in enumerate(starts):
                skip = 0 if start == 0 else plan.warmup
                probs[start + skip : start + plan.length] = out[k, skip:]
        return probs[:frames]


@dataclass(frozen=True)
class StreamPlan:
    """Streams of `length` frames starting at `starts`; all but the first drop `warmup`."""

    starts: list[int]
    length: int
    warmup: int


def plan_streams(frames: int, segment: int, warmup: int) -> StreamPlan:
    """Equal-length streams covering `frames`: stream 0 scores [0, length), stream b > 0
    starts `warmup` frames before the end of stream b-1's scored part."""
    if frames <= segment + warmup:
        return StreamPlan([0], frames, 0)
    count = -(-(frames - warmup) // segment)
    segment = -(-(frames - warmup) // count)  # balanced: the last stream is not mostly padding
    return StreamPlan([b * segment for b in range(count)], segment + warmup, warmup)


def frame_windows(audio: np.ndarray, total: int) -> Callable[[Sequence[int], int], np.ndarray]:
    """The STFT windows the model computes for each frame: `gather(starts, length)` gives
    them for frames [start, start + length) of each start, as (streams, length, 4, 256).

    Frame i is the 576 samples x = audio[512 i - 64 : 512 i + 512] (zeros outside the audio);
    Silero reflect-pads x by 128 on both sides and keeps windows 1..4 of its 256-sample,
    hop-128 STFT: x[0:256], x[128:384], x[256:512], and x[384:576] followed by x[574], x[573],
    ..., x[511] (the reflection). All are strided views of the audio; copying them here, one
    contiguous block per stream, is cheaper than slicing and padding inside the graph.
    """
    ext = np.zeros(CONTEXT + total * FRAME + 2 * WINDOW, dtype=np.float32)
    ext[CONTEXT : CONTEXT + audio.size] = audio
    step = FRAME * ext.itemsize
    one = ext.itemsize
    regular = as_strided(ext, (total, 3, WINDOW), (step, HOP * one, one), writeable=False)
    kept = CONTEXT + FRAME - 3 * HOP  # x[384:576]
    head = as_strided(ext[3 * HOP :], (total, kept), (step, one), writeable=False)
    # Reflection: x[574] down to x[511], a negative stride from x[574].
    tail = as_strided(
        ext[CONTEXT + FRAME - 2 :], (total, WINDOW - kept), (step, -one), writeable=False
    )

    def gather(starts: Sequence[int], length: int) -> np.ndarray:
        out = np.empty((len(starts), length, 4, WINDOW), dtype=np.float32)
        for k, start in enumerate(starts):
            out[k, :, :3] = regular[start : start + length]
            out[k, :, 3, :kept] = head[start : start + length]
            out[k, :, 3, kept:] = tail[start : start + length]
        return out

    return gather


# --- the batched graph -------------------------------------------------------------------------


def _dense_conv(weight: np.ndarray, length: int, stride: int, pad: int) -> np.ndarray:
    """A 1-D convolution on a fixed input length as one matrix, position-major layout:
    rows l * C + c of the input, columns j * O + o of the output."""
    out_ch, in_ch, k = weight.shape
    out_len = (length + 2 * pad - k) // stride + 1
    matrix = np.zeros((length * in_ch, out_len * out_ch), dtype=np.float32)
    for j in range(out_len):
        for tap in range(k):
            pos = j * stride - pad + tap
            if 0 <= pos < length:
                matrix[pos * in_ch : (pos + 1) * in_ch, j * out_ch : (j + 1) * out_ch] += weight[
                    :, :, tap
                ].T
    return matrix


@cache
def batched_graph(path: str) -> bytes:
    """The Silero v6 file rebuilt as described in the module docstring (serialized ONNX).

    Inputs: windows (streams, time, 4, 256) from `frame_windows`, h and c (1, streams, 128).
    Output: probs (streams, time).
    """
    from hark.diarize.onnx_writer import Node, model_bytes

    source = read_onnx(path)
    weights = source.initializers
    try:
        lstm = next(n for n in source.nodes if n.op_type == "LSTM")
        convs = {n.name: n for n in source.nodes if n.op_type == "Conv"}
        basis = weights["encoder.feature_extractor.forward_basis_buffer"][:, 0, :]  # (258, 256)
        layers = [
            (weights[node.inputs[1]], weights[node.inputs[2]])
            for node in (convs[f"/encoder/conv_layers.{i}/Conv"] for i in range(4))
        ]
        head = weights["decoder.conv1d.weight"]  # (1, 128, 1): a linear layer to one logit
        head_bias = weights["decoder.conv1d.bias"]
        lstm_weights = {name: weights[name] for name in lstm.inputs[1:4]}
    except (KeyError, StopIteration) as exc:
        raise OnnxReadError(f"{path} is not the Silero VAD v6 graph: {exc!r} missing") from None
    bins = basis.shape[0] // 2
    init: dict[str, np.ndarray] = {
        "basis_real": np.ascontiguousarray(basis[:bins].T),
        "basis_imag": np.ascontiguousarray(basis[bins:].T),
    }
    # The encoder's four convolutions on lengths 4 -> 4 -> 2 -> 1 -> 1 (stride 1, 2, 2, 1).
    length = 4
    for i, ((weight, bias), stride) in enumerate(zip(layers, (1, 2, 2, 1), strict=True)):
        matrix = _dense_conv(weight, length, stride, pad=1)
        length = matrix.shape[1] // weight.shape[0]
        init[f"w{i}"] = matrix
        init[f"b{i}"] = np.tile(bias, length).astype(np.float32)
    init["head_w"] = np.ascontiguousarray(head[:, :, 0].T)
    init["head_b"] = head_bias.astype(np.float32)
    init.update(lstm_weights)
    init["one"] = np.array([1], np.int64)
    init["magnitudes"] = np.array([-1, 4 * bins], np.int64)
    init["hidden"] = np.array([HIDDEN], np.int64)

    nodes = [
        Node("Shape", ["windows"], ["streams_time"], {"end": 2}),
        Node("MatMul", ["windows", "basis_real"], ["real"]),
        Node("MatMul", ["windows", "basis_imag"], ["imag"]),
        Node("Mul", ["real", "real"], ["real2"]),
        Node("Mul", ["imag", "imag"], ["imag2"]),
        Node("Add", ["real2", "imag2"], ["power"]),
        Node("Sqrt", ["power"], ["magnitude"]),
        Node("Reshape", ["magnitude", "magnitudes"], ["x0"]),
    ]
    for i in range(4):
        nodes += [
            Node("MatMul", [f"x{i}", f"w{i}"], [f"m{i}"]),
            Node("Add", [f"m{i}", f"b{i}"], [f"a{i}"]),
            Node("Relu", [f"a{i}"], [f"x{i + 1}"]),
        ]
    nodes += [
        Node("Concat", ["streams_time", "hidden"], ["encoded_shape"], {"axis": 0}),
        Node("Reshape", ["x4", "encoded_shape"], ["encoded"]),
        # The LSTM steps along the first axis: time-major, the streams as its batch.
        Node("Transpose", ["encoded"], ["sequence"], {"perm": [1, 0, 2]}),
        Node(
            "LSTM",
            ["sequence", *lstm.inputs[1:4], "", "h", "c"],
            ["lstm_out"],
            {"hidden_size": HIDDEN},
        ),
        Node("Squeeze", ["lstm_out", "one"], ["lstm_y"]),
        Node("Relu", ["lstm_y"], ["lstm_relu"]),
        Node("MatMul", ["lstm_relu", "head_w"], ["logit0"]),
        Node("Add", ["logit0", "head_b"], ["logit"]),
        Node("Sigmoid", ["logit"], ["p"]),
        Node("Transpose", ["p"], ["p_streams"], {"perm": [1, 0, 2]}),
        Node("Reshape", ["p_streams", "streams_time"], ["probs"]),
    ]
    return model_bytes(
        nodes,
        init,
        {
            "windows": ["streams", "time", 4, WINDOW],
            "h": [1, "streams", HIDDEN],
            "c": [1, "streams", HIDDEN],
        },
        {"probs": ["streams", "time"]},
        name="silero_vad_v6_batched",
    )


_default: SileroVad | None = None
_default_lock = threading.Lock()


def default_vad() -> SileroVad:
    """The process's CPU Silero (every core), for callers without a pipeline of their own."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = SileroVad()
    return _default
