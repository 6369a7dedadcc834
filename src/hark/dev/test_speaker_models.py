"""Random-weight ONNX fixtures with the interfaces of real speaker models (torch-free).

- `speaker-wespeaker`: WeSpeaker's export interface, `feats` [batch, frames, 80] -> `embs`
  [batch, 256] (ResNet34 and friends).
- `speaker-campplus`: 3D-Speaker's, `feature` [batch, frames, 80] -> `embedding` [batch, 192]
  (CAM++, ERes2Net).
- `speaker-segmentation`: pyannote segmentation-3.0 as exported to ONNX, `input_values`
  [batch, 1, samples] -> `logits` [batch, frames, 7]: powerset log-probabilities of 3 local
  speakers, frames of a 991-sample receptive field every 270 samples (589 frames per 10 s).

The insides are small stand-ins (statistics pooling; one strided convolution), not the real
architectures: the tests exercise the plumbing (interfaces, front end, powerset decoding,
reconstruction), and random weights could not test accuracy anyway. Each model is written as
`model.onnx` in its directory with the `onnx` helper API.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hark.dev.test_models import register_builder

SEED = 20250701
MODEL_FILE = "model.onnx"
SEGMENTATION_SAMPLES = 160000
SEGMENTATION_KERNEL = 991
SEGMENTATION_STRIDE = 270
POWERSET_CLASSES = 7


def _save(graph: object, directory: Path) -> None:
    import onnx

    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)])
    model.ir_version = 8  # readable by every onnxruntime the project supports
    onnx.checker.check_model(model)
    directory.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(directory / MODEL_FILE))


def _embedding_graph(input_name: str, output_name: str, dim: int, seed: int) -> object:
    """[batch, frames, 80] -> [batch, dim]: ReLU projection, mean+std pooling, projection."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    hidden = 128
    init = {
        "w1": rng.normal(0, 1 / np.sqrt(80), (80, hidden)),
        "b1": rng.normal(0, 0.1, hidden),
        "w2": rng.normal(0, 1 / np.sqrt(2 * hidden), (2 * hidden, dim)),
        "b2": np.zeros(dim),
        "eps": np.array(1e-5),
    }
    tensors = [numpy_helper.from_array(v.astype(np.float32), k) for k, v in init.items()]
    node = helper.make_node
    nodes = [
        node("MatMul", [input_name, "w1"], ["h0"]),
        node("Add", ["h0", "b1"], ["h1"]),
        node("Relu", ["h1"], ["h"]),
        node("ReduceMean", ["h"], ["mean"], axes=[1], keepdims=0),
        node("Mul", ["h", "h"], ["sq"]),
        node("ReduceMean", ["sq"], ["mean_sq"], axes=[1], keepdims=0),
        node("Mul", ["mean", "mean"], ["mean2"]),
        node("Sub", ["mean_sq", "mean2"], ["var0"]),
        node("Relu", ["var0"], ["var1"]),
        node("Add", ["var1", "eps"], ["var"]),
        node("Sqrt", ["var"], ["std"]),
        node("Concat", ["mean", "std"], ["stats"], axis=1),
        node("MatMul", ["stats", "w2"], ["e0"]),
        node("Add", ["e0", "b2"], [output_name]),
    ]
    return helper.make_graph(
        nodes,
        f"random-{output_name}",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["B", "T", 80])],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, ["B", dim])],
        tensors,
    )


def build_wespeaker(directory: Path) -> None:
    """WeSpeaker-interface embedding model (`feats` -> `embs`, 256-d)."""
    _save(_embedding_graph("feats", "embs", 256, SEED), directory)


def build_campplus(directory: Path) -> None:
    """3D-Speaker-interface embedding model (`feature` -> `embedding`, 192-d)."""
    _save(_embedding_graph("feature", "embedding", 192, SEED + 1), directory)


def build_segmentation(directory: Path) -> None:
    """pyannote segmentation-3.0 interface: waveform chunks -> powerset log-probabilities.

    A strided convolution with the real receptive field and step, log-compressed, then a 1x1
    convolution to the 7 powerset classes. The silence class is wired to win on quiet frames,
    so that the decoded activity follows the audio; which speakers win on speech is random.
    """
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(SEED + 2)
    channels = 16
    init = {
        "conv_w": rng.normal(
            0, 1 / np.sqrt(SEGMENTATION_KERNEL), (channels, 1, SEGMENTATION_KERNEL)
        ),
        "conv_b": np.zeros(channels),
        "floor": np.array(1e-4),
        "head_w": rng.normal(0, 0.05, (POWERSET_CLASSES, channels, 1)),
        "head_b": np.r_[-6.0, np.zeros(POWERSET_CLASSES - 1)],
    }
    # Silence logit = -6 - mean log magnitude: about +3 on silence (log |x| ~ -9), -3 on speech
    # (~ -3), where the small random speaker-class logits win instead.
    init["head_w"][0] = -1.0 / channels
    tensors = [numpy_helper.from_array(v.astype(np.float32), k) for k, v in init.items()]
    node = helper.make_node
    nodes = [
        node(
            "Conv",
            ["input_values", "conv_w", "conv_b"],
            ["c"],
            kernel_shape=[SEGMENTATION_KERNEL],
            strides=[SEGMENTATION_STRIDE],
        ),
        node("Abs", ["c"], ["a"]),
        node("Add", ["a", "floor"], ["af"]),
        node("Log", ["af"], ["l"]),
        node("Conv", ["l", "head_w", "head_b"], ["s"], kernel_shape=[1]),
        node("Transpose", ["s"], ["t"], perm=[0, 2, 1]),
        node("LogSoftmax", ["t"], ["logits"], axis=-1),
    ]
    graph = helper.make_graph(
        nodes,
        "random-segmentation",
        [helper.make_tensor_value_info("input_values", TensorProto.FLOAT, ["B", 1, "S"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["B", "F", POWERSET_CLASSES])],
        tensors,
    )
    _save(graph, directory)


register_builder("speaker-wespeaker", build_wespeaker)
register_builder("speaker-campplus", build_campplus)
register_builder("speaker-segmentation", build_segmentation)
