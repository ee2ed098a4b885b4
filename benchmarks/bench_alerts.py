"""The cost of evaluating alerts per ingest pass, at 10k and 1M steps of history.

Run: ``.venv/bin/python benchmarks/bench_alerts.py [--passes N]``.

For SQLite (a new file) and PostgreSQL (a throwaway server, ``tracking.store.pgtest``;
skipped with a message when not installed), a run with loss, learning rate and grad norm
(with wall times) is stored with 10,000 and then 1,000,000 steps of history; then, per pass,
1,000 new steps of the three metrics are added (``Store.add``, not timed) and
``tracking.alerting.evaluate_run`` is timed on them: its own transaction, the detectors'
state, the trailing window read from the store, the detectors, the state and events
written. It prints the median and best over ``--passes`` passes, and the detectors alone
(``tracking.alerts.evaluate`` on the same inputs, no store). The figure must not grow with
the run's length: the window is at most ``tracking.alerts.WINDOW`` points a metric. It also
prints the detectors on a first read of a whole 1M-step file (what the first ingest of a
finished run costs on top of storing it).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tracking import alerting, alerts
from tracking import store as store_module
from tracking.records import Series
from tracking.store import Store, pgtest

NEW = 1_000
HISTORIES = (10_000, 1_000_000)


def curves(first: int, last: int) -> list[Series]:
    """Loss, LR and grad norm for steps ``first`` to ``last - 1`` (a point every 0.25 s)."""
    rng = np.random.default_rng(first)
    step = np.arange(first, last, dtype=np.int64)
    wall = 1.7e9 + step * 0.25
    loss = 2.0 + 8.0 / np.sqrt(1 + step / 100) + rng.normal(0, 0.02, len(step))
    lr = 3e-4 * np.minimum(1.0, (step + 1) / 2000)
    norm = np.abs(rng.normal(1.0, 0.1, len(step)))
    return [
        Series("train/loss", step, loss, wall),
        Series("train/lr", step, lr, wall),
        Series("train/grad_norm", step, norm, wall),
    ]


def seed(store: Store, run_id: str, steps: int) -> None:
    """``steps`` of history, evaluated once (so the state is that of a long run)."""
    for a in range(0, steps, 200_000):
        part = curves(a, min(a + 200_000, steps))
        with store.transaction() as tx:
            for s in part:
                tx.add(run_id, s)
    alerting.evaluate_run(store, run_id, curves(max(steps - 2_000, 0), steps))


def bench(label: str, url: str, passes: int) -> None:
    print(f"\n{label}")
    store = store_module.open(url)
    try:
        for steps in HISTORIES:
            run_id = f"run-{steps}"
            started = time.perf_counter()
            seed(store, run_id, steps)
            print(f"  history {steps:>9,} steps stored in {time.perf_counter() - started:.1f} s")
            taken, alone = [], []
            at = steps
            for _ in range(passes):
                new = curves(at, at + NEW)
                for s in new:
                    store.add(run_id, s)
                state = store.alert_state(run_id)
                with store.transaction() as tx:
                    history = {
                        s.metric: tx.recent(run_id, s.metric, before=at, limit=alerts.WINDOW)
                        for s in new
                    }
                t = time.perf_counter()
                alerts.evaluate({s.metric: s for s in new}, history, state)
                alone.append(time.perf_counter() - t)
                t = time.perf_counter()
                alerting.evaluate_run(store, run_id, new, params={})
                taken.append(time.perf_counter() - t)
                at += NEW
            print(
                f"  history {steps:>9,} steps: evaluate_run on {NEW:,} new steps x 3 metrics: "
                f"median {1000 * statistics.median(taken):.1f} ms, best "
                f"{1000 * min(taken):.1f} ms; detectors alone median "
                f"{1000 * statistics.median(alone):.1f} ms ({passes} passes)"
            )
    finally:
        store.close()


def first_read(steps: int = 1_000_000) -> None:
    """A first ingest hands the detectors a whole file at once: bounded, but O(steps)."""
    new = {s.metric: s for s in curves(0, steps)}
    t = time.perf_counter()
    alerts.evaluate(new, {}, {})
    print(
        f"first read of {steps:,} steps x 3 metrics (one pass, detectors alone): "
        f"{time.perf_counter() - t:.2f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passes", type=int, default=21)
    args = parser.parse_args()
    first_read()
    with tempfile.TemporaryDirectory() as folder:
        bench("SQLite", f"sqlite:///{Path(folder) / 'runs.sqlite3'}", args.passes)
    if pgtest.find_binaries() is None:
        print("\nPostgreSQL: not installed (make system-deps installs it), skipped")
        return
    with pgtest.Cluster.start(settings=()) as cluster:
        bench("PostgreSQL", cluster.url, args.passes)


if __name__ == "__main__":
    main()
