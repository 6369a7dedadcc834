"""Read PyTorch checkpoints into numpy without torch and without trusting the pickle.

Both of PyTorch's formats are understood: the *legacy* one (a sequence of pickles followed by
each storage's raw bytes; Resemblyzer's `pretrained.pt` is in it) and the zip one (torch >= 1.6).
The pickles go through a restricted unpickler that resolves only the names a state dict needs
(tensor rebuild functions, storage types, `collections.OrderedDict`); anything else, such as a
crafted `os.system` reference, raises `UnsafeCheckpointError` before any code could run.
"""

from __future__ import annotations

import collections
import io
import pickle
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from hark.diarize.errors import CheckpointFormatError, UnsafeCheckpointError

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C

_STORAGE_DTYPES: dict[str, np.dtype[Any]] = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}


@dataclass(frozen=True)
class _StorageType:
    dtype: np.dtype[Any]


class _Storage:
    """A storage whose bytes are filled in after the pickle has been read (legacy format)."""

    def __init__(self, dtype: np.dtype[Any], numel: int) -> None:
        self.dtype = dtype
        self.numel = numel
        self.data: np.ndarray | None = None


@dataclass
class _TensorRef:
    storage: _Storage
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]

    def materialise(self) -> np.ndarray:
        data = self.storage.data
        if data is None:
            raise CheckpointFormatError("a tensor refers to a storage that has no data")
        if not self.size:
            return data[self.offset : self.offset + 1].reshape(()).copy()
        last = self.offset + sum((n - 1) * s for n, s in zip(self.size, self.stride, strict=True))
        if self.offset < 0 or last >= data.size:
            raise CheckpointFormatError("a tensor reaches beyond its storage")
        view = np.lib.stride_tricks.as_strided(
            data[self.offset :],
            shape=self.size,
            strides=[s * data.itemsize for s in self.stride],
            writeable=False,
        )
        return np.ascontiguousarray(view)


def _rebuild_tensor(
    storage: _Storage, offset: int, size: tuple[int, ...], stride: tuple[int, ...], *_: Any
) -> _TensorRef:
    # Same signature as torch._utils._rebuild_tensor(_v2); requires_grad, hooks and metadata
    # do not matter for inference weights.
    if not isinstance(storage, _Storage):
        raise CheckpointFormatError("tensor rebuilt from something that is not a storage")
    return _TensorRef(storage, int(offset), tuple(size), tuple(stride))


_ALLOWED: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    **{("torch", name): _StorageType(dtype) for name, dtype in _STORAGE_DTYPES.items()},
}


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file: IO[bytes], storages: dict[str, _Storage]) -> None:
        super().__init__(file)
        self.storages = storages

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise UnsafeCheckpointError(
                f"checkpoint references {module}.{name}; only tensors and plain containers "
                "are allowed"
            ) from None

    def persistent_load(self, pid: Any) -> _Storage:
        # ('storage', storage_type, key, location, numel[, view_metadata])
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise CheckpointFormatError(f"unexpected persistent id {pid!r:.80}")
        storage_type, key, numel = pid[1], str(pid[2]), int(pid[4])
        if not isinstance(storage_type, _StorageType):
            raise CheckpointFormatError(f"unsupported storage type {storage_type!r:.80}")
        if key not in self.storages:
            self.storages[key] = _Storage(storage_type.dtype, numel)
        return self.storages[key]


def _resolve(obj: Any) -> Any:
    """Replace tensor references by arrays inside plain containers."""
    if isinstance(obj, _TensorRef):
        return obj.materialise()
    if isinstance(obj, dict):
        return type(obj)((k, _resolve(v)) for k, v in obj.items())
    if isinstance(obj, list | tuple):
        return type(obj)(_resolve(v) for v in obj)
    return obj


def _load_safe(file: IO[bytes], storages: dict[str, _Storage]) -> Any:
    try:
        return _RestrictedUnpickler(file, storages).load()
    except (UnsafeCheckpointError, CheckpointFormatError):
        raise
    except Exception as exc:  # malformed pickles raise many different types
        raise CheckpointFormatError(f"unreadable checkpoint pickle: {exc}") from exc


def _read_legacy(file: IO[bytes]) -> Any:
    storages: dict[str, _Storage] = {}
    if _load_safe(file, storages) != LEGACY_MAGIC:
        raise CheckpointFormatError("not a PyTorch checkpoint (bad magic number)")
    _load_safe(file, storages)  # protocol version
    info = _load_safe(file, storages)
    if isinstance(info, dict) and not info.get("little_endian", True):
        raise CheckpointFormatError("big-endian checkpoints are not supported")
    result = _load_safe(file, storages)
    keys = _load_safe(file, storages)
    if not isinstance(keys, list):
        raise CheckpointFormatError("storage key list missing")
    for key in keys:
        storage = storages.get(str(key))
        if storage is None:
            raise CheckpointFormatError(f"storage {key} listed but never referenced")
        (numel,) = struct.unpack("<q", file.read(8))
        raw = file.read(numel * storage.dtype.itemsize)
        if numel != storage.numel or len(raw) != numel * storage.dtype.itemsize:
            raise CheckpointFormatError(f"storage {key} is truncated or has the wrong size")
        storage.data = np.frombuffer(raw, dtype=storage.dtype)
    return _resolve(result)


def _read_zip(archive: zipfile.ZipFile) -> Any:
    names = archive.namelist()
    pickles = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
    if len(pickles) != 1:
        raise CheckpointFormatError("zip checkpoint without a single data.pkl")
    prefix = pickles[0][: -len("data.pkl")]
    storages: dict[str, _Storage] = {}
    result = _load_safe(io.BytesIO(archive.read(pickles[0])), storages)
    for key, storage in storages.items():
        raw = archive.read(f"{prefix}data/{key}")
        if len(raw) < storage.numel * storage.dtype.itemsize:
            raise CheckpointFormatError(f"storage {key} is truncated")
        storage.data = np.frombuffer(raw, dtype=storage.dtype, count=storage.numel)
    return _resolve(result)


def load_checkpoint(path: str | Path) -> Any:
    """Load a PyTorch checkpoint with tensors as read-only-safe numpy arrays."""
    path = Path(path)
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            return _read_zip(archive)
    with path.open("rb") as file:
        return _read_legacy(file)


def load_state_dict(path: str | Path, key: str | None = None) -> dict[str, np.ndarray]:
    """The `{name: array}` state dict of a checkpoint (optionally nested under `key`)."""
    checkpoint = load_checkpoint(path)
    state = checkpoint[key] if key is not None else checkpoint
    if not isinstance(state, dict) or not all(isinstance(v, np.ndarray) for v in state.values()):
        raise CheckpointFormatError(f"{path}: no state dict of tensors found")
    return dict(state)
