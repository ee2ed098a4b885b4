"""Pure: cut a sorted series down to what a chart can draw, keeping every extreme.

``reduce(step, value, points)`` returns every point when there are at most ``points``;
otherwise it splits the steps' span into ``points // 2`` buckets of equal step width and keeps,
in each bucket, the point with the smallest and the point with the largest *finite* value
(a spike is never averaged away). Non-finite values are not comparable, so they are kept as
points of their own: in each bucket, the first NaN, the first +inf and the first -inf there
(at most three more points a bucket, and only in buckets that hold such values). A curve
with no non-finite value returns at most ``points`` points; one with some returns at most
``points + 3 * (points // 2)``. The points come back in step order, so a chart draws the
bucket's minimum and maximum as the vertical stroke they are.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from tracking.records import Steps, Values
from tracking.store.rows import Curve

Index = npt.NDArray[np.intp]


def _first_per_segment(mask: npt.NDArray[np.bool_], starts: Index) -> Index:
    """Index of the first True of ``mask`` in each segment (``starts`` ascending) with one."""
    hits = np.flatnonzero(mask)
    if not len(hits):
        return hits
    seg = np.searchsorted(starts, hits, side="right")
    lead = np.ones(len(hits), dtype=bool)
    lead[1:] = seg[1:] != seg[:-1]
    return hits[lead]


def reduce(step: Steps, value: Values, points: int) -> Curve:
    """``step`` sorted ascending (unique), ``value`` the same length; ``points`` >= 2."""
    n = len(step)
    if n <= points:
        return Curve(step, value, True)
    buckets = max(1, points // 2)
    lo, hi = int(step[0]), int(step[-1])
    width = (hi - lo + 1) / buckets
    inner = lo + np.floor(np.arange(1, buckets) * width).astype(np.int64)
    starts = np.concatenate(([0], np.searchsorted(step, inner, side="left")))
    ends = np.concatenate((starts[1:], [n]))
    starts = starts[starts < ends]
    counts = np.diff(np.concatenate((starts, [n])))

    finite = np.isfinite(value)
    if bool(finite.all()) or not bool(np.isinf(value).any()):
        # fmin/fmax skip NaN, and NaN never equals the bucket's extreme: no copies needed
        low = high = value
        mins = np.fmin.reduceat(value, starts)
        maxs = np.fmax.reduceat(value, starts)
    else:
        low = np.where(finite, value, np.inf)
        high = np.where(finite, value, -np.inf)
        mins = np.minimum.reduceat(low, starts)
        maxs = np.maximum.reduceat(high, starts)
    keep = [
        _first_per_segment(low == np.repeat(mins, counts), starts),
        _first_per_segment(high == np.repeat(maxs, counts), starts),
    ]
    if not bool(finite.all()):
        # a bucket with no finite value matched its +inf/-inf stand-in above: drop those
        keep = [k[finite[k]] for k in keep]
        keep.append(_first_per_segment(np.isnan(value), starts))
        keep.append(_first_per_segment(value == np.inf, starts))
        keep.append(_first_per_segment(value == -np.inf, starts))
    index = np.unique(np.concatenate(keep))
    return Curve(step[index], value[index], False)
