"""A run's control state (``running``, ``paused``, ``stopped``) and the history of its changes.

The dashboard never touches a training process: Pause, Resume and Stop only record what the
script should do, and the script reads it (``tracking.client.Run.should_stop`` and
``wait_while_paused``) and decides. So the store keeps one row per change in ``controls``
(who, when, the state before, the run's last step then, a note), and the current state is
the newest row's, ``running`` when there is none.

Rules (checked in the same write transaction that records the change, so two people
clicking at once cannot both pass a check the other invalidates):

- the state is one of ``STATES``; anything else is ``BadInput`` naming the three;
- the run must exist (``UnknownRun``): a typo must not create a control row for nothing;
- ``stopped`` is final (``ControlRefused``): the script was told to end and may already have;
  carrying on is a new run's business, so a resume or pause after a stop is refused;
- setting the state a run already has records nothing and returns the current ``Control``
  (two tabs both clicking Pause is one pause, not two).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tracking.store.db import Db, Row
from tracking.store.errors import BadInput

RUNNING, PAUSED, STOPPED = "running", "paused", "stopped"
STATES = (RUNNING, PAUSED, STOPPED)
#: most rows ``control_history`` returns
MAX_HISTORY = 1000
MAX_WHO = 200
MAX_NOTE = 1000

_BAD_TEXT = re.compile(r"[\x00-\x1f\x7f]")
_COLUMNS = "run_id, state, previous, who, note, step, created"


class UnknownRun(BadInput):
    """A control change (or read) for a run the store does not hold."""


class ControlRefused(BadInput):
    """A change the rules do not allow (after a stop, which is final)."""


@dataclass(frozen=True)
class Control:
    """A run's control state as of one change. For a run never controlled: ``running``,
    ``previous`` None, ``who`` empty, ``time`` None. ``step`` is the run's last stored step
    when the change was made (None before any point)."""

    run_id: str
    state: str
    previous: str | None
    who: str
    note: str
    step: int | None
    time: float | None

    @staticmethod
    def initial(run_id: str) -> Control:
        return Control(run_id, RUNNING, None, "", "", None, None)


def check_state(state: object) -> str:
    if state not in STATES:
        raise BadInput(f"control state {state!r:.60} is not one of {', '.join(STATES)}")
    return str(state)


def check_who(who: object) -> str:
    if not isinstance(who, str) or not who.strip() or len(who) > MAX_WHO or _BAD_TEXT.search(who):
        raise BadInput(
            f"who {who!r:.60} is not allowed: give 1 to {MAX_WHO} characters without "
            "control characters (a user name, or 'dashboard')"
        )
    return who.strip()


def check_note(note: object) -> str:
    if not isinstance(note, str) or len(note) > MAX_NOTE:
        raise BadInput(f"note must be text of at most {MAX_NOTE} characters")
    return note


def _control(row: Row) -> Control:
    run_id, state, previous, who, note, step, created = row
    return Control(
        run_id,
        state,
        previous,
        who,
        note,
        None if step is None else int(step),
        float(created),
    )


def latest(db: Db, run_id: str) -> Control:
    """The run's current control state (``running`` when it was never changed)."""
    row = db.one(
        f"SELECT {_COLUMNS} FROM controls WHERE run_id = ? ORDER BY id DESC LIMIT 1", (run_id,)
    )
    return Control.initial(run_id) if row is None else _control(row)


def history(db: Db, run_id: str, limit: int) -> list[Control]:
    """The newest ``limit`` changes, newest first."""
    rows = db.all(
        f"SELECT {_COLUMNS} FROM controls WHERE run_id = ? ORDER BY id DESC LIMIT ?",
        (run_id, limit),
    )
    return [_control(row) for row in rows]


def refusal(current: Control, state: str) -> str | None:
    """Why ``state`` may not follow ``current`` (None: it may)."""
    if current.state == STOPPED and state != STOPPED:
        by = f" by {current.who}" if current.who else ""
        return (
            f"run {current.run_id!r} was stopped{by}; a stop is final, so it cannot be "
            f"{'resumed' if state == RUNNING else state}: start a new run to train again"
        )
    return None


def record(
    db: Db, run_id: str, state: str, who: str, note: str, now: float
) -> tuple[Control, bool]:
    """Apply the rules and write the change in ``db``'s write transaction; the control state
    after it, and whether a row was written."""
    found = db.one(f"SELECT run_id FROM runs WHERE run_id = ?{db.for_update}", (run_id,))
    if found is None:
        raise UnknownRun(f"no run {run_id!r} in the store: nothing to {state}")
    current = latest(db, run_id)
    why = refusal(current, state)
    if why is not None:
        raise ControlRefused(why)
    if current.state == state:
        return current, False
    row = db.one("SELECT MAX(last_step) FROM metrics WHERE run_id = ?", (run_id,))
    step = None if row is None or row[0] is None else int(row[0])
    db.run(
        f"INSERT INTO controls ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (run_id, state, current.state, who, note, step, now),
    )
    return Control(run_id, state, current.state, who, note, step, now), True


def event_text(control: Control) -> str:
    """The run-events line for a change: what, who, and from which state."""
    verb = {"running": "Resumed", "paused": "Paused", "stopped": "Stopped"}[control.state]
    note = f": {control.note}" if control.note else ""
    return f"{verb} by {control.who} (was {control.previous}){note}"
