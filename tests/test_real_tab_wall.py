"""The Training tab's Wall time axis for a stored (real) run, at the views level on a real
SQLite store: offered when the run's points carry wall times (a TensorBoard event file,
pushed points), disabled with the reason when they do not (an HF ``trainer_state.json``),
drawn as hours since the run's first timed point, and a tick appending at the right x."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from layouts.figures.training import ChartOptions
from tests.tracking_samples import case_dir
from tracking import store as store_module
from tracking.ingest import ingest
from tracking.records import Series
from tracking.store import Store
from views import real_charts as rc
from views import real_tab as rt
from views.contract import KEEP, Edit

TFEVENTS = "tfevents-tbreducer-strict-run1"  # SummaryWriter: a wall time per point
TRAINER_STATE = "trainer-state-qlora-10k"  # HF log_history: no time per step
WALL = ChartOptions("wall", 0.0, False)
STEP = ChartOptions("step", 0.0, False)
T0 = 1_700_000_000.0


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = store_module.open(f"sqlite:///{tmp_path / 'runs.sqlite3'}")
    yield s
    s.close()


def _ingest(store: Store, tmp: Path, case: str) -> str:
    root = tmp / case
    shutil.copytree(case_dir(case), root)
    [report] = ingest(store, [root.resolve()])
    return report.run_id


def _options(chosen: rt.Chosen) -> dict[str, dict[str, Any]]:
    return {o["value"]: o for o in chosen.xaxis_options}


def _trace(fig: dict[str, Any], name: str) -> dict[str, Any]:
    return next(t for t in fig["data"] if t.get("name") == name)


def test_an_event_file_run_offers_wall_time_and_draws_hours_since_its_first_point(
    store: Store, tmp_path: Path
) -> None:
    run = _ingest(store, tmp_path, TFEVENTS)
    stored = store.series(run, "strict/foo")
    assert np.isfinite(stored.time).all()
    c = rt.choose(store, "url", f"?run={run}", None, WALL, None, None)
    assert not _options(c)["wall"]["disabled"]
    assert c.xaxis is KEEP  # the radio keeps Wall time
    fig = c.charts["other"]
    assert fig["layout"]["xaxis"]["title"]["text"] == "wall time (h)"
    drawn = _trace(fig, "strict/foo")
    hours = (stored.time - stored.time.min()) / 3600.0
    np.testing.assert_allclose(drawn["x"], hours, atol=1e-6)
    assert drawn["x"][0] == 0.0 and drawn["y"][0] == pytest.approx(stored.value[0], rel=1e-5)
    # the step axis is still there for the same run
    c = rt.choose(store, "url", f"?run={run}", None, ChartOptions("step", 0.0, False), None, None)
    assert _trace(c.charts["other"], "strict/foo")["x"] == stored.step.tolist()


def test_a_trainer_state_run_disables_wall_time_saying_why(store: Store, tmp_path: Path) -> None:
    run = _ingest(store, tmp_path, TRAINER_STATE)
    c = rt.choose(store, "url", f"?run={run}", None, WALL, None, None)
    wall = _options(c)["wall"]
    assert wall["disabled"] and "trainer_state" in wall["title"] and "no time" in wall["title"]
    assert c.xaxis == "step"  # the radio moves to an axis the run has
    loss = store.series(run, "loss")
    xs = _trace(c.charts["loss"], "loss")["x"]
    assert xs[0] == loss.step[0] and set(xs) <= set(loss.step.tolist())  # drawn on steps


def test_a_tick_on_the_wall_axis_appends_at_each_points_hours(store: Store) -> None:
    store.put_run("pushed", status="running")
    steps = np.arange(100)
    times = T0 + 60.0 + steps * 2.0  # the run's first point a minute after T0
    values = 3.0 - steps * 0.001
    store.add("pushed", Series("loss", steps, values, times))
    c = rt.choose(store, "url", "?run=pushed", None, WALL, None, None)
    assert rc.RealMeta.from_dict(c.meta).t0 == T0 + 60.0
    # the prediction band (computed per step) sits on the run's own clock: 2 s a step
    by_step = rt.choose(store, "url", "?run=pushed", None, STEP, None, None)
    band = next(t["x"] for t in by_step.charts["loss"]["data"] if "predicted" in t["name"])
    on_wall = next(t["x"] for t in c.charts["loss"]["data"] if "predicted" in t["name"])
    assert on_wall == pytest.approx([s * 2.0 / 3600.0 for s in band], abs=1e-6)
    new = np.arange(100, 110)
    new_times = T0 + 60.0 + 3600.0 + new * 2.0  # after an hour's pause
    store.add("pushed", Series("loss", new, 3.0 - new * 0.001, new_times))
    f = rt.follow(store, c.meta, WALL, None)
    assert isinstance(f.charts["loss"], Edit)
    fig = f.charts["loss"].apply(c.charts["loss"])
    xs = _trace(fig, "loss")["x"]
    assert xs[:100] == pytest.approx((steps * 2.0 / 3600.0).tolist(), abs=1e-6)
    assert xs[100:] == pytest.approx(((new_times - T0 - 60.0) / 3600.0).tolist(), abs=1e-6)
    assert len(xs) == 110
