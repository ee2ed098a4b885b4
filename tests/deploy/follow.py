"""Tabs following live real runs while a training script pushes to them, all through nginx:
the engine of tests/deploy/test_real_runs_load.py and benchmarks/load_real_runs.py (issue 15:
"50 tabs following 10 live runs through nginx while a writer pushes 1,000 points a second").

- ``Writer``: the real push client (``tracking.client.Run``, stdlib, with a write token made
  in the store) for each run, fed by one thread that logs ``rate`` points a second per run
  (four metrics each), evenly, as a training loop would. The client batches and sends about
  once a second per run through nginx's ``/api/v1``. Values are a pure function of (run,
  step) (``values_at``: only +, *, / and %, so a scalar and a numpy evaluation agree to the
  bit), so the store is checked against what was logged without keeping it.
- ``RealTab``: one browser tab on a stored run: the open request (the ``?run=<id>`` page
  load: the ``choose`` callback) and then the follow tick (``TR_REAL_TICK``), each carrying
  what dash-renderer would send (``TR_REAL_META`` and the chart options), answered with a
  ``Patch`` of each figure (appended points), a whole figure (a rebase), or nothing. The tab
  applies the answers to the figures it holds, as the page does.
- ``Followers``: ``crowd.Crowd``'s asyncio driver and retry rules (connection.js: resend on
  no answer, 502-504 and 429) for ``RealTab``s: each opens its run, then ticks once a
  ``period`` on its own keep-alive connection from its own loopback address.
- ``tab_errors`` / ``store_errors``: what a tab holds against the store (each trace equals
  the buckets a full render at that bucket size would hold), and the store against the
  points the writer logged (every point, every value; nothing lost, nothing doubled).
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from crowd import (
    Connection,
    Crowd,
    Outcome,
    Refused,
    fetch_callbacks,
    loopback_address,
    require_loopback,
)
from renderer import Callbacks
from session import CALLBACK_PATH

from layouts import ids
from layouts.figures import real as rfig
from tracking.client import Run
from views import real_charts as rc
from views.real_run import map_metrics

METRICS = ("train/loss", "train/lr", "train/grad_norm", "train/tokens_per_sec")
#: The page's display options as the Training tab starts them (layouts/training.py).
OPTIONS = {"xaxis": "step", "smoothing": 0.6, "log": False}


# ----------------------------------------------------------------------------- the writer
def values_at(run: int, step: Any) -> dict[str, Any]:
    """Each metric at ``step`` of run ``run`` (a scalar or an int64 array): a falling loss
    with noise and a spike every 997 steps, a warmup-then-flat LR, a noisy grad norm and
    throughput. Exact arithmetic only, so any evaluation gives the same bits."""
    noise = ((step * 2654435761 + run * 40503) % 1000) / 1000.0 - 0.5  # in [-0.5, 0.5)
    spike = 1.0 + 2.0 * ((step % 997) == 500)
    loss = (2.0 + 8.0 / (1.0 + step / 300.0) + 0.04 * noise) * spike
    lr = 3e-4 * np.minimum(1.0, (step + 1) / 2000.0)
    return {
        "train/loss": loss,
        "train/lr": lr,
        "train/grad_norm": 0.5 + 0.2 * noise + 0.01 * run,
        "train/tokens_per_sec": 180_000.0 + 4000.0 * noise,
    }


def run_id(index: int) -> str:
    return f"load-run-{index:02d}"


@dataclass
class Writer:
    """``runs`` runs, each logging ``rate`` steps a second for ``seconds`` through ``base``.

    One process on one host (127.0.0.1), as the issue's "a writer": nginx's write limit is
    per address (20 requests a second, a burst of 40; deploy/nginx.conf), which ten runs
    fit while each client sends about once a second, as ``tracking.client`` promises.

    ``start()`` makes the ``Run`` clients and the feeding thread; ``join()`` waits for the
    last step, closes every client (which sends what is left) and fills ``logged``,
    ``statuses`` and ``failures``."""

    base: str
    token: str
    runs: int = 10
    rate: int = 100
    seconds: float = 20.0
    spill_dir: Path | None = None
    clients: list[Run] = field(default_factory=list)
    logged: list[int] = field(default_factory=list)  # steps logged per run (0 .. n - 1)
    closed: list[bool] = field(default_factory=list)  # close() delivered everything
    thread: threading.Thread | None = None
    started: float = 0.0

    def start(self) -> Writer:
        """Make the clients one ``1 / runs`` s after another (independent jobs do not send
        in step: started together, the clients' once-a-second sends would stay in step,
        ``runs`` pushes arriving at once every second), then feed them."""
        for i in range(self.runs):
            self.clients.append(
                Run(
                    self.base,
                    self.token,
                    run_id(i),
                    name=f"load test run {i}",
                    params={"model": "llama-7b", "lr": 3e-4},
                    spill_dir=self.spill_dir,
                    backoff=(0.5, 5.0),
                )
            )
            time.sleep(1.0 / self.runs)
        self.logged = [0] * self.runs
        self.thread = threading.Thread(target=self._feed, name="load-writer", daemon=True)
        self.started = time.monotonic()
        self.thread.start()
        return self

    def _feed(self) -> None:
        """Log each run's steps evenly over time: every 10 ms, what is due by then."""
        end = self.started + self.seconds
        while (now := time.monotonic()) < end:
            due = int((now - self.started) * self.rate)
            for i, run in enumerate(self.clients):
                for step in range(self.logged[i], due):
                    run.log(step, {k: float(v) for k, v in values_at(i, step).items()})
                self.logged[i] = max(self.logged[i], due)
            time.sleep(0.01)

    def join(self) -> None:
        assert self.thread is not None
        self.thread.join()
        self.closed = [run.close(timeout=20) for run in self.clients]

    @property
    def points(self) -> int:
        return sum(self.logged)

    def statuses(self) -> dict[int, int]:
        """HTTP statuses the clients got, over every run."""
        out: dict[int, int] = {}
        for run in self.clients:
            for status, n in run.stats.statuses.items():
                out[status] = out.get(status, 0) + n
        return out

    def requests(self) -> list[int]:
        """Requests each run's client made (PUTs, point POSTs, retries)."""
        return [run.stats.requests for run in self.clients]

    def failures(self) -> int:
        """Requests that failed and were retried later (no answer, 429, 5xx)."""
        return sum(run.stats.failures for run in self.clients)


# ----------------------------------------------------------------------------- one tab
def patch_in_place(value: Any, patch: Any) -> Any:
    """``value`` after dash-renderer applied ``patch`` (a Patch's JSON or a whole value),
    changed in place (tests/renderer.py's ``apply_patch`` copies first, too slow for 50
    tabs holding figures)."""
    if not (isinstance(patch, dict) and "__dash_patch_update" in patch):
        return patch
    for op in patch["operations"]:
        *path, last = op["location"]
        target = value
        for k in path:
            target = target[k]
        if op["operation"] == "Extend":
            target[last].extend(op["params"]["value"])
        elif op["operation"] == "Assign":
            target[last] = op["params"]["value"]
        elif op["operation"] == "Merge":
            target[last].update(op["params"]["value"])
        else:
            raise ValueError(f"unexpected Patch operation {op['operation']!r}")
    return value


@dataclass
class RealTab:
    """One tab following ``run`` (a stored run id): what it holds, and its next request.

    The interface ``crowd.Crowd._exchange`` drives: ``pending`` (the kind of the request
    in flight), ``resend()`` and ``receive(answer)``."""

    callbacks: Callbacks
    run: str
    meta: dict[str, Any] | None = None
    figures: dict[str, Any] = field(default_factory=dict)  # chart -> figure dict
    ticks: int = 0
    ticking: bool = False
    grown: list[int] = field(default_factory=list)  # points held after each answer
    rebases: int = 0  # ticks answered with whole figures
    empty: int = 0  # ticks answered "nothing new"
    bytes_in: list[int] = field(default_factory=list)  # tick response bytes (decoded)
    bytes_out: list[int] = field(default_factory=list)  # tick request bytes
    notices: list[str] = field(default_factory=list)
    pending: str | None = field(default=None, init=False)
    _body: bytes | None = field(default=None, init=False, repr=False)

    def _values(self) -> dict[str, Any]:
        return {
            f"{ids.TR_XAXIS}.value": OPTIONS["xaxis"],
            f"{ids.TR_SMOOTHING}.value": OPTIONS["smoothing"],
            f"{ids.TR_LOG}.value": OPTIONS["log"],
            f"{ids.TR_RUN_PICKER}.value": "simulated",
            f"{ids.TR_REAL_OTHER}.value": None,
            f"{ids.URL}.search": f"?run={self.run}",
            f"{ids.TR_REAL_META}.data": self.meta,
            f"{ids.TR_REAL_TICK}.n_intervals": self.ticks + 1,
        }

    def _dep(self, input_id: str, prop: str) -> dict[str, Any]:
        return next(
            d
            for d in self.callbacks.dependencies
            if any(i["id"] == input_id and i["property"] == prop for i in d["inputs"])
            and ids.TR_REAL_META in d["output"]
        )

    def open(self) -> bytes:
        """The page opened at ``?run=<id>`` (a link): the run's full render."""
        dep = self._dep(ids.URL, "search")
        body = self.callbacks.encode(
            self.callbacks.request(dep, self._values(), [f"{ids.URL}.search"])
        )
        return self._send("open", body)

    def tick(self) -> bytes:
        """The follow Interval fires."""
        dep = self._dep(ids.TR_REAL_TICK, "n_intervals")
        body = self.callbacks.encode(
            self.callbacks.request(dep, self._values(), [f"{ids.TR_REAL_TICK}.n_intervals"])
        )
        self.bytes_out.append(len(body))
        return self._send("tick", body)

    def _send(self, kind: str, body: bytes) -> bytes:
        if self.pending is not None:
            raise RuntimeError(f"a {self.pending} request is still unanswered")
        self.pending, self._body = kind, body
        return body

    def resend(self) -> bytes:
        assert self._body is not None
        return self._body

    def receive(self, answer: dict[str, Any] | None) -> None:
        """Apply a 200 answer's JSON (None for a 204) as dash-renderer does."""
        kind, self.pending, self._body = self.pending, None, None
        size = len(json.dumps(answer, separators=(",", ":"))) if answer else 0
        out = {k.split("@")[0]: v for k, v in (answer or {}).get("response", {}).items()}
        whole = False
        for chart in rfig.CHARTS:
            got = out.get(ids.tr_real_graph(chart), {})
            if "figure" in got:
                new = got["figure"]
                whole |= not (isinstance(new, dict) and "__dash_patch_update" in new)
                self.figures[chart] = patch_in_place(self.figures.get(chart), new)
        if ids.TR_REAL_META in out:
            self.meta = out[ids.TR_REAL_META]["data"]
        if ids.TR_REAL_TICK in out and "disabled" in out[ids.TR_REAL_TICK]:
            self.ticking = not out[ids.TR_REAL_TICK]["disabled"]
        notice = out.get(ids.TR_REAL_NOTICE, {}).get("children")
        if notice:
            self.notices.append(json.dumps(notice)[:300])
        if kind == "tick":
            self.ticks += 1
            self.bytes_in.append(size)
            self.rebases += whole
            self.empty += ids.TR_REAL_META not in out
        self.grown.append(self.held())

    def held(self) -> int:
        """Points the tab's train-loss trace holds."""
        fig = self.figures.get("loss")
        if not fig or not self.meta:
            return 0
        return len(fig["data"][self.meta["lead"].get("loss", 0)]["x"])


# ----------------------------------------------------------------------------- the tabs
@dataclass
class Followers(Crowd):
    """``tabs`` RealTabs, tab ``i`` following ``runs[i % len(runs)]``; the rest is Crowd's."""

    runs: list[str] = field(default_factory=list)
    tabs: list[RealTab] = field(default_factory=list)

    async def run(self, seconds: float) -> None:
        host, port, prefix = require_loopback(self.base)
        self.path = prefix + CALLBACK_PATH
        self.t0 = time.perf_counter()
        end = self.t0 + seconds
        self.deadline = end + 15.0
        tasks = []
        for i in range(self.first_index, self.first_index + self.sessions):
            tab = RealTab(self.callbacks, self.runs[i % len(self.runs)])
            self.tabs.append(tab)
            outcome = Outcome(i, tab, loopback_address(i))  # type: ignore[arg-type]
            self.outcomes.append(outcome)
            phase = random.Random(i).random() * self.period
            tasks.append(asyncio.create_task(self._follow(outcome, host, port, phase, end)))
        await asyncio.gather(*tasks)

    async def _follow(
        self, outcome: Outcome, host: str, port: int, phase: float, end: float
    ) -> None:
        conn = Connection(host, port, outcome.source)
        tab: RealTab = outcome.session  # type: ignore[assignment]
        try:
            await asyncio.sleep(phase)
            await self._exchange(outcome, conn, tab.open())
            await self._tick_until(outcome, conn, tab, end)
        except Refused as exc:
            outcome.fatal = str(exc)
        finally:
            conn.close()


# ----------------------------------------------------------------------------- checks
def _rounded(values: np.ndarray) -> list[Any]:
    return [None if not math.isfinite(v) else float(f"{v:.{rc.SIG}g}") for v in values.tolist()]


def tab_errors(tab: RealTab, store: Any) -> list[str]:
    """How what ``tab`` holds differs from the store: per charted metric, its raw trace
    must be exactly the buckets a full render at the tab's bucket size would draw (each
    bucket's first minimum and maximum, at their true steps and values), and its smoothed
    trace as long. Empty when they agree."""
    meta = rc.RealMeta.from_dict(tab.meta)
    if meta is None:
        return [f"tab on {tab.run}: holds no run ({tab.notices[:1]})"]
    names = [m.metric for m in store.metrics(tab.run)]
    slots = map_metrics(names, meta.other).slots
    problems = []
    for chart in rfig.CHARTS:
        for i, slot in enumerate(rfig.TRACES[chart]):
            if slot not in meta.edges:
                continue
            edge = meta.edges[slot]
            data = tab.figures[chart]["data"]
            lead = meta.lead.get(chart, 0)
            trace = data[lead + i]
            curve = store.series(tab.run, slots[slot], 0, edge - 1, points=rc.EXACT_READ)
            step = np.asarray(curve.step, dtype=np.int64)
            value = np.asarray(curve.value, dtype=np.float64)
            keep = rc.keep_extremes(step, value, meta.bucket)
            want_x, want_y = step[keep].tolist(), _rounded(value[keep])
            if trace["x"] != want_x or trace["y"] != want_y:
                diff = next(
                    (j for j, (a, b) in enumerate(zip(trace["x"], want_x, strict=False)) if a != b),
                    min(len(trace["x"]), len(want_x)),
                )
                problems.append(
                    f"tab on {tab.run}, {slot}: holds {len(trace['x'])} points, the store's "
                    f"buckets of {meta.bucket} steps up to step {edge - 1} are {len(want_x)}; "
                    f"first difference at index {diff}"
                )
            smooth = rfig.TRACES[chart][i + 1] if i + 1 < len(rfig.TRACES[chart]) else ""
            if smooth == slot + "_smooth" and len(data[lead + i + 1]["x"]) != len(trace["x"]):
                problems.append(f"tab on {tab.run}, {slot}: smoothed trace length differs")
    return problems


def store_errors(writer: Writer, store: Any) -> tuple[list[tuple[str, int, int]], list[str]]:
    """Per run (id, points logged, points stored: steps x metrics), and every difference
    between what the writer logged and what the store holds (a missing, doubled or changed
    point). Nothing lost is: logged == stored and no difference."""
    rows, problems = [], []
    for i in range(writer.runs):
        rid, n = run_id(i), writer.logged[i]
        want = values_at(i, np.arange(n, dtype=np.int64))
        stored = {m.metric: m.points for m in store.metrics(rid)}
        rows.append((rid, n * len(METRICS), sum(stored.values())))
        for metric in METRICS:
            curve = store.series(rid, metric, 0, None, points=rc.EXACT_READ)
            step = np.asarray(curve.step, dtype=np.int64)
            value = np.asarray(curve.value, dtype=np.float64)
            if stored.get(metric) != n or not curve.exact or not np.array_equal(step, np.arange(n)):
                problems.append(
                    f"{rid} {metric}: {n} steps logged, {stored.get(metric, 0)} stored "
                    f"(steps {step[:1].tolist()}..{step[-1:].tolist()})"
                )
            elif not np.array_equal(value, np.broadcast_to(want[metric], n)):
                bad = int(np.flatnonzero(value != np.broadcast_to(want[metric], n))[0])
                problems.append(f"{rid} {metric}: step {bad} stored {value[bad]!r}")
    return rows, problems


# ----------------------------------------------------------------------------- figures
def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))] if s else float("nan")


_ACCESS = re.compile(r"^@@ <?(\d+)>? ([0-9.]+) (\S+) (\d{3}) (\S+)$")
#: gunicorn access-log line giving the worker, the request's handling time and its route
#: (set through GUNICORN_CMD_ARGS: gunicorn ranks it below the command line, above the file)
ACCESS_FORMAT = "@@ %(p)s %(L)s %(m)s %(s)s %(U)s"


def server_times(log_text: str) -> dict[str, list[tuple[str, float]]]:
    """From gunicorn's access log (``ACCESS_FORMAT``): per route kind (``callback``,
    ``points``, ``other``), (worker pid, seconds handling) of each request."""
    out: dict[str, list[tuple[str, float]]] = {"callback": [], "points": [], "other": []}
    for line in log_text.splitlines():
        m = _ACCESS.match(line.strip())
        if not m:
            continue
        pid, secs, _method, _status, path = m.groups()
        pid = pid.strip("<>")
        kind = (
            "callback"
            if path.endswith(CALLBACK_PATH)
            else "points"
            if path.endswith("/points")
            else "other"
        )
        out[kind].append((pid, float(secs)))
    return out


# ----------------------------------------------------------------------------- one load
LEAD_S = 2.5  # the writer's head start: every run exists with points before a tab opens it


@dataclass
class Result:
    """What one load did: the writer, the tabs (Crowd's records and answers) and the checks."""

    writer: Writer
    followers: Followers
    seconds: float
    tab_problems: list[str]
    store_rows: list[tuple[str, int, int]]
    store_problems: list[str]

    def ticks(self, since: float = 0.0) -> list[float]:
        """Seconds each tick took, first send to answer (a retried tick's wait counts)."""
        return [a.seconds for a in self.followers.answers if a.kind == "tick" and a.sent >= since]

    def failed(self) -> dict[str, int]:
        """Failed attempts by kind: the tabs' (``tick 429``, ``open no answer``, ...), the
        writer's (``push 503``, ...), tabs that gave up or were told their run is gone."""
        out: dict[str, int] = {}

        def count(key: str, n: int = 1) -> None:
            out[key] = out.get(key, 0) + n

        for r in self.followers.records:
            if r.failed:
                count(f"{r.kind} {'no answer' if r.status == 0 else r.status}")
        for status, n in self.writer.statuses().items():
            if status >= 300:
                count(f"push {status}", n)
        unanswered = self.writer.failures() - sum(
            n for s, n in self.writer.statuses().items() if s >= 300
        )
        if unanswered > 0:
            count("push no answer", unanswered)
        for o in self.followers.outcomes:
            if o.fatal:
                count("tab gave up")
        for tab in self.followers.tabs:
            if tab.notices:
                count("tab notice", len(tab.notices))
        if not all(self.writer.closed):
            count("writer left points unsent", self.writer.closed.count(False))
        return out


def wait_for_runs(store: Any, runs: int, timeout: float = 20.0) -> None:
    """Until each run has its points in the store (the client's first send)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        have = [store.metrics(run_id(i)) if store.run(run_id(i)) else [] for i in range(runs)]
        if all(len(m) == len(METRICS) for m in have):
            return
        time.sleep(0.1)
    raise TimeoutError("the writer's runs never reached the store")


def run_load(
    base: str,
    store: Any,
    *,
    tabs: int = 50,
    runs: int = 10,
    rate: int = 100,
    seconds: float = 20.0,
    spill_dir: Path | None = None,
) -> Result:
    """Push ``runs`` x ``rate`` points/s while ``tabs`` tabs follow them for ``seconds``
    (after the writer's ``LEAD_S`` head start), then check the tabs and the store."""
    token = store.create_token(f"load-{time.time_ns()}")
    writer = Writer(base, token, runs, rate, seconds + LEAD_S + 1.0, spill_dir).start()
    try:
        wait_for_runs(store, runs)
        followers = Followers(
            base, fetch_callbacks(base), sessions=tabs, runs=[run_id(i) for i in range(runs)]
        )
        asyncio.run(followers.run(seconds))
    finally:
        writer.join()
    tab_problems = [p for tab in followers.tabs for p in tab_errors(tab, store)]
    rows, store_problems = store_errors(writer, store)
    return Result(writer, followers, seconds, tab_problems, rows, store_problems)
