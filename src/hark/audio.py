"""Decode any audio or video input to 16 kHz float32 samples, with typed, clear errors.

`load_audio` accepts a path, bytes, a binary file-like object or an already-decoded numpy array
and returns float32 samples at `sample_rate` (16 kHz by default): mono 1-D for
`channels="mix"`, or `(channels, samples)` for `channels="separate"`. Anything FFmpeg (through
PyAV) can demux and decode works: WAV, FLAC, MP3, M4A/AAC, OGG/Opus, WebM, MP4 and other video
with an audio track.

Every problem with the input raises an `AudioError` subclass whose `code` is stable (the HTTP
layer maps codes to status codes) and whose message says what is wrong and what to do:

- `AudioNotFoundError` ("not_found"): a path that does not exist; also a `FileNotFoundError`.
- `EmptyAudioError` ("empty_audio"): zero bytes, or an audio track that decodes to no samples.
- `NotAudioError` ("not_audio"): cannot be opened as media, has no audio or video stream at
  all, or uses a codec this FFmpeg build cannot decode.
- `NoAudioStreamError` ("no_audio_stream"): media, typically video, without an audio track.
- `CorruptAudioError` ("corrupt_audio"): truncated or damaged; decoding errors, or far less
  audio than the file declares. Carries `decoded_duration` and `declared_duration`.
- `AudioTooLongError` ("audio_too_long"): longer than `max_duration`. Carries `duration`,
  `limit` and `exact`.
- `InvalidArrayError` ("invalid_array"): a numpy array that is not finite float samples of the
  expected shape (programming errors, never produced by decoding).

Truncation, measured with FFmpeg 7 through PyAV 18 (see tests/test_audio.py):
- FLAC cut in half opens fine (STREAMINFO still declares 11.0 s), decodes 5.43 s, and the last
  partial frame raises one InvalidDataError.
- MP3 (with a Xing/Info header) and WebM also keep declaring the full length and decode the part
  that is present without any error; MP4 with its index first does the same with one error at
  the cut.
- WAV: FFmpeg clamps the declared length to what is in the file, so the RIFF `data` size is read
  here to tell that a WAV is cut.
- MP4/M4A with the index (`moov`) at the end fails to open, or opens with some tracks missing,
  when cut; the box structure is checked to report it as truncated rather than "not audio".
- Ogg computes its length from the last page, so a cut Ogg cannot be told from a short one.
- Corruption in the middle drops frames (the audio after it moves earlier): MP3 and AAC raise
  decoding errors; FLAC, Opus and WebM resync silently but lose audio.
So the rule is: the input is corrupt when packets fail to decode (unless what was decoded still
reaches the declared length, as with junk after the end), or when, without errors, the decoded
audio falls short of a reliably declared length by more than max(0.5 s, 2 %). Declared lengths
that FFmpeg only estimates from the bit rate (raw AAC/ADTS, MP3 without a Xing/Info header, ...)
are not trusted for this, nor for rejecting input as too long before decoding: they can be off by
a factor of ten.
"""

from __future__ import annotations

import errno
import io
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, ClassVar, Literal

import av
import numpy as np

__all__ = [
    "SAMPLE_RATE",
    "AudioError",
    "AudioInfo",
    "AudioNotFoundError",
    "AudioSource",
    "AudioTooLongError",
    "CorruptAudioError",
    "EmptyAudioError",
    "EncodedSource",
    "InvalidArrayError",
    "NoAudioStreamError",
    "NotAudioError",
    "load_audio",
    "probe",
]

SAMPLE_RATE = 16000
"""The sample rate every model in the pipeline expects."""

EncodedSource = str | os.PathLike[str] | bytes | bytearray | memoryview | IO[bytes]
"""Encoded media: a path, the file's bytes, or a binary file object."""
AudioSource = EncodedSource | np.ndarray
"""What `load_audio` accepts: encoded media, or samples already decoded."""

Channels = Literal["mix", "separate"]

_SUPPORTED = "WAV, FLAC, MP3, M4A/AAC, OGG/Opus, WebM, MP4 or another format FFmpeg can decode"
_HEAD_BYTES = 64 * 1024
# Formats whose declared length comes from the header or index rather than a bit-rate estimate.
_EXACT_LENGTH_FORMATS = frozenset(
    {"wav", "w64", "flac", "ogg", "matroska,webm", "mov,mp4,m4a,3gp,3g2,mj2", "aiff", "caf"}
)
# Clean decodes of lossy codecs differ from the declared length by up to ~30 ms (priming,
# pre-skip); anything past these is audio that is missing.
_SHORTFALL_SECONDS = 0.5
_SHORTFALL_FRACTION = 0.02
_ERROR_SHORTFALL_SECONDS = 0.1
_ERROR_SHORTFALL_FRACTION = 0.005
# The declared length may exceed the decoded one slightly (priming); the decode check is exact.
_DECLARED_LIMIT_SLACK = 0.1


# --------------------------------------------------------------------------- errors


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


# --------------------------------------------------------------------------- public API


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
    inp = _prepare(source)
    with _open(inp) as container:
        stream = _audio_stream(container, inp)
        ctx = stream.codec_context
        declared, exact = _declared_duration(container, stream, inp)
        return AudioInfo(
            duration=declared if exact else None,
            sample_rate=int(ctx.sample_rate),
            channels=int(ctx.channels),
            codec=ctx.codec.canonical_name,
            format=container.format.name,
        )


def load_audio(
    source: AudioSource,
    *,
    sample_rate: int = SAMPLE_RATE,
    max_duration: float | None = None,
    channels: Channels = "mix",
) -> np.ndarray:
    """Decode `source` to float32 samples at `sample_rate`.

    `source`: a path (str or PathLike; never treated as a URL), encoded bytes, a binary file
    object (read from its current position, not closed; MP4 with its index at the end needs it
    seekable), or a numpy array of samples already at `sample_rate` (validated and returned as
    float32, without a copy when it already is C-contiguous float32).

    `channels="mix"` returns a 1-D mono array: stereo becomes (L + R) / 2, surround gets
    FFmpeg's normalised downmix. `"separate"` returns `(channels, samples)`, one row per channel
    of the file (a 1-D array input becomes one row).

    `max_duration` (seconds) rejects longer input: from the declared length before decoding when
    that is reliable, and otherwise by stopping as soon as the decoded audio passes it, so a huge
    file is never decoded into memory.

    Raises an `AudioError` subclass (see the module docstring) for every problem with the input;
    TypeError/ValueError for bad arguments; PermissionError for an unreadable path, and a file
    object's own I/O errors unchanged.
    """
    if channels not in ("mix", "separate"):
        raise ValueError(f"channels must be 'mix' or 'separate', not {channels!r}")
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or sample_rate <= 0:
        raise ValueError(f"sample_rate must be a positive int, not {sample_rate!r}")
    if max_duration is not None and not max_duration > 0:
        raise ValueError(f"max_duration must be positive or None, not {max_duration!r}")

    if isinstance(source, np.ndarray):
        return _from_array(source, sample_rate, max_duration, channels)

    inp = _prepare(source)
    with _open(inp) as container:
        stream = _audio_stream(container, inp)
        declared, exact = _declared_duration(container, stream, inp)
        if (
            max_duration is not None
            and exact
            and declared is not None
            and declared > max_duration + _DECLARED_LIMIT_SLACK
        ):
            raise _too_long(inp, declared, max_duration, exact=True)
        return _decode(
            container,
            stream,
            inp,
            sample_rate=sample_rate,
            channels=channels,
            max_duration=max_duration,
            declared=declared,
            declared_exact=exact,
        )


# --------------------------------------------------------------------------- arrays


def _from_array(
    samples: np.ndarray, sample_rate: int, max_duration: float | None, channels: Channels
) -> np.ndarray:
    if not np.issubdtype(samples.dtype, np.floating):
        hint = (
            "; scale integer PCM first, e.g. x.astype(np.float32) / 32768"
            if np.issubdtype(samples.dtype, np.integer)
            else ""
        )
        raise InvalidArrayError(
            f"an audio array must hold float samples, got dtype {samples.dtype}{hint}"
        )
    if channels == "mix" and samples.ndim != 1:
        raise InvalidArrayError(
            f"an audio array must be 1-D mono samples at {sample_rate} Hz, got shape "
            f"{samples.shape}; mix channels first (x.mean(axis=0)) or use channels='separate'"
        )
    if channels == "separate" and samples.ndim not in (1, 2):
        raise InvalidArrayError(
            f"an audio array for channels='separate' must be 1-D or (channels, samples), got "
            f"shape {samples.shape}"
        )
    if samples.size == 0:
        raise EmptyAudioError("the audio array is empty; pass at least one sample")
    if not np.isfinite(samples).all():
        raise InvalidArrayError("the audio array contains NaN or infinite samples")
    duration = samples.shape[-1] / sample_rate
    if max_duration is not None and duration > max_duration:
        raise _too_long(None, duration, max_duration, exact=True)
    out = np.ascontiguousarray(samples, dtype=np.float32)
    return out.reshape(1, -1) if channels == "separate" and out.ndim == 1 else out


# --------------------------------------------------------------------------- input handling


@dataclass(slots=True)
class _Input:
    """An encoded source, normalised: what `av.open` gets plus random access for sniffing."""

    label: str
    """How messages name the input: the path, or "the audio data"."""
    target: str | IO[bytes]
    size: int | None
    """Bytes from the start position to the end, when knowable (not for pipes)."""
    head: bytes
    """The first bytes, for recognising formats and checking headers."""
    read_at: Callable[[int, int], bytes]
    """read_at(offset, n): up to n bytes at offset from the start (only the head if unseekable)."""
    seekable: bool = True


class _Replay(io.RawIOBase):
    """A non-seekable stream with the bytes already read for sniffing put back in front."""

    def __init__(self, head: bytes, rest: IO[bytes]) -> None:
        super().__init__()
        self._head = head
        self._rest = rest

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self._head:
            n = len(self._head) if size < 0 else size
            out, self._head = self._head[:n], self._head[n:]
            return out
        return self._rest.read(size)


class _Window(io.RawIOBase):
    """A seekable file seen from `start` on: FFmpeg seeks to absolute offsets from 0."""

    def __init__(self, f: IO[bytes], start: int) -> None:
        super().__init__()
        self._f = f
        self._start = start

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        return self._f.read(size)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            offset += self._start
        return self._f.seek(offset, whence) - self._start

    def tell(self) -> int:
        return self._f.tell() - self._start


def _read_full(f: IO[bytes], n: int) -> bytes:
    # Raw and network streams may return short reads before the end.
    parts: list[bytes] = []
    got = 0
    while got < n:
        chunk = f.read(n - got)
        if not chunk:
            break
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def _prepare(source: Any) -> _Input:
    if isinstance(source, str | os.PathLike):
        return _prepare_path(Path(os.fspath(source)))
    if isinstance(source, bytes | bytearray | memoryview):
        data = memoryview(source).cast("B")
        if len(data) == 0:
            raise EmptyAudioError("the audio data is empty (0 bytes); send a file with audio")
        return _Input(
            label="the audio data",
            # BytesIO shares a bytes object's buffer instead of copying it.
            target=io.BytesIO(source if isinstance(source, bytes) else data),
            size=len(data),
            head=bytes(data[:_HEAD_BYTES]),
            read_at=lambda offset, n: bytes(data[offset : offset + n]),
        )
    if callable(getattr(source, "read", None)):
        return _prepare_file(source)
    raise TypeError(
        "audio source must be a path, bytes, a binary file object or a numpy array, not "
        f"{type(source).__name__}"
    )


def _prepare_path(path: Path) -> _Input:
    label = repr(str(path))
    if not path.exists():
        raise AudioNotFoundError(
            f"audio file {label} does not exist; check the path", filename=str(path)
        )
    if path.is_dir():
        raise NotAudioError(f"{label} is a directory, not an audio file")
    size = path.stat().st_size
    if size == 0:
        raise EmptyAudioError(f"audio file {label} is empty (0 bytes); use a file with audio")
    with path.open("rb") as f:
        head = f.read(_HEAD_BYTES)

    def read_at(offset: int, n: int) -> bytes:
        with path.open("rb") as f:
            f.seek(offset)
            return f.read(n)

    # Absolute, so FFmpeg never reads a name like "pipe:0" or "http:..." as a protocol.
    return _Input(label, os.fspath(path.resolve()), size, head, read_at)


def _prepare_file(f: IO[bytes]) -> _Input:
    label = "the audio data"
    seekable_attr = getattr(f, "seekable", None)
    # Same test PyAV applies to decide whether FFmpeg may seek in the object.
    seekable = (
        callable(getattr(f, "seek", None))
        and callable(getattr(f, "tell", None))
        and (seekable_attr is None or bool(seekable_attr()))
    )
    if seekable:
        start = f.tell()
        size = f.seek(0, io.SEEK_END) - start
        f.seek(start)
        head = _read_full(f, _HEAD_BYTES)
        f.seek(start)

        def read_at(offset: int, n: int) -> bytes:
            f.seek(start + offset)
            data = _read_full(f, n)
            f.seek(start)
            return data

        if size <= 0:
            raise EmptyAudioError("the audio data is empty (0 bytes); send a file with audio")
        return _Input(label, _Window(f, start) if start else f, size, head, read_at)

    head = _read_full(f, _HEAD_BYTES)
    if not head:
        raise EmptyAudioError("the audio data is empty (0 bytes); send a file with audio")
    size = len(head) if len(head) < _HEAD_BYTES else None
    return _Input(
        label,
        _Replay(head, f),
        size,
        head,
        lambda offset, n: head[offset : offset + n],
        seekable=False,
    )


def _open(inp: _Input) -> Any:
    try:
        return av.open(inp.target, mode="r", metadata_errors="replace")
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


def _audio_stream(container: Any, inp: _Input) -> Any:
    stream = container.streams.best("audio")
    if stream is None:
        truncated = _structure_problem(inp)
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
            f"upload {_SUPPORTED}"
        )
    if stream.codec_context is None or not stream.codec_context.sample_rate:
        raise NotAudioError(
            f"{inp.label} has an audio track in a codec this FFmpeg build cannot decode; "
            f"convert it to {_SUPPORTED}"
        )
    return stream


def _declared_duration(container: Any, stream: Any, inp: _Input) -> tuple[float | None, bool]:
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
    exact = fmt in _EXACT_LENGTH_FORMATS or (fmt == "mp3" and _mp3_has_length_header(inp))
    return declared, exact


# --------------------------------------------------------------------------- decoding


class _SampleBuffer:
    """Float32 rows that grow in place (realloc), so samples are never held twice."""

    def __init__(self, capacity: int) -> None:
        self._capacity = max(capacity, 1024)
        self._rows: list[np.ndarray] = []
        self.length = 0

    def append(self, chunk: np.ndarray) -> None:
        if not self._rows:
            self._rows = [np.empty(self._capacity, np.float32) for _ in range(chunk.shape[0])]
        n = chunk.shape[1]
        end = self.length + n
        if end > self._capacity:
            self._capacity = max(end, self._capacity + self._capacity // 2)
            for row in self._rows:
                # No views of the rows exist, so moving the data is safe.
                row.resize(self._capacity, refcheck=False)
        for row, values in zip(self._rows, chunk, strict=True):
            row[self.length : end] = values
        self.length = end

    def result(self, separate: bool) -> np.ndarray:
        for row in self._rows:
            row.resize(self.length, refcheck=False)
        rows, self._rows = self._rows, []
        if not separate:
            return rows[0]
        # One copy for the (channels, samples) layout; mono output has none.
        return np.stack(rows)


class _Converter:
    """FFmpeg resampling, remixing and conversion to planar float32 (fltp) for one input format.

    The same filter graph as PyAV's AudioResampler, plus `rematrix_maxval=1`: without it a float
    downmix adds channels at 0.707 each (stereo speech gets 3 dB louder and can pass 1.0); with
    it stereo becomes (L + R) / 2 like the s16 output of the ffmpeg CLI Whisper uses, and
    surround is mixed with normalised weights.
    """

    def __init__(self, frame: Any, rate: int, layout: str) -> None:
        self.graph = av.filter.Graph()
        extra = {"time_base": str(frame.time_base)} if frame.time_base is not None else {}
        source = self.graph.add(
            "abuffer",
            sample_rate=str(frame.sample_rate),
            sample_fmt=frame.format.name,
            channel_layout=frame.layout.name,
            **extra,
        )
        remix = self.graph.add("aresample", rematrix_maxval="1")
        convert = self.graph.add(
            "aformat", sample_rates=str(rate), sample_fmts="fltp", channel_layouts=layout
        )
        sink = self.graph.add("abuffersink")
        source.link_to(remix)
        remix.link_to(convert)
        convert.link_to(sink)
        self.graph.configure()

    def convert(self, frame: Any | None) -> list[Any]:
        """Converted frames for `frame`; None flushes the samples held back as filter delay."""
        self.graph.push(frame)
        out: list[Any] = []
        while True:
            try:
                out.append(self.graph.pull())
            except EOFError:
                break
            except av.FFmpegError as e:
                if e.errno != errno.EAGAIN:
                    raise
                break
        return out


def _decode(
    container: Any,
    stream: Any,
    inp: _Input,
    *,
    sample_rate: int,
    channels: Channels,
    max_duration: float | None,
    declared: float | None,
    declared_exact: bool,
) -> np.ndarray:
    max_samples = math.inf if max_duration is None else max_duration * sample_rate
    # Sized from the declared length (even an estimate); capped so a lying header costs nothing.
    guess = min(declared or 60.0, max_duration or math.inf, 3600.0) + 1.0
    buffer = _SampleBuffer(int(guess * sample_rate))
    converter: _Converter | None = None
    converter_input: tuple[str, str, int] | None = None
    out_layout = "mono" if channels == "mix" else None
    decoded = 0.0  # seconds of source audio decoded
    errors = 0

    def take(frames: list[Any]) -> None:
        for out in frames:
            chunk = out.to_ndarray()
            if not np.isfinite(chunk).all():
                raise CorruptAudioError(
                    f"{inp.label} contains NaN or infinite samples; re-export the audio",
                    decoded_duration=decoded,
                    declared_duration=declared,
                )
            buffer.append(chunk)
        if buffer.length > max_samples:
            raise _too_long(inp, buffer.length / sample_rate, max_duration, exact=False)

    packets = container.demux(stream)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            break
        except av.FFmpegError:
            # The demuxer cannot go on; what was decoded so far is judged below.
            errors += 1
            break
        try:
            frames = packet.decode()
        except av.FFmpegError:
            errors += 1
            continue
        for frame in frames:
            decoded += frame.samples / frame.sample_rate
            key = (frame.format.name, frame.layout.name, frame.sample_rate)
            if key != converter_input:
                # Streams may change rate or layout midway; a graph only takes one input format.
                if converter is not None:
                    take(converter.convert(None))
                if out_layout is None:
                    out_layout = frame.layout.name  # keep the first layout for every row
                try:
                    converter = _Converter(frame, sample_rate, out_layout)
                    converted = converter.convert(frame)
                except (av.FFmpegError, ValueError) as e:
                    raise NotAudioError(
                        f"{inp.label} has audio in a layout FFmpeg cannot convert "
                        f"({frame.format.name}, {frame.layout.name}, {frame.sample_rate} Hz); "
                        f"convert it to {_SUPPORTED}"
                    ) from e
                converter_input = key
            else:
                assert converter is not None
                converted = converter.convert(frame)
            take(converted)
    if converter is not None:
        # The resampler holds back a few samples of filter delay until flushed.
        take(converter.convert(None))

    expected = _expected_duration(inp, declared if declared_exact else None)
    _check_complete(inp, buffer.length, decoded, expected, errors)
    return buffer.result(separate=channels == "separate")


def _expected_duration(inp: _Input, declared: float | None) -> float | None:
    wav = _wav_declared_duration(inp)
    if wav is None:
        return declared
    return wav if declared is None else max(wav, declared)


def _check_complete(
    inp: _Input, samples: int, decoded: float, expected: float | None, errors: int
) -> None:
    of_declared = f" of the declared {expected:.1f} s" if expected else ""
    if samples == 0:
        if not inp.seekable and inp.head[4:8] == b"ftyp":
            raise _mp4_pipe_error(inp)
        if errors or (expected is not None and expected > _ERROR_SHORTFALL_SECONDS):
            raise CorruptAudioError(
                f"{inp.label} is truncated or damaged: none{of_declared} of its audio could be "
                "decoded; re-export or re-upload the complete file",
                decoded_duration=0.0,
                declared_duration=expected,
            )
        raise EmptyAudioError(
            f"{inp.label} has an audio track with no samples in it; "
            "check that the recording captured sound"
        )
    shortfall = None if expected is None else expected - decoded
    if errors:
        tolerated = shortfall is not None and shortfall <= max(
            _ERROR_SHORTFALL_SECONDS, _ERROR_SHORTFALL_FRACTION * expected
        )
        if not tolerated:
            raise CorruptAudioError(
                f"{inp.label} is damaged or truncated: {errors} part(s) failed to decode and "
                f"only {decoded:.1f} s{of_declared} could be decoded; re-export or re-upload "
                "the complete file",
                decoded_duration=decoded,
                declared_duration=expected,
            )
    elif (
        shortfall is not None
        and expected is not None
        and shortfall > max(_SHORTFALL_SECONDS, _SHORTFALL_FRACTION * expected)
    ):
        raise CorruptAudioError(
            f"{inp.label} is truncated or damaged: only {decoded:.1f} s{of_declared} could be "
            "decoded; re-export or re-upload the complete file",
            decoded_duration=decoded,
            declared_duration=expected,
        )


# --------------------------------------------------------------------------- messages


def _too_long(
    inp: _Input | None, duration: float, limit: float | None, *, exact: bool
) -> AudioTooLongError:
    assert limit is not None
    what = "the audio array" if inp is None else inp.label
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


def _unreadable(inp: _Input) -> AudioError:
    kind = _media_kind(inp.head)
    if kind is not None:
        if not inp.seekable and inp.head[4:8] == b"ftyp":
            return _mp4_pipe_error(inp)
        problem = _structure_problem(inp) or "probably truncated or damaged"
        return CorruptAudioError(
            f"{inp.label} looks like {kind} but cannot be opened: it is {problem}; "
            "re-export or re-upload the complete file"
        )
    other = _other_kind(inp.head)
    looks = f" (it looks like {other})" if other else ""
    return NotAudioError(f"{inp.label} is not audio or video{looks}; upload {_SUPPORTED}")


# --------------------------------------------------------------------------- header sniffing


def _media_kind(head: bytes) -> str | None:
    """A name for well-known audio/video signatures: failing to open those means damage."""
    if head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE":
        return "a WAV file"
    if head[4:8] == b"ftyp":
        return "an MP4/M4A/MOV file"
    signatures = {
        b"fLaC": "a FLAC file",
        b"OggS": "an Ogg file",
        b"\x1a\x45\xdf\xa3": "a WebM/Matroska file",
        b"ID3": "an MP3 file",
        b"FORM": "an AIFF file",
        b"#!AMR": "an AMR file",
        b"caff": "a CAF file",
        b"\x30\x26\xb2\x75": "a WMA/ASF file",
    }
    for magic, name in signatures.items():
        if head.startswith(magic):
            return name
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0:
        return "an AAC (ADTS) file"
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        return "an MP3 file"
    return None


def _mp4_pipe_error(inp: _Input) -> CorruptAudioError:
    # FFmpeg reads an MP4 index stored after the media, then must seek back: a pipe cannot.
    return CorruptAudioError(
        f"{inp.label} looks like an MP4/M4A/MOV file but cannot be read from a non-seekable "
        "stream (its index may be at the end); pass a path, bytes or a seekable file"
    )


def _other_kind(head: bytes) -> str | None:
    """A name for common non-media files, to make "not audio" messages concrete."""
    signatures = {
        b"%PDF": "a PDF document",
        b"\x89PNG": "a PNG image",
        b"\xff\xd8\xff": "a JPEG image",
        b"GIF8": "a GIF image",
        b"PK\x03\x04": "a ZIP archive or office document",
    }
    for magic, name in signatures.items():
        if head.startswith(magic):
            return name
    sample = head[:4096]
    try:
        text = sample.decode("utf-8")
    except UnicodeDecodeError:
        # A multi-byte character may be cut at the end of the sample.
        text = sample[:-4].decode("utf-8", errors="replace") if len(sample) > 4 else ""
        if "\ufffd" in text:
            return None
    if text and sum(c.isprintable() or c in "\r\n\t" for c in text) >= 0.98 * len(text):
        return "a text file"
    return None


def _wav_declared_duration(inp: _Input) -> float | None:
    """Seconds the RIFF `data` chunk declares (FFmpeg clamps this to the file's size)."""
    head = inp.head
    if not (head[:4] == b"RIFF" and head[8:12] == b"WAVE"):
        return None
    pos = 12
    byte_rate = 0
    while pos + 8 <= len(head):
        chunk, size = head[pos : pos + 4], int.from_bytes(head[pos + 4 : pos + 8], "little")
        if chunk == b"fmt " and pos + 20 <= len(head):
            byte_rate = int.from_bytes(head[pos + 16 : pos + 20], "little")
        elif chunk == b"data":
            # Writers that cannot seek back leave 0 or ~4 GiB placeholders: length unknown.
            if byte_rate <= 0 or size == 0 or size >= 0x7FFF0000:
                return None
            return size / byte_rate
        pos += 8 + size + (size & 1)
    return None


def _mp3_has_length_header(inp: _Input) -> bool:
    """Whether an MP3 carries a Xing/Info/VBRI frame, i.e. a length FFmpeg does not estimate."""
    start = 0
    head = inp.head
    if head.startswith(b"ID3") and len(head) >= 10:
        # ID3v2 size: four 7-bit bytes, plus the 10-byte header (and footer, if flagged).
        size = 0
        for b in head[6:10]:
            size = (size << 7) | (b & 0x7F)
        start = 10 + size + (10 if head[5] & 0x10 else 0)
    first_frame = inp.read_at(start, 4096) if start + 4096 > len(head) else head[start:]
    window = first_frame[:4096]
    return any(tag in window for tag in (b"Xing", b"Info", b"VBRI"))


def _structure_problem(inp: _Input) -> str | None:
    """Describe a cut or unfinished MP4 from its top-level boxes; None if it looks whole."""
    if inp.head[4:8] != b"ftyp" or inp.size is None:
        return None
    pos = 0
    seen: set[bytes] = set()
    while pos + 8 <= inp.size:
        header = inp.read_at(pos, 16)
        if len(header) < 8:
            break
        size = int.from_bytes(header[:4], "big")
        box = header[4:8]
        if size == 1 and len(header) >= 16:
            size = int.from_bytes(header[8:16], "big")
        elif size == 0:
            size = inp.size - pos  # extends to the end of the file
        if size < 8:
            return "damaged (invalid MP4 box structure)"
        seen.add(box)
        if pos + size > inp.size:
            name = box.decode("latin-1")
            return (
                f"truncated: its '{name}' box needs {pos + size} bytes but the file has {inp.size}"
            )
        pos += size
    if b"moov" not in seen and b"moof" not in seen:
        return "incomplete: it has no 'moov' index (the recording was not finalised)"
    return None
