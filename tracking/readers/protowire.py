"""The protobuf wire format, as far as event files need it: varints and field walking.

A minimal decoder instead of the ``protobuf`` package: the few messages an event file holds
(Event, Summary, Value, TensorProto) are walked field by field, and fields this reader does
not use are skipped by their wire type, so a writer's newer fields never break it. Every
read is bounded by the enclosing message's end; anything malformed (a varint over 10
bytes, a length past the end, a group or an unknown wire type) raises ``WireError``, which
the reader turns into a named, skipped record.

``varint_many`` decodes one varint at each of many offsets at once (numpy), for the fast
path that reads a million events' steps and lengths without a Python loop per event.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import numpy.typing as npt

VARINT, I64, LEN, I32 = 0, 1, 2, 5
MAX_VARINT_BYTES = 10

Buffer = bytes | bytearray | memoryview


class WireError(ValueError):
    """Bytes that are not a well-formed protobuf message."""


def read_varint(data: Buffer, pos: int, end: int) -> tuple[int, int]:
    """The unsigned varint at ``pos`` and the offset just past it."""
    result = 0
    shift = 0
    while True:
        if pos >= end:
            raise WireError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result & 0xFFFFFFFFFFFFFFFF, pos
        shift += 7
        if shift >= 7 * MAX_VARINT_BYTES:
            raise WireError("varint longer than 10 bytes")


def signed64(value: int) -> int:
    """An ``int64`` field's value from its unsigned varint."""
    return value - (1 << 64) if value >= 1 << 63 else value


def fields(data: Buffer, pos: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    """``(number, wire_type, a, b)`` for each field of the message in ``data[pos:end]``.

    For a varint ``a`` is its value (``b`` is 0); for fixed32, fixed64 and length-delimited
    fields ``data[a:b]`` are the field's bytes.
    """
    while pos < end:
        key, pos = read_varint(data, pos, end)
        number, wire_type = key >> 3, key & 7
        if number == 0:
            raise WireError("field number 0")
        if wire_type == VARINT:
            value, pos = read_varint(data, pos, end)
            yield number, wire_type, value, 0
            continue
        if wire_type == LEN:
            size, pos = read_varint(data, pos, end)
            stop = pos + size
        elif wire_type == I64:
            stop = pos + 8
        elif wire_type == I32:
            stop = pos + 4
        else:
            raise WireError(f"unsupported wire type {wire_type} (field {number})")
        if stop > end:
            raise WireError(f"field {number} runs past the end of its message")
        yield number, wire_type, pos, stop
        pos = stop


def varint_many(
    buf: npt.NDArray[np.uint8], offsets: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """The varint at each offset: ``(value, size in bytes, well-formed)``.

    ``buf`` must extend at least 10 bytes past every offset (the reader pads its buffers).
    Each pass reads one more byte of the varints that are still going, so one-byte
    varints (most lengths) cost one pass and a step below 2**21 three.
    """
    first = buf[offsets]
    value = (first & 0x7F).astype(np.uint64)
    size = np.ones(len(offsets), dtype=np.int64)
    ok = np.ones(len(offsets), dtype=np.bool_)
    active = np.flatnonzero(first >= 0x80)
    for k in range(1, MAX_VARINT_BYTES):
        if active.size == 0:
            return value, size, ok
        byte = buf[offsets[active] + k]
        value[active] |= (byte & 0x7F).astype(np.uint64) << np.uint64(7 * k)
        size[active] = k + 1
        active = active[byte >= 0x80]
    ok[active] = False
    return value, size, ok
