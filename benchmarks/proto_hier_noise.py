"""Prototype (issue 13, not used by the simulator): per-step noise whose bucket extremes are
read without drawing every step, and agree exactly with the steps when they are read.

Run: ``.venv/bin/python benchmarks/proto_hier_noise.py`` (prints figures; asserts exactness).

The model. Step i's noise is a uniform u_i in (0, 1), i.i.d. over steps, but drawn top-down
over aligned power-of-two blocks of a fixed tree covering [0, 2^22) (so a value never depends
on the run's length or on what was read before). A block's state is its fixed points (values
already drawn inside it, by it or by its ancestors) and an interval (lo, hi) in which its
f other ("free") values are i.i.d. uniform. Expanding a block draws, from a counter-based
stream keyed by (seed, level, block) (``simulator.rng``, Philox):

- the free values' maximum M = lo + (hi - lo) V^(1/f), at a free position chosen uniformly;
- their minimum m = lo + (M - lo) (1 - (1 - V')^(1/(f - 1))), at another free position;

after which the f - 2 others are i.i.d. uniform in (m, M) (order statistics of i.i.d.
uniforms), so each half-block is again in that state. Every fixed point is a step's final
value; a block's minimum and maximum are the extremes of its fixed points. Reading bucket
extremes at level k expands only the blocks above k overlapping the range (about 2 per bucket
plus 22); reading steps descends to level 0 and returns the same values at the same steps.
A Gaussian is the monotone map Phi^-1(u), applied only to the points drawn.

Measured (2 shared cores, load ~6): ~600 buckets' extremes cost 3.5-4.5 ms of CPU at 1k, 100k,
1M and 4M steps alike; reading every step costs ~400-600 ns a step, slower than the whole
per-step model today (~180 ns), so ticks and the CSV export would need a faster descent.

What it does not do yet (why it is not in ``simulator.dynamics``): the logged loss is
clean_i x (1 + s (0.5 wobble_i + z_i)) + spikes, so a bucket's loss extremes are where the
noise's are only if the clean trend and the 64-step wobble do not move within the bucket
(see the figures below for the trend). Merging needs: the wobble folded into this process or
dropped; branch-and-bound over the tree where the trend moves (descend into blocks whose
upper bound clean_max x (1 + s z_max) beats the best lower bound; per step in the few early
buckets); spikes as a sparse event process (their own hazard stream, not the per-step
uniform); tokens/s jitter as i.i.d. per-step draws (today a difference of consecutive
uniforms, which telescopes the wall clock; an i.i.d. jitter needs block sums for the wall
clock, and conditioning on sums and extremes at once has no simple exact split); and the
smoothed line's bucket means, which need block sums too (a clean-line mean plus the noise's
known zero mean would do for the smoothed line only).
"""

from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from simulator.rng import uniform_pairs

LEVELS = 22  # the tree covers 2^22 = 4,194,304 steps >= MAX_STEPS
STREAM_BASE = 64  # streams 64 + level: far from the simulator's own (1-3)
FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


def _draws(seed: int, level: int, first: int, last: int) -> tuple[FloatArray, ...]:
    """Four uniforms per block of ``level`` for blocks first..last (inclusive)."""
    a1, a2 = uniform_pairs(seed, STREAM_BASE + level, 2 * first, 2 * last + 2)
    return a1[0::2], a2[0::2], a1[1::2], a2[1::2]


_NONE = np.iinfo(np.int64).max


def _nth_free(j: IntArray, table: IntArray) -> IntArray:
    """The j-th free offset in each block: ``table`` holds each block's fixed offsets, sorted,
    padded with a sentinel."""
    out = j.copy()
    for r in range(table.shape[1]):
        out += table[:, r] <= out
    return out


def read(seed: int, start: int, stop: int, level: int) -> tuple[IntArray, FloatArray]:
    """Expand the tree down to ``level`` over steps [start, stop): the fixed points (sorted
    steps and their uniforms) of every block of ``level`` overlapping the range."""
    pos = np.empty(0, dtype=np.int64)
    val = np.empty(0)
    lo_hi = np.array([[0.0, 1.0]])
    first = 0
    for lev in range(LEVELS, level - 1, -1):
        size = 1 << lev
        b0, b1 = start >> lev, (stop - 1) >> lev
        blocks = np.arange(b0, b1 + 1, dtype=np.int64)
        # Each block's interval is its parent's (the parent's blocks start at ``first``).
        if lev < LEVELS:
            lo_hi = lo_hi[(blocks >> 1) - first]
        first = b0
        bounds = np.searchsorted(pos, np.append(blocks, b1 + 1) * size)
        nfixed = np.diff(bounds)
        # Each block's fixed offsets as a row (sorted, as ``pos`` is), padded with a sentinel.
        table = np.full((blocks.size, int(nfixed.max(initial=0)) + 1), _NONE)
        inside = np.arange(bounds[0], bounds[-1])
        owner = np.searchsorted(bounds, inside, side="right") - 1
        table[owner, inside - bounds[owner]] = pos[inside] - blocks[owner] * size
        free = size - nfixed
        v1, u2, v3, u4 = _draws(seed, lev, b0, b1)
        lo, hi = lo_hi[:, 0].copy(), lo_hi[:, 1].copy()
        has1, has2 = free >= 1, free >= 2
        f1 = np.maximum(free, 1).astype(np.float64)
        top = lo + (hi - lo) * np.power(v1, 1.0 / f1)
        j_top = np.minimum((u2 * f1).astype(np.int64), np.maximum(free - 1, 0))
        p_top = _nth_free(j_top, table)
        f2 = np.maximum(free - 1, 1).astype(np.float64)
        bottom = lo + (top - lo) * -np.expm1(np.log1p(-v3) / f2)
        j_bot = np.minimum((u4 * f2).astype(np.int64), np.maximum(free - 2, 0))
        table[:, -1] = np.where(has1, p_top, _NONE)
        p_bot = _nth_free(j_bot, np.sort(table, axis=1))
        new_pos = np.concatenate([(blocks * size + p_top)[has1], (blocks * size + p_bot)[has2]])
        new_val = np.concatenate([top[has1], bottom[has2]])
        order = np.argsort(np.concatenate([pos, new_pos]), kind="stable")
        pos = np.concatenate([pos, new_pos])[order]
        val = np.concatenate([val, new_val])[order]
        lo_hi = np.stack([np.where(has2, bottom, lo), np.where(has1, top, hi)], axis=1)
    inside = (pos >= start) & (pos < stop)
    return pos[inside], val[inside]


def bucket_extremes(seed: int, start: int, stop: int, level: int) -> dict[str, NDArray]:
    """Per block of ``level`` in [start, stop): step and value of its minimum and maximum."""
    pos, val = read(seed, start, stop, level)
    block = pos >> level
    out: dict[str, list[float]] = {"block": [], "min_at": [], "min": [], "max_at": [], "max": []}
    edges = np.flatnonzero(np.diff(block)) + 1
    for p, v in zip(np.split(pos, edges), np.split(val, edges), strict=True):
        i, k = int(np.argmin(v)), int(np.argmax(v))
        out["block"].append(float(p[0] >> level))
        out["min_at"].append(float(p[i]))
        out["min"].append(float(v[i]))
        out["max_at"].append(float(p[k]))
        out["max"].append(float(v[k]))
    return {k: np.asarray(v) for k, v in out.items()}


def steps(seed: int, start: int, stop: int) -> FloatArray:
    """Every step's uniform in [start, stop) (descends to the leaves)."""
    pos, val = read(seed, start, stop, 0)
    assert pos.size == stop - start and np.array_equal(pos, np.arange(start, stop))
    return val


def _timed(fn, repeat: int = 5) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    best, out = math.inf, None
    for _ in range(repeat):
        t = time.process_time()
        out = fn()
        best = min(best, time.process_time() - t)
    return best, out


def main() -> None:
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    seed = 12345
    print("Bucket extremes (min, max and their steps) of ~600 buckets, CPU time (best of 5):")
    for n, bucket in ((1_000, 2), (100_000, 256), (1_000_000, 2048), (4_000_000, 8192)):
        level = bucket.bit_length() - 1
        dt, ext = _timed(lambda n=n, level=level: bucket_extremes(seed, 0, n, level))
        print(
            f"  {n:>9,} steps, buckets of {bucket:>5}: {1000 * dt:6.1f} ms, "
            f"{len(ext['block'])} buckets"
        )  # type: ignore[index]
    print("Every step's value (descending to the leaves), CPU time:")
    for n in (8192, 131_072):
        dt, _ = _timed(lambda n=n: steps(seed, 2_000_000, 2_000_000 + n), repeat=3)
        print(f"  {n:>7,} steps: {1000 * dt:7.1f} ms ({1e9 * dt / n:.0f} ns a step)")

    print("Exactness: bucket extremes read at the bucket level equal the steps' extremes:")
    level = 13
    ext = bucket_extremes(seed, 0, 4_000_000, level)
    rng = np.random.default_rng(0)
    picks = rng.choice(len(ext["block"]), 12, replace=False)
    for k in map(int, picks):
        b = int(ext["block"][k])
        u = steps(seed, b << level, min((b + 1) << level, 4_000_000))
        assert float(u.max()) == ext["max"][k] and float(u.min()) == ext["min"][k]
        assert (b << level) + int(u.argmax()) == int(ext["max_at"][k])
        assert (b << level) + int(u.argmin()) == int(ext["min_at"][k])
    whole, part = steps(seed, 0, 1 << 17), steps(seed, 40_000, 90_000)
    assert np.array_equal(whole[40_000:90_000], part)  # slice equality
    print(
        "  12 random buckets of 8,192 steps at MAX_STEPS: exact (value and step); "
        "steps [40,000, 90,000) read alone equal the same steps of [0, 131,072)"
    )

    print("The steps look i.i.d. uniform (131,072 steps from step 0):")
    z = np.sort(whole)
    ks = float(np.max(np.abs(z - (np.arange(z.size) + 0.5) / z.size)))
    lag1 = float(np.corrcoef(whole[:-1], whole[1:])[0, 1])
    print(
        f"  mean {whole.mean():.4f} (0.5), var {whole.var():.4f} (0.0833), KS distance "
        f"{ks:.4f} (5% critical {1.36 / math.sqrt(z.size):.4f}), lag-1 corr {lag1:+.4f}"
    )
    top, low = ext["max"][:-1], ext["min"][:-1]  # whole buckets of 8,192 steps
    se = 1.0 / 8193 / math.sqrt(top.size)
    print(
        f"  {top.size} buckets of 8,192: mean max 1 - {1 - top.mean():.3e}, mean min "
        f"{low.mean():.3e} (both expected 1/8193 = {1 / 8193:.3e} +- {se:.1e})"
    )
    _trend()
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def _trend() -> None:
    """How often the clean loss moves within a bucket by more than the noise hides it."""
    import simulator as sim
    from simulator import dynamics

    print("Buckets where the clean loss moves more than 0.25 of the noise's sigma within the")
    print("bucket (there the noise's extreme need not be the loss's; branch-and-bound or per")
    print("step), Llama 2 7B:")
    for total, batch, gpus in ((1_000_000, 2**21, 256), (4_000_000, 2**19, 128)):
        cfg = sim.preset(
            "llama-2-7b", global_batch_tokens=batch, num_gpus=gpus, dataset_tokens=total * batch
        )
        tl = sim.new_run(cfg).timeline
        n = tl.total_steps
        size = 1 << max(0, math.ceil(math.log2(n / 600)))
        edges = np.arange(0, n, size, dtype=np.int64)
        clean, _ = dynamics.clean_loss(tl, np.append(edges, n - 1))
        s = float(dynamics.noise_scale(batch))
        moves = np.abs(np.diff(clean)) / clean[1:]
        many = int(np.sum(moves > 0.25 * s))
        last = int(edges[np.flatnonzero(moves > 0.25 * s)].max(initial=0))
        print(
            f"  {n:>9,} steps, buckets of {size}: {many} of {edges.size} (the last at step "
            f"{last:,}); noise sigma {100 * s:.2f}% of the loss"
        )


if __name__ == "__main__":
    main()
