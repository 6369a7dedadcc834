"""Word alignment: CTC forced alignment of Whisper's text on ONNX Runtime (no torch).

    model = load_align_model("en")            # or load_align_model("en", "path/or/hf-id")
    segments = align(segments, audio, model)  # every word gets a start and an end

`convert_aligner` (in `hark.align.convert`, extra `hark[convert]`) turns a Transformers
`Wav2Vec2ForCTC` checkpoint into an aligner directory; it is the only code that uses torch.
"""

from __future__ import annotations

from hark.align.aligner import AlignOptions, align
from hark.align.errors import AlignError, AlignModelNotFound, AlignModelUnavailable
from hark.align.registry import (
    DEFAULT_ALIGN_MODELS,
    AlignModel,
    converted_dir,
    default_align_model,
    default_cache_dir,
    load_align_model,
    resolve_align_model,
)
from hark.align.words import INTERPOLATE_METHODS, InterpolateMethod

__all__ = [
    "DEFAULT_ALIGN_MODELS",
    "INTERPOLATE_METHODS",
    "AlignError",
    "AlignModel",
    "AlignModelNotFound",
    "AlignModelUnavailable",
    "AlignOptions",
    "InterpolateMethod",
    "align",
    "converted_dir",
    "default_align_model",
    "default_cache_dir",
    "load_align_model",
    "resolve_align_model",
]
