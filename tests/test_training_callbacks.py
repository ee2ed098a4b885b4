"""The Training tab's actions (``views.training``), called directly and through Dash's endpoint.

The state machine (each button in each status), ticks (advance, appends, rebase, stale and
tampered states), live adjustments, saving and export. Through the endpoint, a tampered store
gives a clear message and a fresh state with status 200, never a 500.
"""

from __future__ import annotations

import base64
import json
import zlib
from dataclasses import replace
from typing import Any

import pytest
from renderer import Callbacks, apply_patch

import simulator as sim
from layouts import ids
from layouts.figures import training as ft
from simulator import saved as saved_runs
from views import stores
from views import training as vt
from views import training_charts as tc
from views import training_export as te
from views.contract import KEEP, Edit
from views.training_status import controls_enabled, prop_of

SMALL = "vicuna-7b"  # 4,235 steps: whole runs in milliseconds


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
    r = vt.control(button, raw(before), None, "100", 500)
    expected = ALLOWED.get((button, status))
    if expected is None:
        assert r.alert is not KEEP, "a control that does not apply says why"
        assert "annot" in r.alert.text or "no run" in r.alert.text
        assert r.run == raw(before)
    else:
        assert r.alert is KEEP
        after = sim.RunState.from_dict(r.run)
        assert after.status == expected
        assert r.tick_disabled == (expected != "running")
        if button == ids.TR_RESET:
            assert after.step == 0
        if button == ids.TR_STOP:
            assert r.autosave == r.run  # a stopped run is saved automatically
    enabled = controls_enabled(expected or status)
    assert prop_of(r.view, ids.TR_START, "disabled") == (not enabled["start"])
    assert prop_of(r.view, ids.TR_STOP, "disabled") == (not enabled["stop"])


def test_start_uses_the_configuration_tab_config() -> None:
    cfg = sim.preset("llama-2-13b")
    r = vt.control(ids.TR_START, None, cfg.to_dict(), "10", 500)
    assert sim.RunState.from_dict(r.run).config == cfg
    assert r.alert is KEEP and r.config is KEEP  # a good stored config is used, kept


@pytest.mark.parametrize("bad", [{"model": "bogus"}, 5, [], {"num_gpus": -1}])
def test_a_stored_config_that_cannot_be_used_is_named_and_cleared(bad: Any) -> None:
    r = vt.control(ids.TR_START, None, bad, "10", 500)
    assert sim.RunState.from_dict(r.run).config == sim.preset(stores.DEFAULT_MODEL)
    assert "could not be used" in r.alert.text and "Configuration tab" in r.alert.text
    assert r.config is None  # cleared, so the next Start does not say it again
    paused = vt.control(ids.TR_PAUSE, raw(state_in("running")), bad, "10", 500)
    assert paused.alert is KEEP and paused.config is KEEP  # no new run: nothing to say


# ----------------------------------------------------------------------------- ticks
def tick_once(state_raw: Any, meta: Any, speed: Any = "100") -> vt.TickResult:
    return vt.tick(state_raw, meta, speed, 500, ft.ChartOptions())


def after(state_raw: Any, r: Any) -> Any:
    """The run Store once the browser applied the answer's edit to it."""
    return r.run.apply(state_raw) if isinstance(r.run, Edit) else r.run


def test_a_tick_advances_and_patches_only_the_new_points() -> None:
    s = state_in("running")
    drawn = tc.full_render(s, ft.ChartOptions())
    r = tick_once(raw(s), drawn.meta.to_dict(), "50")
    new = after(raw(s), r)
    assert new["step"] == 250 and new["config"] == raw(s)["config"]
    sent = {path[0] for _, path, _ in r.run.ops}
    assert "step" in sent and "config" not in sent, "only the fields that moved are sent"
    assert not r.rebased and r.tick_disabled is False
    before = drawn.figures["loss"]
    loss = r.charts["loss"].apply(before)
    for old, now in zip(before["data"], loss["data"], strict=True):
        added = len(now["x"]) - len(old["x"])
        assert 0 <= added <= 50 * 2 and now["x"][: len(old["x"])] == old["x"]
    assert loss["data"][0]["x"][-1] == 250  # the raw loss reaches the new step
    assert r.meta["step"] == 250


def test_a_tick_sends_only_the_new_events() -> None:
    s = sim.advance(sim.start(sim.new_run(sim.preset(SMALL))), 90)  # evals every 20 steps
    meta = tc.full_render(s, ft.ChartOptions()).meta.to_dict()
    r = tick_once(raw(s), meta, "20")
    events = r.view["events"]
    assert [e[1] for e in events["add"]] == ["eval"]
    assert events["add"][0][2].startswith("Evaluation: validation loss")
    quiet = tick_once(after(raw(s), r), r.meta, "1")
    assert "events" not in quiet.view  # nothing new: the log is left as it is


def test_speed_from_the_browser_is_bounded() -> None:
    s = state_in("running")
    r = tick_once(raw(s), None, "1e12")
    assert after(raw(s), r)["step"] == min(s.total_steps, 200 + vt.SPEEDS[-1])
    assert vt.parse_speed("junk") == vt.DEFAULT_SPEED and vt.parse_speed(-5) == 1
    assert vt.parse_interval("1e9") == vt.INTERVALS[-1] and vt.parse_interval(None) == 500


def test_without_chart_meta_a_tick_sends_full_figures() -> None:
    r = tick_once(raw(state_in("running")), None)
    assert r.rebased
    assert all(isinstance(f, dict) and "data" in f for f in r.charts.values())


def test_past_the_point_bound_a_tick_rebases() -> None:
    s = state_in("running")
    meta = tc.full_render(s, ft.ChartOptions()).meta.to_dict()
    r = tick_once(raw(s), {**meta, "points": tc.BOUND - 1})
    assert r.rebased and r.meta["points"] <= tc.BOUND // 2 + 10


def test_a_tick_for_a_run_that_is_no_longer_running_stops_the_timer() -> None:
    s = state_in("paused")
    r = tick_once(raw(s), None)
    assert r.run is KEEP and r.tick_disabled is True
    assert prop_of(r.view, ids.TR_PAUSE, "children") == "Resume"


def test_the_tick_that_finishes_a_run_autosaves_it() -> None:
    s = sim.advance(sim.start(sim.new_run(sim.preset(SMALL))), sim.preset(SMALL).total_steps - 30)
    r = tick_once(raw(s), None, "100")
    assert after(raw(s), r)["status"] == "finished"
    assert r.tick_disabled is True
    assert r.autosave["status"] == "finished"


def test_divergence_ends_the_run_and_raises_the_alert() -> None:
    s = sim.start(sim.new_run(sim.preset("llama-2-7b", lr_peak=5e-3, lr_min=5e-4)))
    r = tick_once(raw(s), None, "5000")
    assert after(raw(s), r)["status"] == "diverged" and r.tick_disabled is True
    assert prop_of(r.view, ids.TR_DIVERGED, "is_open") is True
    assert "Training diverged" in prop_of(r.view, ids.TR_DIVERGED, "children")


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
    assert r.run is None and r.tick_disabled is True
    assert "could not be used" in r.alert.text
    c = vt.control(ids.TR_PAUSE, bad, None, "10", 500)
    assert c.run is None and "could not be used" in c.alert.text
    out = vt.render(None, bad, None, ft.ChartOptions(), "10", 500)
    assert out.run is None  # the store is cleared
    assert "could not be used" in out.alert.text


# ----------------------------------------------------------------------------- adjustments
def test_lr_multiplier_scales_peak_and_floor_at_the_current_step() -> None:
    s = state_in("paused")
    r = vt.adjust(raw(s), 0.5, None, None)
    changed = sim.RunState.from_dict(r.run)
    assert changed.changes[-1][0] == s.step
    assert changed.current_config.lr_peak == pytest.approx(s.config.lr_peak * 0.5)
    assert changed.current_config.lr_min == pytest.approx(s.config.lr_min * 0.5)
    assert r.lr_multiplier == 1.0 and "Applied at step" in r.notice.text


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
    r = vt.adjust(raw(state_in(status)), *args)
    assert r.run is KEEP and message in r.notice.text


@pytest.mark.parametrize("typed", ["100", "-1", "0", "abc", "nan", 1000])
def test_an_out_of_range_lr_multiplier_is_marked_and_explained(typed: Any) -> None:
    r = vt.adjust(raw(state_in("running")), typed, None, "-3")
    assert r.run is KEEP and r.lr_invalid and r.clip_invalid
    assert r.notice.tone == "danger" and "from 0.05 to 20" in r.notice.text
    assert "from 0 to 1000" in r.notice.text  # both refusals, each saying what is allowed
    ok = vt.adjust(raw(state_in("running")), "2", None, None)
    assert not ok.lr_invalid and not ok.clip_invalid and ok.run is not KEEP


@pytest.mark.parametrize("button", [ids.TR_START, ids.TR_RESET])
def test_a_new_run_clears_the_live_adjustment_panel(button: str) -> None:
    before = state_in("finished") if button == ids.TR_RESET else None
    r = vt.control(button, raw(before), None, "100", 500)
    assert (r.lr_multiplier, r.batch, r.clip) == (1.0, None, "")
    paused = vt.control(ids.TR_PAUSE, raw(state_in("running")), None, "100", 500)
    assert (paused.lr_multiplier, paused.batch, paused.clip) == (KEEP, KEEP, KEEP)


def test_batch_and_clip_changes() -> None:
    s = state_in("running")
    cfg = sim.RunState.from_dict(vt.adjust(raw(s), None, str(2**20), 0.5).run).current_config
    assert cfg.global_batch_tokens == 2**20 and cfg.grad_clip == 0.5


# ----------------------------------------------------------------------------- save, export
def test_save_appends_and_says_when_the_oldest_was_dropped() -> None:
    s = state_in("paused")
    r = vt.save(False, raw(s), None)
    assert len(r.saved) == 1 and "Saved the run" in r.notice.text
    full: list[Any] = []
    for seed in range(saved_runs.MAX_SAVED):
        full, _ = saved_runs.add_run(full, sim.new_run(sim.preset(SMALL), seed=seed + 1))
    r = vt.save(True, raw(s), full)
    assert len(r.saved) == saved_runs.MAX_SAVED and "dropped the oldest" in r.notice.text
    assert r.saved[-1]["state"]["step"] == s.step


def test_nothing_to_save_or_export_before_a_run_starts() -> None:
    r = vt.save(False, None, [])
    assert r.saved is KEEP and "no run to save" in r.notice.text
    e = vt.export(raw(state_in("idle")), "/export/metrics.csv")
    assert e.link is KEEP and "Nothing to export" in e.notice.text


def test_export_links_to_the_run_and_each_click_is_a_new_link() -> None:
    s = state_in("paused")
    first = vt.export(raw(s), "/dash/export/metrics.csv", 1).link
    second = vt.export(raw(s), "/dash/export/metrics.csv", 2).link
    assert first.startswith("/dash/export/metrics.csv?run=") and first != second
    note = vt.export(raw(s), "/dash/export/metrics.csv", 1).notice.text
    assert f"Exporting {s.step:,} steps" in note and "try again" in note
    token = first.split("run=", 1)[1].split("&", 1)[0]
    back, problem = te.run_from_token(token)
    assert problem is None and back == s
    assert len(token) < 1200  # a compact state packs into about a kilobyte


# ----------------------------------------------------------------------------- HTTP endpoint
class Endpoint:
    """POSTs to /_dash-update-component the way dash-renderer does (``tests/renderer.py``)."""

    def __init__(self, app: Any) -> None:
        self.client = app.server.test_client()
        self.callbacks = Callbacks(self.client.get("/_dash-dependencies").json)

    def post(self, input_id: str, prop: str, values: dict[tuple[str, str], Any]) -> Any:
        payload = self.callbacks.body(input_id, prop, values)
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
            assert "data" in loss and loss["data"][0]["x"][-1] == 96  # 12 whole 8-step buckets
            continue
        # Request + response of one tick: its 100 steps are drawn as a redraw would draw them
        # (issue 17, item 10), in buckets of 8 steps at this speed (``bucket_size``): ~16 KB
        # uncompressed, where 6 points per trace (a zigzag) took 8 KB.
        assert sent + len(r.data) <= 20 * 1024, sent + len(r.data)
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


def test_http_export_streams_every_step_and_save(endpoint: Endpoint) -> None:
    s = raw(state_in("paused"))
    r, _ = endpoint.post(
        ids.TR_EXPORT, "n_clicks", {(ids.TR_EXPORT, "n_clicks"): 1, (ids.RUN_STORE, "data"): s}
    )
    assert r.status_code == 200
    link = r.json["response"][ids.TR_EXPORT_LINK]["href"]
    got = endpoint.client.get(link)
    assert got.status_code == 200 and got.mimetype == "text/csv"
    assert got.headers["Content-Disposition"] == (
        f'attachment; filename="vicuna-7b-seed{s["seed"]}-step{s["step"]}.csv"'
    )
    assert got.is_streamed  # a generator, not one string in memory
    lines = got.get_data(as_text=True).splitlines()
    assert len(lines) == 1 + s["step"] and lines[1].startswith("1,")
    r, _ = endpoint.post(
        ids.TR_SAVE, "n_clicks", {(ids.TR_SAVE, "n_clicks"): 1, (ids.RUN_STORE, "data"): s}
    )
    saved = r.json["response"][ids.SAVED_RUNS_STORE]["data"]
    assert saved[0]["state"] == s


BOMB = base64.urlsafe_b64encode(zlib.compress(b" " * 1_000_000, 9)).decode()  # 1 MB from ~1 KB


@pytest.mark.parametrize(
    ("token", "says"),
    [
        ("", "names no run"),
        ("not base64 at all!", "not one this dashboard wrote"),
        ("x" * 7000, "longer than 6,000 characters"),
        (BOMB, "unpacks to more than"),
        (te.export_token(sim.new_run(sim.preset(SMALL))), "Nothing to export yet"),
    ],
)
def test_http_export_of_a_bad_link_says_why(endpoint: Endpoint, token: str, says: str) -> None:
    got = endpoint.client.get(f"/export/metrics.csv?run={token}")
    assert got.status_code == 400 and says in got.json["error"]


def test_http_export_past_the_cap_is_refused_before_any_work(endpoint: Endpoint) -> None:
    cfg = sim.preset("llama-2-7b", global_batch_tokens=2**20, num_gpus=256)
    long = replace(sim.start(sim.new_run(cfg)), step=te.MAX_EXPORT_STEPS + 1, status="paused")
    got = endpoint.client.get(f"/export/metrics.csv?run={te.export_token(long)}")
    assert got.status_code == 400 and "limited to 1,000,000 steps" in got.json["error"]


def test_http_a_second_export_on_one_worker_is_told_to_retry(endpoint: Endpoint) -> None:
    link = f"/export/metrics.csv?run={te.export_token(state_in('paused'))}"
    first = endpoint.client.get(link)  # streaming: its slot is held until it is closed
    second = endpoint.client.get(link)
    assert second.status_code == 503 and second.headers["Retry-After"] == "5"
    assert "another export or a long redraw" in second.json["error"]
    first.close()
    third = endpoint.client.get(link)
    assert third.status_code == 200
    third.close()
