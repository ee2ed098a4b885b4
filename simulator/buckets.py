"""A run's charts in buckets, at a cost that does not grow with the run's length (issue 13).

A chart of a run cuts its steps into buckets of ``size`` steps (a power of two) and draws, per
bucket, the first and last step, the step of the minimum and of the maximum, and the first and
last non-finite step: exactly the points ``series.bucket_indices`` keeps from every step. Here
the extremes are found without drawing every step:

- Steps below ``dynamics.EARLY_EXACT`` and the few steps of a divergence are read one by one.
- Elsewhere a bucket is cut into aligned blocks inside the noise's cells
  (``noise.aligned_blocks``). In a block the trend is linear, the spikes' tails only decay,
  and the metric grows with its noise draw, so the step of the block's largest draw
  (``noise.normal_blocks``, one lookup) gives an exact value (a lower bound of the block's
  maximum) and the block's largest draw with the trend's ends gives an upper bound. Blocks
  whose bound cannot beat the best value found are dropped, the others halved (branch and
  bound), down to 4 steps read one by one. A block with a spike's start or end, a mid-run
  change or the warmup's peak inside it is always halved.

The values at the kept steps come from ``dynamics.evaluate``, the same function every step of
``dynamics.compute`` comes from, so a bucket's extremes here and over every step agree exactly.

Smoothing works on the buckets, as TensorBoard and W&B smooth the points they draw: a smoothed
line is the debiased EMA of each bucket's mean (its value at one step a bucket), so the slider
moves it at any run length. The means of long blocks are read from the noise's block sums
with the trend at the block's middle (within ~1e-4 of the mean of every step); the
throughput's is the bucket's tokens over its time, exactly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from simulator import dynamics as dyn
from simulator import noise
from simulator import timeline as tlm

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

LEADERS = ("train_loss", "grad_norm", "tokens_per_sec")
STEP_READ_MAX = 16_384  # past the early steps, ranges up to this long are read step by step


@dataclass(frozen=True)
class Buckets:
    """What the charts of steps [start, stop) in buckets of ``size`` steps draw."""

    size: int
    kept: dict[str, IntArray]  # leader -> the steps it keeps (0-based, sorted)
    means: dict[str, FloatArray]  # leader -> each bucket's mean (NaN if it has no finite step)
    ends: IntArray  # each bucket's last step (where its smoothed value is drawn)


def summarise(
    tl: tlm.Timeline,
    seed: int,
    ev: dyn.Events,
    start: int,
    stop: int,
    size: int,
    values: Mapping[str, NDArray[np.generic]] | None = None,
) -> Buckets:
    """The buckets of steps [start, stop) (``start`` a multiple of ``size``; the last bucket
    may be short). ``ev`` holds the spikes of [start - LOOKBACK, stop) and the divergence.

    ``values``, the leaders' values at every step of the range when the caller has them (a
    tick just computed its steps), saves reading them again for a short range."""
    nb = max(0, math.ceil((stop - start) / size))
    b_start = start + np.arange(nb, dtype=np.int64) * size
    b_end = np.minimum(b_start + size, stop)  # exclusive
    kept: dict[str, IntArray] = {}
    means: dict[str, FloatArray] = {}
    if nb == 0:
        empty = np.empty(0, dtype=np.int64)
        return Buckets(size, {k: empty for k in LEADERS}, {k: np.empty(0) for k in LEADERS}, empty)
    div = ev.diverged_at
    dead = stop if div is None else max(start, min(stop, div + dyn.DIVERGE_RAMP + 1))
    # Steps read one by one: the early steps (all leaders) and a divergence's ramp (loss and
    # grad); each range is computed once for the leaders that read it.
    exact_to = min(stop, max(start, dyn.EARLY_EXACT))
    smooth_end = {k: stop for k in LEADERS}
    spans: dict[str, list[tuple[int, int]]] = {k: [(start, exact_to)] for k in LEADERS}
    if div is not None and div < stop:
        for k in ("train_loss", "grad_norm"):
            smooth_end[k] = max(exact_to, min(stop, div))
            spans[k].append((smooth_end[k], dead))
    # A short range (a tick's buckets) is read step by step: cheaper than the bounds' rounds,
    # and the same extremes. The means still come from the blocks, as a full draw's do.
    by_step = stop - exact_to <= STEP_READ_MAX
    rest_spans = {k: [(exact_to, smooth_end[k])] for k in LEADERS}
    if values is not None and stop - start == len(values["train_loss"]):
        read, rest = _sliced(values, spans, start), _sliced(values, rest_spans, start)
    else:
        read = _read_exact(tl, seed, ev, spans)
        rest = _read_exact(tl, seed, ev, rest_spans) if by_step else {}
    blocks = _blocks(exact_to, stop, start, size)
    cache = dyn.TrendCache(tl, exact_to, stop)
    for leader in LEADERS:
        found = _Best(nb)
        sums = np.zeros(nb)
        counts = np.zeros(nb)
        for steps, v in read[leader]:
            _offer_exact(steps, v, start, size, found, sums, counts)
        if smooth_end[leader] > exact_to:
            own = (
                blocks
                if smooth_end[leader] == stop
                else _blocks(exact_to, smooth_end[leader], start, size)
            )
            if by_step:
                for steps, v in rest[leader]:
                    _offer_exact(steps, v, start, size, found, np.zeros(nb), np.zeros(nb))
            else:
                _branch_and_bound(tl, seed, ev, leader, own, found, cache)
            _block_means(tl, seed, ev, leader, own, sums, counts, cache)
        keep = [b_start, b_end - 1, found.hi_step[found.hi_step >= 0]]
        keep.append(found.lo_step[found.lo_step >= 0])
        keep += found.nan_steps
        if leader != "tokens_per_sec" and dead < stop:  # NaN from here on: first and last
            d_b = np.flatnonzero(b_end > dead)
            keep += [np.maximum(b_start[d_b], dead), b_end[d_b] - 1]
        kept[leader] = np.unique(np.concatenate(keep))
        with np.errstate(invalid="ignore", divide="ignore"):
            means[leader] = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    means["tokens_per_sec"] = _throughput_means(tl, seed, b_start, b_end)
    return Buckets(size, kept, means, b_end - 1)


@dataclass
class _Best:
    """Per bucket: the best maximum and minimum found so far and their steps."""

    nb: int

    def __post_init__(self) -> None:
        self.hi = np.full(self.nb, -np.inf)
        self.hi_step = np.full(self.nb, -1, dtype=np.int64)
        self.lo = np.full(self.nb, np.inf)
        self.lo_step = np.full(self.nb, -1, dtype=np.int64)
        self.nan_steps: list[IntArray] = []

    def offer(self, owner: IntArray, steps: IntArray, values: FloatArray) -> None:
        """Candidates (finite values only); ties go to the earlier step, as ``argmax`` does."""
        ok = np.isfinite(values)
        owner, steps, values = owner[ok], steps[ok], values[ok]
        if not owner.size:
            return
        for sign, best, best_step in ((1.0, self.hi, self.hi_step), (-1.0, self.lo, self.lo_step)):
            v = sign * values
            top = sign * best  # the best so far, as a maximum
            np.maximum.at(top, owner, v)
            at_top = v == top[owner]
            first = np.full(self.nb, np.iinfo(np.int64).max, dtype=np.int64)
            np.minimum.at(first, owner[at_top], steps[at_top])
            moved = first < np.iinfo(np.int64).max
            moved &= (top > sign * best) | (best_step < 0) | (first < best_step)
            best[moved] = sign * top[moved]
            best_step[moved] = first[moved]


def _values(
    tl: tlm.Timeline,
    seed: int,
    ev: dyn.Events,
    leader: str,
    steps: IntArray,
    cache: dyn.TrendCache,
) -> FloatArray:
    if leader == "tokens_per_sec":
        return dyn.throughput(tl, seed, steps)
    if leader == "train_loss":
        return dyn.train_loss(tl, seed, steps, ev, cache(steps))
    return dyn.grad_norm(tl, seed, steps, ev, cache(steps))


def _read_exact(
    tl: tlm.Timeline, seed: int, ev: dyn.Events, spans: dict[str, list[tuple[int, int]]]
) -> dict[str, list[tuple[IntArray, FloatArray]]]:
    """Each leader's values over its step-by-step ranges (loss and grad share their reads)."""
    out: dict[str, list[tuple[IntArray, FloatArray]]] = {k: [] for k in spans}
    shared: dict[tuple[int, int], tuple[FloatArray, FloatArray]] = {}
    for leader, ranges in spans.items():
        for a, b in ranges:
            if b <= a:
                continue
            steps = np.arange(a, b, dtype=np.int64)
            if leader == "tokens_per_sec":
                out[leader].append((steps, dyn.throughput(tl, seed, steps)))
                continue
            if (a, b) not in shared:
                tr = dyn.trend(tl, steps)
                shared[(a, b)] = (
                    dyn.train_loss(tl, seed, steps, ev, tr),
                    dyn.grad_norm(tl, seed, steps, ev, tr),
                )
            loss, grad = shared[(a, b)]
            out[leader].append((steps, loss if leader == "train_loss" else grad))
    return out


def _sliced(
    values: Mapping[str, NDArray[np.generic]],
    spans: dict[str, list[tuple[int, int]]],
    start: int,
) -> dict[str, list[tuple[IntArray, FloatArray]]]:
    """``_read_exact``'s answer cut from values the caller already has."""
    return {
        k: [
            (
                np.arange(a, b, dtype=np.int64),
                np.asarray(values[k], dtype=np.float64)[a - start : b - start],
            )
            for a, b in ranges
            if b > a
        ]
        for k, ranges in spans.items()
    }


def _offer_exact(
    steps: IntArray,
    v: FloatArray,
    start: int,
    size: int,
    found: _Best,
    sums: FloatArray,
    counts: FloatArray,
) -> None:
    """Steps read one by one: extremes, non-finite ends and sums per bucket."""
    owner = (steps - start) // size
    found.offer(owner, steps, v)
    bad = ~np.isfinite(v)
    if bad.any():
        o, s = owner[bad], steps[bad]
        first = np.ones(o.size, dtype=bool)
        first[1:] = o[1:] != o[:-1]
        last = np.ones(o.size, dtype=bool)
        last[:-1] = o[1:] != o[:-1]
        found.nan_steps += [s[first], s[last]]
    fin = ~bad
    np.add.at(sums, owner[fin], v[fin])
    np.add.at(counts, owner[fin], 1.0)


def _blocks(a: int, b: int, start: int, size: int) -> tuple[IntArray, IntArray, IntArray]:
    """[a, b) cut into aligned blocks inside cells and inside buckets, with their bucket."""
    level = int(size).bit_length() - 1
    starts, levels = noise.aligned_blocks(a, b, level)
    return starts, levels, (starts - start) // size


def _irregular(tl: tlm.Timeline, ev: dyn.Events, a: IntArray, e: IntArray) -> NDArray[np.bool_]:
    """Blocks [a, e] whose metric is not monotone in its draw with linear trend: a knot other
    than the cell's ends, a spike's jump or end, or its gradient multiplier, inside."""
    out = np.zeros(a.shape, dtype=bool)
    marks = [dyn._extra_knots(tl)]
    if ev.steps.size:
        k = ev.steps
        marks.append(k + dyn.SPIKE_LEAD + 1)  # the loss jumps
    for m in marks:
        if m.size:
            m = np.sort(m)
            # any mark in (a, e]: a jump or kink between two steps of the block
            out |= np.searchsorted(m, e, side="right") > np.searchsorted(m, a, side="right")
    if ev.steps.size:  # a gradient multiplier anywhere in [a, e]
        for d in range(len(dyn.SHARES)):
            m = ev.steps + d
            out |= np.searchsorted(m, e, side="right") > np.searchsorted(m, a, side="left")
    return out


def _bounds(
    tl: tlm.Timeline,
    seed: int,
    ev: dyn.Events,
    leader: str,
    a: IntArray,
    levels: IntArray,
    cache: dyn.TrendCache,
) -> tuple[FloatArray, FloatArray, IntArray, IntArray]:
    """Upper and lower bounds of the metric over each block, and the steps whose exact values
    are the best candidates for its maximum and minimum."""
    e = a + (np.int64(1) << levels) - 1
    irregular = _irregular(tl, ev, a, e)
    if leader == "tokens_per_sec":
        u_hi, s_uhi, u_lo, s_ulo, _ = noise.uniform_blocks(seed, noise.U_JITTER, a, levels)
        idx = tl.segment_index(a)
        ss = tl.const(idx, lambda s: s.step_seconds)
        batch = tl.const(idx, lambda s: s.cfg.global_batch_tokens)
        k = tl.const(idx, lambda s: s.cfg.resolved_checkpoint_interval)
        stall = tl.const(idx, lambda s: s.checkpoint_seconds)
        has_ckpt = np.floor((e + 1) / k) > np.floor(a / k)
        j = tlm.JITTER
        fast = ss * (1.0 + j * ((u_lo + 0.5) * noise.INV_2_32 - 0.5))
        slow = ss * (1.0 + j * ((u_hi + 0.5) * noise.INV_2_32 - 0.5)) + np.where(
            has_ckpt, stall, 0.0
        )
        hi, lo = batch / fast, batch / slow
        irregular |= tl.segment_index(e) != idx
        return np.where(irregular, np.inf, hi), np.where(irregular, -np.inf, lo), s_ulo, s_uhi
    stream = noise.Z_LOSS if leader == "train_loss" else noise.Z_GRAD
    z_hi, s_hi, z_lo, s_lo, _ = noise.normal_blocks(seed, stream, a, levels)
    both = cache(np.concatenate([a, e]))
    n = a.size
    ta = dyn.Trend(both.train[:n], both.val[:n], both.scale[:n], both.grad[:n])
    te = dyn.Trend(both.train[n:], both.val[n:], both.scale[n:], both.grad[n:])
    if leader == "train_loss":
        wa, we = dyn.wobble(seed, a), dyn.wobble(seed, e)
        c_hi, c_lo = np.maximum(ta.train, te.train), np.minimum(ta.train, te.train)
        s_top, s_bot = np.maximum(ta.scale, te.scale), np.minimum(ta.scale, te.scale)
        x_hi = 0.5 * np.maximum(wa, we) + z_hi
        x_lo = 0.5 * np.minimum(wa, we) + z_lo
        # c (1 + s x) with c > 0 and 1 + s x > 0 (|s x| < 0.77): largest at c_hi, x_hi and
        # the s that makes s x largest; the spikes' tails only decay over a regular block.
        hi = c_hi * (1.0 + np.where(x_hi >= 0, s_top, s_bot) * x_hi) + ev.tail(a)
        lo = c_lo * (1.0 + np.where(x_lo < 0, s_top, s_bot) * x_lo) + ev.tail(e)
    else:
        coef = dyn.grad_noise_coef(tl, tl.segment_index(a))
        g_hi, g_lo = np.maximum(ta.grad, te.grad), np.minimum(ta.grad, te.grad)
        hi = g_hi * np.exp(coef * z_hi)
        lo = g_lo * np.exp(coef * z_lo)
    return np.where(irregular, np.inf, hi), np.where(irregular, -np.inf, lo), s_hi, s_lo


SPLIT = 2  # a surviving block is cut into 2^SPLIT children per round


def _branch_and_bound(
    tl: tlm.Timeline,
    seed: int,
    ev: dyn.Events,
    leader: str,
    blocks: tuple[IntArray, IntArray, IntArray],
    found: _Best,
    cache: dyn.TrendCache,
) -> None:
    """Exact extremes per bucket over [a, b) (no divergence inside), offered to ``found``.

    Both searches share one frontier: a block stays while its upper bound can still beat the
    best maximum of its bucket (``want_hi``) or its lower bound the best minimum (``want_lo``).
    """
    s, lv, ow = blocks
    want_hi = np.ones(s.size, dtype=bool)
    want_lo = want_hi.copy()
    while s.size:
        leaf = lv <= noise.LEAF_LEVEL
        if leaf.any():
            steps, which = noise.leaf_steps(s[leaf], lv[leaf])
            order = np.argsort(steps, kind="stable")  # in step order: cells share their hashes
            steps, which = steps[order], which[order]
            found.offer(ow[leaf][which], steps, _values(tl, seed, ev, leader, steps, cache))
            keep = ~leaf
            s, lv, ow, want_hi, want_lo = s[keep], lv[keep], ow[keep], want_hi[keep], want_lo[keep]
            if not s.size:
                break
        hi, lo, cand_hi, cand_lo = _bounds(tl, seed, ev, leader, s, lv, cache)
        cand = np.concatenate([cand_hi[want_hi], cand_lo[want_lo]])
        owners = np.concatenate([ow[want_hi], ow[want_lo]])
        found.offer(owners, cand, _values(tl, seed, ev, leader, cand, cache))
        want_hi &= hi > found.hi[ow]
        want_lo &= lo < found.lo[ow]
        keep = want_hi | want_lo
        s, lv, ow, want_hi, want_lo = s[keep], lv[keep], ow[keep], want_hi[keep], want_lo[keep]
        step = np.minimum(SPLIT, lv - noise.LEAF_LEVEL)  # levels to go down this round
        n = np.int64(1) << step
        rep = np.repeat(np.arange(s.size), n)
        child = np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)
        new_lv = np.repeat(lv - step, n)
        s = s[rep] + child * (np.int64(1) << new_lv)
        lv, ow, want_hi, want_lo = new_lv, ow[rep], want_hi[rep], want_lo[rep]
        # Blocks in step order: lookups by step (knots, marks, cells) run on sorted keys.
        order = np.argsort(s, kind="stable")
        s, lv, ow, want_hi, want_lo = s[order], lv[order], ow[order], want_hi[order], want_lo[order]


def _block_means(
    tl: tlm.Timeline,
    seed: int,
    ev: dyn.Events,
    leader: str,
    blocks: tuple[IntArray, IntArray, IntArray],
    sums: FloatArray,
    counts: FloatArray,
    cache: dyn.TrendCache,
) -> None:
    """Each bucket's sum over [a, b) from block sums (the trend at each block's middle)."""
    if leader == "tokens_per_sec":
        return  # exact from the clock (``_throughput_means``)
    starts, levels, owner = blocks
    n = (np.int64(1) << levels).astype(np.float64)
    mid = starts + (np.int64(1) << levels) // 2
    tr = cache(mid)
    if leader == "train_loss":
        z_sum = noise.normal_blocks(seed, noise.Z_LOSS, starts, levels)[4]
        base = tr.train * (1.0 + tr.scale * 0.5 * dyn.wobble(seed, mid))
        total = (
            n * base
            + tr.train * tr.scale * z_sum
            + ev.tail_sum(starts, starts + n.astype(np.int64))
        )
    else:
        z_sum = noise.normal_blocks(seed, noise.Z_GRAD, starts, levels)[4]
        coef = dyn.grad_noise_coef(tl, tl.segment_index(mid))
        # the mean of exp(c z) over n draws whose mean is z_sum / n: exact for one draw, the
        # log-normal's mean exp(c^2 / 2) for many
        total = n * tr.grad * np.exp(coef * z_sum / n + 0.5 * coef**2 * (1.0 - 1.0 / n))
    np.add.at(sums, owner, total)
    np.add.at(counts, owner, n)


def _throughput_means(
    tl: tlm.Timeline, seed: int, b_start: IntArray, b_end: IntArray
) -> FloatArray:
    """Each bucket's tokens over the seconds it took (one clock read for both ends)."""
    ends = np.concatenate([b_end - 1, np.maximum(b_start - 1, 0)])
    idx = tl.segment_index(ends)
    wall = tlm.wall_at(tl, seed, ends, idx)
    tokens = tlm.tokens_after(tl, idx, ends)
    n = b_start.size
    first = b_start == 0
    t_before = np.where(first, 0.0, wall[n:])
    k_before = np.where(first, 0.0, tokens[n:])
    out: FloatArray = (tokens[:n] - k_before) / (wall[:n] - t_before)
    return out
