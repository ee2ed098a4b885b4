"""How much heavy work one worker process takes on at once, and at what priority.

A request's cost is bounded by what it may carry (``sim.MAX_STEPS`` steps per run, so a full
redraw is at most about half a second on an idle core; ``MAX_VIEW_STEPS`` per comparison
view). Bounded is not enough: a handful of worst-case requests at once would occupy every
gunicorn thread and both cores, and everyone else's ticks and ``/healthz`` would queue behind
them (issue 16: four such requests made ``/healthz`` take 34 s). So:

- Each worker admits **one** heavy job at a time (``HEAVY_SLOTS``) and answers any other
  heavy request at once with 503 and ``Retry-After``; ``assets/js/connection.js`` waits and
  resends it. A worker's other thread stays free for light requests.
- The admitted job runs on a thread of lower CPU priority (``HEAVY_NICE``, a per-thread nice
  value on Linux; the threads it starts inherit it), and the request's thread waits for it.
  The kernel then runs any tick or health check before it, in this worker and in the others:
  heavy work uses the CPU that light work leaves.

What counts as heavy is decided where the cost is known (``views``): a redraw or analysis of
at least ``HEAVY_STEPS`` steps; light work never waits. The slots and the thread live in the
Flask app's ``extensions`` (one set per worker process, made after gunicorn forks), not at
module level, and hold no user's data. See docs/architecture.md, "Trust nothing from the
browser".
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import flask

from callbacks.security import error_body

HEAVY_SLOTS = 1  # heavy jobs one worker runs at once (it has 2 threads: deploy/gunicorn.conf.py)
EXPORT_SLOTS = 1  # CSV exports one worker streams at once (callbacks/export.py)
HEAVY_STEPS = 200_000  # steps of computing below which a job is light (~25 ms)
HEAVY_NICE = 10  # CFS weight 110 against 1024 for nice 0: about a tenth of a contended core
RETRY_AFTER_S = 1
_KEY = "llm_dashboard.heavy_work"

T = TypeVar("T")


class Busy(Exception):
    """This worker is already running its heavy job; the request should be sent again."""


def _lower_priority() -> None:
    """Make the calling thread (and threads it starts) yield the CPU to normal threads."""
    # Not Linux (no per-thread nice): same priority; the slot still bounds the work.
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HEAVY_NICE)


class HeavyWork:
    """One worker's heavy-job slot and its low-priority thread (made on first use, so in the
    worker after gunicorn's fork: threads do not survive a fork)."""

    def __init__(self) -> None:
        self.slots = threading.BoundedSemaphore(HEAVY_SLOTS)
        self.export_slots = threading.BoundedSemaphore(EXPORT_SLOTS)
        self._pool: ThreadPoolExecutor | None = None
        self._pid = 0
        self._lock = threading.Lock()

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None or self._pid != os.getpid():
                self._pool = ThreadPoolExecutor(
                    HEAVY_SLOTS + EXPORT_SLOTS,
                    thread_name_prefix="heavy",
                    initializer=_lower_priority,
                )
                self._pid = os.getpid()
            return self._pool

    def run(self, what: str, job: Callable[[], T]) -> T:
        """Run ``job`` on a low-priority thread if the slot is free, else raise ``Busy``."""
        if not self.slots.acquire(blocking=False):
            raise Busy(what)
        try:
            return self.nice(job)
        finally:
            self.slots.release()

    def nice(self, job: Callable[[], T]) -> T:
        """Run ``job`` on a low-priority thread and wait for it (no slot: the caller holds one)."""
        return self._executor().submit(job).result()


def register(server: flask.Flask) -> None:
    """Give ``server`` its heavy-work slot and the 503 answer for a request that found none."""
    server.extensions[_KEY] = HeavyWork()

    def busy(exc: Busy) -> flask.Response:
        response = error_body(
            503, f"the server is busy with another long {exc}; this request is resent shortly"
        )
        response.headers["Retry-After"] = str(RETRY_AFTER_S)
        return response

    server.register_error_handler(Busy, busy)


def work(server: flask.Flask) -> HeavyWork:
    """``server``'s heavy-work slots and threads (``register`` made them)."""
    found: HeavyWork = server.extensions[_KEY]
    return found


def heavy(steps: int, what: str, job: Callable[[], T]) -> T:
    """Run ``job``, a computation over ``steps`` steps, within this worker's limits.

    Light jobs (under ``HEAVY_STEPS``) and calls outside a request (tests, scripts) run at
    once on the caller's thread.
    """
    found: HeavyWork | None = (
        flask.current_app.extensions.get(_KEY) if flask.has_app_context() else None
    )
    if found is None or steps < HEAVY_STEPS:
        return job()
    return found.run(what, job)
