"""The heavy-work limits (callbacks/limits.py) as one worker sees them: one heavy job at a
time, run in the helper process, and a job that fails says so instead of looking busy."""

from __future__ import annotations

import os
import signal
import threading
from functools import partial
from typing import Any

import pytest

import simulator as sim
from callbacks import limits
from views.jobs import JobFailed


def test_a_failing_job_is_an_error_not_a_busy_server(make_app: Any) -> None:
    """ConfigError cannot be rebuilt from a pickle: without the wrapper the pool counted
    itself broken and the request was told to retry, forever."""
    app = make_app()
    with app.server.app_context():
        with pytest.raises(JobFailed, match="ConfigError"):
            limits.heavy(10**6, "redraw", partial(sim.preset, "no-such-model"))
        # The helper is still there: the next job runs.
        cfg = limits.heavy(10**6, "redraw", partial(sim.preset, "vicuna-7b"))
        assert cfg.model == "vicuna-7b"


def test_one_heavy_job_per_worker_and_light_jobs_never_wait(make_app: Any) -> None:
    app = make_app()
    work = limits.work(app.server)
    assert work.slots.acquire(blocking=False)  # a redraw or an export is running
    try:
        with app.server.app_context():
            with pytest.raises(limits.Busy):
                limits.heavy(limits.HEAVY_STEPS, "redraw", partial(int, "1"))
            assert limits.heavy(limits.HEAVY_STEPS - 1, "redraw", partial(int, "7")) == 7
    finally:
        work.slots.release()


def test_the_busy_answer_is_a_503_with_retry_after(make_app: Any) -> None:
    app = make_app()
    server = app.server

    @server.route("/_test-busy")
    def busy() -> Any:
        raise limits.Busy("redraw")

    got = server.test_client().get("/_test-busy")
    assert got.status_code == 503 and got.headers["Retry-After"] == str(limits.RETRY_AFTER_S)
    assert "busy with another long redraw" in got.json["error"]


def test_a_killed_helper_is_replaced_once_for_two_threads(make_app: Any) -> None:
    """The helper dies (kill -9, out of memory); two threads find its pool broken at once:
    both jobs still run, on one new helper."""
    work = limits.work(make_app().server)
    assert work.nice(partial(int, "1")) == 1  # the helper exists
    first = work._executor()
    for process in list(first._processes.values()):
        os.kill(process.pid, signal.SIGKILL)
        process.join(10)
    barrier = threading.Barrier(2)
    results: list[Any] = []

    def run() -> None:
        barrier.wait()
        try:
            results.append(work.nice(partial(int, "3")))
        except Exception as exc:  # pragma: no cover - a failure is what the test reports
            results.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results == [3, 3], results
    assert work._executor() is not first


_EXIT_AFTER_THREADS_KILLED = """
import ctypes, functools, operator, sys, threading
sys.path.insert(0, {root!r})
from callbacks import limits

if __name__ == "__main__":
    before = set(threading._active)
    work = limits.HeavyWork()
    assert work.nice(functools.partial(operator.add, 1, 2)) == 3
    # What dash's test runner does when it stops an app: SystemExit in every new thread.
    stop = ctypes.pythonapi.PyThreadState_SetAsyncExc
    for ident in set(threading._active) - before:
        stop(ctypes.c_long(ident), ctypes.py_object(SystemExit))
    print("done", flush=True)
"""


def test_a_process_whose_pool_thread_was_stopped_still_exits(tmp_path: Any) -> None:
    """The suite's own process hung at exit after every test had passed (CI timed out):
    the pool's manager thread had been stopped, so nobody told the helper to end and
    multiprocessing waited for it forever. The process must end, and promptly."""
    import subprocess
    import sys
    from pathlib import Path

    script = tmp_path / "exit_after_kill.py"
    script.write_text(_EXIT_AFTER_THREADS_KILLED.format(root=str(Path(__file__).parents[1])))
    try:
        done = subprocess.run(
            [sys.executable, str(script)], capture_output=True, text=True, timeout=60
        )
    except subprocess.TimeoutExpired:
        pytest.fail("the process did not exit within 60 s: its helper process was never ended")
    assert done.returncode == 0, done.stderr
    assert "done" in done.stdout


def test_a_warmed_worker_has_its_helper_before_the_first_heavy_request(make_app: Any) -> None:
    """gunicorn's post_worker_init (and ``python app.py``) warm the helper: the first heavy
    request a user makes on a fresh worker no longer pays the helper's start (~0.8 s)."""
    work = limits.work(make_app().server)
    assert work._pool is None  # made on first use only, unless warmed
    work.warm().join(60)
    assert work._pool is not None
    helpers = list(work._pool._processes.values())
    assert len(helpers) == limits.HELPER_PROCESSES and all(p.is_alive() for p in helpers)
    assert work.nice(partial(int, "7")) == 7
    assert list(work._pool._processes.values()) == helpers  # the same helper ran it


def test_gunicorn_warms_each_worker(tmp_path: Any) -> None:
    """The hook is wired: deploy/gunicorn.conf.py's post_worker_init warms the worker's app."""
    import runpy
    import types
    from pathlib import Path

    import flask

    conf = runpy.run_path(str(Path(__file__).parents[1] / "deploy" / "gunicorn.conf.py"))
    server = flask.Flask("warm")
    limits.register(server)

    @server.route("/healthz")
    def healthz() -> str:
        return "ok"

    logs: list[str] = []
    log = types.SimpleNamespace(info=lambda *a: logs.append(a[0] % a[1:]))
    conf["post_worker_init"](types.SimpleNamespace(wsgi=server, pid=1, log=log))
    work = limits.work(server)
    try:
        for _ in range(600):
            if work._pool is not None and work._pool._processes:
                break
            threading.Event().wait(0.1)
        assert work._pool is not None and work._pool._processes
    finally:
        work.close()
