"""Training callbacks, called directly and through Dash's HTTP endpoint.

The state machine (each button in each status), ticks (advance, Patch appends, rebase, stale
and tampered states), live adjustments, saving and export. Through the endpoint, a tampered
store gives a clear message and a fresh state with status 200, never a 500.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from dash import Patch, no_update
from renderer import apply_patch

import simulator as sim
from callbacks import training as ct
from layouts import ids
from layouts import training as lt
from layouts.figures import training as ft
from simulator import saved as saved_runs

SMALL = "vicuna-7b"  # 2,930 steps: whole runs in milliseconds


def state_in(status: str | None) -> sim.RunState | None:
    """A run in ``status`` (None: no run yet)."""
    if status is None:
        return None
    cfg = sim.preset(SMALL)
    if status == "diverged":
        cfg = sim.preset("llama-2-7b", lr_peak=5e-3, lr_min=5e-4)
    s = sim.new_run(cfg)
    if status == "idle":
        return s
    s = sim.advance(sim.start(s), 200 if status != "finished" else 10**6)
    if status == "diverged":
        s = sim.advance(s, 5000)
    if status == "paused":
        s = sim.pause(s)
    if status == "stopped":
        s = sim.stop(s)
    assert s.status == status
    return s


def raw(state: sim.RunState | None) -> Any:
    return None if state is None else state.to_dict()


# ----------------------------------------------------------------------------- state machine
STATUSES = (None, "idle", "running", "paused", "stopped", "finished", "diverged")
# (button, status before) -> status after; absent = refused with a message, state unchanged.
ALLOWED = {
    (ids.TR_START, None): "running",
    (ids.TR_START, "idle"): "running",
    (ids.TR_PAUSE, "running"): "paused",
    (ids.TR_PAUSE, "paused"): "running",
    (ids.TR_STOP, "running"): "stopped",
    (ids.TR_STOP, "paused"): "stopped",
    **{(ids.TR_RESET, s): "idle" for s in STATUSES},
}


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("button", [ids.TR_START, ids.TR_PAUSE, ids.TR_STOP, ids.TR_RESET])
def test_each_button_in_each_status(button: str, status: str | None) -> None:
    before = state_in(status)
    r = ct.do_control(button, raw(before), None, "100", 500)
    expected = ALLOWED.get((button, status))
    if expected is None:
        assert r.alert is not no_update, "a control that does not apply says why"
        assert "annot" in r.alert.children or "no run" in r.alert.children
        assert r.state == raw(before)
    else:
        assert r.alert is no_update
        after = sim.RunState.from_dict(r.state)
        assert after.status == expected
        assert r.interval_disabled == (expected != "running")
        if button == ids.TR_RESET:
            assert after.step == 0
        if button == ids.TR_STOP:
            assert r.autosave == r.state  # a stopped run is saved automatically
    enabled = ft.controls_enabled(expected or status)
    start_disabled = r.view[ct.VIEW_TARGETS.index((ids.TR_START, "disabled"))]
    assert start_disabled == (not enabled["start"])


def test_start_uses_the_configuration_tab_config() -> None:
    cfg = sim.preset("llama-2-13b")
    r = ct.do_control(ids.TR_START, None, cfg.to_dict(), "10", 500)
    assert sim.RunState.from_dict(r.state).config == cfg
    r = ct.do_control(ids.TR_START, None, {"model": "bogus"}, "10", 500)
    assert sim.RunState.from_dict(r.state).config == sim.preset(ct.DEFAULT_MODEL)


# ----------------------------------------------------------------------------- ticks
def tick_once(state_raw: Any, meta: Any, speed: Any = "100") -> ct.TickResult:
    return ct.do_tick(state_raw, meta, speed, 500, ft.ChartOptions())


def test_a_tick_advances_and_patches_only_the_new_points() -> None:
    s = state_in("running")
    meta = ft.full_render(s, ft.ChartOptions()).meta.to_dict()
    r = tick_once(raw(s), meta, "50")
    new = apply_patch(raw(s), r.state)
    assert new["step"] == 250 and new["config"] == raw(s)["config"]
    assert not r.rebased and r.interval_disabled is False
    loss = r.figures[ct.CHARTS.index("loss")]
    assert isinstance(loss, Patch)
    ops = loss._operations
    assert {op["operation"] for op in ops} == {"Extend"}
    assert all(len(op["params"]["value"]) <= ft.TICK_POINTS for op in ops)
    assert r.meta["step"] == 250


def test_a_tick_sends_only_the_new_events() -> None:
    s = sim.advance(sim.start(sim.new_run(sim.preset(SMALL))), 90)  # evals every 20 steps
    meta = ft.full_render(s, ft.ChartOptions()).meta.to_dict()
    r = tick_once(raw(s), meta, "20")
    events = r.view[ct.EVENTS_SLOT]
    assert [e[1] for e in events["add"]] == ["eval"]
    assert events["add"][0][2].startswith("Evaluation: validation loss")
    quiet = tick_once(apply_patch(raw(s), r.state), r.meta, "1")
    assert quiet.view[ct.EVENTS_SLOT] is None  # nothing new: the list is left as it is


def test_speed_from_the_browser_is_bounded() -> None:
    s = state_in("running")
    r = tick_once(raw(s), None, "1e12")
    assert apply_patch(raw(s), r.state)["step"] == min(s.total_steps, 200 + lt.MAX_SPEED)
    assert ct.clamp_speed("junk") == lt.DEFAULT_SPEED and ct.clamp_speed(-5) == 1


def test_without_chart_meta_a_tick_sends_full_figures() -> None:
    r = tick_once(raw(state_in("running")), None)
    assert r.rebased
    assert all(isinstance(f, dict) and "data" in f for f in r.figures)


def test_past_the_point_bound_a_tick_rebases() -> None:
    s = state_in("running")
    meta = ft.full_render(s, ft.ChartOptions()).meta
    meta.points = ft.BOUND - 1
    r = tick_once(raw(s), meta.to_dict())
    assert r.rebased and r.meta["points"] <= ft.BOUND // 2 + 10


def test_a_tick_for_a_run_that_is_no_longer_running_stops_the_timer() -> None:
    s = state_in("paused")
    r = tick_once(raw(s), None)
    assert r.state is no_update and r.interval_disabled is True
    assert r.view[ct.VIEW_TARGETS.index((ids.TR_PAUSE, "children"))] == "Resume"


def test_the_tick_that_finishes_a_run_autosaves_it() -> None:
    s = sim.advance(sim.start(sim.new_run(sim.preset(SMALL))), 2900)
    r = tick_once(raw(s), None, "100")
    assert apply_patch(raw(s), r.state)["status"] == "finished"
    assert r.interval_disabled is True
    assert r.autosave["status"] == "finished"


def test_divergence_pauses_the_run_and_raises_the_alert() -> None:
    s = sim.start(sim.new_run(sim.preset("llama-2-7b", lr_peak=5e-3, lr_min=5e-4)))
    r = tick_once(raw(s), None, "5000")
    after = apply_patch(raw(s), r.state)
    assert after["status"] == "diverged" and r.interval_disabled is True
    assert r.view[ct.VIEW_TARGETS.index((ids.TR_DIVERGED, "is_open"))] is True
    text = r.view[ct.VIEW_TARGETS.index((ids.TR_DIVERGED, "children"))]
    assert "diverged at step" in text


TAMPERED = [
    "not a dict",
    {"version": 99},
    {**sim.new_run(sim.preset(SMALL)).to_dict(), "step": -3},
    {**sim.new_run(sim.preset(SMALL)).to_dict(), "status": "exploded"},
    {**sim.new_run(sim.preset(SMALL)).to_dict(), "name": "x" * 20_000},
    {**sim.new_run(sim.preset(SMALL)).to_dict(), "version": 0},  # stale schema
]


@pytest.mark.parametrize("bad", TAMPERED)
def test_a_tampered_state_is_a_message_and_a_fresh_state(bad: Any) -> None:
    r = tick_once(bad, None)
    assert r.state is None and r.interval_disabled is True
    assert "could not be used" in r.alert.children
    c = ct.do_control(ids.TR_PAUSE, bad, None, "10", 500)
    assert c.state is None and "could not be used" in c.alert.children
    out = ct.do_render(None, bad, None, ft.ChartOptions(), "10", 500)
    assert out[len(ct.CHARTS) + 2] is None  # the store is cleared
    assert "could not be used" in out[len(ct.CHARTS) + 3].children


# ----------------------------------------------------------------------------- adjustments
def test_lr_multiplier_scales_peak_and_floor_at_the_current_step() -> None:
    s = state_in("paused")
    new, note, field = ct.do_adjust(raw(s), 0.5, None, None)
    after = sim.RunState.from_dict(new)
    assert after.changes[-1][0] == s.step
    assert after.current_config.lr_peak == pytest.approx(s.config.lr_peak * 0.5)
    assert after.current_config.lr_min == pytest.approx(s.config.lr_min * 0.5)
    assert field == 1.0 and "Applied at step" in note.children


@pytest.mark.parametrize(
    ("status", "args", "message"),
    [
        ("running", (1000, None, None), "Not applied"),
        ("running", (1.0, None, None), "Nothing to change"),
        ("running", (None, "12", None), "Not applied"),
        ("running", (None, None, -1), "Not applied"),
        ("finished", (2.0, None, None), "Not applied"),
        (None, (2.0, None, None), "no run"),
    ],
)
def test_bad_or_late_adjustments_are_refused_with_a_reason(
    status: str | None, args: tuple[Any, ...], message: str
) -> None:
    new, note, _ = ct.do_adjust(raw(state_in(status)), *args)
    assert new is no_update and message in note.children


def test_batch_and_clip_changes() -> None:
    s = state_in("running")
    new, _, _ = ct.do_adjust(raw(s), None, str(2**20), 0.5)
    cfg = sim.RunState.from_dict(new).current_config
    assert cfg.global_batch_tokens == 2**20 and cfg.grad_clip == 0.5


# ----------------------------------------------------------------------------- save, export
def test_save_appends_and_says_when_the_oldest_was_dropped() -> None:
    s = state_in("paused")
    saved, note = ct.do_save(ids.TR_SAVE, raw(s), None, None)
    assert len(saved) == 1 and "Saved the run" in note.children
    full: list[Any] = []
    for seed in range(saved_runs.MAX_SAVED):
        full, _ = saved_runs.add_run(full, sim.new_run(sim.preset(SMALL), seed=seed + 1))
    saved, note = ct.do_save(ids.TR_AUTOSAVE, None, raw(s), full)
    assert len(saved) == saved_runs.MAX_SAVED and "dropped the oldest" in note.children
    assert saved[-1]["state"]["step"] == s.step


def test_nothing_to_save_or_export_before_a_run_starts() -> None:
    assert ct.do_save(ids.TR_SAVE, None, None, [])[0] is no_update
    data, note = ct.do_export(raw(state_in("idle")))
    assert data is no_update and "Nothing to export" in note.children


def test_export_sends_the_full_resolution_csv() -> None:
    s = state_in("paused")
    data, _ = ct.do_export(raw(s))
    assert data["filename"].endswith(".csv")
    assert len(data["content"].splitlines()) == 1 + s.step


# ----------------------------------------------------------------------------- HTTP endpoint
def _outputs(dep: dict[str, Any]) -> list[dict[str, str]]:
    out = []
    for part in dep["output"].strip(".").split("..."):
        cid, prop = part.rsplit(".", 1)
        out.append({"id": cid, "property": prop})
    return out


class Endpoint:
    """POSTs to /_dash-update-component the way dash-renderer does."""

    def __init__(self, app: Any) -> None:
        self.client = app.server.test_client()
        self.deps = self.client.get("/_dash-dependencies").json

    def dep(self, input_id: str, prop: str) -> dict[str, Any]:
        for d in self.deps:
            if not d.get("clientside_function") and any(
                i["id"] == input_id and i["property"] == prop for i in d["inputs"]
            ):
                return d
        raise KeyError(input_id)

    def post(self, input_id: str, prop: str, values: dict[tuple[str, str], Any]) -> Any:
        d = self.dep(input_id, prop)

        def vals(items: list[dict[str, str]]) -> list[dict[str, Any]]:
            return [{**i, "value": values.get((i["id"], i["property"]))} for i in items]

        body = {
            "output": d["output"],
            "outputs": _outputs(d),
            "inputs": vals(d["inputs"]),
            "state": vals(d["state"]),
            "changedPropIds": [f"{input_id}.{prop}"],
        }
        payload = json.dumps(body)
        r = self.client.post(
            "/_dash-update-component", data=payload, content_type="application/json"
        )
        return r, len(payload)


@pytest.fixture
def endpoint(make_app: Any) -> Endpoint:
    return Endpoint(make_app())


BASE = {
    (ids.TR_SPEED, "value"): "100",
    (ids.TICK, "interval"): 500,
    (ids.TR_XAXIS, "value"): "step",
    (ids.TR_SMOOTHING, "value"): 0.6,
    (ids.TR_LOG, "value"): False,
}


def test_http_start_render_and_ticks_stay_small(endpoint: Endpoint) -> None:
    r, _ = endpoint.post(ids.TR_START, "n_clicks", {**BASE, (ids.TR_START, "n_clicks"): 1})
    assert r.status_code == 200
    state = r.json["response"][ids.RUN_STORE]["data"]
    assert state["status"] == "running"
    r, _ = endpoint.post(
        ids.TR_RENDER_REQ,
        "data",
        {**BASE, (ids.RUN_STORE, "data"): state, (ids.TR_RENDER_REQ, "data"): 1},
    )
    assert r.status_code == 200
    meta = r.json["response"][ids.TR_META]["data"]
    for n in range(1, 6):
        values = {**BASE, (ids.RUN_STORE, "data"): state, (ids.TR_META, "data"): meta}
        r, sent = endpoint.post(ids.TICK, "n_intervals", {**values, (ids.TICK, "n_intervals"): n})
        assert r.status_code == 200
        resp = r.json["response"]
        state = apply_patch(state, resp[ids.RUN_STORE]["data"])
        meta = resp[ids.TR_META]["data"]
        loss = resp[ids.tr_graph("loss")]["figure"]
        if n == 1:  # the empty step-0 charts get their axes back in one full render
            assert "data" in loss and len(loss["data"][0]["x"]) == 100
            continue
        assert sent + len(r.data) <= 8 * 1024  # request + response of one tick
        assert loss["__dash_patch_update"]
    assert state["step"] == 500


@pytest.mark.parametrize("bad", TAMPERED[:4])
def test_http_tampered_state_gives_a_message_not_a_500(endpoint: Endpoint, bad: Any) -> None:
    values = {**BASE, (ids.RUN_STORE, "data"): bad, (ids.TICK, "n_intervals"): 1}
    r, _ = endpoint.post(ids.TICK, "n_intervals", values)
    assert r.status_code == 200
    resp = r.json["response"]
    assert resp[ids.RUN_STORE]["data"] is None
    assert "could not be used" in json.dumps(resp[ids.ALERT_AREA])
    values = {**BASE, (ids.RUN_STORE, "data"): bad, (ids.TR_STOP, "n_clicks"): 1}
    r, _ = endpoint.post(ids.TR_STOP, "n_clicks", values)
    assert r.status_code == 200 and "could not be used" in r.get_data(as_text=True)


def test_http_export_and_save(endpoint: Endpoint) -> None:
    s = raw(state_in("paused"))
    r, _ = endpoint.post(
        ids.TR_EXPORT, "n_clicks", {(ids.TR_EXPORT, "n_clicks"): 1, (ids.RUN_STORE, "data"): s}
    )
    assert r.status_code == 200
    content = r.json["response"][ids.TR_DOWNLOAD]["data"]["content"]
    assert len(content.splitlines()) == 1 + s["step"]
    r, _ = endpoint.post(
        ids.TR_SAVE, "n_clicks", {(ids.TR_SAVE, "n_clicks"): 1, (ids.RUN_STORE, "data"): s}
    )
    saved = r.json["response"][ids.SAVED_RUNS_STORE]["data"]
    assert saved[0]["state"] == s
