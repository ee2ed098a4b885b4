"""What a run's control state costs: the store's reads and writes, the server's time for the
routes a script calls, and ``should_stop()`` in a training loop.

Run: ``.venv/bin/python benchmarks/bench_control.py``.

Prints, on SQLite and (when installed) a throwaway PostgreSQL (``tracking.store.pgtest``),
each on a run with 10,000 steps and 200 control changes: ``Store.control`` (p50, p99 over
2,000 calls), ``set_control`` (pause/resume alternating, 200 calls), ``control_history``
of 100 rows; then, through Flask's test client on SQLite, the server's time for one
``POST .../points`` of one point (which now reads the control state for its reply) and one
``POST .../control/poll``; and ``Run.should_stop()`` per call (no request is made).
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tracking import store as store_module  # noqa: E402
from tracking.records import Series  # noqa: E402
from tracking.store import Store, pgtest  # noqa: E402


def timed(call: Callable[[], Any], n: int) -> str:
    took = np.empty(n)
    for i in range(n):
        start = time.perf_counter()
        call()
        took[i] = time.perf_counter() - start
    p50, p99 = np.percentile(took, [50, 99]) * 1e3
    return f"p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  ({n:,} calls)"


def bench_store(name: str, store: Store) -> None:
    steps = np.arange(10_000, dtype=np.int64)
    store.put_run("bench", source="push", kind="push")
    store.add("bench", Series("loss", steps, np.linspace(3, 2, len(steps)), np.zeros(len(steps))))
    for i in range(200):
        store.set_control("bench", "paused" if i % 2 == 0 else "running", "bench")
    print(f"{name}:")
    print(f"  control()             {timed(lambda: store.control('bench'), 2000)}")
    states = iter(["paused", "running"] * 200)
    flipped = timed(lambda: store.set_control("bench", next(states), "bench"), 200)
    print(f"  set_control()         {flipped}")
    print(f"  control_history(100)  {timed(lambda: store.control_history('bench', 100), 500)}")


def bench_server(url: str) -> None:
    os.environ["DASHBOARD_DB"] = url
    import app as app_module

    store = store_module.open(url)
    token = store.create_token("bench")
    client = app_module.create_app().server.test_client()
    auth = {"Authorization": f"Bearer {token}"}
    step = iter(range(10_000, 10**9))

    def post_point() -> None:
        body = {"points": [{"step": next(step), "time": 1.7e9, "metrics": {"loss": 1.0}}]}
        reply = client.post("/api/v1/runs/bench/points", json=body, headers=auth)
        assert reply.status_code == 200 and reply.json["control"] in ("running", "paused")

    def poll() -> None:
        reply = client.post("/api/v1/runs/bench/control/poll", headers=auth)
        assert reply.status_code == 200

    print("server, through Flask's test client on SQLite:")
    print(f"  POST points (1 point) {timed(post_point, 300)}")
    print(f"  POST control/poll     {timed(poll, 300)}")


def bench_should_stop() -> None:
    from tracking.client import Run

    run = Run("http://127.0.0.1:9", "token", "bench", interval=3600, backoff=(3600, 3600))
    n = 1_000_000
    start = time.perf_counter()
    for _ in range(n):
        run.should_stop()
    per_call = (time.perf_counter() - start) / n * 1e9
    run.close(timeout=0)
    print(f"Run.should_stop(): {per_call:.0f} ns a call ({n:,} calls, no request)")


def main() -> None:
    logging.getLogger("tracking.client").setLevel(logging.CRITICAL)
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/runs.sqlite3"
        bench_store("SQLite", store_module.open(url))
        bench_server(url)
        os.environ["XDG_CACHE_HOME"] = folder  # the client's spill files, if any
        bench_should_stop()
    if pgtest.find_binaries() is None:
        print("PostgreSQL: not installed (make system-deps installs it), skipped")
        return
    with pgtest.Cluster.start(settings=()) as cluster:
        bench_store("PostgreSQL", store_module.open(cluster.url))


if __name__ == "__main__":
    main()
