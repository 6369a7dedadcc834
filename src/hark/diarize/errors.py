"""Typed errors of speaker diarization."""

from __future__ import annotations

from hark import model_files


class DiarizationError(Exception):
    """Base class of every error raised by `hark.diarize`."""


# Model problems are also `hark.model_files` errors, so every surface (CLI, HTTP, jobs, RunPod)
# reports them as the model errors they are, whichever stage raised them.
class ModelNotFoundError(DiarizationError, model_files.ModelNotFoundError, FileNotFoundError):
    """A speaker model could not be found locally (or downloaded, when allowed)."""


class ModelFormatError(DiarizationError, model_files.ModelError, ValueError):
    """A model file exists but does not have the expected interface."""

    code = "model_format"


class CheckpointFormatError(ModelFormatError):
    """A PyTorch checkpoint is malformed or uses a feature the reader does not support."""


class UnsafeCheckpointError(CheckpointFormatError):
    """A checkpoint's pickle references something other than tensors and plain containers."""


class SpeakerCountError(DiarizationError, ValueError):
    """`num_speakers` / `min_speakers` / `max_speakers` are invalid or contradict each other."""
