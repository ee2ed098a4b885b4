"""The Training tab's event log (issue 17, item 11): what the run state keeps, what it counts.

A run's log is bounded (the state stays compact, docs/architecture.md) but the entries a user
looks for at the end, "Run started", "Warmup done", the end of the run, outlive a flood of
evaluations, checkpoints and pauses; only the newest few evaluations are listed and the rest
are counted; every kind of entry belongs to one of the filter's groups.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import numpy as np

import simulator as sim
from layouts.figures import training as ft
from layouts.training import EVENT_GROUPS
from simulator.run import EVENT_CAPS, EVENT_KINDS, MAX_EVENTS
from views import training as vt
from views import training_charts as tc
from views.contract import Edit
from views.training_status import earlier_note, evals_done, status_view

SMALL = "vicuna-7b"  # 4,235 steps: whole runs in milliseconds
CSS = Path(__file__).resolve().parents[1] / "assets" / "tabs" / "training.css"


def _paused_and_resumed(times: int) -> sim.RunState:
    s = sim.advance(sim.start(sim.new_run(sim.preset(SMALL))), 300)
    for _ in range(times):
        s = sim.advance(sim.resume(sim.pause(s)), 10)
    return s


def test_milestones_outlive_a_flood_of_pauses_and_evaluations() -> None:
    s = _paused_and_resumed(40)  # 80 pause/resume entries, evals and checkpoints between
    kinds = [e[1] for e in s.events]
    assert len(s.events) <= MAX_EVENTS
    assert kinds[0] == "start" and "warmup" in kinds, kinds
    s = sim.advance(s, 10_000)
    kinds = [e[1] for e in s.events]
    assert {"start", "warmup", "finished"} <= set(kinds), kinds
    assert kinds[-1] == "finished"
    # The newest evaluations are kept, in step order; the rest are counted, not listed.
    evals = [e[0] for e in s.events if e[1] == "eval"]
    assert len(evals) == EVENT_CAPS["eval"] and evals == sorted(evals)
    assert evals[-1] == s.total_steps


def test_the_count_of_evaluations_matches_the_chart() -> None:
    s = sim.advance(sim.start(sim.new_run(sim.preset(SMALL))), 1_000)
    for _ in range(40):
        s = sim.advance(s, 97)
    drawn = int(np.count_nonzero(sim.metrics(s, 0, s.step)["is_eval"]))
    assert evals_done(s) == drawn
    listed = sum(e[1] == "eval" for e in s.events)
    note = earlier_note(s)
    assert note is not None and note.startswith(f"{drawn - listed:,} earlier evaluations")
    done = sim.advance(s, 10**6)
    assert evals_done(done) == int(np.count_nonzero(sim.metrics(done, 0, done.step)["is_eval"]))


def test_a_tick_that_drops_an_entry_the_browser_keeps_sends_the_whole_log() -> None:
    s = sim.advance(sim.start(sim.new_run(sim.preset(SMALL))), 90)
    flood = tuple((10 + i, "pause" if i % 2 == 0 else "resume", "") for i in range(30))
    s = replace(s, events=((0, "start", s.total_steps), *flood, (85, "warmup", 3e-4)))
    assert len(s.events) == MAX_EVENTS  # full: the tick's evaluation makes room
    meta = tc.full_render(s, ft.ChartOptions()).meta.to_dict()
    r = vt.tick(s.to_dict(), meta, "20", 500, ft.ChartOptions())
    new = r.run.apply(s.to_dict()) if isinstance(r.run, Edit) else r.run
    assert [10, "pause", ""] not in new["events"], "the oldest pause made room"
    rows = r.view["events"]["rows"]
    assert [row[:2] for row in rows][::-1] == [e[:2] for e in new["events"]]


def test_a_quiet_tick_sends_only_new_entries_with_the_caps() -> None:
    s = sim.advance(sim.start(sim.new_run(sim.preset(SMALL))), 90)
    meta = tc.full_render(s, ft.ChartOptions()).meta.to_dict()
    r = vt.tick(s.to_dict(), meta, "20", 500, ft.ChartOptions())
    events = r.view["events"]
    assert [e[1] for e in events["add"]] == ["eval"]
    assert events["caps"] == dict(EVENT_CAPS)
    assert events["more"] is None  # every evaluation so far is listed


def test_the_whole_log_ends_with_the_count_of_earlier_evaluations() -> None:
    s = sim.advance(sim.start(sim.new_run(sim.preset(SMALL))), 2_000)
    view = status_view(s, 100, 500)
    assert view["events"]["more"] == earlier_note(s)
    assert "validation loss chart" in view["events"]["more"]


def test_every_kind_of_event_has_one_filter_group_that_hides_it() -> None:
    css = CSS.read_text()
    grouped = [k for _, _, kinds in EVENT_GROUPS for k in kinds]
    assert sorted(set(grouped) - {"more"}) == sorted(EVENT_KINDS)
    assert len(grouped) == len(set(grouped))
    for value, _, kinds in EVENT_GROUPS:
        for kind in kinds:
            assert re.search(rf"\.tr-hide-{value} \.tr-ev-{kind}\b", css), (value, kind)
