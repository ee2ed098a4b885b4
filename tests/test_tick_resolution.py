"""Issue 17, item 10: what the live Training charts hold does not depend on how it arrived.

A full render and a render followed by ticks to the same step must draw the same points (same
x, same values), so a throughput band stays a band instead of turning into a zigzag of a few
raw points per tick until the next reload.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest

import simulator as sim
from layouts.figures import training as ft
from views import training_charts as tc
from views.contract import KEEP

# Appended data traces; the planned LR is redrawn whole and the clip threshold is an "hv"
# step line whose extra points change nothing drawn.
DATA_TRACES = [
    (chart, name)
    for chart in ft.CHARTS
    for name in ft.TRACES[chart]
    if name not in ("lr_planned", "grad_clip")
]


def long_run(step: int) -> sim.RunState:
    """A running million-step run at ``step`` (earlier steps are recomputed, not simulated)."""
    cfg = sim.preset(
        "llama-2-7b", global_batch_tokens=2**21, dataset_tokens=1_000_000 * 2**21, num_gpus=512
    )
    return replace(sim.start(sim.new_run(cfg)), step=step, status="running")


def ticked(state: sim.RunState, opts: ft.ChartOptions, ticks: int, speed: int) -> Any:
    """Charts rendered at ``state`` and then appended to by ``ticks`` ticks of ``speed``."""
    r = tc.full_render(state, opts)
    figures, meta = r.figures, r.meta
    for _ in range(ticks):
        new, m = sim.advance_with_metrics(state, speed)
        appends = tc.tick_appends(state, new, m, meta, opts)
        assert appends is not None, "no rebase is due within one bucket size"
        for chart, edit in tc.append_edits(appends).items():
            if edit is not KEEP:
                figures[chart] = edit.apply(figures[chart])
        state, meta = new, appends.meta
    return state, figures, meta


@pytest.mark.parametrize("smoothing", [0.0, 0.6])
def test_render_then_ticks_draws_what_a_full_render_at_that_step_draws(smoothing: float) -> None:
    opts = ft.ChartOptions("step", smoothing, False)
    start = long_run(40_000)
    state, figures, meta = ticked(start, opts, ticks=25, speed=1_000)
    assert state.step == 65_000
    assert tc.bucket_size(65_000) == tc.bucket_size(40_000) == meta.bucket
    full = tc.full_render(state, opts)
    for chart, name in DATA_TRACES:
        i = ft.TRACES[chart].index(name)
        got, want = figures[chart]["data"][i], full.figures[chart]["data"][i]
        assert got["x"] == want["x"], f"{chart}/{name}: x positions differ"
        gy = np.asarray(got["y"], dtype=float)
        wy = np.asarray(want["y"], dtype=float)
        np.testing.assert_allclose(gy, wy, rtol=1e-9, err_msg=f"{chart}/{name}")
    assert full.meta.edge == meta.edge
    for k, (last, count) in full.meta.carry.items():
        assert meta.carry[k][1] == count and meta.carry[k][0] == pytest.approx(last, rel=1e-9)


def test_ticks_keep_the_density_of_a_full_render() -> None:
    """25k steps of ticks draw as many throughput points per step as the render before them."""
    opts = ft.ChartOptions()
    start = long_run(40_000)
    _, figures, _ = ticked(start, opts, ticks=25, speed=1_000)
    i = ft.TRACES["throughput"].index("tokens_per_sec")
    x = np.asarray(figures["throughput"]["data"][i]["x"])
    rendered, appended = np.sum(x <= 40_000), np.sum(x > 40_000)
    assert appended / 25_000 == pytest.approx(rendered / 40_000, rel=0.1)


def test_a_tick_inside_a_bucket_waits_and_the_next_completes_it() -> None:
    opts = ft.ChartOptions()
    state = long_run(40_000)
    meta = tc.full_render(state, opts).meta
    assert meta.bucket == 128 and meta.edge == 39_936  # 312 whole buckets; 64 steps open
    new, m = sim.advance_with_metrics(state, 20)
    a = tc.tick_appends(state, new, m, meta, opts)
    assert a is not None and a.traces == {} and a.meta.edge == 39_936
    newer, m2 = sim.advance_with_metrics(new, 100)
    b = tc.tick_appends(new, newer, m2, a.meta, opts)
    assert b is not None and b.meta.edge == 40_064
    i = ft.TRACES["loss"].index("train_loss")
    xs = dict((idx, x) for idx, x, _ in b.traces["loss"])[i]
    assert xs[0] > 39_936 and xs[-1] == 40_064  # step numbers are 1-based on the chart


def test_a_run_that_ends_in_a_tick_is_drawn_to_its_last_step() -> None:
    opts = ft.ChartOptions()
    state = long_run(40_000)
    meta = tc.full_render(state, opts).meta
    new, m = sim.advance_with_metrics(state, 50)
    paused = replace(new, status="paused")
    a = tc.tick_appends(state, paused, m, meta, opts)
    assert a is not None and a.meta.edge == 40_050
    i = ft.TRACES["loss"].index("train_loss")
    assert dict((idx, x) for idx, x, _ in a.traces["loss"])[i][-1] == 40_050


def test_chart_meta_refuses_a_bucket_or_drawn_step_it_would_not_write() -> None:
    good = tc.full_render(long_run(40_000), ft.ChartOptions()).meta.to_dict()
    assert tc.ChartMeta.from_dict(good) is not None
    for bad in (
        {**good, "bucket": 100},  # not a power of two
        {**good, "bucket": 2**40},  # would recompute a huge open bucket
        {**good, "edge": good["step"] + 1},
        {**good, "edge": good["step"] - 5_000},  # an open bucket longer than a bucket
    ):
        assert tc.ChartMeta.from_dict(bad) is None


def test_a_fast_tick_early_in_a_run_stays_small_and_a_redraw_matches_it() -> None:
    """1,000 steps per tick at step 2,000: buckets of 64 steps, so a tick sends about 64
    points per trace (not 1,000), and a redraw at that speed draws the same points."""
    opts = ft.ChartOptions()
    start = replace(long_run(2_000), step=2_048)
    r = tc.full_render(start, opts, speed=1_000)
    assert r.meta.bucket == tc.bucket_size(2_048, 1_000) == 64
    new, m = sim.advance_with_metrics(start, 1_000)
    a = tc.tick_appends(start, new, m, r.meta, opts)
    assert a is not None
    assert max(len(x) for items in a.traces.values() for _, x, _ in items) <= 6 * 16
    i = ft.TRACES["throughput"].index("tokens_per_sec")
    got = tc.append_edits(a)["throughput"].apply(r.figures["throughput"])["data"][i]
    want = tc.full_render(new, opts, speed=1_000).figures["throughput"]["data"][i]
    assert got["x"] == want["x"]
    np.testing.assert_allclose(got["y"], want["y"], rtol=1e-9)
