"""The typed errors for bad audio input, one `AudioError` subclass per problem.

Each has a stable `code` (the HTTP layer maps codes to status codes) and a message that says
what is wrong and what to do; the list is in the `hark.audio` docstring.
"""

from __future__ import annotations

from typing import Any, ClassVar

SUPPORTED_FORMATS = (
    "WAV, FLAC, MP3, M4A/AAC, OGG/Opus, WebM, MP4 or another format FFmpeg can decode"
)
"""What messages tell users to send instead."""


class AudioError(ValueError):
    """Base of every input problem `load_audio` and `probe` report; `code` is stable."""

    code: ClassVar[str] = "audio_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        # The default pickling calls cls(*args) and so loses the keyword-only fields; errors
        # may cross process boundaries (worker pools).
        state = dict(self.__dict__)
        if isinstance(self, OSError):
            state["filename"] = self.filename  # an OSError slot, not in __dict__
        return (_rebuild_error, (type(self), self.message, state))


def _rebuild_error(cls: type[AudioError], message: str, state: dict[str, Any]) -> AudioError:
    # The C base that lays out the instance must allocate it: OSError for AudioNotFoundError.
    base: Any = OSError if issubclass(cls, OSError) else Exception
    err: AudioError = base.__new__(cls, message)
    for name, value in state.items():
        setattr(err, name, value)
    return err


class AudioNotFoundError(AudioError, FileNotFoundError):
    """A path that does not exist; also a `FileNotFoundError` so generic file handling works."""

    code: ClassVar[str] = "not_found"

    def __init__(self, message: str, *, filename: str | None = None) -> None:
        super().__init__(message)
        self.filename = filename


class EmptyAudioError(AudioError):
    """Zero bytes, or media whose audio track decodes to no samples at all."""

    code: ClassVar[str] = "empty_audio"


class NotAudioError(AudioError):
    """Cannot be opened as audio or video, or uses a codec this build cannot decode."""

    code: ClassVar[str] = "not_audio"


class NoAudioStreamError(AudioError):
    """Valid media (typically a video) that has no audio track."""

    code: ClassVar[str] = "no_audio_stream"


class CorruptAudioError(AudioError):
    """Truncated or damaged media; says how much could be decoded."""

    code: ClassVar[str] = "corrupt_audio"

    def __init__(
        self,
        message: str,
        *,
        decoded_duration: float | None = None,
        declared_duration: float | None = None,
    ) -> None:
        super().__init__(message)
        self.decoded_duration = decoded_duration
        self.declared_duration = declared_duration


class AudioTooLongError(AudioError):
    """Longer than the configured limit.

    `duration` is the declared length when the file declares one reliably (`exact` is True),
    otherwise the amount decoded before stopping, a lower bound (`exact` is False).
    """

    code: ClassVar[str] = "audio_too_long"

    def __init__(self, message: str, *, duration: float, limit: float, exact: bool) -> None:
        super().__init__(message)
        self.duration = duration
        self.limit = limit
        self.exact = exact


class InvalidArrayError(AudioError):
    """A numpy array passed as audio that is not finite float samples of the expected shape."""

    code: ClassVar[str] = "invalid_array"


def too_long(what: str, duration: float, limit: float, *, exact: bool) -> AudioTooLongError:
    """The error for `what` (an input's label) being over `limit` seconds."""
    length = (
        f"{duration:.1f} s long" if exact else f"longer than that (stopped at {duration:.1f} s)"
    )
    return AudioTooLongError(
        f"{what} is over the {limit:g} s limit: it is {length}; "
        "split it into shorter parts or raise the limit",
        duration=duration,
        limit=limit,
        exact=exact,
    )
