"""Why a job's input cannot be used: one error type per stable `code`, messages that say what
to change."""

from __future__ import annotations

from typing import ClassVar


class JobInputError(ValueError):
    """The job input cannot be used; the message says what to change. `code` is stable."""

    code: ClassVar[str] = "invalid_input"


class AudioFetchError(JobInputError):
    """The audio link could not be downloaded."""

    code: ClassVar[str] = "audio_fetch_failed"


class AudioTooLargeError(JobInputError):
    """The audio is over the size limit."""

    code: ClassVar[str] = "audio_too_large"
