"""A real run on the Training tab, at the views level, on a real SQLite store in tmp_path.

What a user would notice: the picker lists stored runs newest first; a link opens the run
or names the missing one; a tick brings only the new points (or nothing at all when the
store has nothing new); a spike and a NaN are drawn at their true steps; a 1M-step run opens
with a bounded number of points.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from layouts.figures.training import ChartOptions
from tracking import store as store_module
from tracking.records import Series
from tracking.store import Store
from views import real_charts as rc
from views import real_run as rr
from views import real_tab as rt
from views.contract import KEEP, Edit

OPTS = ChartOptions("step", 0.0, False)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = store_module.open(f"sqlite:///{tmp_path / 'runs.sqlite3'}")
    yield s
    s.close()


def put(store: Store, run_id: str, metric: str, steps: Any, values: Any) -> None:
    steps = np.asarray(steps, dtype=np.int64)
    values = np.asarray(values, dtype=np.float64)
    store.add(run_id, Series(metric, steps, values, np.full(len(steps), np.nan)))


def loss(steps: np.ndarray) -> np.ndarray:
    return 2.0 + 8.0 / np.sqrt(steps + 10.0)


def trace(fig: dict[str, Any], name: str) -> dict[str, Any]:
    return next(t for t in fig["data"] if t["name"] == name)


def applied(fig: dict[str, Any], edit: Any) -> dict[str, Any]:
    return edit.apply(fig) if isinstance(edit, Edit) else fig


def test_picker_lists_runs_newest_first_with_source_status_and_age(store: Store) -> None:
    store.put_run("old-run", name="old", source="/logs/old", kind="tfevents", status="finished")
    put(store, "old-run", "train/loss", [1, 2], [3.0, 2.9])
    store.put_run("new-run", name="new", source="/logs/new", kind="textlog", status="running")
    put(store, "new-run", "train/loss", [1], [3.0])
    now = store.run("new-run").updated + 150
    opts = rt.run_options(store, "", "", now=now)
    assert [o["value"] for o in opts] == [rr.SIMULATED, "run:new-run", "run:old-run"]
    label = opts[1]["label"]
    assert "textlog" in label and "live" in label and "2 min ago" in label
    assert "0 open alerts" in label
    assert [o["value"] for o in rt.run_options(store, "OLD", "", now=now)] == [
        rr.SIMULATED,
        "run:old-run",
    ]


def test_link_opens_run_and_unknown_id_names_it(store: Store) -> None:
    store.put_run("r1", name="my run", status="running")
    put(store, "r1", "train/loss", range(0, 50), loss(np.arange(50)))
    c = rt.choose(store, "url", "?run=r1", None, OPTS, None, None)
    assert c.picked == "run:r1" and c.real_hidden is False and c.sim_hidden is True
    assert len(trace(c.charts["loss"], "train/loss")["y"]) == 50
    c = rt.choose(store, "url", "?run=gone-run", None, OPTS, None, None)
    assert c.real_hidden is True and "gone-run" in c.notice.text
    # Picking a run writes its URL, keeping other query parameters.
    c = rt.choose(store, "picker", "?x=1", "run:r1", OPTS, None, None)
    assert c.search == "?x=1&run=r1"
    c = rt.choose(store, "picker", "?x=1&run=r1", rr.SIMULATED, OPTS, None, None)
    assert c.search == "?x=1" and c.real_hidden is True


def test_tick_returns_only_new_points_and_nothing_new_is_tiny(store: Store) -> None:
    store.put_run("live", status="running")
    put(store, "live", "loss", range(100), loss(np.arange(100)))
    c = rt.choose(store, "url", "?run=live", None, OPTS, None, None)
    fig, meta = c.charts["loss"], c.meta
    later = rc.RealMeta.from_dict(meta).version + 50  # under QUIET_S: still being written
    f = rt.follow(store, meta, OPTS, None, now=later)
    assert f.nothing  # the store's version did not move: no figure, no meta
    assert f.kpis["updated"] == "1 min ago"  # only the age moves
    assert len(json.dumps(f.charts, default=str)) < 200
    put(store, "live", "loss", range(100, 110), loss(np.arange(100, 110)))
    f = rt.follow(store, meta, OPTS, None)
    assert isinstance(f.charts["loss"], Edit)
    fig = applied(fig, f.charts["loss"])
    xs = trace(fig, "loss")["x"]
    assert xs == list(range(110))  # appended, each step once
    assert f.meta["edges"]["train_loss"] == 110


def test_spike_and_nan_drawn_at_their_true_steps(store: Store) -> None:
    store.put_run("bad", status="finished")
    steps = np.arange(1, 200_001)
    values = loss(steps)
    values[123_457] = 9.5  # a one-step spike
    values[150_001] = np.nan
    put(store, "bad", "loss", steps, values)
    c = rt.choose(store, "url", "?run=bad", None, OPTS, None, None)
    raw = trace(c.charts["loss"], "loss")
    assert len(raw["x"]) <= 4000
    i = raw["x"].index(int(steps[123_457]))
    assert raw["y"][i] == 9.5
    nan = trace(c.charts["loss"], "loss: NaN/inf")
    assert nan["x"] == [int(steps[150_001])] and nan["text"] == ["NaN"]


def test_nan_in_a_tick_is_a_marker_at_its_step(store: Store) -> None:
    store.put_run("live", status="running")
    put(store, "live", "loss", range(10), loss(np.arange(10)))
    c = rt.choose(store, "url", "?run=live", None, OPTS, None, None)
    put(store, "live", "loss", [10, 11], [math.nan, 2.5])
    f = rt.follow(store, c.meta, OPTS, None)
    fig = applied(c.charts["loss"], f.charts["loss"])
    marker = trace(fig, "loss: NaN/inf")
    assert marker["x"] == [10] and marker["text"] == ["NaN"]
    assert marker["y"] == [round(float(loss(np.arange(10))[-1]), 5)]  # on the curve, not at 0
    assert trace(fig, "loss")["y"][10] is None  # a gap in the line


def test_tick_buckets_continue_the_render_buckets(store: Store) -> None:
    """A tick's points are what a full render at that step would hold (same buckets)."""
    store.put_run("long", status="running")
    steps = np.arange(0, 40_000)
    rng = np.random.default_rng(1)
    values = loss(steps) + rng.normal(0, 0.05, steps.size)
    put(store, "long", "loss", steps[:30_000], values[:30_000])
    c = rt.choose(store, "url", "?run=long", None, OPTS, None, None)
    fig, meta = c.charts["loss"], c.meta
    assert meta["bucket"] > 1
    for a in range(30_000, 40_000, 300):  # a writer adding 300 steps per tick
        put(store, "long", "loss", steps[a : a + 300], values[a : a + 300])
        f = rt.follow(store, meta, OPTS, None)
        assert not f.nothing
        fig, meta = applied(fig, f.charts["loss"]), f.meta
    # What a render at this step with this bucket would hold: each bucket's extremes.
    b, edge = meta["bucket"], meta["edges"]["train_loss"]
    keep = rc.keep_extremes(steps[:edge], values[:edge], b)
    assert trace(fig, "loss")["x"] == steps[keep].tolist()
    assert trace(fig, "loss")["y"] == [float(f"{v:.6g}") for v in values[keep]]


def test_one_million_steps_open_reads_bounded_points(store: Store) -> None:
    store.put_run("big", status="running")
    steps = np.arange(1, 1_000_001)
    put(store, "big", "train/loss", steps, loss(steps))
    put(store, "big", "lr", steps[::10], np.full(100_000, 3e-4))
    c = rt.choose(store, "url", "?run=big", None, OPTS, None, None)
    assert len(trace(c.charts["loss"], "train/loss")["x"]) <= 1300
    meta = rc.RealMeta.from_dict(c.meta)
    assert meta is not None and meta.bucket & (meta.bucket - 1) == 0
    assert 300 <= 1_000_000 / meta.bucket <= 600


def test_metrics_go_to_their_charts_and_the_rest_to_the_picker() -> None:
    m = rr.map_metrics(
        ["eval/loss", "train/loss", "train/learning_rate", "train/grad_norm", "train/epoch"]
    )
    assert m.slots["train_loss"] == "train/loss" and m.slots["val_loss"] == "eval/loss"
    assert m.slots["lr"] == "train/learning_rate" and m.slots["grad_norm"] == "train/grad_norm"
    assert m.rest == ("train/epoch",) and m.slots["other"] == "train/epoch"


def test_tokens_axis_offered_only_with_a_found_batch(store: Store) -> None:
    assert rr.recipe_of({}).tokens_per_step is None
    found = {
        "recipe.global_batch_tokens": "524288",
        "recipe_provenance.global_batch_tokens": "found: args.batch",
    }
    assumed = {**found, "recipe_provenance.global_batch_tokens": "assumed: default"}
    assert rr.recipe_of(found).tokens_per_step == 524288
    opts = {o["value"]: o for o in rr.xaxis_options(rr.recipe_of(assumed))}
    assert opts["tokens"]["disabled"] and "assumed" in opts["tokens"]["title"]
    assert not {o["value"]: o for o in rr.xaxis_options(rr.recipe_of(found))}["tokens"]["disabled"]


def test_tokens_axis_draws_tokens_and_an_unknown_axis_falls_back_to_steps(store: Store) -> None:
    store.put_run(
        "tok",
        status="finished",
        params={
            "recipe.global_batch_tokens": "1024",
            "recipe_provenance.global_batch_tokens": "derived: num_tokens per step",
        },
    )
    put(store, "tok", "loss", [1, 2, 3], [3.0, 2.9, 2.8])
    c = rt.choose(store, "url", "?run=tok", None, ChartOptions("tokens", 0.0, False), None, None)
    assert trace(c.charts["loss"], "loss")["x"] == [1024.0, 2048.0, 3072.0]
    assert c.xaxis is KEEP  # the radio already says tokens
    c = rt.choose(store, "url", "?run=tok", None, ChartOptions("wall", 0.0, False), None, None)
    assert trace(c.charts["loss"], "loss")["x"] == [1, 2, 3] and c.xaxis == "step"


def test_a_run_gone_quiet_is_drawn_to_its_last_point(store: Store) -> None:
    """While written, only complete buckets are drawn; once quiet, the last one too."""
    store.put_run("quiet", status="running")
    steps = np.arange(30_000)
    put(store, "quiet", "loss", steps, loss(steps))
    written = store.version("quiet")
    c = rt.choose(store, "url", "?run=quiet", None, OPTS, None, None, now=written)
    assert trace(c.charts["loss"], "loss")["x"][-1] < 29_999  # the open bucket waits
    f = rt.follow(store, c.meta, OPTS, None, now=written + rc.QUIET_S + 1)
    fig = applied(c.charts["loss"], f.charts["loss"])
    assert trace(fig, "loss")["x"][-1] == 29_999


def test_a_run_deleted_while_followed_names_itself_and_stops_the_tick(store: Store) -> None:
    store.put_run("doomed", status="running")
    put(store, "doomed", "loss", range(10), loss(np.arange(10)))
    c = rt.choose(store, "url", "?run=doomed", None, OPTS, None, None)
    store.delete_run("doomed")
    f = rt.follow(store, c.meta, OPTS, None)
    assert "doomed" in f.notice.text and f.tick_disabled is True


def test_llmc_main_log_metrics_go_to_the_loss_and_grad_charts() -> None:
    """llm.c's main.log logs ``trl``, ``tel``, ``lr`` and ``norm``: the run's loss, validation
    loss, LR and grad norm, not four "other" metrics."""
    m = rr.map_metrics(["lr", "norm", "tel", "trl"])
    assert m.slots["train_loss"] == "trl" and m.slots["val_loss"] == "tel"
    assert m.slots["lr"] == "lr" and m.slots["grad_norm"] == "norm"
    assert m.rest == ()


def test_a_live_run_opens_at_the_bucket_its_ticks_fit_in(store: Store, tmp_path: Path) -> None:
    """A run logging 100 steps a second: the open plans for that pace, so the next tick
    appends (a few KB) instead of rebasing into whole figures (~17 KB a tab, over the 8 KB a
    tick may send; the 50-tab load test saw it on every tab's first tick)."""
    import sqlite3

    store.put_run("fast", status="running")
    put(store, "fast", "loss", range(600), loss(np.arange(600)))
    with sqlite3.connect(tmp_path / "runs.sqlite3") as db:  # its first write 6 s ago
        db.execute("UPDATE runs SET created = updated - 6 WHERE run_id = 'fast'")
    info = store.run("fast")
    assert info is not None and rc.pace(info) == 100  # 599 steps over 6 s, per 1 s tick
    c = rt.choose(store, "url", "?run=fast", None, OPTS, None, None)
    put(store, "fast", "loss", range(600, 700), loss(np.arange(600, 700)))
    f = rt.follow(store, c.meta, OPTS, None)
    assert isinstance(f.charts["loss"], Edit), "the first tick rebased"
    assert len(json.dumps(f.charts, default=str)) < 8_000

    # Logs ingested at once say nothing of a pace: the open keeps the finest bucket.
    assert rc.pace(dataclasses.replace(info, created=info.updated - 1)) == 1
