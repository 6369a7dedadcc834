"""Hark: self-hostable speech-to-text, the WhisperX pipeline without PyTorch."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from hark.engine import Engine, load_engine
    from hark.pipeline import Pipeline, TranscribeOptions
    from hark.schema import Segment, Transcript, Word

__all__ = [
    "Engine",
    "Pipeline",
    "Segment",
    "TranscribeOptions",
    "Transcript",
    "Word",
    "load_engine",
    "load_pipeline",
]

_LAZY = {
    "Engine": "hark.engine",
    "load_engine": "hark.engine",
    "Pipeline": "hark.pipeline",
    "TranscribeOptions": "hark.pipeline",
    "load_pipeline": "hark.pipeline",
    "Segment": "hark.schema",
    "Transcript": "hark.schema",
    "Word": "hark.schema",
}


def __getattr__(name: str) -> Any:
    # Lazy so that `import hark` (and `hark --help`) stays fast: CTranslate2 loads on first use.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'hark' has no attribute {name!r}")
