"""One run status across sources (tracking/status.py): what a pushed run's script said, and
for logs, which never say a run ended, the time since its last point."""

from __future__ import annotations

import dataclasses

import pytest

from tracking import alerts
from tracking.status import FINISHED_AFTER_S, status
from tracking.store import RunInfo

NOW = 1_700_000_000.0


def run(reported: str, silent_s: float, **fields: object) -> RunInfo:
    info = RunInfo(
        run_id="r",
        name="r",
        source="push" if reported in ("live", "finished", "failed") else "/runs/r",
        kind="push",
        tags=(),
        notes="",
        status=reported,
        problems=(),
        metrics=("loss",),
        first_step=0,
        last_step=500,
        created=NOW - 10_000,
        updated=NOW - silent_s,
        log_interval=10.0,
    )
    return dataclasses.replace(info, **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("reported", "silent_s", "expected"),
    [
        ("live", 5, "live"),  # a pushed run logging every 10 s
        ("live", 49, "live"),  # 49 s: a checkpoint pause is not a stall
        ("live", 200, "stalled"),  # 20 intervals without a point
        ("live", 3 * 86400, "stalled"),  # said running, never said more: stays stalled
        ("running", 200, "stalled"),  # stored by an older server
        ("finished", 3 * 86400, "finished"),
        ("failed", 5, "failed"),
        ("ok", 5, "live"),  # a watched log growing
        ("problems", 5, "live"),  # problems are shown beside the status, not as it
        ("ok", 600, "stalled"),
        ("ok", FINISHED_AFTER_S + 1, "finished"),  # yesterday's log: over
    ],
)
def test_the_status_a_user_sees(reported: str, silent_s: float, expected: str) -> None:
    assert status(run(reported, silent_s), NOW) == expected


def test_reaching_the_recipes_last_step_is_finished_however_recent() -> None:
    assert status(run("ok", 5), NOW, total_steps=500) == "finished"
    assert status(run("ok", 5), NOW, total_steps=501) == "live"


def test_stalled_follows_the_runs_own_logging_interval() -> None:
    slow = run("live", 20 * 60, log_interval=300.0)  # logs every 5 minutes
    assert status(slow, NOW) == "live"
    assert status(slow, NOW, logging_interval=60.0) == "stalled"
    unknown = run(
        "live", alerts.STALL_DEFAULT_INTERVAL_S * alerts.STALL_INTERVALS + 1, log_interval=None
    )
    assert status(unknown, NOW) == "stalled"


def test_a_stalled_run_shows_a_stall_alert_made_at_read_time() -> None:
    from tracking.status import stall_event

    assert stall_event(run("live", 5), NOW) is None
    event = stall_event(run("live", 1200), NOW)
    assert event is not None and (event.kind, event.state, event.step) == ("stalled", "open", 500)
    assert "no point for 20 min" in event.text and "every 10 s" in event.text


def test_a_run_paused_from_the_dashboard_shows_paused_not_stalled() -> None:
    """The user paused it: its silence is asked for, and the run list must not cry stall."""
    quiet = run("live", 600)
    assert status(quiet, NOW) == "stalled"
    assert status(quiet, NOW, control="paused") == "paused"
    assert status(run("finished", 600), NOW, control="paused") == "finished"
    assert status(quiet, NOW, control="running") == "stalled"
