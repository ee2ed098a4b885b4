"""Pause, Resume and Stop for a real run, as the dashboard's buttons call them (Dash-free).

The dashboard never kills or signals a training process. A button only sets the run's
control state in the store (``Store.set_control``, with who and when); the training script
reads it through ``tracking.client.Run`` (``should_stop()``, ``wait_while_paused()``, the
``control`` field of every points reply) and decides what to do. So every message here says
what the script will do and when, not what the dashboard did to it.

``request(store, run_id, action, who)`` applies an action and returns an ``Outcome`` whose
``message`` a page shows as it is. ``who_from_headers(headers, trust)`` names the person:
the login nginx checked (``X-Remote-User``, set by deploy/nginx.conf from ``$remote_user``)
when the operator said to trust it, else ``"dashboard"``.

Why trust is the operator's choice (``DASHBOARD_TRUST_REMOTE_USER=1``): any client that can
reach gunicorn directly can send any ``X-Remote-User`` it likes. nginx replaces the header
on every request it passes (and sends none where no login was checked), so the header means
something only when gunicorn is reachable through nginx alone (bound to 127.0.0.1 or a
private socket, as deploy/ does) and nginx asks for a login. Without that the name would be
whatever a caller typed, so the default records ``"dashboard"``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tracking.store import Control, ControlRefused, Store, StoreUnavailable, UnknownRun
from tracking.store.controls import MAX_WHO, PAUSED, RUNNING, STOPPED
from tracking.store.errors import BadInput

if TYPE_CHECKING:
    from werkzeug.datastructures import Headers

#: what each button asks for
ACTIONS: dict[str, str] = {"pause": PAUSED, "resume": RUNNING, "stop": STOPPED}
HEADER = "X-Remote-User"
TRUST_ENV = "DASHBOARD_TRUST_REMOTE_USER"
ANONYMOUS = "dashboard"
_BAD_TEXT = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Outcome:
    """What a button did: ``ok`` (the state is now what was asked, or already was),
    ``state`` (the run's control state after the call; None when it could not be read),
    ``message`` (one sentence or two for the page), ``control`` (the state's record)."""

    ok: bool
    state: str | None
    message: str
    control: Control | None = None


def trust_from_env(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the operator set ``DASHBOARD_TRUST_REMOTE_USER=1`` (read per call, so nothing
    is cached in a worker)."""
    env = os.environ if environ is None else environ
    return env.get(TRUST_ENV, "").strip() == "1"


def who_from_headers(headers: Mapping[str, str] | Headers, trust: bool) -> str:
    """The user nginx checked (``X-Remote-User``) when ``trust``, else ``"dashboard"``; a
    header that is empty, too long or holds control characters counts as none."""
    if not trust:
        return ANONYMOUS
    value = headers.get(HEADER)
    if value is None:  # a plain dict: look the name up without regard to case
        value = next((v for k, v in headers.items() if k.lower() == HEADER.lower()), None)
    if not isinstance(value, str):
        return ANONYMOUS
    value = value.strip()
    if not value or len(value) > MAX_WHO or _BAD_TEXT.search(value):
        return ANONYMOUS
    return value


def _at(control: Control) -> str:
    return "" if control.step is None else f" at step {control.step:,}"


def _by(control: Control) -> str:
    return f" by {control.who}" if control.who else ""


def _done(control: Control) -> str:
    """The message for a change just made (or already in place)."""
    who = _by(control)
    if control.state == PAUSED:
        return (
            f"Paused{who}{_at(control)}: the script pauses when it next calls "
            "run.wait_while_paused()"
        )
    if control.state == STOPPED:
        return (
            f"Stopped{who}{_at(control)}: the script ends when it next checks "
            "run.should_stop(); the dashboard never kills a process. A stop is final."
        )
    return (
        f"Resumed{who}{_at(control)}: the script carries on when its "
        "run.wait_while_paused() next asks (every few seconds)"
    )


def request(store: Store, run_id: str, action: str, who: str) -> Outcome:
    """Apply ``action`` (``pause``, ``resume`` or ``stop``) to ``run_id`` on behalf of
    ``who``; never raises for anything a user can cause (an unknown action or run, a change
    after a stop, the store unavailable): the ``Outcome`` says what happened."""
    state = ACTIONS.get(action) if isinstance(action, str) else None
    if state is None:
        return Outcome(False, None, f"Unknown action {action!r:.40}: use pause, resume or stop.")
    try:
        current = store.control(run_id)
        info = store.run(run_id)
        if current.state == state:
            if state == RUNNING:
                return Outcome(True, state, "The run is not paused: nothing to resume.", current)
            done = _done(current)
            return Outcome(True, state, f"Already {done[:1].lower()}{done[1:]}.", current)
        if current.state != STOPPED and info is not None and info.status in ("finished", "failed"):
            return Outcome(
                False,
                current.state,
                f"Run {run_id!r} has {info.status}: no script is left to {action} it.",
                current,
            )
        control = store.set_control(run_id, state, who)
    except UnknownRun:
        return Outcome(False, None, f"No run {run_id!r} in the store: nothing to {action}.")
    except ControlRefused as exc:
        return Outcome(False, STOPPED, f"{str(exc)[:1].upper()}{str(exc)[1:]}.")
    except StoreUnavailable as exc:
        return Outcome(False, None, f"Not changed: {exc}.")
    except BadInput as exc:  # a malformed run id or who: the caller's bug, said plainly
        return Outcome(False, None, f"Not changed: {exc}.")
    message = _done(control)
    if info is not None and info.kind != "push":
        message += (
            ". This run is read from log files: only a script pushing with tracking.client "
            "reads its control state"
        )
    return Outcome(True, control.state, message + ("" if message.endswith(".") else "."), control)
