"""The playback estimate uses the measured time between ticks (issue 17, item 13).

Under load ticks came every 574-719 ms for a 500 ms interval, so an estimate from the
interval ("8 s") took 25 s. The browser measures the actual gaps (``training.measurePace``);
the estimate uses them once it has a few, says it is measured, and until then says the
interval gives only a lower bound.
"""

from __future__ import annotations

from typing import Any

import pytest

import simulator as sim
from layouts import ids
from layouts.figures import training as ft
from views import training as vt
from views import training_charts as tc
from views.training_status import prop_of, status_view

SMALL = "vicuna-7b"  # 4,235 steps


def _running(step: int) -> sim.RunState:
    return sim.advance(sim.start(sim.new_run(sim.preset(SMALL))), step)


def test_the_estimate_uses_the_measured_tick_time_and_says_so() -> None:
    s = _running(235)  # 4,000 steps left: 8 ticks of 500
    nominal = prop_of(status_view(s, 500, 500), ids.TR_PLAYBACK, "children")
    assert nominal == "playback: at least 4 s at 500 steps/tick"
    slow = prop_of(status_view(s, 500, 500, measured=3100.0), ids.TR_PLAYBACK, "children")
    assert slow == "playback: 25 s at 500 steps/tick (a tick every 3.10 s, measured)"


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "650",
        [650, 5],
        {"ms": 650, "n": 2},  # too few samples yet
        {"ms": True, "n": 5},
        {"ms": "650", "n": 5},
        {"ms": float("nan"), "n": 5},
        {"ms": -5, "n": 5},
        {"ms": 1e9, "n": 5},
        {"ms": 650, "n": "5"},
    ],
)
def test_a_pace_store_that_is_not_a_measurement_is_ignored(raw: Any) -> None:
    assert vt.parse_pace(raw) is None


def test_a_tick_reports_the_pace_the_browser_measured() -> None:
    s = _running(90)
    meta = tc.full_render(s, ft.ChartOptions()).meta.to_dict()
    pace = {"last": 0, "ms": 650, "n": 4, "every": 500}
    r = vt.tick(s.to_dict(), meta, "100", 500, ft.ChartOptions(), pace=pace)
    text = prop_of(r.view, ids.TR_PLAYBACK, "children")
    assert text.endswith("(a tick every 0.65 s, measured)"), text
    # 4,045 steps left after this tick: 41 ticks of 0.65 s.
    assert text.startswith("playback: 27 s at 100 steps/tick"), text
