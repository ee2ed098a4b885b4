"""Issue 13: a long run on the Comparison tab is read in buckets, not step by step, and draws
what a step-by-step pass would (the raw line's extremes exactly, the smoothed line within the
block means' 1e-4)."""

from __future__ import annotations

import math

import numpy as np

import simulator as sim
from simulator import compare, series


def test_a_long_recipe_draws_every_buckets_true_extremes_and_its_mean() -> None:
    cfg = sim.preset("llama-2-7b")  # 476,838 steps: past compare.BUCKETED_FROM
    assert cfg.total_steps > compare.BUCKETED_FROM
    a = compare.analyse_recipe("k", "x", cfg, smoothing=0.6)
    c = a.curve
    assert c is not None and c.raw is not None and c.raw_x is not None
    full = np.concatenate(
        [m["train_loss"] for m in sim.iter_metrics(a.state, 0, a.state.step)]
    ).astype(np.float64)
    size = 512  # 1 << ceil(log2(476,838 / SMOOTH_POINTS))
    keep = series.bucket_indices(full, size)
    assert c.raw.size <= compare.MAX_POINTS
    np.testing.assert_array_equal(c.raw_x["step"], keep + 1)
    np.testing.assert_array_equal(c.raw, full[keep])
    starts = np.arange(0, full.size, size)
    means = np.add.reduceat(full, starts) / np.diff(np.append(starts, full.size))
    line, _ = series.ema_smooth(means, 0.6)
    np.testing.assert_allclose(c.train, line, rtol=1e-3)
    stepwise = compare.analyse_state("k", "x", a.state, curve=False).final
    assert a.final.train_loss == stepwise.train_loss
    assert math.isclose(a.final.val_loss, float(c.val[-1]))
