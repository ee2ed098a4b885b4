"""Pause / Resume / Stop for a real run: which buttons are enabled, and what a press does.

The dashboard only sets the run's control state in the store (``tracking.control.request``);
the training script decides: ``run.should_stop()`` and ``run.wait_while_paused()`` of
``tracking.client.Run`` read it. So a run read from log files (a watched folder) has no one
to read it: its buttons are shown disabled with that reason. A stop is final.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tracking import control
from tracking.store import RunInfo, Store
from views import real_events, real_run
from views.contract import Notice

ACTIONS = ("pause", "resume", "stop")
HOW = (
    "The script decides: the dashboard only sets the run's control state, which a training "
    "loop pushing with tracking.client reads with run.should_stop() and "
    "run.wait_while_paused(). It never kills a process. A stop is final."
)
LOGS_ONLY = (
    "This run is read from log files (a watched folder): no script reads a control state, "
    "so it cannot be paused or stopped from here."
)
ENDED = ("finished", "failed")


@dataclass(frozen=True)
class Buttons:
    """Each button's disabled flag, and the tooltip saying why (and how control works)."""

    disabled: dict[str, bool]
    why: str
    state: str

    def to_dict(self) -> dict[str, Any]:
        return {"disabled": dict(self.disabled), "why": self.why, "state": self.state}


def buttons(info: RunInfo, state: str) -> Buttons:
    """What may be pressed for ``info`` in control ``state`` (running, paused, stopped)."""
    if info.kind != "push":
        return Buttons(dict.fromkeys(ACTIONS, True), LOGS_ONLY, state)
    if state == "stopped":
        why = "Stopped: a stop is final. " + HOW
        return Buttons(dict.fromkeys(ACTIONS, True), why, state)
    if info.status in ENDED:
        why = f"The run has {info.status}: no script is left to read a control state."
        return Buttons(dict.fromkeys(ACTIONS, True), why, state)
    paused = state == "paused"
    return Buttons({"pause": paused, "resume": not paused, "stop": False}, HOW, state)


def current(store: Store, info: RunInfo) -> Buttons:
    try:
        state = store.control(info.run_id).state
    except LookupError:
        state = "running"
    return buttons(info, state)


@dataclass(frozen=True)
class Pressed:
    """What a press sends back: the notice, the buttons now, and the events panel redrawn
    with the change in it (``events`` rows, ``seq`` the last one; a control change does
    not move the run's version, so the follow tick would not bring it; None: unchanged)."""

    notice: Any
    buttons: Buttons | None
    events: list[dict[str, Any]] | None = None
    seq: int = 0
    status: str = ""
    name: str = ""
    title: str = ""


def press(store: Store, run_id: str, action: str, who: str) -> Pressed:
    """Apply ``action`` on behalf of ``who`` and say what happened."""
    outcome = control.request(store, run_id, action, who)
    info = store.run(run_id)
    notice = Notice.of(outcome.message, "success" if outcome.ok else "warning")
    if info is None:
        return Pressed(notice, None)
    rows, seq = real_events.opened(store, info)
    status, _ = real_events.run_state(store, info)
    return Pressed(
        notice,
        current(store, info),
        rows,
        seq,
        status,
        info.name or run_id,
        real_run.title(info, status),
    )
