"""Pure: cut a sorted series down to what a chart can draw, keeping every extreme.

Every point comes back when there are at most ``points``. Otherwise the steps the range
holds, ``lo..hi``, are cut into at most ``points // 2`` buckets (``bucket_edges``), and each
bucket keeps the point with the smallest and the point with the largest *finite* value (the
first such point on a tie), so a spike is never averaged away. Buckets are of equal step
width; when that width is 64 steps or more it is rounded up to a whole number of 64-step
blocks, with edges on multiples of 64, so that each chunk's stored block summaries
(``tracking.store.chunks.block_summary``) answer a zoomed-out read exactly without reading
its points (``reduce_blocks``; the same points come back as from ``reduce``).

Non-finite values are not comparable, so they are kept as points of their own: in each
bucket, the first NaN, the first +inf and the first -inf there (only in buckets holding
them). A curve with no non-finite value returns at most ``points`` points; one with some
returns at most ``points + 3 * (points // 2)``. Points come back in step order, so a chart
draws each bucket's minimum and maximum as the vertical stroke they are.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from tracking.records import Steps, Values
from tracking.store.rows import Curve

Index = npt.NDArray[np.intp]

#: steps per block summary: buckets this wide or wider are read from summaries
BLOCK = 64


def bucket_edges(lo: int, hi: int, points: int) -> tuple[Steps, bool]:
    """The inner edges of the buckets over steps ``lo..hi`` (a step ``s`` is in bucket
    ``searchsorted(edges, s, "right")``), and whether they lie on 64-step block bounds."""
    buckets = max(1, points // 2)
    if (hi - lo + 1) / buckets < BLOCK:
        width = (hi - lo + 1) / buckets
        return lo + np.floor(np.arange(1, buckets) * width).astype(np.int64), False
    origin = (lo // BLOCK) * BLOCK
    width_blocks = math.ceil((hi + 1 - origin) / buckets / BLOCK)
    count = math.ceil((hi + 1 - origin) / (width_blocks * BLOCK))
    return origin + np.arange(1, count, dtype=np.int64) * (width_blocks * BLOCK), True


def _first_per_segment(mask: npt.NDArray[np.bool_], starts: Index) -> Index:
    """Index of the first True of ``mask`` in each segment (``starts`` ascending) with one."""
    hits = np.flatnonzero(mask)
    if not len(hits):
        return hits
    seg = np.searchsorted(starts, hits, side="right")
    lead = np.ones(len(hits), dtype=bool)
    lead[1:] = seg[1:] != seg[:-1]
    return hits[lead]


def segment_extremes(low: Values, high: Values, starts: Index) -> tuple[Index, Index]:
    """For segments of ``low``/``high`` beginning at ``starts`` (ascending, non-empty): the
    index of the first smallest finite ``low`` and of the first largest finite ``high`` in
    each segment that has one. NaN is skipped; pass ``low`` with +inf and ``high`` with -inf
    replaced by NaN when infinities must not count."""
    counts = np.diff(np.concatenate((starts, [len(low)])))
    mins = np.fmin.reduceat(low, starts)
    maxs = np.fmax.reduceat(high, starts)
    return (
        _first_per_segment(low == np.repeat(mins, counts), starts),
        _first_per_segment(high == np.repeat(maxs, counts), starts),
    )


def finite_only(value: Values) -> Values:
    """``value`` with its infinities made NaN (skipped by ``segment_extremes``)."""
    if bool(np.isinf(value).any()):
        return np.where(np.isinf(value), np.nan, value)
    return value


def _segments(step: Steps, edges: Steps) -> Index:
    """Start index of each non-empty bucket of the sorted ``step``."""
    starts = np.concatenate(([0], np.searchsorted(step, edges, side="left")))
    ends = np.concatenate((starts[1:], [len(step)]))
    return starts[starts < ends]


def _non_finite(step: Steps, value: Values, edges: Steps) -> Index:
    """Index of the first NaN, +inf and -inf of each bucket (sorted ``step``)."""
    if not len(step) or bool(np.isfinite(value).all()):
        return np.empty(0, np.intp)
    starts = _segments(step, edges)
    return np.concatenate(
        [
            _first_per_segment(np.isnan(value), starts),
            _first_per_segment(value == np.inf, starts),
            _first_per_segment(value == -np.inf, starts),
        ]
    )


def reduce(step: Steps, value: Values, points: int, time: Values | None = None) -> Curve:
    """``step`` sorted ascending (unique), ``value`` and ``time`` (wall times; None: all
    unknown) the same length; ``points`` >= 2. Each point kept keeps its own time."""
    n = len(step)
    if time is None:
        time = np.full(n, np.nan)
    if n <= points:
        return Curve(step, value, True, time)
    edges, _ = bucket_edges(int(step[0]), int(step[-1]), points)
    starts = _segments(step, edges)
    finite = finite_only(value)
    imin, imax = segment_extremes(finite, finite, starts)
    index = np.unique(np.concatenate([imin, imax, _non_finite(step, value, edges)]))
    return Curve(step[index], value[index], False, time[index])


def reduce_blocks(
    block_start: Steps,
    min_step: Steps,
    min_value: Values,
    max_step: Steps,
    max_value: Values,
    odd_step: Steps,
    odd_value: Values,
    edges: Steps,
    min_time: Values,
    max_time: Values,
    odd_time: Values,
) -> Curve:
    """``reduce`` from block summaries (blocks in step order, each with its first finite
    min and max and their wall times, NaN when it has none) and the range's non-finite
    points (``odd_*``, in step order), for block-aligned ``edges``."""
    if len(block_start):
        starts = _segments(block_start, edges)
        imin, imax = segment_extremes(min_value, max_value, starts)
    else:
        imin = imax = np.empty(0, np.intp)
    odd = _non_finite(odd_step, odd_value, edges)
    step = np.concatenate([min_step[imin], max_step[imax], odd_step[odd]])
    value = np.concatenate([min_value[imin], max_value[imax], odd_value[odd]])
    time = np.concatenate([min_time[imin], max_time[imax], odd_time[odd]])
    order = np.unique(step, return_index=True)[1]
    return Curve(step[order], value[order], False, time[order])
