"""Training charts and status as pure functions: spikes and NaN survive downsampling, bounds
hold, tick appends continue a full render exactly, texts read right."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest

import simulator as sim
from layouts import ids
from layouts.figures import training as ft
from simulator import fmt, series
from views import training_charts as tc
from views import training_export as te
from views import training_status as ts

MILLION = 1_000_000


def million_step_config() -> sim.TrainingConfig:
    return sim.preset(
        "llama-2-7b", global_batch_tokens=2**21, dataset_tokens=MILLION * 2**21, num_gpus=512
    )


def at_step(cfg: sim.TrainingConfig, step: int, status: str = "paused") -> sim.RunState:
    """A run state at ``step`` without simulating the steps before it (they are recomputed)."""
    return replace(sim.start(sim.new_run(cfg)), step=step, status=status)


def trace(fig: dict[str, Any], name: str, chart: str) -> dict[str, Any]:
    return fig["data"][ft.TRACES[chart].index(name)]


def test_chart_ids_match_the_figure_builders() -> None:
    assert ft.CHARTS == ids.TR_CHARTS


def test_a_million_step_render_draws_exactly_what_every_step_would_give() -> None:
    # Issue 13: the render reads each bucket's extremes without drawing every step. It must
    # keep the very points that bucketing every step keeps (first, last, min, max per bucket),
    # at the very values, for the loss, the gradient norm and the throughput.
    state = at_step(million_step_config(), MILLION, "finished")
    r = tc.full_render(state, ft.ChartOptions("step", 0.0, False))
    size = tc.bucket_size(MILLION)
    every = {k: [] for k in ("train_loss", "grad_norm", "tokens_per_sec")}
    for m in sim.iter_metrics(state, 0, MILLION):
        for k, v in every.items():
            v.append(np.asarray(m[k], dtype=np.float64))
    for name, chart in (
        ("train_loss", "loss"),
        ("grad_norm", "grad"),
        ("tokens_per_sec", "throughput"),
    ):
        y = np.concatenate(every[name])
        keep = series.bucket_indices(y, size)
        shown = trace(r.figures[chart], name, chart)
        assert shown["x"] == (keep + 1).tolist(), name
        np.testing.assert_array_equal(shown["y"], y[keep])
    loss = np.concatenate(every["train_loss"])
    top = int(np.argmax(loss[10_000:])) + 10_000  # the highest loss after the first steps
    assert top + 1 in trace(r.figures["loss"], "train_loss", "loss")["x"]


def test_a_nan_after_a_divergence_is_drawn_as_a_gap_at_its_step() -> None:
    cfg = million_step_config()
    s = at_step(cfg, 600_000, "running")
    s = sim.apply_changes(s, {"lr_peak": cfg.lr_peak * 20, "lr_min": cfg.lr_min * 20})
    s = sim.advance(s, 20_000)
    assert s.status == "diverged" and s.diverged_at is not None
    r = tc.full_render(s, ft.ChartOptions("step", 0.6, False))
    loss = trace(r.figures["loss"], "train_loss", "loss")
    first_nan = s.diverged_at + sim.dynamics.DIVERGE_RAMP + 1  # 0-based
    i = loss["x"].index(first_nan + 1)
    assert loss["y"][i] is None  # NaN is drawn as a gap, never dropped
    m = sim.metrics(s, first_nan - 3, first_nan)
    assert np.isfinite(m["train_loss"]).all()


def test_a_million_step_render_keeps_every_trace_under_the_bound_and_the_true_extremes() -> None:
    state = at_step(million_step_config(), MILLION, "finished")
    r = tc.full_render(state, ft.ChartOptions("step", 0.6, False))
    assert max(r.points.values()) <= tc.BOUND
    for fig in r.figures.values():
        for t in fig["data"]:
            assert len(t["x"]) == len(t["y"]) <= tc.BOUND
    grad = np.concatenate([m["grad_norm"] for m in sim.iter_metrics(state, 0, MILLION)])
    shown = trace(r.figures["grad"], "grad_norm", "grad")["y"]
    assert float(np.max(grad)) in shown  # the largest gradient-norm spike of the run
    assert float(np.min(grad)) in shown


def test_smoothing_is_the_debiased_ema_of_the_bucket_means() -> None:
    # As TensorBoard and W&B smooth the points they draw: one smoothed point per bucket, the
    # EMA of the buckets' means (here every step is read, so the means are exact).
    state = at_step(sim.preset("vicuna-7b"), 2900)
    r = tc.full_render(state, ft.ChartOptions("step", 0.9, False))
    size = tc.bucket_size(2900)
    assert size == 8
    loss = np.asarray(sim.metrics(state, 0, 2900)["train_loss"])  # a paused run: to its end
    means = np.array([loss[a : a + size].mean() for a in range(0, 2900, size)])
    full, _ = series.ema_smooth(means, 0.9)
    sm = trace(r.figures["loss"], "train_loss_smooth", "loss")
    assert sm["x"] == [*range(size, 2900, size), 2900]  # each bucket's last step (1-based)
    np.testing.assert_allclose(sm["y"], full, rtol=1e-12)
    raw = trace(r.figures["loss"], "train_loss", "loss")
    assert raw["opacity"] < 0.5  # the raw line stays, faint, behind the smoothed one


def test_tick_appends_continue_the_full_render_exactly() -> None:
    cfg = sim.preset("vicuna-7b")
    opts = ft.ChartOptions("step", 0.6, False)
    state = sim.advance(sim.start(sim.new_run(cfg)), 500)
    meta = tc.full_render(state, opts).meta
    xs: list[int] = []
    ys: list[float] = []
    for _ in range(5):
        new, m = sim.advance_with_metrics(state, 40)
        a = tc.tick_appends(state, new, m, meta, opts)
        assert a is not None
        for index, x, y in a.traces["loss"]:
            if ft.TRACES["loss"][index] == "train_loss_smooth":
                xs += x
                ys += y
        state, meta = new, a.meta
    full, _ = series.ema_smooth(np.asarray(sim.metrics(state, 0, state.step)["train_loss"]), 0.6)
    np.testing.assert_allclose(ys, full[np.asarray(xs) - 1], rtol=1e-12)
    assert meta.step == state.step == 700


def test_tick_appends_ask_for_a_rebase_when_the_bound_or_the_meta_says_so() -> None:
    opts = ft.ChartOptions()
    state = sim.advance(sim.start(sim.new_run(sim.preset("vicuna-7b"))), 100)
    meta = tc.full_render(state, opts).meta
    new, m = sim.advance_with_metrics(state, 100)
    assert tc.tick_appends(state, new, m, meta, opts) is not None
    full = replace(meta, points=tc.BOUND - 2)
    assert tc.tick_appends(state, new, m, full, opts) is None  # would pass the bound
    stale = replace(meta, step=meta.step - 1)
    assert tc.tick_appends(state, new, m, stale, opts) is None  # charts are for another step
    other_axis = ft.ChartOptions("tokens", opts.smoothing, False)
    assert tc.tick_appends(state, new, m, meta, other_axis) is None


def test_chart_meta_rejects_anything_it_did_not_write() -> None:
    good = tc.full_render(sim.new_run(sim.preset("vicuna-7b")), ft.ChartOptions()).meta
    assert tc.ChartMeta.from_dict(good.to_dict()) == good
    for bad in (None, 3, "x", {}, {**good.to_dict(), "step": -1}, {**good.to_dict(), "carry": 1}):
        assert tc.ChartMeta.from_dict(bad) is None


def test_the_lr_chart_shows_the_planned_schedule_dashed_to_the_end() -> None:
    state = sim.advance(sim.start(sim.new_run(sim.preset("vicuna-7b"))), 300)
    fig = tc.full_render(state, ft.ChartOptions()).figures["lr"]
    planned = trace(fig, "lr_planned", "lr")
    assert planned["line"]["dash"] == "dash"
    assert planned["x"][0] == 301 and planned["x"][-1] == state.total_steps
    assert len(planned["x"]) <= tc.PLANNED_POINTS


def test_a_live_lr_change_shows_as_a_kink() -> None:
    state = sim.advance(sim.start(sim.new_run(sim.preset("vicuna-7b"))), 1000)
    cfg = state.current_config
    state = sim.apply_changes(state, {"lr_peak": cfg.lr_peak * 3, "lr_min": cfg.lr_min * 3})
    state = sim.advance(state, 200)
    lr = trace(tc.full_render(state, ft.ChartOptions()).figures["lr"], "lr", "lr")
    x, y = np.asarray(lr["x"]), np.asarray(lr["y"])
    before, after = y[x <= 1000][-1], y[x > 1000][0]
    assert after / before == pytest.approx(3.0, rel=0.02)


def test_log_scale_and_x_axis_choice() -> None:
    state = sim.advance(sim.start(sim.new_run(sim.preset("vicuna-7b"))), 200)
    r = tc.full_render(state, ft.ChartOptions("wall", 0.0, True))
    assert r.figures["loss"]["layout"]["yaxis"]["type"] == "log"
    assert r.figures["memory"]["layout"]["yaxis"]["type"] == "linear"
    assert r.figures["loss"]["layout"]["xaxis"]["title"]["text"] == "wall time (h)"
    x = trace(r.figures["loss"], "train_loss", "loss")["x"]
    assert 0 < x[-1] < 10  # hours, not seconds
    assert r.figures["loss"]["layout"]["uirevision"]  # zoom survives live updates


def test_every_trace_follows_the_fixed_index_table() -> None:
    r = tc.full_render(sim.new_run(sim.preset("vicuna-7b")), ft.ChartOptions())
    for chart, names in ft.TRACES.items():
        assert len(r.figures[chart]["data"]) == len(names)


def test_a_run_with_no_steps_shows_a_hint_not_an_empty_grid() -> None:
    idle = sim.new_run(sim.preset("vicuna-7b"))
    figs = tc.full_render(idle, ft.ChartOptions()).figures
    assert figs["loss"]["layout"]["annotations"][0]["text"].startswith("No steps yet")
    assert figs["loss"]["layout"]["xaxis"]["visible"] is False
    assert "annotations" not in figs["lr"]["layout"]  # the planned schedule is already there
    meta = tc.full_render(idle, ft.ChartOptions()).meta
    running = sim.start(idle)
    new, m = sim.advance_with_metrics(running, 10)
    assert tc.tick_appends(running, new, m, meta, ft.ChartOptions()) is None  # rebase once


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (("tokens", 0.95, 1), ft.ChartOptions("tokens", 0.95, True)),
        (("nope", "junk", None), ft.ChartOptions("step", 0.0, False)),
        (("step", 5, 0), ft.ChartOptions("step", series.MAX_SMOOTHING, False)),
        (("step", float("nan"), 0), ft.ChartOptions("step", 0.0, False)),
    ],
)
def test_chart_options_from_the_browser_are_clamped(raw: tuple[Any, ...], expected: Any) -> None:
    assert ft.ChartOptions.parse(*raw) == expected


def test_kpis_read_like_a_dashboard() -> None:
    state = sim.advance(sim.start(sim.new_run(sim.preset("llama-2-7b"))), 3000)
    k = ts.kpis(state, 100, 500)
    assert k["step"] == "3,000" and k["step_sub"] == "of 476,838"
    assert "left on 1,024 × A100 80GB" in k["remaining"]
    assert k["remaining"].split()[1] == "d"  # days of GPU time left, e.g. "7 d 11 h"
    assert k["playback"].startswith("playback: ")
    assert k["loss_sub"][0] in "▼▲"
    assert k["mem_sub"].endswith("% of 80 GB")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0 s"), (42.4, "42 s"), (312, "5 min 12 s"), (3 * 3600 + 60, "3 h 1 min"),
     (3 * 86400 + 4 * 3600, "3 d 4 h"), (float("nan"), "–")],
)  # fmt: skip
def test_durations(seconds: float, text: str) -> None:
    assert fmt.duration(seconds) == text


def test_events_have_human_text_newest_first() -> None:
    rows = ts.event_rows([(0, "start", 100), (50, "spike", 0.123), (60, "diverged", 3e-3)])
    assert [r[1] for r in rows] == ["diverged", "spike", "start"]
    assert rows[0][2].startswith("Diverged: the loss blew up at peak LR 3.0e-03")
    assert "+0.123" in rows[1][2]
    texts = {kind: ts.event_text(kind, 1.0) for kind in sim.run.EVENT_KINDS}
    for kind, text in texts.items():
        assert text != kind and text[0].isupper(), f"{kind!r} has no sentence of its own"
    assert len(set(texts.values())) == len(texts), "two kinds of event read the same"


def test_controls_enabled_per_status() -> None:
    assert ts.controls_enabled(None)["start"] and not ts.controls_enabled(None)["stop"]
    running = ts.controls_enabled("running")
    assert not running["start"] and running["pause"] and running["stop"] and running["adjust"]
    for ended in ("stopped", "finished", "diverged"):
        e = ts.controls_enabled(ended)
        assert e["reset"] and not (e["start"] or e["pause"] or e["stop"] or e["adjust"])


def test_csv_has_every_step_at_full_resolution() -> None:
    state = sim.advance(sim.start(sim.new_run(sim.preset("vicuna-7b"))), 1234)
    text = te.metrics_csv(state)
    lines = text.splitlines()
    assert lines[0].split(",") == list(te.CSV_COLUMNS)
    assert len(lines) == 1 + 1234
    m = sim.metrics(state, 1000, 1001)
    row = dict(zip(te.CSV_COLUMNS, lines[1001].split(","), strict=True))
    assert int(row["step"]) == 1001
    assert float(row["train_loss"]) == pytest.approx(float(m["train_loss"][0]), rel=1e-6)
    assert row["val_loss"] == ""  # step 1001 is no evaluation: blank, not "nan"
    evals = sim.metrics(state, 0, state.step)
    k = int(np.flatnonzero(np.asarray(evals["is_eval"]))[-1])
    row = dict(zip(te.CSV_COLUMNS, lines[1 + k].split(","), strict=True))
    assert float(row["val_loss"]) == pytest.approx(float(evals["val_loss"][k]), rel=1e-6)


def test_csv_past_the_cap_is_refused_with_a_reason() -> None:
    cfg = sim.preset("llama-2-7b", global_batch_tokens=2**20, num_gpus=256)
    state = at_step(cfg, te.MAX_EXPORT_STEPS + 1)
    with pytest.raises(ValueError, match="limited to 1,000,000 steps"):
        te.metrics_csv(state)
