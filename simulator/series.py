"""Smoothing and spike-preserving downsampling of metric series, for charts.

Smoothing is TensorBoard's debiased exponential moving average: non-finite values pass
through untouched and do not update the average; the bias towards the zero start is divided
out (1 - w^count). It is applied before downsampling, so the smoothed line is exact.

Downsampling keeps, for each bucket, the first and last point, the minimum and the maximum,
and the first and last non-finite value. A loss spike at one step in a million is therefore
still on the chart at its true height, and a NaN is never silently dropped; a run of NaN
(a diverged what-if) costs two points per bucket, so the bound always holds.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

POINTS_PER_BUCKET = 6  # first, last, min, max, first and last non-finite
MAX_SMOOTHING = 0.99  # heavier smoothing would need a look-back longer than a tick computes


def smoothing_weight(raw: object) -> float:
    """A smoothing slider's value from the browser as a weight in [0, ``MAX_SMOOTHING``].

    Anything that is not a finite number (text, a bool, NaN, None) means no smoothing.
    """
    if isinstance(raw, bool):
        return 0.0
    try:
        w = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0.0
    return min(MAX_SMOOTHING, max(0.0, w)) if math.isfinite(w) else 0.0


def ema_smooth(
    values: FloatArray, weight: float, carry: tuple[float, int] | None = None
) -> tuple[FloatArray, tuple[float, int]]:
    """TensorBoard's debiased EMA of ``values`` with smoothing ``weight`` in [0, 1).

    Args:
        values: the raw series.
        weight: 0 returns the values unchanged; 0.99 is heavy smoothing.
        carry: ``(last, count)`` from a previous call, to continue a series in pieces.

    Returns:
        The smoothed series and the carry for the next piece.
    """
    if not 0.0 <= weight < 1.0:
        raise ValueError(f"smoothing weight must be in [0, 1), not {weight}")
    y = np.asarray(values, dtype=np.float64)
    last, count = carry if carry is not None else (0.0, 0)
    out = y.copy()
    finite = np.isfinite(y)
    f = y[finite]
    if weight == 0.0 or f.size == 0:
        if f.size:
            last, count = float(f[-1]), count + f.size
        return out, (last, count)
    # EMA as blocks of a closed form: s_k = w^k s_0 + (1 - w) sum_j w^(k-j) y_j. Each block is
    # short enough that w^-block stays finite, and the state is carried between blocks.
    block = max(16, min(4096, int(600.0 / -math.log(weight))))
    sm = np.empty_like(f)
    powers = np.exp(np.arange(1, block + 1, dtype=np.float64) * math.log(weight))  # w^1 .. w^block
    inv = 1.0 / powers
    for a in range(0, f.size, block):
        chunk = f[a : a + block]
        m = chunk.size
        acc = np.cumsum(chunk * inv[:m]) * powers[:m]  # sum_j w^(k-j) y_j, k = 1..m
        sm[a : a + m] = powers[:m] * last + (1.0 - weight) * acc
        last = float(sm[a + m - 1])
    counts = count + np.arange(1, f.size + 1, dtype=np.float64)
    out[finite] = sm / -np.expm1(counts * math.log(weight))  # 1 - w^count (scalar ** array is slow)
    return out, (last, count + f.size)


def downsample_indices(y: FloatArray, max_points: int) -> IntArray:
    """Indices to keep so at most ``max_points`` remain, spikes and non-finite values kept.

    Returns every index when the series already fits. An all-finite series (the common case)
    takes a reshape-only path that keeps the same points about twice as fast.
    """
    n = int(y.size)
    if n <= max_points:
        return np.arange(n, dtype=np.int64)
    buckets = max(1, max_points // POINTS_PER_BUCKET)
    return bucket_indices(y, math.ceil(n / buckets))


def bucket_indices(y: FloatArray, size: int) -> IntArray:
    """Indices kept when ``y`` is cut into buckets of exactly ``size`` points from index 0.

    Each bucket keeps its first, last, minimum and maximum point and its first and last
    non-finite one; the last bucket may be shorter. A caller that cuts a long series into
    pieces starting at multiples of ``size`` gets the same points as from one call over the
    whole series, which is what lets live chart appends continue a full render exactly.
    """
    n = int(y.size)
    if n == 0:
        return np.empty(0, dtype=np.int64)
    if np.isfinite(y).all():
        full = n // size
        base = np.arange(full, dtype=np.int64) * size
        mat = y[: full * size].reshape(full, size)
        keep = [base, base + size - 1, base + mat.argmin(axis=1), base + mat.argmax(axis=1)]
        if full * size < n:
            tail = y[full * size :]
            a = full * size
            keep.append(np.array([a, n - 1, a + tail.argmin(), a + tail.argmax()], dtype=np.int64))
        return np.unique(np.concatenate(keep))
    buckets = math.ceil(n / size)
    pad = buckets * size - n
    yy = np.concatenate([y, np.full(pad, np.nan)]).reshape(buckets, size)
    valid = np.concatenate([np.ones(n, dtype=bool), np.zeros(pad, dtype=bool)]).reshape(
        buckets, size
    )
    finite = np.isfinite(yy)
    base = np.arange(buckets, dtype=np.int64) * size
    keep = [base, np.minimum(base + size, n) - 1]
    has_finite = finite.any(axis=1)
    lo = np.where(finite, yy, np.inf).argmin(axis=1)
    hi = np.where(finite, yy, -np.inf).argmax(axis=1)
    keep += [(base + lo)[has_finite], (base + hi)[has_finite]]
    bad = ~finite & valid
    has_bad = bad.any(axis=1)
    if has_bad.any():
        first_bad = bad.argmax(axis=1)
        last_bad = size - 1 - bad[:, ::-1].argmax(axis=1)
        keep += [(base + first_bad)[has_bad], (base + last_bad)[has_bad]]
    return np.unique(np.concatenate(keep))


def ema_at(
    y: FloatArray, weight: float, carry: tuple[float, int] | None, keep: IntArray
) -> tuple[FloatArray, tuple[float, int]]:
    """``ema_smooth(y, weight, carry)`` evaluated only at the indices ``keep``.

    The debiased EMA at step k is (1 - w) * sum_i w^i y[k - i] / (1 - w^count); terms older
    than ``L`` steps weigh less than w^L < 1e-16 of the newest and are dropped, which is exact
    to float precision. So the smoothed line of a full render costs ``len(keep) * L``
    multiply-adds, not a pass over the run. Heavy smoothing (long L) or a series with
    non-finite values falls back to the full pass.

    Returns:
        The smoothed values at ``keep`` and the carry after the whole of ``y``.
    """
    n = int(y.size)
    last, count = carry if carry is not None else (0.0, 0)
    if n == 0:
        return np.empty(0), (last, count)
    if weight == 0.0:
        sm, new_carry = ema_smooth(y, 0.0, carry)
        return sm[keep], new_carry
    span = math.ceil(37.0 / -math.log(weight))
    if span * (keep.size + 1) > n // 2 or not np.isfinite(y).all():
        sm, new_carry = ema_smooth(y, weight, carry)
        return sm[keep], new_carry
    idx = np.append(keep, n - 1)
    offsets = np.arange(span, dtype=np.int64)
    pos = idx[:, None] - offsets[None, :]
    vals = np.where(pos >= 0, y[np.maximum(pos, 0)], 0.0)
    raw = (1.0 - weight) * (vals @ np.power(weight, offsets.astype(np.float64)))
    near = idx < span  # the carried EMA still counts here
    raw[near] += np.power(weight, idx[near] + 1.0) * last
    counts = count + idx + 1.0
    debiased = raw / -np.expm1(counts * math.log(weight))
    return debiased[:-1], (float(raw[-1]), count + n)
