"""Worst-case redraws against the production stack, beside the light traffic they must not stall.

The attack (issue 16, item 1): a request carrying a valid run at the longest length allowed
asks for a full redraw, whose cost is proportional to the run's steps. Eight such requests
at once used to occupy every gunicorn thread, so every other tab's ticks and ``/healthz``
queued behind them. ``Probe`` replays that: ``heavy`` clients send the redraw back to back
(each from its own loopback address, so nginx's per-address rate limit does not hide the
effect), while tabs tick and a monitor polls ``/healthz``, and it records every latency.
Used by tests/deploy/test_heavy_requests.py and benchmarks/bench_heavy_requests.py.
"""

from __future__ import annotations

import http.client
import json
import statistics
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from renderer import Callbacks
from session import Session

import simulator as sim
from layouts import ids


def longest_run() -> dict[str, Any]:
    """A valid paused run near ``sim.MAX_STEPS``: the costliest redraw a browser may ask for."""
    cfg = sim.preset("llama-2-7b", global_batch_tokens=2**19, num_gpus=128)  # 3.8M steps
    step = min(cfg.total_steps, sim.MAX_STEPS) - 1_000
    return replace(sim.start(sim.new_run(cfg)), step=step, status="paused").to_dict()


def _p(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class Probe:
    """Heavy redraws, ticking tabs and a health monitor against ``base`` for ``seconds``."""

    base: str
    heavy: int = 8
    tabs: int = 4
    seconds: float = 8.0
    tick_s: float = 0.25
    health_s: float = 0.1
    heavy_status: list[int] = field(default_factory=list)
    heavy_ms: list[float] = field(default_factory=list)
    tick_ms: list[float] = field(default_factory=list)
    health_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _conn(self, address: int) -> http.client.HTTPConnection:
        u = urlsplit(self.base)
        return http.client.HTTPConnection(
            u.hostname or "127.0.0.1", u.port, timeout=30, source_address=(f"127.0.0.{address}", 0)
        )

    def _post(self, conn: http.client.HTTPConnection, body: bytes) -> tuple[int, bytes, float]:
        path = urlsplit(self.base).path.rstrip("/") + "/_dash-update-component"
        t = time.perf_counter()
        conn.request("POST", path, body, {"Content-Type": "application/json"})
        r = conn.getresponse()
        data = r.read()
        return r.status, data, 1000 * (time.perf_counter() - t)

    def run(self) -> Probe:
        """Start every client, wait ``seconds``, stop them; the figures are on ``self``."""
        callbacks = Callbacks(json.loads(self._get(self._conn(2), "/_dash-dependencies")))
        heavy_body = callbacks.body(
            ids.TR_RENDER_REQ,
            "data",
            {
                (ids.TR_RENDER_REQ, "data"): 1,
                (ids.RUN_STORE, "data"): longest_run(),
                (ids.TR_SPEED, "value"): "100",
                (ids.TICK, "interval"): 1000,
                (ids.TR_XAXIS, "value"): "step",
                (ids.TR_SMOOTHING, "value"): 0.6,
                (ids.TR_LOG, "value"): False,
            },
        )
        stop = threading.Event()
        threads = [
            threading.Thread(target=self._attacker, args=(10 + i, heavy_body, stop), daemon=True)
            for i in range(self.heavy)
        ]
        threads += [
            threading.Thread(target=self._tab, args=(40 + i, callbacks, stop), daemon=True)
            for i in range(self.tabs)
        ]
        threads.append(threading.Thread(target=self._health, args=(60, stop), daemon=True))
        for t in threads:
            t.start()
        time.sleep(self.seconds)
        stop.set()
        for t in threads:
            t.join(timeout=40)
        return self

    def _get(self, conn: http.client.HTTPConnection, path: str) -> bytes:
        conn.request("GET", urlsplit(self.base).path.rstrip("/") + path)
        return conn.getresponse().read()

    def _attacker(self, address: int, body: bytes, stop: threading.Event) -> None:
        conn = self._conn(address)
        while not stop.is_set():
            try:
                status, _, ms = self._post(conn, body)
            except (OSError, http.client.HTTPException) as exc:
                self._error(f"heavy: {exc!r}")
                conn = self._conn(address)
                continue
            with self._lock:
                self.heavy_status.append(status)
                self.heavy_ms.append(ms)
            if status == 503:
                time.sleep(0.2)  # the page waits for Retry-After; an attacker may not

    def _tab(self, address: int, callbacks: Callbacks, stop: threading.Event) -> None:
        conn = self._conn(address)
        tab = Session(callbacks, config=sim.preset("vicuna-7b").to_dict())
        try:
            for send in (lambda: tab.click(ids.TR_START), tab.render):
                status, data, _ = self._post(conn, send())
                tab.receive(json.loads(data) if status == 200 else None)
            while not stop.is_set():
                t0 = time.perf_counter()
                status, data, ms = self._post(conn, tab.tick())
                if status != 200:
                    self._error(f"tick answered {status}: {data[:200]!r}")
                    tab.receive(None)
                else:
                    tab.receive(json.loads(data))
                    with self._lock:
                        self.tick_ms.append(ms)
                if not tab.ticking:  # finished: start over
                    for send in (lambda: tab.click(ids.TR_RESET), lambda: tab.click(ids.TR_START)):
                        status, data, _ = self._post(conn, send())
                        tab.receive(json.loads(data) if status == 200 else None)
                time.sleep(max(0.0, self.tick_s - (time.perf_counter() - t0)))
        except (OSError, http.client.HTTPException) as exc:
            self._error(f"tab: {exc!r}")

    def _health(self, address: int, stop: threading.Event) -> None:
        conn = self._conn(address)
        while not stop.is_set():
            t = time.perf_counter()
            try:
                conn.request("GET", urlsplit(self.base).path.rstrip("/") + "/healthz")
                r = conn.getresponse()
                r.read()
            except (OSError, http.client.HTTPException) as exc:
                self._error(f"healthz: {exc!r}")
                conn = self._conn(address)
                continue
            if r.status != 200:
                self._error(f"healthz answered {r.status}")
            with self._lock:
                self.health_ms.append(1000 * (time.perf_counter() - t))
            time.sleep(self.health_s)

    def _error(self, text: str) -> None:
        with self._lock:
            self.errors.append(text)

    def summary(self) -> str:
        """The figures in one paragraph."""
        done = self.heavy_status.count(200)
        busy = self.heavy_status.count(503)
        done_ms = [ms for ms, s in zip(self.heavy_ms, self.heavy_status, strict=True) if s == 200]
        return (
            f"{self.heavy} clients sending the longest run's redraw back to back for "
            f"{self.seconds:g} s: {done} drawn (median {statistics.median(done_ms or [0]):.0f} ms, "
            f"max {max(done_ms or [0]):.0f} ms), {busy} told to retry (503); "
            f"{len(self.tick_ms)} ticks of {self.tabs} tabs: p50 {_p(self.tick_ms, 0.5):.0f} ms, "
            f"p99 {_p(self.tick_ms, 0.99):.0f} ms, max {max(self.tick_ms or [0]):.0f} ms; "
            f"{len(self.health_ms)} /healthz: p50 {_p(self.health_ms, 0.5):.0f} ms, "
            f"p99 {_p(self.health_ms, 0.99):.0f} ms, max {max(self.health_ms or [0]):.0f} ms; "
            f"{len(self.errors)} errors"
        )

    def p99(self, which: str) -> float:
        """The 99th percentile of ``tick`` or ``health`` latency, in ms."""
        return _p(self.tick_ms if which == "tick" else self.health_ms, 0.99)
