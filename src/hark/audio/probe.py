"""Opening media, finding its audio track, and the length it declares.

Declared lengths are trusted only from formats that store them in a header or index
(`EXACT_LENGTH_FORMATS`, and MP3 with a Xing/Info/VBRI frame). Lengths FFmpeg only estimates
from the bit rate (raw AAC/ADTS, MP3 without such a frame, ...) can be off by a factor of ten,
so they are used neither to reject input as too long before decoding nor to call it truncated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import av
import numpy as np

from hark.audio.errors import (
    SUPPORTED_FORMATS,
    AudioError,
    AudioNotFoundError,
    CorruptAudioError,
    NoAudioStreamError,
    NotAudioError,
)
from hark.audio.headers import (
    is_mp4,
    media_kind,
    mp3_has_length_header,
    mp4_structure_problem,
    non_media_kind,
    wav_data_duration,
)
from hark.audio.sources import EncodedSource, MediaInput, prepare_source

# Formats whose declared length comes from the header or index rather than a bit-rate estimate.
EXACT_LENGTH_FORMATS = frozenset(
    {"wav", "w64", "flac", "ogg", "matroska,webm", "mov,mp4,m4a,3gp,3g2,mj2", "aiff", "caf"}
)


@dataclass(frozen=True, slots=True)
class AudioInfo:
    """What the container says about its audio track, read without decoding it."""

    duration: float | None
    """Seconds, when the file declares its length reliably; None when unknown or estimated."""
    sample_rate: int
    channels: int
    codec: str
    """FFmpeg codec name, e.g. "flac", "mp3", "aac", "opus", "pcm_s16le"."""
    format: str
    """FFmpeg container name, e.g. "wav", "mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm"."""


def probe(source: EncodedSource) -> AudioInfo:
    """Describe the audio track of `source` from its headers, without decoding the audio.

    Raises the same `AudioError`s as `load_audio` for inputs that cannot be opened or have no
    audio track; damage further into the file is only found by `load_audio`.
    """
    if isinstance(source, np.ndarray):
        raise TypeError("probe() reads encoded media; a numpy array is already decoded")
    inp = prepare_source(source)
    with open_container(inp) as container:
        stream = find_audio_stream(container, inp)
        ctx = stream.codec_context
        declared, exact = declared_duration(container, stream, inp)
        return AudioInfo(
            duration=declared if exact else None,
            sample_rate=int(ctx.sample_rate),
            channels=int(ctx.channels),
            codec=ctx.codec.canonical_name,
            format=container.format.name,
        )


# PyAV < 19 decodes metadata strictly while opening, so one badly encoded tag fails the whole
# file unless `metadata_errors="replace"` is passed; PyAV 19 removed that argument (it decodes
# with surrogateescape itself). Which one is installed is found out on the first open.
_open_kwargs: dict[str, str] = {"metadata_errors": "replace"}


def _av_open(target: Any) -> Any:
    try:
        return av.open(target, mode="r", **_open_kwargs)
    except TypeError as e:
        if not _open_kwargs or "metadata_errors" not in str(e):
            raise
    _open_kwargs.clear()
    return av.open(target, mode="r")


def open_container(inp: MediaInput) -> Any:
    """`av.open` on the input, its failures turned into `AudioError`s."""
    try:
        return _av_open(inp.target)
    except PermissionError:
        raise
    except FileNotFoundError as e:
        # Removed between the existence check and the open.
        raise AudioNotFoundError(
            f"audio file {inp.label} does not exist; check the path", filename=inp.label
        ) from e
    except (av.FFmpegError, UnicodeError) as e:
        # Not OSError in general: a failing file object's own I/O error is not bad media.
        raise _unreadable(inp) from e


def find_audio_stream(container: Any, inp: MediaInput) -> Any:
    """The best audio stream, or the `AudioError` that says why there is none to decode."""
    stream = container.streams.best("audio")
    if stream is None:
        truncated = mp4_structure_problem(inp)
        if truncated:
            raise CorruptAudioError(
                f"{inp.label} is {truncated}, so its audio track cannot be read; "
                "re-export or re-upload the complete file"
            )
        videos = container.streams.video
        if videos:
            ctx = videos[0].codec_context
            codec = ctx.codec.canonical_name if ctx is not None else "unknown codec"
            raise NoAudioStreamError(
                f"{inp.label} is video ({codec}) without an audio track, so there is nothing "
                "to transcribe; upload a file that has sound"
            )
        raise NotAudioError(
            f"{inp.label} ({container.format.name}) has no audio or video stream; "
            f"upload {SUPPORTED_FORMATS}"
        )
    if stream.codec_context is None or not stream.codec_context.sample_rate:
        raise NotAudioError(
            f"{inp.label} has an audio track in a codec this FFmpeg build cannot decode; "
            f"convert it to {SUPPORTED_FORMATS}"
        )
    return stream


def declared_duration(container: Any, stream: Any, inp: MediaInput) -> tuple[float | None, bool]:
    """The audio length the file declares, and whether that is exact rather than estimated."""
    declared: float | None = None
    if stream.duration and stream.time_base:
        declared = float(stream.duration * stream.time_base)
    elif container.duration and not container.streams.video:
        # The container's length is that of its longest stream: only the audio's if no video.
        declared = container.duration / av.time_base
    if declared is None or declared <= 0:
        return None, False
    fmt = container.format.name
    exact = fmt in EXACT_LENGTH_FORMATS or (fmt == "mp3" and mp3_has_length_header(inp))
    return declared, exact


def expected_duration(inp: MediaInput, declared: float | None) -> float | None:
    """The length to check decoding against: `declared` (pass it only when exact).

    For a WAV, the RIFF `data` size when larger: FFmpeg clamps a WAV's declared length to what
    is in the file, so only the header tells that it was cut.
    """
    wav = wav_data_duration(inp)
    if wav is None:
        return declared
    return wav if declared is None else max(wav, declared)


def mp4_pipe_error(inp: MediaInput) -> CorruptAudioError:
    """The error for an MP4 read from a pipe that FFmpeg could not make sense of."""
    # FFmpeg reads an MP4 index stored after the media, then must seek back: a pipe cannot.
    return CorruptAudioError(
        f"{inp.label} looks like an MP4/M4A/MOV file but cannot be read from a non-seekable "
        "stream (its index may be at the end); pass a path, bytes or a seekable file"
    )


def _unreadable(inp: MediaInput) -> AudioError:
    kind = media_kind(inp.head)
    if kind is not None:
        if not inp.seekable and is_mp4(inp.head):
            return mp4_pipe_error(inp)
        problem = mp4_structure_problem(inp) or "probably truncated or damaged"
        return CorruptAudioError(
            f"{inp.label} looks like {kind} but cannot be opened: it is {problem}; "
            "re-export or re-upload the complete file"
        )
    other = non_media_kind(inp.head)
    looks = f" (it looks like {other})" if other else ""
    return NotAudioError(f"{inp.label} is not audio or video{looks}; upload {SUPPORTED_FORMATS}")
