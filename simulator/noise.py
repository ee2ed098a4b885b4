"""Per-step noise whose extremes and sums over any aligned block are read in O(1).

Why: a chart of a 4M-step run draws ~600 buckets, each with its true minimum and maximum
(a spike at one step in a million stays on the chart at its height). Drawing every step to
find them costs time in proportion to the run (issue 13: ~0.75 s of CPU at 4M steps). Here
every step's noise is read from a fixed table through a mapping that keeps aligned blocks
aligned, so the table's precomputed block extremes and sums answer for any aligned block of
steps, and reading one step returns the very value the block query reports.

The mapping. Steps are cut into aligned power-of-two *cells*: 64 steps below step 8,192, then
64 cells per octave (steps [2^m, 2^(m+1)) are cut into cells of 2^(m-6)), at most 2^15 steps.
For each (seed, stream, cell) a hash picks an aligned window of the table of the cell's size,
an XOR mask over the offsets inside it and, for normal draws, a sign. Step ``i`` at offset
``t`` in its cell reads ``table[window + (t XOR mask)]``. XOR with a mask maps every aligned
sub-block of the cell onto an aligned block of the table, so the extremes, their positions
and the sums of any aligned block of steps inside a cell are one lookup in the table's
pyramid (``_Pyramid``). Different cells read different windows in different orders: the
values are i.i.d. within a cell, and cells sharing a window (a 4M-step run has 8 windows for
its largest cells) see them permuted at every scale.

Tables: ``TABLE_SIZE`` standard normals (Box-Muller from Philox, bounded by |z| <= 6.77 as
before: the uniforms are >= 2^-33) and as many 32-bit uniform integers, both from a fixed key,
so they are the same on every machine and every worker; built once at import (~30 ms, ~30 MB
shared by gunicorn's workers through ``preload_app``) and read-only. Uniform sums are integer,
so a prefix sum is exact whatever the order it is added in: the wall clock at a step is the
same whether it is read alone or at the end of a tick.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

TABLE_BITS = 18
TABLE_SIZE = 1 << TABLE_BITS
CELL_MIN_LEVEL = 6  # 64-step cells
CELL_MAX_LEVEL = 15  # at most 32,768 steps a cell (8 windows of the table)
OCTAVE_SPLIT = 6  # 2^6 = 64 cells per octave
LEAF_LEVEL = 2  # blocks of 4 steps are read step by step (``leaf_steps``)
INV_2_32 = 1.0 / 2.0**32

# Streams: which quantity a draw is for (never shared).
Z_LOSS = 1  # normal: train-loss noise
Z_GRAD = 2  # normal: gradient-norm and validation noise
U_EVENT = 3  # uniform: spike and divergence hazards
U_JITTER = 4  # uniform: step-time jitter
U_MEMORY = 5  # uniform: allocator noise
U_SPIKE_A = 6  # uniform: a spike's gradient multiplier
U_SPIKE_B = 7  # uniform: a spike's loss jump and decay
U_WOBBLE = 8  # uniform per cell boundary: the slow loss wobble


class _Pyramid:
    """Maxima, minima, their table indices and sums of every aligned block of a table,
    level by level in one flat array each (level j holds TABLE_SIZE >> j blocks)."""

    def __init__(self, values: NDArray[Any], sum_dtype: type) -> None:
        self.offsets = np.zeros(TABLE_BITS + 2, dtype=np.int64)
        for j in range(TABLE_BITS + 1):
            self.offsets[j + 1] = self.offsets[j] + (TABLE_SIZE >> j)
        total = int(self.offsets[-1])
        self.hi = np.empty(total, dtype=values.dtype)
        self.lo = np.empty(total, dtype=values.dtype)
        self.arg_hi = np.empty(total, dtype=np.int32)
        self.arg_lo = np.empty(total, dtype=np.int32)
        self.sum: NDArray[Any] = np.empty(total, dtype=sum_dtype)
        hi: NDArray[Any] = values
        lo: NDArray[Any] = values
        arg_hi = arg_lo = np.arange(TABLE_SIZE, dtype=np.int32)
        sums: NDArray[Any] = values.astype(sum_dtype)
        for j in range(TABLE_BITS + 1):
            a, b = int(self.offsets[j]), int(self.offsets[j + 1])
            self.hi[a:b], self.lo[a:b] = hi, lo
            self.arg_hi[a:b], self.arg_lo[a:b] = arg_hi, arg_lo
            self.sum[a:b] = sums
            if j == TABLE_BITS:
                break
            right_hi = hi[1::2] > hi[0::2]
            arg_hi = np.where(right_hi, arg_hi[1::2], arg_hi[0::2])
            hi = np.where(right_hi, hi[1::2], hi[0::2])
            right_lo = lo[1::2] < lo[0::2]
            arg_lo = np.where(right_lo, arg_lo[1::2], arg_lo[0::2])
            lo = np.where(right_lo, lo[1::2], lo[0::2])
            sums = sums[0::2] + sums[1::2]
        for arr in (self.hi, self.lo, self.arg_hi, self.arg_lo, self.sum):
            arr.flags.writeable = False


def _build_tables() -> tuple[FloatArray, NDArray[np.uint32]]:
    words = np.random.Philox(key=[0x6C6C6D2D, 0x6E6F697365]).random_raw(TABLE_SIZE * 2)
    halves = words.view(np.uint32)
    first = 1 if sys.byteorder == "little" else 0
    u1 = (halves[first::2][:TABLE_SIZE].astype(np.float64) + 0.5) * INV_2_32
    u2 = (halves[1 - first :: 2][:TABLE_SIZE].astype(np.float64) + 0.5) * INV_2_32
    z = np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)
    uniforms = np.ascontiguousarray(halves[first::2][TABLE_SIZE:])
    z.flags.writeable = False
    uniforms.flags.writeable = False
    return z, uniforms


_Z, _U = _build_tables()
_ZP = _Pyramid(_Z, np.float64)
_UP = _Pyramid(_U.astype(np.int64), np.int64)


# ----------------------------------------------------------------------------- cells
def cell_level(steps: IntArray) -> IntArray:
    """log2 of the size of the cell holding each step (``CELL_MIN_LEVEL``..``CELL_MAX_LEVEL``)."""
    s = np.maximum(np.asarray(steps, dtype=np.int64), 1)
    octave = np.frexp(s.astype(np.float64))[1].astype(np.int64) - 1  # floor(log2 s), exact
    octave -= OCTAVE_SPLIT
    np.maximum(octave, CELL_MIN_LEVEL, out=octave)
    np.minimum(octave, CELL_MAX_LEVEL, out=octave)
    return octave


def level_of(step: int) -> int:
    """``cell_level`` of one step, in plain Python (for loops over a few blocks)."""
    octave = max(step, 1).bit_length() - 1
    return min(CELL_MAX_LEVEL, max(CELL_MIN_LEVEL, octave - OCTAVE_SPLIT))


def cell_start(steps: IntArray) -> IntArray:
    """First step of each step's cell."""
    level = cell_level(steps)
    out: IntArray = (np.asarray(steps, dtype=np.int64) >> level) << level
    return out


def _all_cell_starts(limit: int) -> IntArray:
    out: list[int] = []
    s = 0
    while s < limit:
        out.append(s)
        s += 1 << level_of(s)
    return np.array(out, dtype=np.int64)


_CELL_STARTS = _all_cell_starts(1 << 23)  # every cell start below 2^23 > MAX_STEPS (~1,200)
_CELL_STARTS.flags.writeable = False


def cell_starts_in(start: int, stop: int) -> IntArray:
    """Starts of the cells meeting [start, stop), in order (one per cell)."""
    if stop > int(_CELL_STARTS[-1]):
        extra = _all_cell_starts(stop)
        table = extra
    else:
        table = _CELL_STARTS
    a = int(np.searchsorted(table, max(0, start), side="right")) - 1
    b = int(np.searchsorted(table, stop, side="left"))
    return table[max(a, 0) : b].copy()


_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


_LEVEL_MUL = np.uint64(1 << 40)
_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)


def _hash(
    seed: int, stream: int, level: NDArray[np.generic], cell: NDArray[np.generic]
) -> NDArray[np.uint64]:
    """splitmix64 of (seed, stream, level, cell): independent bits per key (uint64 arrays
    wrap silently, which is what the mix wants)."""
    key = np.uint64(((seed & 0xFFFFFFFF) * 0x10001 + 1) * 0x9E3779B97F4A7C15 % 2**64)
    key = np.uint64((int(key) + stream * 0xD1B54A32D192ED03) % 2**64)
    x = np.asarray(cell, dtype=np.int64).astype(np.uint64)
    x += np.asarray(level, dtype=np.int64).astype(np.uint64) * _LEVEL_MUL
    x += key
    x ^= x >> _S30
    x *= _M1
    x ^= x >> _S27
    x *= _M2
    x ^= x >> _S31
    return x


@dataclass(frozen=True)
class Cells:
    """The cells of some steps, worked out once for every stream read at them: each step's
    cell level and start, and the distinct cells (runs of sorted steps share one) with each
    step's index among them, so a hash is computed once per cell, not per step."""

    level: IntArray
    start: IntArray
    cell_level: IntArray
    cell_start: IntArray
    inverse: IntArray

    @classmethod
    def of(cls, steps: IntArray) -> Cells:
        steps = np.asarray(steps, dtype=np.int64)
        level = cell_level(steps)
        cstart = (steps >> level) << level
        if cstart.size and bool(np.all(cstart[1:] >= cstart[:-1])):
            new = np.empty(cstart.size, dtype=bool)
            new[0] = True
            np.not_equal(cstart[1:], cstart[:-1], out=new[1:])
            first = np.flatnonzero(new)
            inverse = np.cumsum(new) - 1
            return cls(level, cstart, level[first], cstart[first], inverse)
        uniq, first, inverse = np.unique(cstart, return_index=True, return_inverse=True)
        return cls(level, cstart, level[first], uniq, inverse.reshape(-1))


def _layout(
    seed: int, stream: int, starts: IntArray, cells: Cells | None = None
) -> tuple[IntArray, IntArray, IntArray, IntArray]:
    """Cell level, cell start, table window start and XOR mask for the cell of each step."""
    c = Cells.of(starts) if cells is None else cells
    h = _hash(seed, stream, c.cell_level, c.cell_start >> c.cell_level)
    windows = (TABLE_SIZE >> c.cell_level).astype(np.uint64)
    window = ((h >> np.uint64(40)) % windows).astype(np.int64) << c.cell_level
    mask = (h & ((np.uint64(1) << c.cell_level.astype(np.uint64)) - np.uint64(1))).astype(np.int64)
    return c.level, c.start, window[c.inverse], mask[c.inverse]


def _sign(seed: int, stream: int, starts: IntArray, cells: Cells | None = None) -> FloatArray:
    c = Cells.of(starts) if cells is None else cells
    h = _hash(seed, stream, c.cell_level, c.cell_start >> c.cell_level)
    out: FloatArray = np.where((h >> np.uint64(39)) & np.uint64(1), -1.0, 1.0)[c.inverse]
    return out


def _table_index(seed: int, stream: int, steps: IntArray, cells: Cells | None = None) -> IntArray:
    steps = np.asarray(steps, dtype=np.int64)
    _, cstart, window, mask = _layout(seed, stream, steps, cells)
    out: IntArray = window + ((steps - cstart) ^ mask)
    return out


def normal(seed: int, stream: int, steps: IntArray, cells: Cells | None = None) -> FloatArray:
    """Standard normal draw of each step (|z| <= 6.77)."""
    steps = np.asarray(steps, dtype=np.int64)
    c = Cells.of(steps) if cells is None else cells
    out: FloatArray = _Z[_table_index(seed, stream, steps, c)] * _sign(seed, stream, steps, c)
    return out


def uniform_int(seed: int, stream: int, steps: IntArray, cells: Cells | None = None) -> IntArray:
    """The 32-bit integer behind ``uniform``."""
    steps = np.asarray(steps, dtype=np.int64)
    out: IntArray = _U[_table_index(seed, stream, steps, cells)].astype(np.int64)
    return out


def uniform(seed: int, stream: int, steps: IntArray, cells: Cells | None = None) -> FloatArray:
    """Uniform draw in (0, 1) of each step."""
    ints = uniform_int(seed, stream, steps, cells)
    out: FloatArray = (ints.astype(np.float64) + 0.5) * INV_2_32
    return out


def knot_uniform(seed: int, stream: int, knots: IntArray) -> FloatArray:
    """A uniform in (0, 1) per knot (a step index), independent of the cell layout."""
    k = np.asarray(knots, dtype=np.int64)
    h = _hash(seed, stream, np.zeros_like(k), k)
    out: FloatArray = (_U[(h >> np.uint64(40)).astype(np.int64) & (TABLE_SIZE - 1)] + 0.5) * (
        INV_2_32
    )
    return out


# ----------------------------------------------------------------------------- blocks
def _block_flat(seed: int, stream: int, starts: IntArray, levels: IntArray) -> tuple[IntArray, ...]:
    """Flat pyramid index of each aligned block of steps (``starts``, size 2^``levels``, inside
    one cell), with the cell start, window and mask to map table indices back to steps."""
    _, cstart, window, mask = _layout(seed, stream, starts)
    t = starts - cstart
    block = (window >> levels) + ((t >> levels) ^ (mask >> levels))
    return _ZP.offsets[levels] + block, cstart, window, mask


def _to_step(
    tab: NDArray[np.generic], cstart: IntArray, window: IntArray, mask: IntArray
) -> IntArray:
    out: IntArray = cstart + ((tab.astype(np.int64) - window) ^ mask)
    return out


def normal_blocks(
    seed: int, stream: int, starts: IntArray, levels: IntArray
) -> tuple[FloatArray, IntArray, FloatArray, IntArray, FloatArray]:
    """Max, its step, min, its step and sum of the normal draws of each aligned block."""
    flat, cstart, window, mask = _block_flat(seed, stream, starts, levels)
    sign = _sign(seed, stream, starts)
    hi, lo = _ZP.hi[flat], _ZP.lo[flat]
    a_hi = _to_step(_ZP.arg_hi[flat], cstart, window, mask)
    a_lo = _to_step(_ZP.arg_lo[flat], cstart, window, mask)
    neg = sign < 0
    out_hi = np.where(neg, -lo, hi)
    out_lo = np.where(neg, -hi, lo)
    arg_hi = np.where(neg, a_lo, a_hi)
    arg_lo = np.where(neg, a_hi, a_lo)
    return out_hi, arg_hi, out_lo, arg_lo, _ZP.sum[flat] * sign


def uniform_blocks(
    seed: int, stream: int, starts: IntArray, levels: IntArray
) -> tuple[IntArray, IntArray, IntArray, IntArray, IntArray]:
    """Max, its step, min, its step and sum of the uniform integers of each aligned block."""
    flat, cstart, window, mask = _block_flat(seed, stream, starts, levels)
    return (
        _UP.hi[flat],
        _to_step(_UP.arg_hi[flat], cstart, window, mask),
        _UP.lo[flat],
        _to_step(_UP.arg_lo[flat], cstart, window, mask),
        _UP.sum[flat],
    )


def uniform_prefix(seed: int, stream: int, steps: IntArray) -> IntArray:
    """Sum of the uniform integers of steps 0 .. step - 1, exactly, for each step.

    Whole cells before the step's cell are summed from their cell totals; the part of its own
    cell is at most ``CELL_MAX_LEVEL`` aligned blocks (one per set bit of the offset). Cost:
    O(cells before the last step + steps x 15); a 4M-step run has 704 cells.
    """
    steps = np.asarray(steps, dtype=np.int64)
    if steps.size == 0:
        return np.empty(0, dtype=np.int64)
    run = steps.size > 64 and int(steps[-1]) - int(steps[0]) == steps.size - 1
    if run and bool(np.all(np.diff(steps) == 1)):  # a run of steps: one prefix, then a cumsum
        first = uniform_prefix(seed, stream, steps[:1])
        out: IntArray = np.empty(steps.size, dtype=np.int64)
        out[0] = first[0]
        np.cumsum(uniform_int(seed, stream, steps[:-1]), out=out[1:])
        out[1:] += first[0]
        return out
    top = int(steps.max())
    cells = cell_starts_in(0, top + 1)
    c_levels = cell_level(cells)
    totals = uniform_blocks(seed, stream, cells, c_levels)[4]
    before = np.concatenate([[0], np.cumsum(totals)])  # sum over cells before each cell
    level, cstart, window, mask = _layout(seed, stream, steps)
    out = before[np.searchsorted(cells, cstart)].astype(np.int64)
    # The part of the step's own cell before it: one aligned block per set bit j of its
    # offset t, [t with bits below j+1 cleared, + 2^j), all bits at once (steps x levels).
    t = (steps - cstart)[:, None]
    j = np.arange(int(level.max()), dtype=np.int64)[None, :]
    has = (((t >> j) & 1) == 1) & (j < level[:, None])
    block = (window[:, None] >> j) + ((((t >> (j + 1)) << (j + 1)) >> j) ^ (mask[:, None] >> j))
    flat = np.where(has, _UP.offsets[j] + block, 0)
    out += np.where(has, _UP.sum[flat], 0).sum(axis=1)
    return out


def leaf_steps(starts: IntArray, levels: IntArray) -> tuple[IntArray, IntArray]:
    """Every step of each block, with the index of its block (for per-block reductions)."""
    sizes = np.left_shift(1, levels).astype(np.int64)
    owner = np.repeat(np.arange(starts.size, dtype=np.int64), sizes)
    first = np.repeat(starts - np.concatenate([[0], np.cumsum(sizes)[:-1]]), sizes)
    out: IntArray = first + np.arange(int(sizes.sum()), dtype=np.int64)
    return out, owner


def aligned_blocks(start: int, stop: int, max_level: int) -> tuple[IntArray, IntArray]:
    """[start, stop) cut into aligned blocks inside cells, each at most 2^``max_level``
    steps (the fewest such blocks, in order)."""
    starts: list[int] = []
    levels: list[int] = []
    a = start
    while a < stop:
        lvl = min(max_level, level_of(a))
        if a:
            lvl = min(lvl, (a & -a).bit_length() - 1)
        while lvl > 0 and a + (1 << lvl) > stop:
            lvl -= 1
        starts.append(a)
        levels.append(lvl)
        a += 1 << lvl
    return np.array(starts, dtype=np.int64), np.array(levels, dtype=np.int64)


# ----------------------------------------------------------------------------- rare events


EVENT_ROOT = CELL_MAX_LEVEL  # the event tree's roots: independent aligned blocks of 2^15 steps


def _nodes(seed: int, level: IntArray, index: IntArray) -> tuple[FloatArray, IntArray]:
    """Nodes' own uniforms in (0, 1) (53 bits) and side bits."""
    h = _hash(seed, U_EVENT, level + 64, index)
    v = ((h >> np.uint64(11)).astype(np.float64) + 0.5) * (1.0 / 2.0**53)
    return v, (h & np.uint64(1)).astype(np.int64)


def event_min(
    seed: int,
    starts: IntArray,
    levels: IntArray,
    known: tuple[IntArray, FloatArray] | None = None,
) -> FloatArray:
    """The least event uniform of each aligned block of steps (``starts``, 2^``levels``, at
    most 2^``EVENT_ROOT``).

    A table of uniforms would make rare events as rare as its few smallest entries (a 2^18
    table has ~20 below 1e-4, not 26), so the hazards' uniforms are exact i.i.d. draws read
    top-down instead: a root block's minimum is 1 - V^(1/n) for its n steps; the half that
    holds it (a fair bit) has the same minimum, the other half's n/2 values are uniform above
    it, so its minimum is m + (1 - m)(1 - V'^(2/n)). Any block's minimum is read in
    ``EVENT_ROOT`` - level steps of this descent, and a step's value is its 1-step block's.
    ``known`` gives each block's ancestor minimum (its level and value) to descend from.
    """
    starts = np.asarray(starts, dtype=np.int64)
    levels = np.asarray(levels, dtype=np.int64)
    if known is None:
        from_level = np.full(starts.shape, EVENT_ROOT, dtype=np.int64)
        v, _ = _nodes(seed, from_level, starts >> EVENT_ROOT)
        m = -np.expm1(np.log(v) / float(2**EVENT_ROOT))
    else:
        from_level, m = known
        m = m.copy()
    depth = np.maximum(from_level - levels, 0)  # levels each block descends
    total = int(depth.sum())
    if total == 0:
        return m
    # Every node on every path in one hash call: for each block and each level lvl it passes,
    # the side bit of its ancestor at lvl and the uniform of its ancestor at lvl - 1.
    owner = np.repeat(np.arange(starts.size), depth)
    offset = np.cumsum(depth) - depth
    lvl = np.repeat(from_level, depth) - (np.arange(total) - np.repeat(offset, depth))
    s = starts[owner]
    v_all, side_all = _nodes(
        seed, np.concatenate([lvl, lvl - 1]), np.concatenate([s >> lvl, s >> (lvl - 1)])
    )
    side, v_child = side_all[:total], v_all[total:]
    other_side = ((s >> (lvl - 1)) & 1) != side
    share = -np.expm1(np.log(v_child) / np.exp2(lvl - 1).astype(np.float64))
    # Down the paths in step: the k-th node of every path that is that long.
    for k in range(int(depth.max())):
        at = np.flatnonzero(depth > k)
        pos = offset[at] + k
        mk = m[at]
        m[at] = np.where(other_side[pos], mk + (1.0 - mk) * share[pos], mk)
    return m


def event_uniform(seed: int, steps: IntArray) -> FloatArray:
    """The event uniform of each step (``event_min`` of its own 1-step block)."""
    steps = np.asarray(steps, dtype=np.int64)
    return event_min(seed, steps, np.zeros_like(steps))
