"""Alerts stored with the run (tracking/alerting.py, the store's events and alert_state),
computed where the data arrives: through the real watcher ingest of a growing JSONL file and
through the real push API, on SQLite and PostgreSQL; a failing detector loses no point."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dash
import numpy as np
import pytest

from tracking import alerting, alerts
from tracking import store as store_module
from tracking.ingest import ingest
from tracking.records import Series
from tracking.store import Store

pytest_plugins = ["tracking_pg"]  # store_url: SQLite and PostgreSQL

API = "/api/v1"
T0 = 1_700_000_000.0


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = store_module.open(store_url)
    yield opened
    opened.close()


def healthy(step: int) -> float:
    return 2.0 + 2.0 * math.exp(-step / 300) + 0.01 * math.sin(step * 1.7)


def jsonl(steps: range, nan_from: int | None = None) -> str:
    """JSONL lines as a training loop writes them; the loss NaN from ``nan_from`` on."""
    lines = []
    for s in steps:
        loss = float("nan") if nan_from is not None and s >= nan_from else healthy(s)
        lines.append(json.dumps({"step": s, "loss": loss, "grad_norm": 1.0}))
    return "\n".join(lines) + "\n"


def test_events_are_numbered_per_run_and_alerts_listed_open_or_all(store: Store) -> None:
    assert store.add_event("r1", "control", "paused by alice", step=10) == 1
    with store.transaction() as tx:
        seq = tx.add_event(
            "r1",
            "nan",
            "loss is NaN at step 500",
            step=500,
            severity="critical",
            state="open",
            key="nan:loss",
            metric="loss",
            value=float("nan"),
        )
        tx.set_alert_state("r1", {"alerts": {}}, 10.0)
    assert seq == 2
    assert [r.open_alerts for r in store.runs()] == [1]
    (opened,) = store.alerts("r1", open_only=True)
    assert (opened.kind, opened.step, opened.state, opened.key, opened.value) == (
        "nan",
        500,
        "open",
        "nan:loss",
        None,
    )
    with store.transaction() as tx:
        assert tx.close_alert("r1", "nan:loss", 540) == 1
        tx.set_alert_state("r1", {"alerts": {}}, 10.0)
    assert store.alerts("r1", open_only=True) == []
    (closed,) = store.alerts("r1")
    assert (closed.state, closed.closed_step) == ("closed", 540)
    info = store.run("r1")
    assert info is not None and (info.open_alerts, info.log_interval) == (0, 10.0)
    assert [e.seq for e in store.events("r1")] == [1, 2]
    assert [e.text for e in store.events("r1", after_seq=1)] == ["loss is NaN at step 500"]
    assert store.events("r2") == [] and store.alerts("r2") == []
    with pytest.raises(store_module.BadInput, match="limit must be"):
        store.events("r1", limit=0)
    assert store.delete_run("r1")
    assert store.events("r1") == [] and store.alert_state("r1") == {}


def test_recent_reads_a_bounded_window_with_wall_times(store: Store) -> None:
    steps = np.arange(0, 20_000, 3)
    store.add("r", Series("loss", steps, steps * 0.5, T0 + steps * 2.0))
    with store.transaction() as tx:
        window = tx.recent("r", "loss", before=15_000, limit=100)
    assert len(window) == 100 and int(window.step[-1]) == 14_997
    assert np.array_equal(window.time, T0 + window.step * 2.0)


def test_a_database_made_before_the_alert_tables_gets_them_and_keeps_its_runs(
    store_url: str,
) -> None:
    old = store_module.open(store_url)
    old.add("kept", Series("loss", np.arange(5), np.ones(5), np.full(5, T0)))
    with old.transaction() as tx:  # the schema as it was before this change
        tx._db.run("DROP TABLE events")
        tx._db.run("DROP TABLE alert_state")
    old.close()
    reopened = store_module.open(store_url)
    try:
        assert [(r.run_id, r.open_alerts) for r in reopened.runs()] == [("kept", 0)]
        assert reopened.alerts("kept") == []
        reopened.add_event("kept", "note", "works")
        assert [e.text for e in reopened.events("kept")] == ["works"]
    finally:
        reopened.close()


def test_the_watcher_ingest_of_a_growing_log_opens_one_alert_at_the_nan_and_closes_it(
    store: Store, tmp_path: Path
) -> None:
    run = tmp_path / "runs" / "llama"
    run.mkdir(parents=True)
    log = run / "metrics.jsonl"
    log.write_text(jsonl(range(0, 300)))
    root = [(tmp_path / "runs").resolve()]
    (report,) = ingest(store, root)
    assert store.alerts(report.run_id) == []
    with log.open("a") as f:
        f.write(jsonl(range(300, 600), nan_from=500))
    ingest(store, root)
    (opened,) = store.alerts(report.run_id)
    assert (opened.kind, opened.step, opened.state) == ("nan", 500, "open")
    assert "step 500" in opened.text and opened.severity == "critical"
    assert [r.open_alerts for r in store.runs()] == [1]
    ingest(store, root)  # nothing new: nothing evaluated twice
    assert len(store.events(report.run_id)) == 1
    with log.open("a") as f:
        f.write(jsonl(range(600, 700)))
    ingest(store, root)
    (closed,) = store.alerts(report.run_id)
    assert (closed.state, closed.closed_step) == ("closed", 600 + alerts.CLOSE_POINTS - 1)
    assert [r.open_alerts for r in store.runs()] == [0]


def test_a_failing_detector_loses_no_point_and_is_recorded_on_the_run(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ZeroDivisionError("a detector bug")

    monkeypatch.setattr(alerts, "evaluate", broken)
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "metrics.jsonl").write_text(jsonl(range(0, 50), nan_from=20))
    (report,) = ingest(store, [tmp_path.resolve()])
    assert report.added.new == 100 and store.metrics(report.run_id)[0].points == 50
    (event,) = store.events(report.run_id)
    assert event.kind == "alerts_failed" and "ZeroDivisionError: a detector bug" in event.text


def test_the_push_api_computes_alerts_once_and_lists_them_with_the_run(
    make_app: Callable[[], dash.Dash], store: Store, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DASHBOARD_DB", store_url)
    client = make_app().server.test_client()
    auth = {"Authorization": f"Bearer {store.create_token('trainer')}"}
    assert (
        client.put(f"{API}/runs/run-1", json={"status": "running"}, headers=auth).status_code == 201
    )

    def push(steps: range, spike: int | None = None) -> Any:
        points = [
            {
                "step": s,
                "time": T0 + s,
                "metrics": {"train/loss": healthy(s) + (3.0 if s == spike else 0.0)},
            }
            for s in steps
        ]
        got = client.post(f"{API}/runs/run-1/points", json={"points": points}, headers=auth)
        assert got.status_code == 200, got.json
        return got

    push(range(0, 1000))
    push(range(1000, 1205), spike=1200)
    push(range(1000, 1205), spike=1200)  # resent: stored once, evaluated once
    (spike,) = store.alerts("run-1")
    assert (spike.kind, spike.step, spike.state) == ("loss_spike", 1200, "open")
    panel = client.get(f"{API}/runs/run-1/events").json
    assert [(e["seq"], e["kind"], e["step"], e["state"]) for e in panel["events"]] == [
        (1, "loss_spike", 1200, "open")
    ]
    assert panel["open_alerts"] == 1 and panel["stalled"] is None
    assert client.get(f"{API}/runs/run-1/events?after=1").json["events"] == []
    assert client.get(f"{API}/runs/nope/events").status_code == 404
    assert client.get(f"{API}/runs/run-1/events?limit=0").json["field"] == "limit"
    listed = {r["run_id"]: r for r in client.get(f"{API}/runs").json["runs"]}
    assert listed["run-1"]["open_alerts"] == 1
    assert (listed["run-1"]["status"], listed["run-1"]["reported_status"]) == ("live", "live")
    push(range(1205, 1400))
    assert [(a.state, a.closed_step) for a in store.alerts("run-1")] == [
        ("closed", 1200 + alerts.CLOSE_POINTS)
    ]
    assert client.get(f"{API}/runs/run-1").json["open_alerts"] == 0


def test_the_schedule_check_uses_only_a_stated_peak_lr() -> None:
    params = {
        "recipe.lr_peak": "0.0003",
        "recipe.lr_min": "3e-05",
        "recipe.warmup_steps": "100",
        "recipe.schedule": "cosine",
        "recipe_provenance.lr_peak": "found: args.learning_rate",
    }
    sched = alerting.schedule_of(params)
    assert sched is not None and (sched.kind, sched.peak, sched.warmup_steps) == (
        "cosine",
        3e-4,
        100,
    )
    derived = {**params, "recipe_provenance.lr_peak": "derived: peak of the logged `lr`"}
    assert alerting.schedule_of(derived) is None


REAL = Path(__file__).parent / "data" / "real-runs"


@pytest.mark.parametrize(
    ("case", "spikes"),
    [
        ("text-llmc-mainlog-gpt2-124m", []),  # 19,560 healthy steps: heavy-tailed noise only
        ("text-llmc-stdout-750steps", []),  # its z-scores are NaN at step 1: no alert
        ("text-modded-nanogpt-flexattention", [918, 946, 1759]),  # +26% to +40% in a step
    ],
)
def test_real_logs_alert_on_their_spikes_and_not_on_their_noise(
    case: str, spikes: list[int], tmp_path: Path
) -> None:
    opened = store_module.open(f"sqlite:///{tmp_path}/runs.sqlite3")
    try:
        (report,) = ingest(opened, [(REAL / case).resolve()])
        found = opened.alerts(report.run_id)
    finally:
        opened.close()
    assert sorted((a.kind, a.step) for a in found) == [("loss_spike", s) for s in spikes]
    assert all(a.state == "closed" for a in found)  # each recovered


def test_the_recipes_step_rate_is_used_only_when_the_run_states_its_hardware() -> None:
    stated = {
        "recipe.model": "llama-2-7b",
        "recipe.gpu": "h100-sxm",
        "recipe.num_gpus": "64",
        "recipe.global_batch_tokens": "4194304",
        "recipe.seq_len": "4096",
        **{
            f"recipe_provenance.{f}": "found: args"
            for f in ("model", "gpu", "num_gpus", "global_batch_tokens", "seq_len")
        },
    }
    rate = alerting.step_rate_of(stated)
    assert rate is not None and 0.01 < rate < 10  # a 7B on 64 H100s: seconds a step
    assumed = {**stated, "recipe_provenance.num_gpus": "assumed: not recorded"}
    assert alerting.step_rate_of(assumed) is None
    assert alerting.context_of(assumed).expected_step_rate is None


def test_points_another_writer_stored_but_did_not_evaluate_yet_are_evaluated_next(
    store: Store,
) -> None:
    # Two pushes racing: A's points are committed, B's evaluation runs before A's.
    steps = np.arange(0, 100)
    loss = np.array([healthy(s) for s in range(100)])
    loss[50:] = np.nan
    store.add("r", Series("loss", steps, loss, T0 + steps))  # A, not evaluated yet
    b = Series("loss", steps + 100, np.full(100, np.nan), T0 + steps + 100)
    store.add("r", b)
    got = alerting.evaluate_run(store, "r", [b], params={})
    assert [(t.action, t.kind, t.step) for t in got] == [("open", "nan", 50)]
    assert alerting.evaluate_run(store, "r", [b], params={}) == []  # and only once
