"""A real run's events panel, its critical-alert banner and its status, from the store.

Alerts are computed once where the data arrives and stored with the run
(``tracking.alerts``); a page only reads them. The panel asks every few seconds (``poll``,
on the forecast's slow Interval, not the follow tick: one more read per tick would cost a
sixth of its 5 ms budget) with ``after_seq`` (the last seq it holds, kept in the
``TR_REAL_EV_AT`` Store with the open-alert count), so only events new since then travel; a
stall, which brings no data and so no stored event, is made at read time
(``tracking.status.stall_event``) and shown on open. An alert is stored once "as it is
now": one that closes later keeps its row in the panel (opened text), while the banner,
read from the open alerts, goes away when it closes.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tracking import status as run_status
from tracking.store import Event, RunInfo, Store
from tracking.store.errors import StoreError
from views import real_run
from views.contract import KEEP

MAX_ROWS = 200  # rows read on open (the newest kept)
TICK_ROWS = 20  # rows a tick may add (the next tick brings the rest)


@dataclass(frozen=True)
class Row:
    """One panel row: where, what kind (the CSS class and the kind filter), the text."""

    step: int | None
    kind: str
    text: str
    severity: str = "info"

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.step, "kind": self.kind, "text": self.text, "sev": self.severity}


def row(e: Event) -> Row:
    """An event as a row: alerts say open/closed (and where they closed)."""
    text = e.text
    if e.state == "closed":
        where = f" at step {e.closed_step:,}" if e.closed_step is not None else ""
        text = f"{text} (closed{where})"
    elif e.state == "open" and e.severity == "critical":
        text = f"{text} (open)"
    kind = "control" if e.kind == "control" else e.kind
    return Row(e.step, kind, text, e.severity)


def rows(events: Sequence[Event]) -> list[dict[str, Any]]:
    return [row(e).to_dict() for e in events]


def run_state(store: Store, info: RunInfo, now: float | None = None) -> tuple[str, str]:
    """(status, control state) of the run: ``tracking.status.status`` with its control
    state (a paused run is "paused", not "stalled")."""
    try:
        control = store.control(info.run_id).state
    except (StoreError, LookupError):
        control = "running"
    t = time.time() if now is None else now
    return run_status.status(info, t, control=control), control


def opened(store: Store, info: RunInfo, now: float | None = None) -> tuple[list[dict], int]:
    """The panel's rows on open (a read-time stall first) and the last seq they hold."""
    got = store.events(info.run_id, 0, MAX_ROWS)
    out = rows(got)
    stall = run_status.stall_event(info, time.time() if now is None else now)
    if stall is not None:
        out.append(row(stall).to_dict())
    seq = max((e.seq for e in got), default=0)
    if not out:
        out = [{"step": None, "kind": "empty", "text": "No alerts or events for this run."}]
    return out, seq


def since(store: Store, run_id: str, seq: int) -> tuple[list[dict], int]:
    """Rows newer than ``seq`` (at most ``TICK_ROWS``) and the new last seq."""
    got = store.events(run_id, seq, TICK_ROWS)
    return rows(got), max((e.seq for e in got), default=seq)


def banner(store: Store, run_id: str) -> str:
    """The open critical alerts as one line for the tab's banner ("" when none)."""
    crit = [a for a in store.alerts(run_id, open_only=True) if a.severity == "critical"]
    if not crit:
        return ""
    first = crit[0]
    at = f" at step {first.step:,}" if first.step is not None else ""
    more = f" (+{len(crit) - 1} more open)" if len(crit) > 1 else ""
    return f"Critical alert{at}: {first.text}{more}"


def held(run_id: str, seq: int, alerts: int, state: str = "") -> dict[str, Any]:
    """The ``TR_REAL_EV_AT`` Store: the run, the last seq the panel holds, open alerts and
    the status shown."""
    return {"run": run_id, "seq": seq, "alerts": alerts, "status": state}


@dataclass(frozen=True)
class Polled:
    """A poll's answer: rows to append, the banner (``KEEP``: unchanged), the new held
    state (``KEEP``: nothing moved) and, when the status moved (live -> stalled, ...),
    the title and the top bar's badge (else ``KEEP``)."""

    add: list[dict[str, Any]]
    banner: Any
    held: Any
    title: Any = KEEP
    badge: Any = KEEP


def poll(store: Store, raw: Any, now: float | None = None) -> Polled | None:
    """Events newer than the held seq, and the banner when the open-alert count moved;
    None when the held state is not a run's (nothing is shown, or it is unreadable)."""
    if not isinstance(raw, dict) or not isinstance(raw.get("run"), str):
        return None
    seq, alerts = raw.get("seq"), raw.get("alerts")
    if not isinstance(seq, int) or not isinstance(alerts, int) or seq < 0:
        return None
    run_id = raw["run"]
    info = store.run(run_id)
    if info is None:
        return None
    added, new_seq = since(store, run_id, seq)
    banner_now: Any = KEEP
    if info.open_alerts != alerts:
        banner_now = banner(store, run_id) if info.open_alerts else ""
    state, _ = run_state(store, info, now)
    moved = state != raw.get("status")
    if not added and banner_now is KEEP and not moved:
        return Polled([], KEEP, KEEP)
    new = held(run_id, new_seq, info.open_alerts, state)
    if not moved:
        return Polled(added, banner_now, new)
    badge = {"name": info.name or run_id, "status": state}
    return Polled(added, banner_now, new, real_run.title(info, state), badge)
