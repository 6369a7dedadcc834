"""Read the weights and nodes of an ONNX file (protobuf wire format by hand), without the `onnx`
package, which Hark does not install at run time. The counterpart of
`hark.diarize.onnx_writer`; field numbers follow onnx.proto.

Only what rebuilding a known graph needs: initializers (float32/int64, raw or typed data) and
each node's op type, name and input/output names. Anything else is skipped.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

_DTYPES = {1: np.dtype("<f4"), 6: np.dtype("<i4"), 7: np.dtype("<i8"), 11: np.dtype("<f8")}


class OnnxReadError(ValueError):
    """The bytes are not an ONNX model this reader understands."""


def _varint(data: bytes | memoryview, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data):
            raise OnnxReadError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def _fields(data: bytes | memoryview) -> Iterator[tuple[int, int, int | memoryview]]:
    """(field number, wire type, value): ints for varints and fixed, views for bytes."""
    view = memoryview(data)
    pos = 0
    while pos < len(view):
        key, pos = _varint(view, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(view, pos)
            yield number, wire, value
        elif wire == 2:
            size, pos = _varint(view, pos)
            if pos + size > len(view):
                raise OnnxReadError("truncated field")
            yield number, wire, view[pos : pos + size]
            pos += size
        elif wire == 5:
            yield number, wire, struct.unpack_from("<I", view, pos)[0]
            pos += 4
        elif wire == 1:
            yield number, wire, struct.unpack_from("<Q", view, pos)[0]
            pos += 8
        else:
            raise OnnxReadError(f"unsupported protobuf wire type {wire}")


def _packed_or_single(wire: int, value: int | memoryview) -> list[int]:
    if wire == 2:
        assert isinstance(value, memoryview)
        out, pos = [], 0
        while pos < len(value):
            item, pos = _varint(value, pos)
            out.append(item)
        return out
    assert isinstance(value, int)
    return [value]


@dataclass(frozen=True)
class OnnxNode:
    op_type: str
    name: str
    inputs: list[str]
    outputs: list[str]


@dataclass(frozen=True)
class OnnxGraph:
    nodes: list[OnnxNode]
    initializers: dict[str, np.ndarray]
    ir_version: int


def _tensor(data: memoryview) -> tuple[str, np.ndarray]:
    dims: list[int] = []
    dtype_id, name, raw = 0, "", None
    floats: list[float] = []
    ints: list[int] = []
    for number, wire, value in _fields(data):
        if number == 1:
            dims += _packed_or_single(wire, value)
        elif number == 2:
            assert isinstance(value, int)
            dtype_id = value
        elif number == 8:
            name = bytes(value).decode()  # type: ignore[arg-type]
        elif number == 9:
            raw = bytes(value)  # type: ignore[arg-type]
        elif number == 4:  # float_data: packed fixed32
            chunk = bytes(value) if wire == 2 else struct.pack("<I", value)  # type: ignore[arg-type]
            floats += np.frombuffer(chunk, "<f4").tolist()
        elif number in (5, 7):  # int32_data, int64_data (varints)
            ints += _packed_or_single(wire, value)
        elif number == 14:
            raise OnnxReadError(f"initializer {name or '?'}: external data is not supported")
    if dtype_id not in _DTYPES:
        raise OnnxReadError(f"initializer {name}: unsupported data type {dtype_id}")
    dtype = _DTYPES[dtype_id]
    if raw is not None:
        array = np.frombuffer(raw, dtype).copy()
    elif dtype.kind == "f":
        array = np.asarray(floats, dtype)
    else:  # negative ints are 64-bit two's complement varints
        array = np.asarray([v - (1 << 64) if v >= 1 << 63 else v for v in ints], dtype)
    return name, array.reshape(dims).astype(dtype.newbyteorder("="))


def _node(data: memoryview) -> OnnxNode:
    inputs, outputs, name, op_type = [], [], "", ""
    for number, _wire, value in _fields(data):
        if number in (1, 2, 3, 4):
            text = bytes(value).decode()  # type: ignore[arg-type]
            if number == 1:
                inputs.append(text)
            elif number == 2:
                outputs.append(text)
            elif number == 3:
                name = text
            else:
                op_type = text
    return OnnxNode(op_type, name, inputs, outputs)


def read_onnx(path: str) -> OnnxGraph:
    """The nodes and initializers of the ONNX model at `path`."""
    with open(path, "rb") as handle:
        data = handle.read()
    graph, ir_version = None, 0
    for number, _wire, value in _fields(data):
        if number == 1:
            assert isinstance(value, int)
            ir_version = value
        elif number == 7:
            graph = value
    if graph is None:
        raise OnnxReadError(f"{path}: no graph in this file")
    nodes: list[OnnxNode] = []
    initializers: dict[str, np.ndarray] = {}
    for number, _wire, value in _fields(graph):  # type: ignore[arg-type]
        if number == 1:
            nodes.append(_node(value))  # type: ignore[arg-type]
        elif number == 5:
            name, array = _tensor(value)  # type: ignore[arg-type]
            initializers[name] = array
    return OnnxGraph(nodes, initializers, ir_version)
