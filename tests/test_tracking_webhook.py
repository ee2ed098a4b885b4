"""The alert webhook (tracking/webhook.py) received by a real HTTP server on a loopback
port: Slack-compatible JSON with the run, kind, step, value and link; retried a bounded
number of times; never raising or blocking the caller."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tracking import alerting, webhook
from tracking import store as store_module
from tracking.records import Series
from tracking.store import Store

T0 = 1_700_000_000.0


class Receiver:
    """A real HTTP server that keeps the JSON bodies POSTed to it; the first ``fail`` requests
    are answered 500."""

    def __init__(self, port: int, fail: int = 0) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.requests = 0
        self.fail = fail
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                outer.requests += 1
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if outer.requests <= outer.fail:
                    self.send_response(500)
                    self.end_headers()
                    return
                outer.bodies.append(json.loads(body))
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(free_port: Callable[[], int]) -> Iterator[Receiver]:
    r = Receiver(free_port())
    yield r
    r.close()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = store_module.open(f"sqlite:///{tmp_path}/runs.sqlite3")
    yield opened
    opened.close()


def nan_run(store: Store) -> list[Series]:
    steps = np.arange(600)
    loss = 3.0 - steps / 1000
    loss[500:] = np.nan
    series = [Series("train/loss", steps, loss, T0 + steps)]
    store.put_run("llama-7b", name="7B, lr 3e-4")
    store.add("llama-7b", series[0])
    return series


def test_an_opening_alert_is_posted_as_slack_json_with_run_kind_step_and_link(
    store: Store, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {
        webhook.ENV: receiver.url,
        webhook.PUBLIC_URL_ENV: "https://dash.example/dash/",
    }
    threads: list[threading.Thread] = []
    notify = webhook.notify

    def keep(*args: Any, **kwargs: Any) -> threading.Thread | None:
        t = notify(*args, **kwargs)
        if t is not None:
            threads.append(t)
        return t

    monkeypatch.setattr(webhook, "notify", keep)  # to join the sender thread
    got = alerting.safe_evaluate(store, "llama-7b", nan_run(store), env=env)
    assert [(t.action, t.kind, t.step) for t in got] == [("open", "nan", 500)]
    (thread,) = threads
    thread.join(10)
    (body,) = receiver.bodies
    assert set(body) == {"text"}
    text = body["text"]
    assert "7B, lr 3e-4 (llama-7b)" in text and "nan opened at step 500" in text
    assert "train/loss is NaN at step 500" in text
    assert "<https://dash.example/dash/?run=llama-7b|open the run>" in text


def test_a_failing_webhook_is_retried_a_bounded_number_of_times(
    free_port: Callable[[], int],
) -> None:
    flaky = Receiver(free_port(), fail=2)
    try:
        assert webhook.send(flaky.url, [{"text": "x"}], retries=3, backoff=0.01) == 1
        assert flaky.requests == 3 and flaky.bodies == [{"text": "x"}]
    finally:
        flaky.close()
    down = Receiver(free_port(), fail=100)
    try:
        started = time.monotonic()
        assert webhook.send(down.url, [{"text": "y"}], retries=2, backoff=0.01) == 0
        assert down.requests == 3 and time.monotonic() - started < 5
    finally:
        down.close()


def test_no_webhook_set_sends_nothing_and_a_dead_one_never_blocks_the_caller(
    store: Store, free_port: Callable[[], int]
) -> None:
    assert webhook.notify("r", "r", [], {webhook.ENV: "http://127.0.0.1:1/"}) is None
    series = nan_run(store)
    assert webhook.url_from({}) is None and webhook.url_from({webhook.ENV: "ftp://x"}) is None
    env = {webhook.ENV: f"http://127.0.0.1:{free_port()}/nobody-listens"}
    started = time.monotonic()
    got = alerting.safe_evaluate(store, "llama-7b", series, env=env)
    assert len(got) == 1 and time.monotonic() - started < 2  # sent from a thread
