"""Pure numpy for points in chunks: order a series, merge it into stored chunks, encode.

A chunk holds the points of one metric whose steps share ``step // CHUNK`` (CHUNK = 4,096).
Its steps are stored as little-endian uint16 offsets from the chunk's first step (2 bytes a
point instead of 8; the offset is always in 0..4095), its values and times as little-endian
float64. Nothing here touches a database: ``tracking.store.engine`` fetches and writes rows,
these functions decide what the rows hold.

The upsert rule (docs/tracking.md, decision 4) is decided here:

- within one series, the last point logged at a step wins; an earlier one with a different
  value is superseded, one with the same value (NaN equals NaN) is counted ``same``;
- against what is stored, a step not stored is ``new``, the same value is ``same`` (nothing
  written), a different value replaces the stored point, which is superseded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tracking.records import Series, Steps, Values
from tracking.store.downsample import BLOCK, finite_only, segment_extremes

CHUNK = 4096

Mask = npt.NDArray[np.bool_]


def same_value(a: Values, b: Values) -> Mask:
    """Elementwise equality where NaN equals NaN (a re-read NaN is not a change)."""
    equal: Mask = (a == b) | (np.isnan(a) & np.isnan(b))
    return equal


@dataclass(frozen=True)
class Points:
    """Points sorted by step (unique steps unless said otherwise)."""

    step: Steps
    value: Values
    time: Values

    def __len__(self) -> int:
        return len(self.step)

    def take(self, index: npt.NDArray[np.intp] | Mask | slice) -> Points:
        return Points(self.step[index], self.value[index], self.time[index])

    @staticmethod
    def concat(parts: list[Points]) -> Points:
        if not parts:
            return Points(np.empty(0, np.int64), np.empty(0, np.float64), np.empty(0, np.float64))
        return Points(
            np.concatenate([p.step for p in parts]),
            np.concatenate([p.value for p in parts]),
            np.concatenate([p.time for p in parts]),
        )


@dataclass(frozen=True)
class Prepared:
    """A series reduced to one point per step, and what that reduction set aside."""

    final: Points  # unique steps, sorted; the last value logged at each
    superseded: Points  # earlier points at a step with a different value, in source order
    same: int  # earlier points at a step with the value that won


def prepare(series: Series) -> Prepared:
    """Sort ``series`` by step (stable) and keep the last point logged at each step."""
    step = np.ascontiguousarray(series.step, dtype=np.int64)
    value = np.ascontiguousarray(series.value, dtype=np.float64)
    time = np.ascontiguousarray(series.time, dtype=np.float64)
    n = len(step)
    if n > 1 and not bool(np.all(step[1:] >= step[:-1])):
        order = np.argsort(step, kind="stable")
        step, value, time = step[order], value[order], time[order]
    points = Points(step, value, time)
    if n < 2 or bool(np.all(step[1:] != step[:-1])):
        return Prepared(points, points.take(slice(0, 0)), 0)
    last = np.ones(n, dtype=bool)
    last[:-1] = step[1:] != step[:-1]
    first = np.ones(n, dtype=bool)
    first[1:] = step[1:] != step[:-1]
    group = np.cumsum(first) - 1
    winner = value[np.flatnonzero(last)][group]
    earlier = ~last
    equal = earlier & same_value(value, winner)
    return Prepared(points.take(last), points.take(earlier & ~equal), int(equal.sum()))


def split(points: Points) -> list[tuple[int, Points]]:
    """``points`` (sorted) cut into ``(chunk number, points)`` runs."""
    if not len(points):
        return []
    chunk = np.floor_divide(points.step, CHUNK)
    cuts = np.flatnonzero(chunk[1:] != chunk[:-1]) + 1
    starts = np.concatenate(([0], cuts))
    ends = np.concatenate((cuts, [len(points)]))
    return [
        (int(chunk[s]), points.take(slice(int(s), int(e))))
        for s, e in zip(starts, ends, strict=True)
    ]


@dataclass(frozen=True)
class Merged:
    """One chunk after an add: its new content (None: unchanged) and what it replaced."""

    points: Points | None
    replaced_old: Points
    new: int
    same: int
    replaced: int


def merge(stored: Points | None, incoming: Points) -> Merged:
    """Upsert ``incoming`` (unique sorted steps of one chunk) into the chunk's ``stored``."""
    if stored is None or not len(stored):
        return Merged(incoming, incoming.take(slice(0, 0)), len(incoming), 0, 0)
    pos = np.searchsorted(stored.step, incoming.step)
    inside = pos < len(stored)
    match = np.zeros(len(incoming), dtype=bool)
    match[inside] = stored.step[pos[inside]] == incoming.step[inside]
    equal = np.zeros(len(incoming), dtype=bool)
    equal[match] = same_value(stored.value[pos[match]], incoming.value[match])
    differ = match & ~equal
    new = int((~match).sum())
    same = int(equal.sum())
    replaced = int(differ.sum())
    if new == 0 and replaced == 0:
        return Merged(None, incoming.take(slice(0, 0)), 0, same, 0)
    keep = np.ones(len(stored), dtype=bool)
    keep[pos[differ]] = False
    write = ~equal
    both = Points.concat([stored.take(keep), incoming.take(write)])
    order = np.argsort(both.step, kind="stable")
    return Merged(both.take(order), stored.take(~keep), new, same, replaced)


def segments(old: Points, within: Points) -> list[Points]:
    """Superseded points of one add, as segments each with unique steps, sorted.

    ``old`` are stored points replaced (the oldest values of their steps), ``within`` the
    earlier points of the series itself, in source order. A step superseded k times appears
    in the first k segments, oldest value first: a run restarted twice from the same
    checkpoint gives two segments, each a curve of its own.
    """
    both = Points.concat([old, within])
    if not len(both):
        return []
    order = np.argsort(both.step, kind="stable")
    both = both.take(order)
    first = np.ones(len(both), dtype=bool)
    first[1:] = both.step[1:] != both.step[:-1]
    starts = np.flatnonzero(first)
    group = np.cumsum(first) - 1
    rank = np.arange(len(both)) - starts[group]
    return [both.take(rank == r) for r in range(int(rank.max()) + 1)]


@dataclass(frozen=True)
class Summary:
    """A chunk's figures kept beside its arrays: min/max over finite values with their
    steps (None when none is finite), the first and last point, the non-finite counts."""

    count: int
    first_step: int
    last_step: int
    first_value: float
    last_value: float
    vmin: float | None
    vmax: float | None
    min_step: int | None
    max_step: int | None
    nan_count: int
    inf_count: int


def summarise(points: Points) -> Summary:
    """The summary of one chunk's points (non-empty, sorted)."""
    value = points.value
    finite = np.isfinite(value)
    nan_count = int(np.isnan(value).sum())
    inf_count = len(value) - int(finite.sum()) - nan_count
    if inf_count + nan_count == 0:
        imin, imax = int(np.argmin(value)), int(np.argmax(value))
    elif finite.any():
        imin = int(np.argmin(np.where(finite, value, np.inf)))
        imax = int(np.argmax(np.where(finite, value, -np.inf)))
    else:
        imin = imax = -1
    return Summary(
        count=len(points),
        first_step=int(points.step[0]),
        last_step=int(points.step[-1]),
        first_value=float(value[0]),
        last_value=float(value[-1]),
        vmin=float(value[imin]) if imin >= 0 else None,
        vmax=float(value[imax]) if imax >= 0 else None,
        min_step=int(points.step[imin]) if imin >= 0 else None,
        max_step=int(points.step[imax]) if imax >= 0 else None,
        nan_count=nan_count,
        inf_count=inf_count,
    )


def encode_offsets(chunk: int, step: Steps) -> bytes:
    """Steps of one chunk as little-endian uint16 offsets from ``chunk * CHUNK``."""
    return (step - chunk * CHUNK).astype("<u2").tobytes()


def decode_offsets(chunk: int, blob: bytes) -> Steps:
    return np.frombuffer(blob, dtype="<u2").astype(np.int64) + chunk * CHUNK


def encode_floats(values: Values) -> bytes:
    return values.astype("<f8").tobytes()


def decode_floats(blob: bytes) -> Values:
    return np.frombuffer(blob, dtype="<f8").astype(np.float64, copy=False)


def encode_steps(step: Steps) -> bytes:
    """Full int64 steps (superseded segments span any range, so no offsets there)."""
    return step.astype("<i8").tobytes()


def decode_steps(blob: bytes) -> Steps:
    return np.frombuffer(blob, dtype="<i8").astype(np.int64, copy=False)


#: one block summary: block number in its chunk (0..63), first finite min and max (NaN when
#: the block has no finite value), their offsets in the chunk and their wall times (NaN when
#: unknown); 37 bytes, little-endian. A blob in this format starts with ``BLOCKS_V2`` (a
#: byte no block number can be), so blobs written before times were kept (21-byte blocks,
#: ``BLOCK_DTYPE_V1``) are still told apart: ``decode_blocks`` returns None for them and
#: the reader takes that chunk's points instead.
BLOCK_DTYPE = np.dtype(
    [
        ("block", "u1"),
        ("min", "<f8"),
        ("max", "<f8"),
        ("imin", "<u2"),
        ("imax", "<u2"),
        ("tmin", "<f8"),
        ("tmax", "<f8"),
    ]
)
BLOCK_DTYPE_V1 = np.dtype(
    [("block", "u1"), ("min", "<f8"), ("max", "<f8"), ("imin", "<u2"), ("imax", "<u2")]
)
BLOCKS_V2 = b"\xff"


def block_summary(chunk: int, points: Points) -> npt.NDArray[np.void]:
    """The summaries of the 64-step blocks holding ``points`` (sorted, one chunk)."""
    offset = points.step - chunk * CHUNK
    block = offset // BLOCK
    starts = np.flatnonzero(np.concatenate(([True], block[1:] != block[:-1])))
    finite = finite_only(points.value)
    imin, imax = segment_extremes(finite, finite, starts)
    out = np.zeros(len(starts), dtype=BLOCK_DTYPE)
    out["block"] = block[starts]
    for field in ("min", "max", "tmin", "tmax"):
        out[field] = np.nan
    seg_min = np.searchsorted(starts, imin, side="right") - 1
    seg_max = np.searchsorted(starts, imax, side="right") - 1
    out["min"][seg_min] = points.value[imin]
    out["imin"][seg_min] = offset[imin]
    out["tmin"][seg_min] = points.time[imin]
    out["max"][seg_max] = points.value[imax]
    out["imax"][seg_max] = offset[imax]
    out["tmax"][seg_max] = points.time[imax]
    return out


def encode_blocks(blocks: npt.NDArray[np.void]) -> bytes:
    return BLOCKS_V2 + blocks.tobytes()


def decode_blocks(blob: bytes) -> npt.NDArray[np.void] | None:
    """The block summaries of a ``blocks`` blob; None for one written before block
    summaries kept times (its min and max times must come from the chunk's points)."""
    if blob[:1] != BLOCKS_V2:
        return None
    return np.frombuffer(blob, dtype=BLOCK_DTYPE, offset=1)
