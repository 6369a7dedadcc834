"""Errors of the aligner. The pipeline catches `AlignError` and keeps Whisper's word times."""

from __future__ import annotations

from hark.model_files import ModelNotFoundError


class AlignError(RuntimeError):
    """Alignment could not run (no model, a broken model, inference failure)."""

    code = "align_error"


class AlignModelUnavailable(AlignError):
    """The language has no default alignment model (and none was named)."""

    code = "align_model_unavailable"


class AlignModelNotFound(AlignError, ModelNotFoundError):
    """A named (or default) alignment model is not available here; the message says how to get
    it. Also a `ModelNotFoundError`, so model-fetching code reports it like any missing model."""

    code = "align_model_not_found"
