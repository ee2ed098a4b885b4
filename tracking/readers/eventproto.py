"""Decode one TensorBoard ``Event`` record: its wall time, step, scalars and text summaries.

The fields used (tensorflow/core/util/event.proto, framework/summary.proto, tensor.proto):

- ``Event``: ``wall_time`` = 1 (double), ``step`` = 2 (int64), ``summary`` = 5. Everything
  else (``file_version`` = 3, graphs, log messages, session logs) carries no points.
- ``Summary.value`` = 1, repeated ``Value``: ``tag`` = 1, ``simple_value`` = 2 (float),
  ``tensor`` = 8 (``TensorProto``), ``metadata`` = 9 (``SummaryMetadata``, whose
  ``plugin_data`` = 1 holds ``plugin_name`` = 1). Images, histograms and audio (3-6) are
  skipped unread.
- ``TensorProto``: ``dtype`` = 1, ``tensor_shape`` = 2 (``dim`` = 2, each ``size`` = 1),
  ``tensor_content`` = 4 (raw little-endian values), ``float_val`` = 5, ``double_val`` = 6,
  ``int_val`` = 7, ``string_val`` = 8, ``int64_val`` = 10, ``bool_val`` = 11, ``half_val`` =
  13, ``uint32_val`` = 16, ``uint64_val`` = 17.

What counts as a scalar: a ``simple_value`` (older writers, tensorboardX, PyTorch's
default), or a tensor of a numeric dtype holding exactly one element whose metadata, when the
record has any, names the ``scalars`` plugin (PyTorch's ``new_style``, TF2's
``tf.summary.scalar``). TF2 writes a tag's metadata only on its first record, so a
one-element numeric tensor without metadata is a scalar too (histograms, PR curves and
images are never one-element numeric tensors). A text summary is a ``DT_STRING`` tensor
whose metadata names the ``text`` plugin (or whose tag was seen as text earlier in the same
file, or ends in ``/text_summary``, PyTorch's and tensorboardX's suffix).

For the fast path, a scalar also reports where its value's bytes are in the record
(``span``) and their numpy dtype, when they are stored at a fixed width; a reader that finds
other records identical to this one except in those bytes can take their values directly.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from tracking.readers.protowire import (
    I32,
    I64,
    LEN,
    VARINT,
    Buffer,
    WireError,
    fields,
    read_varint,
    signed64,
)

# TensorFlow DataType enum values -> (name, numpy dtype of one element in tensor_content).
DT_FLOAT, DT_DOUBLE, DT_STRING, DT_HALF, DT_BFLOAT16 = 1, 2, 7, 19, 14
NUMERIC: dict[int, str] = {
    1: "<f4",  # DT_FLOAT
    2: "<f8",  # DT_DOUBLE
    3: "<i4",  # DT_INT32
    4: "u1",  # DT_UINT8
    5: "<i2",  # DT_INT16
    6: "i1",  # DT_INT8
    9: "<i8",  # DT_INT64
    10: "?",  # DT_BOOL
    14: "bf16",  # DT_BFLOAT16: the high half of a float32
    17: "<u2",  # DT_UINT16
    19: "<f2",  # DT_HALF
    22: "<u4",  # DT_UINT32
    23: "<u8",  # DT_UINT64
}
INT_VAL_TYPES = {3, 4, 5, 6, 17}  # stored in int_val
SCALARS_PLUGIN, TEXT_PLUGIN = "scalars", "text"
TEXT_SUFFIX = "/text_summary"

Kind = Literal["scalar", "text", "other"]


@dataclass(frozen=True)
class Value:
    """One ``Summary.Value``: a scalar, a text, or something this reader does not keep.

    ``start`` is the offset of the value's first byte (its field key) in the record;
    ``span`` the offsets of a scalar's fixed-width value bytes and ``dtype`` their numpy
    type, or None when the value is varint-coded (int_val, half_val, ...).
    """

    tag: str
    kind: Kind
    number: float = math.nan
    text: str = ""
    plugin: str = ""
    start: int = 0
    span: tuple[int, int] | None = None
    dtype: str | None = None


@dataclass(frozen=True)
class Event:
    wall_time: float
    step: int
    values: list[Value]


def decode_event(data: Buffer, text_tags: set[str] | frozenset[str] = frozenset()) -> Event:
    """Decode one record's bytes; raises ``WireError`` if they are not a valid Event."""
    wall_time = 0.0
    step = 0
    values: list[Value] = []
    for number, wire_type, a, b in fields(data, 0, len(data)):
        if number == 1 and wire_type == I64:
            wall_time = struct.unpack_from("<d", data, a)[0]
        elif number == 2 and wire_type == VARINT:
            step = signed64(a)
        elif number == 5 and wire_type == LEN:
            for n, wt, va, vb in fields(data, a, b):
                if n == 1 and wt == LEN:
                    values.append(decode_value(data, va, vb, text_tags))
    return Event(wall_time, step, values)


def decode_value(
    data: Buffer, start: int, end: int, text_tags: set[str] | frozenset[str] = frozenset()
) -> Value:
    """Decode the ``Summary.Value`` in ``data[start:end]``."""
    tag = ""
    plugin = ""
    simple: tuple[int, int] | None = None
    tensor: tuple[int, int] | None = None
    which = 0  # the last field of the value oneof seen wins, as in protobuf
    for number, wire_type, a, b in fields(data, start, end):
        if number == 1 and wire_type == LEN:
            tag = bytes(data[a:b]).decode("utf-8", errors="replace")
        elif number == 2 and wire_type == I32:
            simple, which = (a, b), 2
        elif number == 8 and wire_type == LEN:
            tensor, which = (a, b), 8
        elif number == 9 and wire_type == LEN:
            plugin = _plugin_name(data, a, b)
        elif number in (3, 4, 5, 6):
            which = number
    if which == 2 and simple is not None:
        number_ = struct.unpack_from("<f", data, simple[0])[0]
        return Value(tag, "scalar", number_, plugin=plugin, start=start, span=simple, dtype="<f4")
    if which == 8 and tensor is not None:
        return _tensor_value(data, tensor, tag, plugin, start, text_tags)
    return Value(tag, "other", plugin=plugin, start=start)


def _plugin_name(data: Buffer, start: int, end: int) -> str:
    for number, wire_type, a, b in fields(data, start, end):
        if number == 1 and wire_type == LEN:  # plugin_data
            for n, wt, pa, pb in fields(data, a, b):
                if n == 1 and wt == LEN:
                    return bytes(data[pa:pb]).decode("utf-8", errors="replace")
    return ""


@dataclass
class _Tensor:
    """What a scalar or a text needs from a ``TensorProto``, read in one pass over its
    fields without materialising its values: the first fixed-width value and how many
    there are, the first varint value, and where the strings are."""

    dtype: int = 0
    elements: int = 1
    content: tuple[int, int] | None = None
    first_fixed: tuple[int, int, str] | None = None  # (start, end, numpy dtype)
    fixed_count: int = 0
    first_varint: int | None = None
    strings: list[tuple[int, int]] = field(default_factory=list)


def _read_tensor(data: Buffer, start: int, end: int) -> _Tensor:
    t = _Tensor()
    for number, wire_type, a, b in fields(data, start, end):
        if number == 1 and wire_type == VARINT:
            t.dtype = a
        elif number == 2 and wire_type == LEN:
            t.elements = _elements(data, a, b)
        elif number == 4 and wire_type == LEN:
            t.content = (a, b)
        elif number in (5, 6) and wire_type in (LEN, I32, I64):
            width, np_dtype = (4, "<f4") if number == 5 else (8, "<f8")
            if wire_type != LEN and b - a != width:
                raise WireError(f"field {number} has the wrong width")
            if b - a >= width and t.first_fixed is None:
                t.first_fixed = (a, a + width, np_dtype)
            t.fixed_count += (b - a) // width
        elif number in (7, 10, 11, 13, 16, 17):
            if wire_type == LEN and b > a and t.first_varint is None:
                t.first_varint = read_varint(data, a, b)[0]
            elif wire_type == VARINT and t.first_varint is None:
                t.first_varint = a
        elif number == 8 and wire_type == LEN:
            t.strings.append((a, b))
    return t


def _elements(data: Buffer, start: int, end: int) -> int:
    """The element count of a ``TensorShapeProto`` (-1 when the shape is unknown)."""
    count = 1
    for number, wire_type, a, b in fields(data, start, end):
        if number == 2 and wire_type == LEN:  # dim
            size = 1
            for n, wt, da, _ in fields(data, a, b):
                if n == 1 and wt == VARINT:
                    size = signed64(da)
            if size < 0:
                return -1
            count *= size
        elif number == 3 and wire_type == VARINT and a:  # unknown_rank
            return -1
    return count


def _tensor_value(
    data: Buffer,
    span: tuple[int, int],
    tag: str,
    plugin: str,
    start: int,
    text_tags: set[str] | frozenset[str],
) -> Value:
    t = _read_tensor(data, *span)
    if t.dtype == DT_STRING:
        is_text = plugin == TEXT_PLUGIN or tag in text_tags or tag.endswith(TEXT_SUFFIX)
        if is_text and (plugin in ("", TEXT_PLUGIN)):
            text = "\n".join(
                bytes(data[a:b]).decode("utf-8", errors="replace") for a, b in t.strings
            )
            return Value(tag, "text", text=text, plugin=plugin, start=start)
        return Value(tag, "other", plugin=plugin, start=start)
    np_dtype = NUMERIC.get(t.dtype)
    if np_dtype is None or t.elements != 1 or plugin not in ("", SCALARS_PLUGIN):
        return Value(tag, "other", plugin=plugin, start=start)
    if t.content is not None:
        a, b = t.content
        if b - a != _itemsize(np_dtype):
            return Value(tag, "other", plugin=plugin, start=start)
        number = float(decode_fixed(bytes(data[a:b]), np_dtype))
        return Value(tag, "scalar", number, plugin=plugin, start=start, span=(a, b), dtype=np_dtype)
    if t.first_fixed is not None:
        a, b, fixed_dtype = t.first_fixed
        number = float(decode_fixed(bytes(data[a:b]), fixed_dtype))
        one = (a, b) if t.fixed_count == 1 else None
        return Value(tag, "scalar", number, plugin=plugin, start=start, span=one, dtype=fixed_dtype)
    if t.first_varint is not None:
        number = _from_varint(t.first_varint, t.dtype)
        return Value(tag, "scalar", number, plugin=plugin, start=start)
    # No values at all: TensorFlow reads an empty value list as zeros.
    return Value(tag, "scalar", 0.0, plugin=plugin, start=start)


def _itemsize(np_dtype: str) -> int:
    return 2 if np_dtype == "bf16" else np.dtype(np_dtype).itemsize


def decode_fixed(raw: bytes, np_dtype: str) -> float:
    if np_dtype == "bf16":
        return float(np.frombuffer(b"\0\0" + raw, dtype="<f4")[0])
    return float(np.frombuffer(raw, dtype=np_dtype)[0])


def _from_varint(value: int, dtype: int) -> float:
    if dtype == DT_HALF:
        return float(np.array([value & 0xFFFF], dtype=np.uint16).view(np.float16)[0])
    if dtype == DT_BFLOAT16:
        return float(np.array([(value & 0xFFFF) << 16], dtype=np.uint32).view(np.float32)[0])
    if dtype in (9, 3, 5, 6):  # signed: int64, int32, int16, int8
        return float(signed64(value))
    return float(value)


__all__ = ["Event", "Value", "WireError", "decode_event", "decode_value", "read_varint"]
