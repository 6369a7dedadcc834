"""A minimal ONNX model writer (protobuf wire format by hand), so that generating a graph at run
time needs neither the `onnx` package nor torch.

It covers what the generated GE2E and Silero graphs use: nodes with int/float/string/int-list
attributes, float32 and int64 initializers, and float32 inputs/outputs with fixed or symbolic
dimensions.
Field numbers follow onnx.proto (IR version 8).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

IR_VERSION = 8
_FLOAT, _INT64 = 1, 7
_ATTR_FLOAT, _ATTR_INT, _ATTR_STRING, _ATTR_INTS = 1, 2, 3, 7


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative ints are encoded as 64-bit two's complement
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key(number: int, wire: int) -> bytes:
    return _varint(number << 3 | wire)


def _int(number: int, value: int) -> bytes:
    return _key(number, 0) + _varint(value)


def _bytes(number: int, value: bytes | str) -> bytes:
    data = value.encode() if isinstance(value, str) else value
    return _key(number, 2) + _varint(len(data)) + data


def _float(number: int, value: float) -> bytes:
    return _key(number, 5) + struct.pack("<f", value)


@dataclass
class Node:
    op_type: str
    inputs: Sequence[str]
    outputs: Sequence[str]
    attributes: dict[str, int | float | str | list[int]] = field(default_factory=dict)

    def encode(self, index: int) -> bytes:
        out = b"".join(_bytes(1, name) for name in self.inputs)
        out += b"".join(_bytes(2, name) for name in self.outputs)
        out += _bytes(3, f"{self.op_type}_{index}") + _bytes(4, self.op_type)
        for name, value in self.attributes.items():
            if isinstance(value, bool | int):
                attr = _bytes(1, name) + _int(3, int(value)) + _int(20, _ATTR_INT)
            elif isinstance(value, list):
                ints = b"".join(_int(8, int(v)) for v in value)
                attr = _bytes(1, name) + ints + _int(20, _ATTR_INTS)
            elif isinstance(value, float):
                attr = _bytes(1, name) + _float(2, value) + _int(20, _ATTR_FLOAT)
            else:
                attr = _bytes(1, name) + _bytes(4, value) + _int(20, _ATTR_STRING)
            out += _bytes(5, attr)
        return out


def _tensor(name: str, array: np.ndarray) -> bytes:
    if array.dtype == np.float32:
        kind = _FLOAT
    elif array.dtype == np.int64:
        kind = _INT64
    else:
        raise TypeError(f"initializer {name}: unsupported dtype {array.dtype}")
    dims = b"".join(_int(1, d) for d in array.shape)
    data = np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes()
    return dims + _int(2, kind) + _bytes(8, name) + _bytes(9, data)


def _value_info(name: str, shape: Sequence[int | str]) -> bytes:
    dims = b"".join(_bytes(1, _int(1, d) if isinstance(d, int) else _bytes(2, d)) for d in shape)
    tensor_type = _int(1, _FLOAT) + _bytes(2, dims)
    return _bytes(1, name) + _bytes(2, _bytes(1, tensor_type))


def model_bytes(
    nodes: Iterable[Node],
    initializers: dict[str, np.ndarray],
    inputs: dict[str, Sequence[int | str]],
    outputs: dict[str, Sequence[int | str]],
    *,
    opset: int = 17,
    name: str = "graph",
) -> bytes:
    """A serialised ONNX ModelProto: float32 `inputs`/`outputs` by name -> shape."""
    graph = b"".join(_bytes(1, node.encode(i)) for i, node in enumerate(nodes))
    graph += _bytes(2, name)
    graph += b"".join(_bytes(5, _tensor(k, v)) for k, v in initializers.items())
    graph += b"".join(_bytes(11, _value_info(k, v)) for k, v in inputs.items())
    graph += b"".join(_bytes(12, _value_info(k, v)) for k, v in outputs.items())
    opset_import = _bytes(1, "") + _int(2, opset)
    return _int(1, IR_VERSION) + _bytes(2, "hark") + _bytes(8, opset_import) + _bytes(7, graph)
