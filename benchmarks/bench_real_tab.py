"""Training tab, real runs: open and tick cost through the real HTTP endpoint, on SQLite.

Run: ``.venv/bin/python benchmarks/bench_real_tab.py``. A temporary SQLite store gets a run
of 10,000 and one of 1,000,000 steps (train loss, LR, grad norm and tokens/s at every step),
then, POSTing to /_dash-update-component with Flask's test client the way dash-renderer does
(so Dash's parsing, dispatch and JSON encoding count):

- open: the ``?run=<id>`` page load (``views.real_tab.choose``), server time and bytes;
- tick, nothing new: the follow tick when the store's version did not move (no figure, no
  meta: only the "Last update" card's text, so a stalled run's age keeps counting);
- tick, new points: a writer adds 100 steps to each metric between ticks (not timed); the
  tick's server time and request + response bytes.

Each point has a wall time (as an event file's), and open and ticks are measured on each
x axis asked for (``--axes``, default ``step,wall``): on Wall time every x is a float of
hours, the tick's largest numbers.

Then the slow parts beside the tick, timed as view calls on the same store (each runs at
most once per poll, never per tick): the forecast panel (``views.real_forecast.panel``: a
forecast and its history of 30), the events poll when nothing is new
(``views.real_events.poll``, every 5 s) and the band redrawn after an edit or a mode switch
(``views.real_predict.predict``).

Targets (issue 15): a tick <= 5 ms server time and <= 8 KB at any run length; opening a
1M-step run <= 150 ms server time.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

TMP = tempfile.mkdtemp(prefix="bench-real-tab-")
os.environ["DASHBOARD_DB"] = f"sqlite:///{TMP}/runs.sqlite3"

from renderer import Callbacks  # noqa: E402

import app as app_module  # noqa: E402
from layouts import ids  # noqa: E402
from tracking import store as store_module  # noqa: E402
from tracking.records import Series  # noqa: E402

METRICS = ("train/loss", "train/lr", "train/grad_norm", "train/tokens_per_sec")
TICK_STEPS = 100  # steps a writer adds between two ticks
OPENS = 5
TICKS = 30
PACE_S = 0.25  # wall seconds a step in the written runs (any steady pace: cost is the same)


def fill(store: Any, run_id: str, steps: int) -> None:
    # The planned length is stated (twice what is written), so the forecast has a target.
    params = {"args.max_steps": str(2 * steps), "args.learning_rate": "0.0003"}
    store.put_run(run_id, name=run_id, status="running", kind="tfevents", params=params)
    chunk = 262_144
    for a in range(0, steps, chunk):
        s = np.arange(a + 1, min(steps, a + chunk) + 1, dtype=np.int64)
        add(store, run_id, s)


def add(store: Any, run_id: str, s: np.ndarray) -> None:
    rng = np.random.default_rng(int(s[0]))
    values = {
        "train/loss": 2.0 + 8.0 / np.sqrt(s / 50.0 + 1.0) + rng.normal(0, 0.03, s.size),
        "train/lr": np.full(s.size, 3e-4),
        "train/grad_norm": 0.4 + rng.gamma(2.0, 0.1, s.size),
        "train/tokens_per_sec": 1.8e5 + rng.normal(0, 4e3, s.size),
    }
    with store.transaction() as tx:
        for m in METRICS:
            tx.add(run_id, Series(m, s, values[m], 1.7e9 + s * PACE_S))


class Endpoint:
    def __init__(self) -> None:
        self.client = app_module.app.server.test_client()
        self.callbacks = Callbacks(self.client.get("/_dash-dependencies").json)
        self.cpu: list[float] = []  # CPU ms of each request (the machine is shared: wall
        # times rise with its load, CPU time much less)
        self.values: dict[str, Any] = {
            f"{ids.TR_XAXIS}.value": "step",
            f"{ids.TR_SMOOTHING}.value": 0.6,
            f"{ids.TR_LOG}.value": False,
            f"{ids.TR_RUN_PICKER}.value": "simulated",
            f"{ids.TR_REAL_OTHER}.value": None,
            f"{ids.TR_REAL_PRED_MODE}.value": "raw",
            f"{ids.TR_REAL_PRED_EDITS}.data": None,
        }

    def post(self, input_id: str, prop: str) -> tuple[Any, int, int, float]:
        """POST the real-run callback fired by ``input_id.prop`` (the Configuration tab's
        loader also listens to the address; it is not ours to time)."""
        dep = next(
            d
            for d in self.callbacks.dependencies
            if any(i["id"] == input_id and i["property"] == prop for i in d["inputs"])
            and ids.TR_REAL_META in d["output"]
        )
        body = self.callbacks.encode(
            self.callbacks.request(dep, self.values, [f"{input_id}.{prop}"])
        )
        t0, c0 = time.perf_counter(), time.process_time()
        r = self.client.post("/_dash-update-component", data=body, content_type="application/json")
        dt = (time.perf_counter() - t0) * 1000
        self.cpu.append((time.process_time() - c0) * 1000)
        return r, len(body), len(r.data), dt


def answer(r: Any, component: str, prop: str) -> Any:
    """One output's value in a callback's answer (an ``allow_duplicate`` output's key
    carries an ``@<hash>`` suffix); None when the answer leaves it out."""
    for key, props in r.json["response"].items():
        if key.split("@")[0] == component and prop in props:
            return props[prop]
    return None


def bench(ep: Endpoint, store: Any, run_id: str, steps: int, axis: str) -> None:
    ep.values[f"{ids.URL}.search"] = f"?run={run_id}"
    ep.values[f"{ids.TR_XAXIS}.value"] = axis
    ep.values[f"{ids.TR_REAL_META}.data"] = None
    opens = []
    ep.cpu.clear()
    for _ in range(OPENS):
        r, req, res, dt = ep.post(ids.URL, "search")
        assert r.status_code == 200, r.data[:300]
        opens.append(dt)
    meta = answer(r, ids.TR_REAL_META, "data")
    points = max(len(t["x"]) for t in answer(r, ids.tr_real_graph("loss"), "figure")["data"])
    assert meta["xaxis"] == axis, meta["xaxis"]
    print(
        f"{steps:>9,} steps, x {axis:>4}  open: median {statistics.median(opens):6.1f} ms "
        f"(min {min(opens):.1f}; CPU median {statistics.median(ep.cpu):.1f}), "
        f"response {res / 1024:.0f} KB, "
        f"bucket {meta['bucket']} steps, most points in a trace {points}"
    )
    ep.values[f"{ids.TR_REAL_META}.data"] = meta
    empty = []
    ep.cpu.clear()
    for _ in range(TICKS):
        r, req, res, dt = ep.post(ids.TR_REAL_TICK, "n_intervals")
        assert r.status_code in (200, 204) and res < 200, (r.status_code, r.data[:200])
        assert b"figure" not in r.data and b"tr-real-meta" not in r.data
        empty.append((dt, req + res))
    print(
        f"{'':>16}tick, nothing new: median {statistics.median(d for d, _ in empty):5.2f} ms "
        f"(CPU {statistics.median(ep.cpu):.2f}), "
        f"HTTP {r.status_code}, request + response {max(b for _, b in empty):,} B"
    )
    ticks = []
    ep.cpu.clear()
    last = meta["last"]
    for _ in range(TICKS):
        add(store, run_id, np.arange(last + 1, last + 1 + TICK_STEPS, dtype=np.int64))
        last += TICK_STEPS
        r, req, res, dt = ep.post(ids.TR_REAL_TICK, "n_intervals")
        assert r.status_code == 200, (r.status_code, r.data[:300])
        new_meta = answer(r, ids.TR_REAL_META, "data")
        if new_meta:
            ep.values[f"{ids.TR_REAL_META}.data"] = new_meta
        ticks.append((dt, req + res))
    times = sorted(d for d, _ in ticks)
    print(
        f"{'':>16}tick, {TICK_STEPS} new steps x {len(METRICS)} metrics: median "
        f"{statistics.median(times):5.2f} ms, p90 {times[int(0.9 * len(times))]:5.2f} ms "
        f"(CPU median {statistics.median(ep.cpu):.2f}), "
        f"request + response max {max(b for _, b in ticks):,} B"
    )


def slow_parts(store: Any, run_id: str) -> None:
    from views import real_events, real_forecast, real_predict

    def timed(job: Any, n: int) -> float:
        out = []
        for _ in range(n):
            c0 = time.process_time()
            job()
            out.append((time.process_time() - c0) * 1000)
        return statistics.median(out)

    held = {"run": run_id, "seq": 0, "alerts": 0}
    first = real_forecast.panel(store, run_id)
    assert first is not None and not first.reason, first and first.reason
    opened = timed(lambda: real_forecast.panel(store, run_id), 3)
    refresh = timed(lambda: real_forecast.panel(store, run_id, None, first.held), 5)
    print(
        f"{'':>16}forecast panel: on open (history of {real_forecast.OPEN_HISTORY}) CPU "
        f"median {opened:.0f} ms, a refresh (appends to the page's history) {refresh:.1f} ms; "
        f"events poll, nothing new: {timed(lambda: real_events.poll(store, held), 20):.2f} ms; "
        f"band redraw (anchored): "
        f"{timed(lambda: real_predict.predict(store, run_id, 'anchored'), 5):.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--axes", default="step,wall", help="x axes to measure, comma-separated")
    axes = parser.parse_args().axes.split(",")
    store = store_module.open(os.environ["DASHBOARD_DB"])
    load = Path("/proc/loadavg").read_text().split()[:3]
    print(f"SQLite store in {TMP}; load average (1, 5, 15 min): {' '.join(load)}")
    ep = Endpoint()
    for steps in (10_000, 1_000_000):
        run_id = f"bench-{steps}"
        t0 = time.perf_counter()
        fill(store, run_id, steps)
        took = time.perf_counter() - t0
        print(f"(wrote {steps:,} steps x {len(METRICS)} metrics in {took:.1f} s)")
        for axis in axes:
            bench(ep, store, run_id, steps, axis)
        slow_parts(store, run_id)
    store.close()
    shutil.rmtree(TMP, ignore_errors=True)


if __name__ == "__main__":
    main()
