"""The push client (tracking/client.py) against the real app served over real HTTP.

The app runs in werkzeug's threaded server on a free loopback port, with its store in
``tmp_path``; a test stops and starts that server to take the dashboard away, puts a small
WSGI filter in front of it to answer 429 or 400 the way nginx or the API would, or points the
client at a socket that accepts connections and never answers (a hung dashboard). What is
asserted is what the script's owner sees: every point in the store exactly once, training
never held up, the files it leaves behind.
"""

from __future__ import annotations

import json
import logging
import math
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import dash
import numpy as np
import pytest
from werkzeug.serving import BaseWSGIServer, make_server

from tracking import store as store_module
from tracking.client import Run
from tracking.store import Store

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
FAST = {"interval": 0.05, "backoff": (0.02, 0.1), "timeout": 2.0}


class Server:
    """``app`` on 127.0.0.1:``port``, stopped and started again on the same port at will."""

    def __init__(self, app: WSGIApp, port: int) -> None:
        self.app, self.port = app, port
        self._server: BaseWSGIServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Server:
        self._server = make_server("127.0.0.1", self.port, self.app, threaded=True)
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


@pytest.fixture(autouse=True)
def quiet_werkzeug() -> None:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path}/runs.sqlite3"
    monkeypatch.setenv("DASHBOARD_DB", url)
    return url


@pytest.fixture
def store(db: str) -> Iterator[Store]:
    opened = store_module.open(db)
    yield opened
    opened.close()


@pytest.fixture
def token(store: Store) -> str:
    return store.create_token("trainer")


@pytest.fixture
def app(make_app: Callable[[], dash.Dash], db: str) -> WSGIApp:
    wsgi: WSGIApp = make_app().server
    return wsgi


@pytest.fixture
def serve(free_port: Callable[[], int]) -> Iterator[Callable[[WSGIApp], Server]]:
    made: list[Server] = []

    def start(app: WSGIApp) -> Server:
        made.append(Server(app, free_port()).start())
        return made[-1]

    yield start
    for server in made:
        server.stop()


def wait_for(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def stored_steps(store: Store, metric: str, run: str = "run-1") -> list[int]:
    return store.series(run, metric, points=100_000).step.tolist()


# --------------------------------------------------------------------------- delivery
def test_every_point_arrives_once_across_an_outage(
    app: WSGIApp, serve: Callable[[WSGIApp], Server], store: Store, token: str, tmp_path: Path
) -> None:
    server = serve(app)
    run = Run(
        server.url,
        token,
        "run-1",
        "outage",
        buffer_points=200,
        spill_dir=tmp_path / "spill",
        **FAST,
    )
    for step in range(300):
        run.log(step, loss=1.0 / (step + 1), grad_norm=math.nan if step == 7 else 0.5)
    wait_for(lambda: len(stored_steps(store, "loss")) == 300)

    server.stop()  # the dashboard goes away mid-run
    for step in range(300, 1300):
        run.log(step, loss=1.0 / (step + 1), grad_norm=0.5)
    wait_for(lambda: run.stats.spilled >= 800)  # past buffer_points: on disk, not in memory
    assert run.spill_path is not None and run.spill_path.stat().st_size > 0

    server.start()  # back on the same address
    assert run.close(timeout=20) is True
    for metric in ("loss", "grad_norm"):
        assert stored_steps(store, metric) == list(range(1300))  # none missing, none twice
        assert store.superseded("run-1", metric) == []
    assert store.metrics("run-1")[0].points == 1300
    assert math.isnan(store.series("run-1", "grad_norm").value[7])
    info = store.run("run-1")
    assert info is not None and (info.name, info.status) == ("outage", "finished")
    assert not run.spill_path.exists()  # sent, so removed


def test_a_run_left_on_disk_is_sent_by_the_next_run_with_its_id(
    app: WSGIApp, serve: Callable[[WSGIApp], Server], store: Store, token: str, tmp_path: Path
) -> None:
    server = serve(app)
    server.stop()  # the dashboard is down for the whole of the first run
    spill = tmp_path / "spill"
    first = Run(server.url, token, "run-1", spill_dir=spill, **FAST)
    for step in range(500):
        first.log(step, loss=float(step))
    assert first.close(timeout=0.3) is False  # could not deliver: written to disk instead
    (left,) = spill.glob("run-1.*.jsonl")
    assert len(left.read_bytes().splitlines()) == 500

    server.start()
    second = Run(server.url, token, "run-1", spill_dir=spill, **FAST)
    second.log(500, loss=500.0)
    assert second.close(timeout=20) is True
    assert stored_steps(store, "loss") == list(range(501))
    assert list(spill.glob("*.jsonl")) == []


def test_a_429_is_retried_no_sooner_than_its_retry_after(
    app: WSGIApp, serve: Callable[[WSGIApp], Server], store: Store, token: str, tmp_path: Path
) -> None:
    arrivals: list[float] = []

    def rate_limited(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ["PATH_INFO"].endswith("/points"):
            arrivals.append(time.monotonic())
            if len(arrivals) == 1:
                body = b'{"error": "too many requests", "status": 429}'
                start_response(
                    "429 Too Many Requests",
                    [("Content-Type", "application/json"), ("Retry-After", "1")],
                )
                return [body]
        return app(environ, start_response)

    server = serve(rate_limited)
    run = Run(server.url, token, "run-1", spill_dir=tmp_path, **FAST)
    for step in range(10):
        run.log(step, loss=1.0)
    assert run.close(timeout=20) is True
    assert run.stats.statuses[429] == 1
    # the backoff alone would have retried within 0.1 s
    assert arrivals[1] - arrivals[0] >= 0.95, arrivals
    assert stored_steps(store, "loss") == list(range(10))


def test_a_refused_batch_is_kept_aside_and_the_rest_still_arrives(
    app: WSGIApp, serve: Callable[[WSGIApp], Server], store: Store, token: str, tmp_path: Path
) -> None:
    posts: list[int] = []

    def refuse_first(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ["PATH_INFO"].endswith("/points"):
            posts.append(1)
            if len(posts) == 1:
                start_response("400 Bad Request", [("Content-Type", "application/json")])
                return [b'{"error": "points[0].step: refused for the test", "status": 400}']
        return app(environ, start_response)

    server = serve(refuse_first)
    run = Run(server.url, token, "run-1", spill_dir=tmp_path, **FAST)
    run.log(0, loss=1.0)
    wait_for(lambda: run.stats.rejected == 1)
    run.log(1, loss=2.0)
    assert run.close(timeout=20) is True
    assert stored_steps(store, "loss") == [1]
    (kept,) = (json.loads(line) for line in (tmp_path / "run-1.rejected.jsonl").open())
    assert kept["step"] == 0 and kept["metrics"] == {"loss": 1.0}


def test_a_revoked_token_keeps_the_points_and_retries_slowly(
    app: WSGIApp, serve: Callable[[WSGIApp], Server], store: Store, token: str, tmp_path: Path
) -> None:
    store.revoke_token("trainer")
    server = serve(app)
    run = Run(server.url, token, "run-1", spill_dir=tmp_path, interval=0.05, backoff=(0.02, 0.5))
    for step in range(100):
        run.log(step, loss=1.0)
    time.sleep(1.5)
    assert run.stats.statuses == {403: run.stats.requests}
    assert run.stats.requests <= 7  # the slowest pace (0.25-0.5 s), not every 20 ms
    assert run.close(timeout=0.2) is False
    (left,) = tmp_path.glob("run-1.*.jsonl")
    assert [json.loads(line)["step"] for line in left.open()] == list(range(100))


def test_close_marks_the_run_failed_when_the_block_raises(
    app: WSGIApp, serve: Callable[[WSGIApp], Server], store: Store, token: str, tmp_path: Path
) -> None:
    server = serve(app)
    run = Run(
        server.url,
        token,
        "run-1",
        "crashes",
        tags=["sweep"],
        params={"learning_rate": 3e-4, "model": "llama-7b"},
        spill_dir=tmp_path,
        **FAST,
    )
    with pytest.raises(RuntimeError, match="out of memory"), run:
        run.log(0, {"train/loss": 2.0})
        raise RuntimeError("CUDA out of memory")
    info = store.run("run-1")
    assert info is not None and (info.status, info.tags) == ("failed", ("sweep",))
    assert store.params("run-1") == {"learning_rate": "0.0003", "model": "llama-7b"}
    assert stored_steps(store, "train/loss") == [0]


# --------------------------------------------------------------------------- never blocking
def test_log_never_waits_for_a_dashboard_that_hangs(token: str, tmp_path: Path) -> None:
    # A dashboard that accepts connections and never answers: each request waits its timeout.
    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen(64)
        url = f"http://127.0.0.1:{hung.getsockname()[1]}"
        run = Run(
            url,
            token,
            "run-1",
            spill_dir=tmp_path,
            interval=0.05,
            buffer_points=1000,
            max_memory_points=5000,
            timeout=5.0,
            backoff=(0.05, 0.2),
        )
        took = np.empty(20_000)
        for step in range(20_000):
            started = time.perf_counter()
            run.log(step, loss=1.0, lr=3e-4, grad_norm=0.5)
            took[step] = time.perf_counter() - started
        p99, worst = np.percentile(took, 99), took.max()
        print(f"log() while the dashboard hangs: p99 {p99 * 1e3:.3f} ms, max {worst * 1e3:.1f} ms")
        # Waiting on the network once would take the request's 5 s timeout. The worst call is
        # the process's garbage collection and the machine's scheduling (a full collection
        # took 125 ms in a process holding the app; figures: benchmarks/bench_client_log.py).
        assert p99 < 0.001 and worst < 1.0
        assert run.close(timeout=0.5) is False
    (left,) = tmp_path.glob("run-1.*.jsonl")
    steps = [json.loads(line)["step"] for line in left.open()]
    assert sorted(steps) == list(range(20_000))  # nothing lost while memory stayed bounded


def test_bad_arguments_raise_in_the_callers_code(token: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="run id"):
        Run("http://127.0.0.1:9", token, "../etc", spill_dir=tmp_path)
    run = Run("http://127.0.0.1:9", token, "run-1", spill_dir=tmp_path, **FAST)
    for bad, error, says in [
        ((True,), TypeError, "whole number"),
        ((1.0,), TypeError, "whole number"),
        ((-1,), ValueError, "from 0"),
        ((1, {"loss": True}), TypeError, "boolean"),
        ((1, {"loss": "low"}), TypeError, "not a number"),
        ((1, {"a\nb": 1.0}), ValueError, "control characters"),
        ((1, {"m" * 201: 1.0}), ValueError, "1 to 200"),
        ((1,), ValueError, "at least one metric"),
    ]:
        with pytest.raises(error, match=says):
            run.log(*bad)
    run.log(np.int64(3), loss=np.float32(0.5))  # numpy scalars are numbers
    run.close(timeout=0.1)
    with pytest.raises(RuntimeError, match="closed"):
        run.log(4, loss=1.0)
