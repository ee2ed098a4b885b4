"""How much heavy work one worker process takes on at once, and at what priority.

A request's cost is bounded by what it may carry (``sim.MAX_STEPS`` steps per run; a full
redraw costs 50-140 ms of CPU at any length, ``simulator.buckets``,
benchmarks/bench_training.py; ``MAX_VIEW_STEPS`` per
comparison view). Bounded is not enough: a handful of worst-case requests at once would occupy every
gunicorn thread and both cores, and everyone else's ticks and ``/healthz`` would queue behind
them (issue 16: four such requests made ``/healthz`` take 34 s). So:

- Each worker admits **one** heavy job at a time (``HEAVY_SLOTS``) and answers any other
  heavy request at once with 503 and ``Retry-After``; ``assets/js/connection.js`` waits and
  resends it. A worker's other thread stays free for light requests.
- The admitted job runs in a helper process of lower CPU priority (``HEAVY_NICE``; one per
  worker, see ``HeavyWork``), and the request's thread waits for it without holding the GIL.
  The kernel then runs any tick or health check before it, in this worker and in the others:
  heavy work uses the CPU that light work leaves.

What counts as heavy is decided where the cost is known (``views``): a redraw or analysis of
at least ``HEAVY_STEPS`` steps; light work never waits. The slot lives in the Flask app's
``extensions`` (made with the app; with ``preload_app`` in the master, so each worker inherits
its own, unlocked copy at the fork) and the helper process is made on first use in the
worker; neither is module-level state, and neither holds any user's data. See
docs/architecture.md, "Trust nothing from the browser".
"""

from __future__ import annotations

import atexit
import contextlib
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

import flask

from callbacks.security import error_body
from views import jobs

HEAVY_SLOTS = 1  # heavy jobs (redraws, views, CSV exports) one worker runs at once; it has
# 2 threads (deploy/gunicorn.conf.py), so the other stays free for ticks and /healthz
HEAVY_STEPS = 200_000  # steps of computing below which a job is light (~25 ms)
HELPER_PROCESSES = 1  # redraws and export chunks share it: each waits at most one job
JOB_MODULES = (
    "views.jobs",
    "views.training_charts",
    "views.comparison_list",
    "views.training_export",
)
HEAVY_NICE = 10  # CFS weight 110 against 1024 for nice 0: about a tenth of a contended core
RETRY_AFTER_S = 1
# Heavy jobs a worker starts are also metered: a bucket of HEAVY_BURST tokens refilled at
# HEAVY_RATE a second. Since redraws of any length take well under 150 ms
# (``simulator.buckets``), eight clients sending them back to back would otherwise keep the
# workers encoding ~400 KB answers at full priority once the helper is done (ticks p99
# 468 ms, tests/deploy/test_heavy_requests.py); a page's own few heavy requests in a row
# (a comparison view, then a redraw) still pass at once.
HEAVY_BURST = 3.0
HEAVY_RATE = 1.0
_KEY = "llm_dashboard.heavy_work"

T = TypeVar("T")


class Busy(Exception):
    """This worker is already running its heavy job; the request should be sent again."""


def _end_helpers(processes: dict[int, multiprocessing.process.BaseProcess]) -> None:
    """At exit, stop a pool's helper processes directly rather than through its manager thread.

    ``ProcessPoolExecutor`` tells its helpers to stop from a manager thread, and
    ``multiprocessing`` then waits for every child at exit. A thread that was stopped from
    outside (dash's test runner raises ``SystemExit`` in every thread an app started) never
    tells them, and the process then waits for its helpers forever: the suite's 831 tests
    passed and ``make test`` did not return. Terminating the helpers, which hold no state of
    their own, makes exit certain. Registered per pool, with the pool's own dict of processes.
    """
    for process in list(processes.values()):
        with contextlib.suppress(Exception):
            process.terminate()
            process.join(timeout=5)


def _lower_priority() -> None:
    """Make this process yield the CPU to the gunicorn workers (nice ``HEAVY_NICE``)."""
    # Where nice is not available: same priority; the slot still bounds the work.
    with contextlib.suppress(AttributeError, OSError):
        os.nice(HEAVY_NICE)


class HeavyWork:
    """One worker's heavy-job slot and the low-priority process that runs the jobs.

    A process, not a thread: a thread would share the worker's GIL, and a tick waiting for the
    GIL behind a long redraw is what made ticks slow (p99 0.2-0.6 s under attack with a
    nice-10 thread against 0.03-0.1 s with the process). Jobs are sent as picklable callables
    (``functools.partial`` of a module-level function) and their results pickled back (a
    full redraw's figures are about 0.5 MB: a few milliseconds). The process is made on
    first use, so in the worker after gunicorn's fork, with the "forkserver" method (forking
    a threaded worker is unsafe), and made again if it dies.
    """

    def __init__(self) -> None:
        # One slot for redraws, comparison views and exports alike: a worker has 2 threads, and
        # one of them must stay free for ticks and /healthz.
        self.slots = threading.BoundedSemaphore(HEAVY_SLOTS)
        self._tokens = HEAVY_BURST  # heavy jobs this worker may start now (HEAVY_RATE a second)
        self._tokens_at = time.monotonic()
        self._pool: ProcessPoolExecutor | None = None
        self._pid = 0
        self._lock = threading.Lock()

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None or self._pid != os.getpid():
                context = multiprocessing.get_context("forkserver")
                # The forkserver imports the job modules once; each helper forks from it
                # with them loaded (shared, copy-on-write) instead of importing numpy anew.
                context.set_forkserver_preload(list(JOB_MODULES))
                self._pool = ProcessPoolExecutor(
                    HELPER_PROCESSES, mp_context=context, initializer=_lower_priority
                )
                self._pid = os.getpid()
                atexit.register(_end_helpers, self._pool._processes)
            return self._pool

    def warm(self) -> threading.Thread:
        """Start the helper process now, in the background, instead of on the first heavy
        request: the forkserver's start and its imports of numpy and the job modules took
        that request ~0.8 s (``benchmarks/bench_comparison.py``: 919 ms cold, 165 ms warm for
        the same comparison view), the first "add a recipe" a user makes on a fresh worker.
        Called from gunicorn's ``post_worker_init`` and ``python app.py``; a failure here
        only leaves the start to the first request, as before."""

        def start() -> None:
            with contextlib.suppress(Exception):
                self._executor().submit(jobs.call, jobs.ready).result(timeout=60)

        thread = threading.Thread(target=start, name="heavy-work-warm", daemon=True)
        thread.start()
        return thread

    def close(self) -> None:
        """End the helper process now (tests that make many apps; made again if used)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            _end_helpers(pool._processes or {})
            pool.shutdown(wait=False, cancel_futures=True)

    def run(self, what: str, job: Callable[[], T]) -> T:
        """Run ``job`` in the low-priority process if the slot is free, else raise ``Busy``."""
        if not self.slots.acquire(blocking=False):
            raise Busy(what)
        try:
            now = time.monotonic()
            self._tokens = min(HEAVY_BURST, self._tokens + (now - self._tokens_at) * HEAVY_RATE)
            self._tokens_at = now
            if self._tokens < 1.0:
                raise Busy(what)
            self._tokens -= 1.0
            return self.nice(job)
        finally:
            self.slots.release()

    def nice(self, job: Callable[[], T]) -> T:
        """Run ``job`` in the low-priority process and wait (no slot: the caller holds one).

        A helper that died (killed, out of memory) is made again and the job tried once more;
        if that fails too, the request is told to come back (``Busy``).
        """
        for attempt in (1, 2):
            pool = self._executor()
            try:
                return pool.submit(jobs.call, job).result()
            except BrokenProcessPool:
                with self._lock:
                    if self._pool is pool:  # another thread may have replaced it already
                        self._pool = None  # made again on the next submit
                        pool.shutdown(wait=False, cancel_futures=True)
                if attempt == 2:
                    break
        raise Busy("job (the helper process stopped; it is being restarted)")


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
    """``server``'s heavy-job slot and helper process (``register`` made them)."""
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
