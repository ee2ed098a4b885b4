"""The push client's ``Run.log`` while the dashboard is up, refusing connections, or hung;
and what the API costs the server per request.

Run: ``.venv/bin/python benchmarks/bench_client_log.py`` (or ``make bench``).

Prints (1) ``log()``'s time per call (p50, p99, p99.9, max) over 50,000 calls of 3 metrics,
with the app up (werkzeug in a process of its own, on loopback), with nothing listening
(connection refused), and with a socket that accepts and never answers (every request waits
its timeout), each with and without the garbage collector; and (2) the server's time for
one ``POST .../points`` of 1,000 points x 10 metrics (new, then resent) and of one point
with 1,000 metrics, and one ``GET .../series`` of a 1M-point metric reduced to 4,000
points, through Flask's test client on a SQLite store.
"""

from __future__ import annotations

import gc
import logging
import math
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CALLS = 50_000


SERVE = (
    "import logging, sys; logging.disable(logging.CRITICAL); import app; "
    "from werkzeug.serving import run_simple; "
    "run_simple('127.0.0.1', int(sys.argv[1]), app.server, threaded=True)"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def dashboard(kind: str) -> Iterator[str]:
    """A URL where the dashboard is ``up`` (the app in werkzeug, in a process of its own, as
    a real dashboard is), ``refused`` (nothing listens) or ``hung`` (accepts, never answers)."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    if kind == "up":
        server = subprocess.Popen([sys.executable, "-c", SERVE, str(port)], cwd=ROOT)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    urllib.request.urlopen(url + "/healthz", timeout=1).close()
                    break
                except OSError:
                    assert time.monotonic() < deadline and server.poll() is None
                    time.sleep(0.1)
            yield url
        finally:
            server.terminate()
            server.wait(10)
    elif kind == "hung":
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))
            s.listen(64)
            yield url
    else:
        yield url


def log_times(
    url: str, token: str, with_gc: bool, close_timeout: float
) -> tuple[np.ndarray[Any, Any], bool]:
    from tracking.client import Run

    with tempfile.TemporaryDirectory() as spill:
        run = Run(url, token, "bench", spill_dir=spill, timeout=5.0, close_timeout=30.0)
        took = np.empty(CALLS)
        if not with_gc:
            gc.collect()
            gc.disable()
        try:
            for step in range(CALLS):
                started = time.perf_counter()
                run.log(step, loss=1.0 / (step + 1), lr=3e-4, grad_norm=0.5)
                took[step] = time.perf_counter() - started
        finally:
            gc.enable()
        delivered = run.close(timeout=close_timeout)
        return took, delivered


def server_costs(client: Any, token: str, store: Any) -> None:
    from tracking.records import Series

    auth = {"Authorization": f"Bearer {token}"}

    def post(points: list[dict[str, Any]], run: str) -> float:
        started = time.perf_counter()
        reply = client.post(f"/api/v1/runs/{run}/points", json={"points": points}, headers=auth)
        assert reply.status_code == 200, reply.json
        return time.perf_counter() - started

    wide = [
        {"step": s, "time": 1.7e9, "metrics": {f"m{k}": 0.5 for k in range(10)}}
        for s in range(1000)
    ]
    many = [{"step": 0, "time": 1.7e9, "metrics": {f"metric/{k}": 0.5 for k in range(1000)}}]
    runs = [
        ("1,000 points x 10 metrics", [post(wide, f"w{i}") for i in range(5)]),
        ("the same again (all same)", [post(wide, "w0") for _ in range(5)]),
        ("1 point x 1,000 metrics", [post(many, f"m{i}") for i in range(5)]),
    ]
    for what, times in runs:
        print(f"  POST points, {what:<28} median {statistics.median(times) * 1e3:7.1f} ms")
    n = 1_000_000
    store.add("long", Series("loss", np.arange(n), np.linspace(3, 1, n), np.full(n, math.nan)))
    times = []
    for _ in range(5):
        started = time.perf_counter()
        reply = client.get("/api/v1/runs/long/series/loss?points=4000")
        times.append(time.perf_counter() - started)
    assert reply.status_code == 200 and len(reply.json["step"]) <= 4000
    print(f"  GET series, 1M points -> 4,000       median {statistics.median(times) * 1e3:7.1f} ms")


def main() -> None:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    logging.getLogger("tracking.client").setLevel(logging.CRITICAL)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/runs.sqlite3"
        os.environ["DASHBOARD_DB"] = url
        import app as app_module
        from tracking import store as store_module

        store = store_module.open(url)
        token = store.create_token("bench")
        wsgi = app_module.create_app().server
        print(f"log(): {CALLS:,} calls of 3 metrics each (per call)")
        for kind in ("up", "refused", "hung"):
            for with_gc in (True, False):
                with dashboard(kind) as address:
                    took, delivered = log_times(
                        address, token, with_gc, 30.0 if kind == "up" else 1.0
                    )
                figures = " ".join(
                    f"{name} {np.percentile(took, q) * 1e6:7.1f} us"
                    for name, q in (("p50", 50), ("p99", 99), ("p99.9", 99.9))
                )
                print(
                    f"  dashboard {kind:<8} gc {'on ' if with_gc else 'off'}  {figures}  "
                    f"max {took.max() * 1e3:6.1f} ms  delivered {delivered}"
                )
        print("server, through Flask's test client on SQLite:")
        server_costs(wsgi.test_client(), token, store)


if __name__ == "__main__":
    main()
