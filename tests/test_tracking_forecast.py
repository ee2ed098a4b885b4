"""The final-loss forecast (tracking/forecast.py) and its route GET /api/v1/runs/<id>/forecast,
on simulated runs with known ends (tests/forecast_fixtures.py) in a real SQLite store."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dash
import numpy as np
import pytest
from forecast_fixtures import Fixture, all_fixtures, make

from tracking import forecast as fc
from tracking import store as store_module
from tracking.records import Read, Series
from tracking.store import Store

API = "/api/v1"


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path}/runs.sqlite3"
    monkeypatch.setenv("DASHBOARD_DB", url)
    return url


@pytest.fixture
def store(db: str) -> Iterator[Store]:
    opened = store_module.open(db)
    yield opened
    opened.close()


@pytest.fixture
def client(make_app: Callable[[], dash.Dash], db: str) -> Any:
    return make_app().server.test_client()


def put(store: Store, fx: Fixture, status: str = "running") -> None:
    store.put_run(fx.name, name=fx.name, source="test", kind="push", params=fx.params)
    store.put_run(fx.name, status=status)
    store.add_read(fx.name, Read(series=fx.series))


def truth(fx: Fixture) -> float:
    loss = fx.series[0]
    return fc.final_value(loss.step, loss.value)


@pytest.fixture(scope="module")
def fixtures() -> list[Fixture]:
    return all_fixtures()


def test_forecast_beats_last_value_and_power_law_on_the_fixtures(
    store: Store, fixtures: list[Fixture]
) -> None:
    errors: dict[str, list[float]] = {"forecast": [], "last": [], "power": []}
    for fx in fixtures:
        put(store, fx)
        last = int(fx.series[0].step[-1])
        end = truth(fx)
        for frac in (0.25, 0.5):
            f = fc.forecast(store, fx.name, int(frac * last))
            assert f is not None and f.final_loss is not None, f
            assert f.target_step == last and f.target_source == "stated: args.max_steps"
            assert f.last_value is not None and f.power_law is not None
            errors["forecast"].append(abs(f.final_loss - end) / end)
            errors["last"].append(abs(f.last_value - end) / end)
            errors["power"].append(abs(f.power_law - end) / end)
    mean = {k: statistics.fmean(v) for k, v in errors.items()}
    assert mean["forecast"] < 0.05
    # On these six simulated runs the plain power law is as good (issue 13's table noise
    # changed the draws: 4.0% against 4.9% now, 4.4% against 3.9% before; over other seeds
    # either wins by about a point), so the forecast must stay within a point of it.
    assert mean["forecast"] < mean["last"] and mean["forecast"] < mean["power"] + 0.01, mean


def test_the_interval_covers_the_truth_on_the_fixtures(
    store: Store, fixtures: list[Fixture]
) -> None:
    inside, total = 0, 0
    for fx in fixtures:
        put(store, fx)
        last = int(fx.series[0].step[-1])
        for frac in (0.25, 0.5):
            f = fc.forecast(store, fx.name, int(frac * last))
            assert f is not None and f.low is not None and f.high is not None
            assert f.low < f.final_loss < f.high  # type: ignore[operator]
            total += 1
            inside += f.low <= truth(fx) <= f.high
    # One miss allowed: a fixture's final mean carries its own noise.
    assert total == 12 and inside >= 11


def test_only_points_up_to_until_are_used(store: Store) -> None:
    fx = make("sim-until", steps=2000)
    put(store, fx)
    f = fc.forecast(store, fx.name, 500)
    assert f is not None and f.step == 500
    # The same run with everything after step 500 missing gives the same forecast.
    cut = Fixture(
        "sim-cut",
        fx.params,
        [
            Series(s.metric, s.step[s.step <= 500], s.value[s.step <= 500], s.time[s.step <= 500])
            for s in fx.series
        ],
    )
    put(store, cut)
    g = fc.forecast(store, "sim-cut", None)
    assert g is not None and g.final_loss == pytest.approx(f.final_loss, rel=1e-12)


def test_no_planned_length_means_no_forecast_until_the_run_has_ended(store: Store) -> None:
    fx = make("sim-nolength", steps=2000)
    params = {k: v for k, v in fx.params.items() if k != "args.max_steps"}
    put(store, Fixture(fx.name, params, fx.series))
    f = fc.forecast(store, fx.name, 500)
    assert f is not None and f.final_loss is None and f.target_step is None
    assert "planned length is unknown" in f.reason
    store.put_run(fx.name, status="finished")
    g = fc.forecast(store, fx.name, 500)
    assert g is not None and g.final_loss is not None and g.target_step == 2000
    assert "finished" in g.target_source


def test_planned_length_from_epochs_and_the_logged_epoch_counter(store: Store) -> None:
    fx = make("sim-epochs", steps=3000)
    params = {k: v for k, v in fx.params.items() if k != "args.max_steps"}
    params["args.num_train_epochs"] = "3"
    step = fx.series[0].step
    epoch = Series("epoch", step, step / 1000.0, fx.series[0].time)  # 1,000 steps an epoch
    put(store, Fixture(fx.name, params, [*fx.series, epoch]))
    f = fc.forecast(store, fx.name, 800)
    assert f is not None and f.target_step == 3000
    assert "num_train_epochs" in f.target_source


def test_validation_loss_finish_time_and_cost(store: Store) -> None:
    fx = make("sim-val", steps=2000, step_seconds=3.0)
    loss = fx.series[0]
    every = loss.step % 100 == 0
    val = Series("eval_loss", loss.step[every], loss.value[every] * 1.05, loss.time[every])
    params = {**fx.params, "args.gpu_name": "NVIDIA H100 80GB HBM3", "args.world_size": "8"}
    put(store, Fixture(fx.name, params, [*fx.series, val]))
    f = fc.forecast(store, fx.name, 1000)
    assert f is not None and f.val_metric == "eval_loss"
    assert f.val_final_loss is not None and f.val_final_loss > f.final_loss  # type: ignore[operator]
    assert f.val_low is not None and f.val_low < f.val_final_loss < f.val_high  # type: ignore[operator]
    assert f.steps_per_second == pytest.approx(1 / 3.0)
    assert f.finish_time == pytest.approx(1_700_000_000.0 + 2000 * 3.0)
    assert f.gpu_hours == pytest.approx(8 * 2000 * 3.0 / 3600)
    assert f.cost is not None and f.cost > 0
    # Without the hardware stated there is no cost (GPU and count would be assumed).
    put(store, Fixture("sim-val-nohw", fx.params, fx.series))
    g = fc.forecast(store, "sim-val-nohw", 1000)
    assert g is not None and g.cost is None and g.finish_time is not None


def test_a_million_step_run_is_forecast_from_a_bounded_read(store: Store) -> None:
    n = 1_000_000
    step = np.arange(1, n + 1, dtype=np.int64)
    rng = np.random.default_rng(0)
    value = 2.0 + 8.0 * step.astype(np.float64) ** -0.3 + rng.normal(0, 0.02, n)
    nan = np.full(n, math.nan)
    every = step[::10]
    series = [
        Series("loss", step, value, nan),
        Series("eval_loss", every, value[::10] * 1.02, nan[::10]),
        Series("epoch", step, step / 250_000.0, nan),
        Series("learning_rate", step, np.full(n, 3e-4), nan),
        Series("lr", step, np.full(n, 3e-4), nan),
        Series("num_tokens", step, step * 4096.0, nan),
        Series("total_steps", every, np.full(every.size, 2.0 * n), nan[::10]),
    ]
    store.put_run("big", params={"args.max_steps": str(2 * n)})
    store.add_read("big", Read(series=series))
    f = fc.forecast(store, "big", n)
    assert f is not None and f.final_loss is not None and f.target_step == 2 * n
    assert f.val_final_loss is not None
    assert fc.READ_BUDGET == 4000 and 3000 < f.points_read <= fc.READ_BUDGET
    history = fc.forecast_history(store, "big", n)
    assert 2 <= len(history) <= fc.HISTORY_POINTS
    assert all(h.points_read <= fc.READ_BUDGET for h in history)


def test_history_shows_how_the_forecast_moved(store: Store, fixtures: list[Fixture]) -> None:
    fx = fixtures[0]
    put(store, fx)
    history = fc.forecast_history(store, fx.name, 2000, points=12)
    steps = [h.step for h in history]
    assert 8 <= len(history) <= 12 and steps == sorted(steps) and steps[-1] == 2000
    end = truth(fx)
    first_err = abs(history[1].final_loss - end)  # type: ignore[operator]
    last_err = abs(history[-1].final_loss - end)  # type: ignore[operator]
    assert last_err < first_err  # more points, a better forecast


# --------------------------------------------------------------------------- the route
def test_route_answers_the_forecast_from_points_up_to_until(client: Any, store: Store) -> None:
    fx = make("sim-route", steps=2000)
    put(store, fx)
    r = client.get(f"{API}/runs/sim-route/forecast?until=600")
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["step"] == 600 and body["target_step"] == 2000
    assert body["low"] < body["final_loss"] < body["high"]
    assert body["finish_time"] == pytest.approx(1_700_000_000.0 + 2000 * 2.0)
    assert body["finish_time_iso"].startswith("2023-11-")
    direct = fc.forecast(store, "sim-route", 600)
    assert direct is not None and body["final_loss"] == direct.final_loss
    assert client.get(f"{API}/runs/sim-route/forecast").get_json()["step"] == 2000


@pytest.mark.parametrize("until", ["-1", "abc", "1.5", str(2**60)])
def test_route_refuses_a_bad_until_naming_it(client: Any, store: Store, until: str) -> None:
    put(store, make("sim-bad", steps=500))
    r = client.get(f"{API}/runs/sim-bad/forecast?until={until}")
    assert r.status_code == 400
    body = r.get_json()
    assert body["field"] == "until" and "whole number from 0 to" in body["error"]


def test_route_unknown_run_and_unknown_length(client: Any, store: Store) -> None:
    r = client.get(f"{API}/runs/nope/forecast?until=10")
    assert r.status_code == 404 and "no run 'nope'" in r.get_json()["error"]
    assert client.get(f"{API}/runs/bad%20id/forecast").status_code == 400
    fx = make("sim-nolen", steps=500)
    params = {k: v for k, v in fx.params.items() if k != "args.max_steps"}
    put(store, Fixture(fx.name, params, fx.series))
    body = client.get(f"{API}/runs/sim-nolen/forecast?until=200").get_json()
    assert body["final_loss"] is None and body["target_step"] is None
    assert "planned length is unknown" in body["reason"]


def test_a_real_sft_run_read_by_the_watcher_is_forecast_from_its_first_quarter(
    store: Store,
) -> None:
    """tests/data/real-runs/trainer-state-metamath-sft (Apache-2.0): an HF trainer_state.json
    stating max_steps 128; ingested as the watcher does."""
    from tracking_samples import case_dir

    from tracking.ingest import ingest

    folder = case_dir("trainer-state-metamath-sft")
    ingest(store, [folder.parent / folder.name])
    (run,) = store.runs()
    full = store.series(run.run_id, "loss")
    end = fc.final_value(full.step, full.value)
    f = fc.forecast(store, run.run_id, 32)
    assert f is not None and f.final_loss is not None and f.step == 32
    assert f.target_step == 128 and f.target_source == "stated: trainer_state.max_steps"
    assert f.low is not None and f.high is not None and f.low <= end <= f.high
    assert f.last_value is not None
    assert abs(f.final_loss - end) < abs(f.last_value - end)
    # Before the first point there is nothing to forecast from, and it says so.
    early = fc.forecast(store, run.run_id, 0)
    assert early is not None and early.final_loss is None and "no finite" in early.reason


# --------------------------------------------------------------------------- epochs
def test_epoch_boundaries_are_read_from_fractional_and_whole_counters() -> None:
    step = np.arange(10, 3001, 10, dtype=np.int64)
    t = np.full(step.size, math.nan)
    hf = fc.epoch_clock(Series("epoch", step, step / 750.0, t))  # HF: steps / steps an epoch
    assert hf is not None and hf.steps == pytest.approx(750.0)
    assert hf.crossed(np.array([749.0, 751.0, 2999.0])).tolist() == [0.0, 1.0, 3.0]
    # Lightning: a 0-based whole counter that turns over at each boundary.
    whole = fc.epoch_clock(Series("epoch", step, np.floor((step - 1) / 1000.0), t))
    assert whole is not None and whole.steps == pytest.approx(1000.0)
    assert whole.crossed(np.array([999.0, 1010.0, 2500.0])).tolist() == [0.0, 1.0, 2.0]
    # A counter that never changes says nothing about the epoch length.
    assert fc.epoch_clock(Series("epoch", step, np.zeros(step.size), t)) is None


def test_a_memorising_run_is_forecast_in_log_space_and_stays_above_zero() -> None:
    """A loss that falls to 55% of itself at every epoch boundary (a memorising fine-tune):
    once two boundaries are seen, the epoch law carries the drops on, and the forecast,
    unlike a straight extrapolation of the drop in nats, never goes below zero."""
    per = 500.0
    step = np.arange(5, 4001, 5, dtype=np.int64)
    k = np.floor(step / per)
    rng = np.random.default_rng(1)
    value = 2.0 * step.astype(np.float64) ** -0.05 * 0.55**k * (1 + rng.normal(0, 0.01, k.size))
    end = fc.final_value(step, value)
    seen = step <= 1400
    clock = fc.EpochClock(per, per)
    f = fc.forecast_curve(step[seen], value[seen], 4000, epochs=clock)
    assert f is not None and f.epoch is not None
    assert f.low >= 0 and f.value > 0
    assert abs(math.log(f.epoch / end)) < 0.15
    assert abs(f.value - end) < abs(f.last_value - end) / 5
    assert f.power_law is not None and abs(f.value - end) < abs(f.power_law - end) / 5
    # Without the epoch clock the same points give no epoch law.
    g = fc.forecast_curve(step[seen], value[seen], 4000)
    assert g is not None and g.epoch is None


def test_multi_epoch_fine_tunes_are_forecast_better_than_the_baselines_from_half() -> None:
    """tests/forecast_fixtures.epoch_fixtures: the simulator's memorising fine-tunes, stored
    with their HF-style epoch counter, forecast from half their steps."""
    from forecast_fixtures import epoch_fixtures

    errors: dict[str, list[float]] = {"forecast": [], "last": [], "power": []}
    with_epoch_law = 0
    for fx in epoch_fixtures():
        loss = fx.series[0]
        last = int(loss.step[-1])
        end = fc.final_value(loss.step, loss.value)
        epoch = fx.series[-1]
        keep = loss.step <= last // 2
        clock = fc.epoch_clock(
            Series("epoch", epoch.step[keep], epoch.value[keep], epoch.time[keep])
        )
        f = fc.forecast_curve(loss.step[keep], loss.value[keep], last, epochs=clock)
        assert f is not None and f.power_law is not None and f.low >= 0
        with_epoch_law += f.epoch is not None
        errors["forecast"].append(abs(f.value - end) / end)
        errors["last"].append(abs(f.last_value - end) / end)
        errors["power"].append(abs(f.power_law - end) / end)
    mean = {k: statistics.fmean(v) for k, v in errors.items()}
    assert with_epoch_law == 3
    assert mean["forecast"] < 0.6 * mean["power"] and mean["forecast"] < 0.6 * mean["last"], mean


def test_before_the_first_epoch_boundary_the_interval_leaves_room_for_the_drops_to_come(
    store: Store,
) -> None:
    """A memorising 4-epoch fine-tune seen only in its first epoch: its points cannot show
    how far the loss will fall at the three boundaries ahead, so the interval's low end is
    widened for them (and reaches the truth); without the epoch counter the run looks like
    one long epoch and the interval does not."""
    from forecast_fixtures import epoch_fixtures

    fx = next(f for f in epoch_fixtures() if f.name == "sim-sft-4ep-memorise")
    put(store, fx)
    end = truth(fx)
    f = fc.forecast(store, fx.name, 450)
    assert f is not None and f.final_loss is not None and f.epoch_law is None
    assert f.low is not None and f.high is not None and f.low <= end <= f.high
    assert f.low <= f.final_loss * fc.UNSEEN_EPOCH_DROP**3 + 1e-12
    no_counter = Fixture("sim-no-counter", fx.params, [s for s in fx.series if s.metric != "epoch"])
    put(store, no_counter)
    g = fc.forecast(store, "sim-no-counter", 450)
    assert g is not None and g.low is not None and g.low > end


def test_planned_length_from_a_zero_based_whole_epoch_counter(store: Store) -> None:
    """Lightning logs ``epoch`` as 0, 1, 2, ...: in the third epoch it reads 2, and step /
    value would make each epoch half as long again as it is."""
    fx = make("sim-lightning-epochs", steps=3000)
    params = {k: v for k, v in fx.params.items() if k != "args.max_steps"}
    params["args.num_train_epochs"] = "3"
    step = fx.series[0].step
    epoch = Series("epoch", step, np.floor((step - 1) / 1000.0), fx.series[0].time)
    put(store, Fixture(fx.name, params, [*fx.series, epoch]))
    f = fc.forecast(store, fx.name, 2500)
    assert f is not None and f.target_step == 3000
    assert "1,000.0 steps per epoch" in f.target_source
