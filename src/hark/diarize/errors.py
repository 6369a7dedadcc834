"""Typed errors of speaker diarization."""

from __future__ import annotations


class DiarizationError(Exception):
    """Base class of every error raised by `hark.diarize`."""


class ModelNotFoundError(DiarizationError, FileNotFoundError):
    """A speaker model could not be found locally (or downloaded, when allowed)."""


class ModelFormatError(DiarizationError, ValueError):
    """A model file exists but does not have the expected interface."""


class CheckpointFormatError(ModelFormatError):
    """A PyTorch checkpoint is malformed or uses a feature the reader does not support."""


class UnsafeCheckpointError(CheckpointFormatError):
    """A checkpoint's pickle references something other than tensors and plain containers."""


class SpeakerCountError(DiarizationError, ValueError):
    """`num_speakers` / `min_speakers` / `max_speakers` are invalid or contradict each other."""
