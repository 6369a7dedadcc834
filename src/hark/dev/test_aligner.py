"""Random-weight CTC aligners with the wav2vec2 architecture, written as ONNX without torch.

The graph is Hugging Face `Wav2Vec2ForCTC` (group-norm feature encoder, post-norm transformer,
as facebook/wav2vec2-base-960h) built node by node with the `onnx` helper API from seeded numpy
weights: waveform `input_values` [batch, samples] in, `log_probs` [batch, frames, 32] out at
one frame per 320 samples (20 ms). The vocabulary is the real English character vocabulary of
wav2vec2-base-960h, so the aligner's text handling runs exactly as with the real model. What
the model "hears" is nonsense; alignments are still valid paths, in order, inside their audio.

- `tiny`: 2 small layers, for tests (well under a second per 30 s of audio on one core);
- `base`: the real base shape (12 x 768, 95 M parameters), for the benchmark.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hark.dev.test_models import register_builder

OPSET = 17
SEED = 20250625
BUILDER_VERSION = "2"  # 2: with the int8 copy, model.int8.onnx

# facebook/wav2vec2-base-960h vocab.json: blank <pad>, specials, word delimiter, letters by
# frequency.
ENGLISH_VOCAB: dict[str, int] = {
    token: index
    for index, token in enumerate(
        ["<pad>", "<s>", "</s>", "<unk>", "|", *"ETAONIHSRDLUMWCFGYPBVK", "'", *"XJQZ"]
    )
}

CONV_KERNEL = (10, 3, 3, 3, 3, 2, 2)
CONV_STRIDE = (5, 2, 2, 2, 2, 2, 2)


@dataclass(frozen=True)
class AlignerArchitecture:
    """Shape of a wav2vec2 CTC model."""

    name: str
    conv_dim: int
    hidden: int
    layers: int
    heads: int
    intermediate: int
    pos_kernel: int = 128
    pos_groups: int = 16


ALIGNER_ARCHITECTURES: dict[str, AlignerArchitecture] = {
    a.name: a
    for a in (
        AlignerArchitecture("tiny", conv_dim=32, hidden=64, layers=2, heads=2, intermediate=128),
        AlignerArchitecture(
            "base", conv_dim=512, hidden=768, layers=12, heads=12, intermediate=3072
        ),
    )
}


class _Graph:
    """Accumulates ONNX nodes and initializers; weights come from per-name seeded streams."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.nodes: list[object] = []
        self.initializers: list[object] = []
        self._count = 0

    def weight(self, name: str, shape: tuple[int, ...], std: float) -> str:
        rng = np.random.default_rng([self.seed, zlib.crc32(name.encode())])
        return self.const(name, rng.standard_normal(shape, dtype=np.float32) * np.float32(std))

    def const(self, name: str, value: np.ndarray) -> str:
        from onnx import numpy_helper

        self.initializers.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(self, op_type: str, *inputs: str, **attrs: object) -> str:
        from onnx import helper

        self._count += 1
        out = f"{op_type.lower()}_{self._count}"
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], **attrs))
        return out

    # Building blocks --------------------------------------------------------------------

    def gelu(self, x: str) -> str:
        # Exact GELU as torch exports it; ONNX Runtime fuses the pattern into one kernel.
        inner = self.op("Erf", self.op("Div", x, self._scalar(np.sqrt(2.0))))
        half = self.op("Mul", x, self._scalar(0.5))
        return self.op("Mul", half, self.op("Add", inner, self._scalar(1.0)))

    def linear(self, x: str, name: str, n_in: int, n_out: int, std: float | None = None) -> str:
        w = self.weight(f"{name}.weight", (n_in, n_out), std or 1.0 / np.sqrt(n_in))
        b = self.const(f"{name}.bias", np.zeros(n_out, dtype=np.float32))
        return self.op("Add", self.op("MatMul", x, w), b)

    def layer_norm(self, x: str, name: str, dim: int) -> str:
        scale = self.const(f"{name}.weight", np.ones(dim, dtype=np.float32))
        bias = self.const(f"{name}.bias", np.zeros(dim, dtype=np.float32))
        return self.op("LayerNormalization", x, scale, bias, axis=-1, epsilon=1e-5)

    def _scalar(self, value: float) -> str:
        self._count += 1
        return self.const(f"c{self._count}", np.array(value, dtype=np.float32))

    def ints(self, name: str, values: list[int]) -> str:
        return self.const(name, np.array(values, dtype=np.int64))


def _feature_encoder(g: _Graph, x: str, arch: AlignerArchitecture) -> str:
    """7 convolutions, 1 -> conv_dim channels, 320 samples per frame; group norm (one group
    per channel, i.e. instance norm) after the first, as the "group" feature extractor."""
    channels = 1
    for i, (kernel, stride) in enumerate(zip(CONV_KERNEL, CONV_STRIDE, strict=True)):
        name = f"feature_extractor.conv_layers.{i}"
        w = g.weight(
            f"{name}.conv.weight",
            (arch.conv_dim, channels, kernel),
            np.sqrt(2.0 / (channels * kernel)),
        )
        x = g.op("Conv", x, w, kernel_shape=[kernel], strides=[stride])
        if i == 0:
            scale = g.const(f"{name}.layer_norm.weight", np.ones(arch.conv_dim, np.float32))
            bias = g.const(f"{name}.layer_norm.bias", np.zeros(arch.conv_dim, np.float32))
            x = g.op("InstanceNormalization", x, scale, bias, epsilon=1e-5)
        x = g.gelu(x)
        channels = arch.conv_dim
    return x


def _encoder_layer(g: _Graph, h: str, i: int, arch: AlignerArchitecture) -> str:
    name = f"encoder.layers.{i}"
    d, heads = arch.hidden, arch.heads
    head_dim = d // heads
    split = g.ints(f"{name}.split_shape", [0, -1, heads, head_dim])
    merge = g.ints(f"{name}.merge_shape", [0, -1, d])

    def project(which: str, perm: list[int]) -> str:
        y = g.linear(h, f"{name}.attention.{which}_proj", d, d)
        return g.op("Transpose", g.op("Reshape", y, split), perm=perm)

    q = g.op("Mul", project("q", [0, 2, 1, 3]), g._scalar(head_dim**-0.5))
    k = project("k", [0, 2, 3, 1])
    v = project("v", [0, 2, 1, 3])
    weights = g.op("Softmax", g.op("MatMul", q, k), axis=-1)
    context = g.op("Transpose", g.op("MatMul", weights, v), perm=[0, 2, 1, 3])
    attn = g.linear(g.op("Reshape", context, merge), f"{name}.attention.out_proj", d, d)
    h = g.layer_norm(g.op("Add", h, attn), f"{name}.layer_norm", d)
    ff = g.gelu(g.linear(h, f"{name}.feed_forward.intermediate_dense", d, arch.intermediate))
    ff = g.linear(ff, f"{name}.feed_forward.output_dense", arch.intermediate, d)
    return g.layer_norm(g.op("Add", h, ff), f"{name}.final_layer_norm", d)


def build_aligner_graph(arch: AlignerArchitecture, seed: int = SEED) -> object:
    """The ONNX ModelProto of a random-weight wav2vec2 CTC model."""
    from onnx import TensorProto, helper

    g = _Graph(seed)
    vocab = len(ENGLISH_VOCAB)
    x = g.op("Unsqueeze", "input_values", g.ints("axis1", [1]))  # [B, 1, N]
    x = _feature_encoder(g, x, arch)  # [B, C, T]
    x = g.op("Transpose", x, perm=[0, 2, 1])
    x = g.layer_norm(x, "feature_projection.layer_norm", arch.conv_dim)
    h = g.linear(x, "feature_projection.projection", arch.conv_dim, arch.hidden)

    # Convolutional relative position embedding; an even kernel yields one frame too many.
    per_group = arch.hidden // arch.pos_groups
    w = g.weight(
        "encoder.pos_conv_embed.conv.weight",
        (arch.hidden, per_group, arch.pos_kernel),
        0.5 / np.sqrt(per_group * arch.pos_kernel),
    )
    b = g.const("encoder.pos_conv_embed.conv.bias", np.zeros(arch.hidden, np.float32))
    pos = g.op(
        "Conv",
        g.op("Transpose", h, perm=[0, 2, 1]),
        w,
        b,
        kernel_shape=[arch.pos_kernel],
        pads=[arch.pos_kernel // 2] * 2,
        group=arch.pos_groups,
    )
    pos = g.op("Slice", pos, g.ints("zero", [0]), g.ints("minus_one", [-1]), g.ints("axis2", [2]))
    h = g.op("Add", h, g.op("Transpose", g.gelu(pos), perm=[0, 2, 1]))
    h = g.layer_norm(h, "encoder.layer_norm", arch.hidden)
    for i in range(arch.layers):
        h = _encoder_layer(g, h, i, arch)

    # Logits with a spread like a trained CTC head (peaky), blank favoured as in real speech.
    w = g.weight("lm_head.weight", (arch.hidden, vocab), 3.0 / np.sqrt(arch.hidden))
    bias = np.zeros(vocab, dtype=np.float32)
    bias[ENGLISH_VOCAB["<pad>"]] = 1.0
    logits = g.op("Add", g.op("MatMul", h, w), g.const("lm_head.bias", bias))
    g.nodes.append(helper.make_node("LogSoftmax", [logits], ["log_probs"], axis=-1))

    graph = helper.make_graph(
        g.nodes,
        f"wav2vec2-{arch.name}-random",
        [helper.make_tensor_value_info("input_values", TensorProto.FLOAT, ["batch", "samples"])],
        [helper.make_tensor_value_info("log_probs", TensorProto.FLOAT, ["batch", "frames", vocab])],
        initializer=g.initializers,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="hark.dev.test_aligner"
    )
    model.ir_version = 8  # readable by every onnxruntime Hark supports
    return model


def make_test_aligner(
    out_dir: Path, *, arch: str = "base", seed: int = SEED, int8: bool = True
) -> None:
    """Write a random-weight wav2vec2 CTC aligner (`model.onnx` + HF-style configs) to out_dir,
    with its int8 copy `model.int8.onnx` (as `hark models convert-aligner` writes) if `int8`."""
    import onnx

    from hark.align.quantize import quantize_aligner

    shape = ALIGNER_ARCHITECTURES[arch]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model = build_aligner_graph(shape, seed)
    onnx.save_model(model, str(out_dir / "model.onnx"))  # type: ignore[arg-type]
    if int8:
        quantize_aligner(out_dir / "model.onnx", out_dir / "model.int8.onnx")
    files = {
        "vocab.json": ENGLISH_VOCAB,
        "config.json": {
            "architectures": ["Wav2Vec2ForCTC"],
            "model_type": "wav2vec2",
            "conv_dim": [shape.conv_dim] * len(CONV_KERNEL),
            "conv_kernel": list(CONV_KERNEL),
            "conv_stride": list(CONV_STRIDE),
            "conv_bias": False,
            "feat_extract_norm": "group",
            "do_stable_layer_norm": False,
            "hidden_size": shape.hidden,
            "num_hidden_layers": shape.layers,
            "num_attention_heads": shape.heads,
            "intermediate_size": shape.intermediate,
            "num_conv_pos_embeddings": shape.pos_kernel,
            "num_conv_pos_embedding_groups": shape.pos_groups,
            "vocab_size": len(ENGLISH_VOCAB),
            "pad_token_id": ENGLISH_VOCAB["<pad>"],
            "hark_random_weights": {"arch": shape.name, "seed": seed},
        },
        "preprocessor_config.json": {
            "feature_extractor_type": "Wav2Vec2FeatureExtractor",
            "feature_size": 1,
            "sampling_rate": 16000,
            "do_normalize": True,
            "padding_value": 0.0,
            "return_attention_mask": False,
        },
        "tokenizer_config.json": {
            "tokenizer_class": "Wav2Vec2CTCTokenizer",
            "word_delimiter_token": "|",
            "pad_token": "<pad>",
            "unk_token": "<unk>",
            "bos_token": "<s>",
            "eos_token": "</s>",
            "do_lower_case": False,
        },
    }
    for name, data in files.items():
        (out_dir / name).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def build_test_aligner(directory: Path) -> None:
    """Builder for `hark.dev.test_models.register_builder`: the tiny English aligner."""
    make_test_aligner(directory, arch="tiny")


def build_test_aligner_base(directory: Path) -> None:
    """Builder for the base-shaped English aligner (benchmarks; not built by default)."""
    make_test_aligner(directory, arch="base")


def save_as_transformers(aligner_dir: Path, out_dir: Path) -> Path:
    """Write the same random model as a Transformers `Wav2Vec2ForCTC` checkpoint (needs
    torch + transformers): the benchmark's torch side and the fixture's architecture check.
    ONNX MatMul weights are [in, out]; torch Linear weights are [out, in]."""
    import onnx
    import torch
    from onnx import numpy_helper
    from transformers import Wav2Vec2Config, Wav2Vec2ForCTC

    aligner_dir, out_dir = Path(aligner_dir), Path(out_dir)
    config = json.loads((aligner_dir / "config.json").read_text(encoding="utf-8"))
    config.pop("hark_random_weights", None)
    model = Wav2Vec2ForCTC(Wav2Vec2Config(**config)).eval()
    weights = {
        t.name: numpy_helper.to_array(t)
        for t in onnx.load(str(aligner_dir / "model.onnx")).graph.initializer
    }
    state = {}
    for name, value in weights.items():
        if not name.endswith((".weight", ".bias")):
            continue
        if name.startswith("lm_head.") or not name.startswith(("feature", "encoder")):
            target = name
        else:
            target = f"wav2vec2.{name}"
        tensor = torch.from_numpy(np.array(value))  # writable copy
        if value.ndim == 2:  # MatMul [in, out] -> Linear [out, in]
            tensor = tensor.T.contiguous()
        state[target] = tensor
    pos = state.pop("wav2vec2.encoder.pos_conv_embed.conv.weight")
    # Transformers keeps this convolution weight-normalised: weight = g * v / |v|.
    prefix = "wav2vec2.encoder.pos_conv_embed.conv.parametrizations.weight"
    state[f"{prefix}.original0"] = pos.norm(dim=(0, 1), keepdim=True)
    state[f"{prefix}.original1"] = pos
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or [m for m in missing if "masked_spec_embed" not in m]:
        raise RuntimeError(f"weight mapping mismatch: missing {missing}, unexpected {unexpected}")
    model.save_pretrained(str(out_dir))
    for name in ("vocab.json", "preprocessor_config.json", "tokenizer_config.json"):
        (out_dir / name).write_bytes((aligner_dir / name).read_bytes())
    return out_dir


# Fixture registry: the small aligner is built with the default test models; the base-sized one
# (for the alignment benchmark) only when asked for.
register_builder("wav2vec2-align-tiny", build_test_aligner, version=BUILDER_VERSION)
register_builder(
    "wav2vec2-align-base", build_test_aligner_base, default=False, version=BUILDER_VERSION
)
