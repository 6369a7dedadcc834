"""`hark models convert-aligner HF_ID`: a Transformers CTC checkpoint -> an ONNX aligner.

The only module of Hark that uses torch and transformers (extra `hark[convert]`); both are
imported inside `convert_aligner`, so importing this module costs nothing. The output
directory holds `model.onnx` (waveform in, log-probabilities out, float32), by default its int8
copy `model.int8.onnx` (what the CPU runs, see `hark.align.registry.choose_network`), and the
checkpoint's `vocab.json`, `config.json`, `preprocessor_config.json` and tokenizer config.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

from hark.align.errors import AlignError
from hark.align.registry import converted_dir

QUANTIZE_CHOICES: tuple[str, ...] = ("int8", "int8-conv", "none")
OPSET = 17


def convert_aligner(
    hf_id: str,
    output_dir: Path | None = None,
    quantize: str | None = "int8",
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    local_files_only: bool = False,
) -> Path:
    """Export `hf_id` (a Hugging Face repo id or a local Transformers checkpoint directory of
    a CTC model: Wav2Vec2ForCTC, HubertForCTC, ...) to an ONNX aligner; returns its directory.

    `output_dir` defaults to the Hark model cache (where `load_align_model` looks for it).
    `quantize` picks the int8 copy written beside the float network: "int8" (default) has the
    transformer's weights in int8 (dynamic quantization, see `hark.align.quantize`): ~1.5x
    less CPU time, outputs within ~1% of float; "int8-conv" quantizes the feature encoder's
    convolutions too (~1.8x less CPU time, a larger accuracy cost); "none" or None: float only.
    """
    if quantize is not None and quantize not in QUANTIZE_CHOICES:
        raise ValueError(f"quantize must be one of {', '.join(QUANTIZE_CHOICES)}")
    if quantize == "none":
        quantize = None
    try:
        import torch
        import transformers
        from transformers import AutoFeatureExtractor, AutoModelForCTC, AutoTokenizer
    except ImportError as exc:
        raise AlignError(
            "Converting an aligner needs torch and transformers: pip install 'hark[convert]'"
        ) from exc

    out = Path(output_dir) if output_dir else converted_dir(hf_id)
    load: dict[str, Any] = {
        "cache_dir": str(cache_dir) if cache_dir else None,
        "local_files_only": local_files_only,
    }
    try:
        # Eager attention exports to plain ONNX ops on every torch version.
        model = AutoModelForCTC.from_pretrained(hf_id, attn_implementation="eager", **load)
        tokenizer = AutoTokenizer.from_pretrained(hf_id, **load)
        features = AutoFeatureExtractor.from_pretrained(hf_id, **load)
    except (OSError, ValueError) as exc:
        raise AlignError(f"Could not load {hf_id!r} as a Transformers CTC model: {exc}") from exc
    model.eval()

    class LogProbs(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_values: torch.Tensor) -> torch.Tensor:
            return torch.log_softmax(self.inner(input_values).logits, dim=-1)

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        sample = torch.randn(1, 16_000, generator=torch.Generator().manual_seed(0))
        with torch.no_grad(), warnings.catch_warnings():
            # The TorchScript exporter is deprecated (not removed) and warns about traced
            # shape checks; it exports wav2vec2 exactly, which the tests verify.
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            torch.onnx.export(
                LogProbs(model),
                (sample,),
                str(tmp / "model.onnx"),
                input_names=["input_values"],
                output_names=["log_probs"],
                dynamic_axes={
                    "input_values": {0: "batch", 1: "samples"},
                    "log_probs": {0: "batch", 1: "frames"},
                },
                opset_version=OPSET,
                do_constant_folding=True,
                dynamo=False,
            )
        if quantize is not None:
            from hark.align.quantize import quantize_aligner

            quantize_aligner(
                tmp / "model.onnx", tmp / "model.int8.onnx", convolutions=quantize == "int8-conv"
            )
        tokenizer.save_pretrained(str(tmp))
        features.save_pretrained(str(tmp))
        model.config.to_json_file(str(tmp / "config.json"))
        info = {
            "source": hf_id,
            "quantize": quantize,
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "opset": OPSET,
        }
        (tmp / "hark_aligner.json").write_text(json.dumps(info, indent=2) + "\n", "utf-8")
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out
