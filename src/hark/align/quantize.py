"""int8 aligners: dynamic quantization of the matrix products, optionally of the convolutions.

`quantize_aligner(..., convolutions=False)` quantizes the transformer's MatMuls (the bulk of
the weights): about 1.4x less CPU time than float32, outputs within ~1% (total variation) of
float on the fixture models. wav2vec2 spends most of the rest in the convolutions of its
feature encoder, which ONNX Runtime's int8 path handles poorly (ConvInteger is slower than
float Conv); with `convolutions=True` each plain 1-D convolution (one group, no padding) is
rewritten as the matrix product it is (tap j of a kernel-k, stride-s convolution is the static
slice `x[j : L-(k-1-j) : s]`, so every tap has exactly the output length; the taps are
concatenated along channels and multiplied by the [k*C, O] weight) and quantized too: about
1.8x less CPU time than float32, but the encoder's per-tensor activation quantization errors
(~3% per layer) reach the output; only use it after checking alignments of the real model.
Torch-free: needs `onnx` and `onnxruntime` only.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

_INT64_MAX = np.iinfo(np.int64).max
# Below this many inputs per output (k x C), a convolution is too small to gain from int8.
MIN_CONV_INPUTS = 64


def convs_to_matmuls(model: object) -> int:
    """Rewrite the plain 1-D Conv nodes of `model` (an onnx.ModelProto) in place as
    Slice/Concat/MatMul; returns how many were rewritten."""
    from onnx import helper, numpy_helper

    graph = model.graph  # type: ignore[attr-defined]
    weights = {t.name: t for t in graph.initializer}
    new_nodes = []
    rewritten = 0
    for node in graph.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        w = weights.get(node.input[1]) if node.op_type == "Conv" and len(node.input) > 1 else None
        if w is None or len(w.dims) != 3 or attrs.get("group", 1) != 1:
            new_nodes.append(node)
            continue
        out_ch, in_ch, k = (int(d) for d in w.dims)
        pads = list(attrs.get("pads", [0, 0]))
        dilations = list(attrs.get("dilations", [1]))
        if (
            any(pads)
            or dilations != [1]
            or attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET")
            or k * in_ch < MIN_CONV_INPUTS
        ):
            new_nodes.append(node)
            continue
        stride = int(next(iter(attrs.get("strides", [1]))))
        base = f"{node.name or node.output[0]}/mm"
        kernel = numpy_helper.to_array(w)  # [O, C, k] -> [k*C, O], tap-major rows
        matrix = np.ascontiguousarray(kernel.transpose(2, 1, 0).reshape(k * in_ch, out_ch))
        graph.initializer.append(numpy_helper.from_array(matrix, f"{base}/weight"))
        x = f"{base}/x"
        new_nodes.append(helper.make_node("Transpose", [node.input[0]], [x], perm=[0, 2, 1]))
        taps = []
        for j in range(k):
            names = [f"{base}/tap{j}/{p}" for p in ("start", "end", "axis", "step")]
            end = -(k - 1 - j) if j < k - 1 else _INT64_MAX
            for name, value in zip(names, (j, end, 1, stride), strict=True):
                graph.initializer.append(numpy_helper.from_array(np.array([value], np.int64), name))
            taps.append(f"{base}/tap{j}")
            new_nodes.append(helper.make_node("Slice", [x, *names], [taps[-1]]))
        cat = f"{base}/cat"
        new_nodes.append(helper.make_node("Concat", taps, [cat], axis=2))
        product = f"{base}/product"
        new_nodes.append(helper.make_node("MatMul", [cat, f"{base}/weight"], [product]))
        if len(node.input) > 2 and node.input[2]:
            biased = f"{base}/biased"
            new_nodes.append(helper.make_node("Add", [product, node.input[2]], [biased]))
            product = biased
        new_nodes.append(helper.make_node("Transpose", [product], [node.output[0]], perm=[0, 2, 1]))
        rewritten += 1
    del graph.node[:]
    graph.node.extend(new_nodes)
    used = {name for n in graph.node for name in n.input}
    keep = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(keep)
    return rewritten


def quantize_aligner(source: Path, target: Path, *, convolutions: bool = False) -> Path:
    """Write an int8 copy of the ONNX aligner model `source` to `target` (a .onnx file);
    `convolutions` also quantizes the feature encoder (faster, less accurate)."""
    import tempfile

    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model = onnx.load(str(source))
    if convolutions:
        convs_to_matmuls(model)
    target = Path(target)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        staged = Path(tmp) / "float.onnx"
        # Protobuf files stop at 2 GB: the 1 B-parameter aligners need external weights.
        large = sum(t.ByteSize() for t in model.graph.initializer) > 1_500_000_000
        onnx.save_model(model, str(staged), save_as_external_data=large)
        quantized = Path(tmp) / "int8.onnx"
        quantize_dynamic(
            str(staged),
            str(quantized),
            weight_type=QuantType.QInt8,
            op_types_to_quantize=["MatMul"],
        )
        os.replace(quantized, target)
    return target
