"""Encoded sources (a path, bytes or a binary file object) made ready for PyAV.

`prepare_source` checks the obvious problems (missing path, directory, zero bytes) and returns a
`MediaInput`: what `av.open` gets, plus the first bytes and random access to the rest, so that
formats can be recognised and headers checked without FFmpeg.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from hark.audio.errors import AudioNotFoundError, EmptyAudioError, NotAudioError

EncodedSource = str | os.PathLike[str] | bytes | bytearray | memoryview | IO[bytes]
"""Encoded media: a path, the file's bytes, or a binary file object."""
AudioSource = EncodedSource | np.ndarray
"""What `load_audio` accepts: encoded media, or samples already decoded."""

HEAD_BYTES = 64 * 1024
"""How much of the start of an input is kept for sniffing."""

_DATA_LABEL = "the audio data"
_EMPTY_DATA = "the audio data is empty (0 bytes); send a file with audio"


@dataclass(slots=True)
class MediaInput:
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


def prepare_source(source: Any) -> MediaInput:
    """A `MediaInput` for a path, bytes-like object or binary file object; TypeError otherwise."""
    if isinstance(source, str | os.PathLike):
        return _from_path(Path(os.fspath(source)))
    if isinstance(source, bytes | bytearray | memoryview):
        data = memoryview(source).cast("B")
        if len(data) == 0:
            raise EmptyAudioError(_EMPTY_DATA)
        return MediaInput(
            label=_DATA_LABEL,
            # BytesIO shares a bytes object's buffer instead of copying it.
            target=io.BytesIO(source if isinstance(source, bytes) else data),
            size=len(data),
            head=bytes(data[:HEAD_BYTES]),
            read_at=lambda offset, n: bytes(data[offset : offset + n]),
        )
    if callable(getattr(source, "read", None)):
        return _from_file(source)
    raise TypeError(
        "audio source must be a path, bytes, a binary file object or a numpy array, not "
        f"{type(source).__name__}"
    )


def _from_path(path: Path) -> MediaInput:
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
        head = f.read(HEAD_BYTES)

    def read_at(offset: int, n: int) -> bytes:
        with path.open("rb") as f:
            f.seek(offset)
            return f.read(n)

    # Absolute, so FFmpeg never reads a name like "pipe:0" or "http:..." as a protocol.
    return MediaInput(label, os.fspath(path.resolve()), size, head, read_at)


def _from_file(f: IO[bytes]) -> MediaInput:
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
        head = _read_fully(f, HEAD_BYTES)
        f.seek(start)

        def read_at(offset: int, n: int) -> bytes:
            f.seek(start + offset)
            data = _read_fully(f, n)
            f.seek(start)
            return data

        if size <= 0:
            raise EmptyAudioError(_EMPTY_DATA)
        target = _OffsetView(f, start) if start else f
        return MediaInput(_DATA_LABEL, target, size, head, read_at)

    head = _read_fully(f, HEAD_BYTES)
    if not head:
        raise EmptyAudioError(_EMPTY_DATA)
    size = len(head) if len(head) < HEAD_BYTES else None
    return MediaInput(
        _DATA_LABEL,
        _ReplayStream(head, f),
        size,
        head,
        lambda offset, n: head[offset : offset + n],
        seekable=False,
    )


def _read_fully(f: IO[bytes], n: int) -> bytes:
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


class _ReplayStream(io.RawIOBase):
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


class _OffsetView(io.RawIOBase):
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
