"""One run status for every source: ``live``, ``finished``, ``stalled`` or ``failed``.

What the store holds differs by source: a pushed run carries what its script said
(``live``, stored for the client's ``running`` too; ``finished``; ``failed``), a watched run
only whether its files read cleanly (``ok`` / ``problems``). Logs never say a run ended, so
for them the status comes from time alone:

- ``finished``: the script said so; or the run reached the recipe's last step
  (``total_steps`` when known); or a watched run has been silent longer than
  ``FINISHED_AFTER_S`` (a log that stopped growing hours ago belongs to a run that is over,
  finished or killed: the log cannot tell which).
- ``failed``: the script said so (the client sends it when the ``with`` block raised).
- ``stalled``: no point for ``tracking.alerts.STALL_INTERVALS`` logging intervals (at least
  ``STALL_FLOOR_S``): the process may hang, wait on a dead node, or have died without a word.
  A pushed run that said ``running`` stays stalled until its script says more.
- ``paused``: someone paused it from the dashboard (``control="paused"``) and it has not
  ended: a silence the user asked for is not a stall.
- ``live``: anything else: points are arriving at the run's pace.

Read problems are not a status: a live run can have an unreadable line. They stay in
``RunInfo.problems`` (the API's ``problems`` list, the CLI's PROBLEMS column), beside the
status, so a run never has to choose between "live" and "has problems".

``status`` is pure (``now`` is an argument): every worker and the CLI answer the same.
"""

from __future__ import annotations

from typing import Literal

from tracking.alerts import stall_after, stalled
from tracking.store import Event, RunInfo

Status = Literal["live", "paused", "finished", "stalled", "failed"]
STATUSES: tuple[Status, ...] = ("live", "paused", "finished", "stalled", "failed")

FINISHED_AFTER_S = 6 * 3600.0
"""A watched run silent for 6 hours is over: far past any logging interval or checkpoint
pause, and short enough that yesterday's logs do not show as stalled forever."""

REPORTED_LIVE = ("live", "running")
"""What a script may say while it trains (``running`` is what clients before this status
sent, and still accepted)."""


def status(
    info: RunInfo,
    now: float,
    logging_interval: float | None = None,
    *,
    total_steps: int | None = None,
    control: str | None = None,
) -> Status:
    """The run's status at ``now`` (Unix s). ``logging_interval`` defaults to the one the
    alert pass measured (``info.log_interval``); ``total_steps`` is the recipe's, if known;
    ``control`` is the run's control state (``Store.control``), when the caller has it."""
    reported = info.status
    if reported == "failed":
        return "failed"
    if reported == "finished":
        return "finished"
    if total_steps is not None and info.last_step is not None and info.last_step >= total_steps:
        return "finished"
    if control == "paused":
        return "paused"
    interval = info.log_interval if logging_interval is None else logging_interval
    if not stalled(info.updated, interval, now):
        return "live"
    pushed = reported in REPORTED_LIVE
    if not pushed and now - info.updated > FINISHED_AFTER_S:
        return "finished"
    return "stalled"


def stall_event(info: RunInfo, now: float, logging_interval: float | None = None) -> Event | None:
    """A stalled run's alert for the events panel, made at read time (a stall brings no data,
    so no ingest pass can store it): an open ``stalled`` alert with ``seq = 0``, or None
    when the run is not stalled. Not stored: it goes when the next point comes."""
    if status(info, now, logging_interval) != "stalled":
        return None
    interval = info.log_interval if logging_interval is None else logging_interval
    silent = now - info.updated
    every = f"every {interval:.3g} s" if interval else "at an unknown interval"
    return Event(
        run_id=info.run_id,
        seq=0,
        time=now,
        step=info.last_step,
        kind="stalled",
        severity="warning",
        text=(
            f"no point for {silent / 60:.0f} min (the run logs {every}; stalled after "
            f"{stall_after(interval):.0f} s); last step "
            f"{'-' if info.last_step is None else f'{info.last_step:,}'}"
        ),
        state="open",
        key="stalled",
    )
