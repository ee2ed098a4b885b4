"""A real run's prediction band, forecast panel, events, banner and control on the Training
tab, at the views level, on a real SQLite store in tmp_path.

What a user would notice: the predicted band sits behind the run's own curve and a tick
still appends to the run's trace; Anchored and an edit of an assumed field move the band; a
refused edit names its field and the band stays; the forecast panel says where the run
ends (or why it cannot); the events panel gets only the new events on a tick and a
critical alert shows a banner until it closes; Pause/Resume/Stop are enabled per state,
disabled with the reason for a logs-only run, and a press is recorded with who made it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from forecast_fixtures import make

from layouts.figures.training import ChartOptions
from tracking import store as store_module
from tracking.records import Read, Series
from tracking.store import Store
from views import real_control as rctl
from views import real_events as rev
from views import real_forecast as rfc
from views import real_predict as rp
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


def names(fig: dict[str, Any]) -> list[str]:
    return [t["name"] for t in fig["data"]]


def trace(fig: dict[str, Any], name: str) -> dict[str, Any]:
    return next(t for t in fig["data"] if t["name"] == name)


@pytest.fixture
def sim_run(store: Store) -> str:
    """A simulated cosine run (tests/forecast_fixtures.py) pushed at 40% of its steps."""
    fx = make("sim-cosine", steps=4000, every=10)
    store.put_run(fx.name, name="cosine", source="test", kind="push", params=fx.params)
    store.put_run(fx.name, status="running")
    cut = [Series(s.metric, s.step[:160], s.value[:160], s.time[:160]) for s in fx.series]
    store.add_read(fx.name, Read(series=cut))
    return fx.name


def test_band_is_drawn_behind_the_curve_over_the_planned_length(store: Store, sim_run: str) -> None:
    c = rt.choose(store, "url", f"?run={sim_run}", None, OPTS, None, None)
    fig = c.charts["loss"]
    order = names(fig)
    own = order.index("loss")
    band = order.index("predicted train (raw)")
    assert band < own  # drawn first: behind the run's own curve
    b = trace(fig, "predicted train (raw) band")
    assert b["fill"] == "tonexty" and "rgba" in b["fillcolor"]
    centre = trace(fig, "predicted train (raw)")
    assert max(centre["x"]) >= 4000 > max(trace(fig, "loss")["x"])  # ahead of the run
    assert "averaged over the logging interval (10 steps)" in centre["hovertemplate"]
    assert "simulator prediction for the matched recipe" in c.pred.note
    # A tick appends the run's new points to its own trace, not to the band.
    fx = make("sim-cosine", steps=4000, every=10)
    more = [Series(s.metric, s.step[160:165], s.value[160:165], s.time[160:165]) for s in fx.series]
    store.add_read(sim_run, Read(series=more))
    f = rt.follow(store, c.meta, OPTS, None, now=store.run(sim_run).updated + 1)
    edit = f.charts["loss"]
    assert isinstance(edit, Edit)
    after = edit.apply(fig)
    assert trace(after, "predicted train (raw)")["x"] == centre["x"]
    assert len(trace(after, "loss")["x"]) > len(trace(fig, "loss")["x"])
    # A writer far ahead makes the tick redraw the run's traces (a rebase): the band the page
    # holds stays as it is (its mode and edits are the page's, not recomputed per tick).
    rest = [Series(s.metric, s.step[165:], s.value[165:], s.time[165:]) for s in fx.series]
    store.add_read(sim_run, Read(series=rest))
    g = rt.follow(store, f.meta, OPTS, None, now=store.run(sim_run).updated + 1)
    assert isinstance(g.charts["loss"], Edit)
    assert all(path[:2] != ("data", 0) for _, path, _ in g.charts["loss"].ops)
    final = g.charts["loss"].apply(after)
    assert trace(final, "predicted train (raw)") == trace(after, "predicted train (raw)")
    assert max(trace(final, "loss")["x"]) > 3000


def test_anchored_and_an_edit_move_the_band_and_a_bad_edit_names_the_field(
    store: Store,
) -> None:
    store.put_run("ft", name="fine-tune", kind="push", status="running")
    steps = np.arange(10, 3000, 10)
    put(store, "ft", "loss", steps, 1.1 + 2.0 / np.sqrt(steps))  # another dataset's level
    raw = rt.choose(store, "url", "?run=ft", None, OPTS, None, None)
    raw_y = trace(raw.charts["loss"], "predicted train (raw)")["y"]
    anchored = rt.choose(store, "url", "?run=ft", None, OPTS, None, None, mode="anchored")
    an_y = trace(anchored.charts["loss"], "predicted train (anchored)")["y"]
    assert abs(an_y[-1] - 1.1) < abs(raw_y[-1] - 1.1)  # anchored sits on the run's level
    assert "fitted on steps" in anchored.pred.note

    fields = {f.name: f for f in raw.pred.fields}
    assert "warmup_steps" in fields and fields["warmup_steps"].low is not None
    values = {f.name: f.value for f in raw.pred.fields if f.low is not None}
    ok = rp.check(store, "ft", {**values, "warmup_steps": 900})
    assert ok.store == {"run": "ft", "edits": {"warmup_steps": 900}}  # what differs only
    assert not any(ok.errors.values())
    edited = rt.choose(store, "option", "", "run:ft", OPTS, None, None, edits=ok.store)
    ed_y = trace(edited.charts["loss"], "predicted train (raw)")["y"]
    assert ed_y != raw_y
    assert {f.name: f.value for f in edited.pred.fields}["warmup_steps"] == 900

    bad = rp.check(store, "ft", {**values, "warmup_steps": -5})
    assert bad.store is None  # the edits Store keeps the last good edits: the band stays
    assert "warmup_steps" in bad.errors["warmup_steps"] and "from" in bad.errors["warmup_steps"]
    assert [k for k, v in bad.errors.items() if v] == ["warmup_steps"]
    empty = rp.check(store, "ft", {**values, "warmup_steps": None})
    assert "warmup_steps" in empty.errors["warmup_steps"] and empty.store is None


def fc_of(store: Store, run_id: str) -> Any:
    from tracking.forecast import forecast

    return forecast(store, run_id)


def test_forecast_panel_says_where_the_run_ends_or_why_not(store: Store, sim_run: str) -> None:
    now = store.run(sim_run).updated
    panel = rfc.panel(store, sim_run, now)
    assert panel is not None and not panel.reason
    labels = {label: value for label, value, _ in panel.lines}
    assert "Final train loss" in labels and "(" in labels["Final train loss"]
    tip = next(t for label, _, t in panel.lines if label == "Final train loss")
    assert "Method: blend" in tip and "step 4,000" in tip
    assert "UTC" in labels["Finishes"]  # the fixture's clock: its finish relative and absolute
    assert rfc.lines(replace(fc_of(store, sim_run), finish_time=now + 5400), now)[1][1].startswith(
        "in "
    )
    assert panel.figure is not None and 2 <= len(panel.figure["data"][2]["x"]) <= 30
    # A refresh appends its forecast to the history the page holds (no 30 fits again).
    fx = make("sim-cosine", steps=4000, every=10)
    more = [Series(s.metric, s.step[160:200], s.value[160:200], s.time[160:200]) for s in fx.series]
    store.add_read(sim_run, Read(series=more))
    later = rfc.panel(store, sim_run, now + 40, panel.held)
    assert later is not None and later.held["hist"][:-1] == panel.held["hist"]
    assert later.held["hist"][-1][0] == 2000 > panel.held["hist"][-1][0]
    # Refreshed slowly: not again at once, again after 30 s or once the run grew by 5%.
    assert not rfc.due(panel.held, sim_run, panel.held["step"], now + 5)
    assert rfc.due(panel.held, sim_run, panel.held["step"], now + 31)
    assert rfc.due(panel.held, sim_run, int(panel.held["step"] * 1.06), now + 5)

    store.put_run("short", kind="push", status="running")
    put(store, "short", "loss", [1, 2], [3.0, 2.9])
    p = rfc.panel(store, "short", now)
    assert p is not None and p.reason and not p.lines


def test_poll_sends_only_new_events_and_a_critical_alert_banner(store: Store) -> None:
    store.put_run("ev", kind="push", status="running")
    put(store, "ev", "loss", range(1, 21), np.linspace(3, 2, 20))
    store.add_event("ev", "loss_spike", "loss 5.1 above the median", step=12, severity="warning")
    c = rt.choose(store, "url", "?run=ev", None, OPTS, None, None)
    assert [r["text"] for r in c.events] == ["loss 5.1 above the median"]
    assert c.banner == "" and c.events_at == {"run": "ev", "seq": 1, "alerts": 0, "status": "live"}
    assert rev.poll(store, c.events_at).held is KEEP  # nothing new: nothing is sent
    # A NaN arrives; the ingest pass stores its alert as tracking.alerts does (open, counted).
    put(store, "ev", "loss", [21, 22], [np.nan, 2.0])
    with store.transaction() as tx:
        tx.add_event(
            "ev", "nan", "loss is NaN", step=21, severity="critical", state="open", key="nan:loss"
        )
        tx.set_alert_state("ev", {"alerts": {}}, 10.0)
    p = rev.poll(store, c.events_at)
    assert p is not None and p.held is not KEEP and p.held["seq"] > 1
    assert [r["kind"] for r in p.add] == ["nan"]  # only the new one
    assert p.banner.startswith("Critical alert at step 21")
    again = rev.poll(store, p.held)
    assert again is not None and again.held is KEEP
    # The run goes quiet: the next poll says so in the title and the top bar.
    quiet = rev.poll(store, p.held, now=store.run("ev").updated + 3600)
    assert quiet is not None and quiet.badge == {"name": "ev", "status": "stalled"}
    assert "· stalled ·" in quiet.title


def test_control_buttons_per_state_and_the_press_recorded_with_who(store: Store) -> None:
    store.put_run("pushed", kind="push", status="running")
    put(store, "pushed", "loss", [1, 2], [3.0, 2.9])
    store.put_run("watched", kind="textlog", source="/runs/a", status="ok")
    put(store, "watched", "loss", [1, 2], [3.0, 2.9])
    c = rt.choose(store, "url", "?run=pushed", None, OPTS, None, None)
    assert c.buttons.disabled == {"pause": False, "resume": True, "stop": False}
    assert "run.should_stop()" in c.buttons.why and "run.wait_while_paused()" in c.buttons.why
    w = rt.choose(store, "url", "?run=watched", None, OPTS, None, None)
    assert all(w.buttons.disabled.values()) and "log files" in w.buttons.why

    p = rctl.press(store, "pushed", "pause", "alice")
    assert store.control("pushed").state == "paused" and store.control("pushed").who == "alice"
    assert "Paused by alice" in p.notice.text
    assert p.buttons is not None and p.buttons.disabled["resume"] is False
    assert p.buttons.disabled["pause"] is True and p.status == "paused"
    assert any("alice" in r["text"] for r in p.events or [])
    s = rctl.press(store, "pushed", "stop", "bob")
    assert s.buttons is not None and all(s.buttons.disabled.values())  # a stop is final
    again = rctl.press(store, "pushed", "resume", "bob")
    assert store.control("pushed").state == "stopped" and again.notice.tone == "warning"
