"""Worst-case redraws against the production stack: do ticks and /healthz stay fast?

Run: ``.venv/bin/python benchmarks/bench_heavy_requests.py`` (or ``make bench``). Starts real
gunicorn (``deploy/gunicorn.conf.py``: 2 workers x 2 threads) behind real nginx on free
loopback ports, then for ``--seconds`` sends ``--heavy`` full redraws of the longest run
allowed (``sim.MAX_STEPS``) back to back, each client from its own loopback address, while
``--tabs`` tabs tick 4 times a second and a monitor polls ``/healthz`` 10 times a second
(``tests/deploy/heavy.py``). Prints the redraws done and refused (503, retried by the page)
and the tick and health-check latency.

Target (issue 16, item 1): tick and ``/healthz`` p99 under 250 ms while 8 such requests
arrive. Before ``callbacks/limits.py`` (and with runs of up to 50M steps), ticks stopped and
``/healthz`` took seconds.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "deploy"))

from heavy import Probe  # noqa: E402
from stack import Stack  # noqa: E402

import simulator as sim  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--heavy", type=int, default=8)
    ap.add_argument("--tabs", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=10.0)
    a = ap.parse_args()
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"longest run allowed: {sim.MAX_STEPS:,} steps")
    with Stack(f"127.0.0.1:{_free_port()}", f"127.0.0.1:{_free_port()}") as stack:
        quiet = Probe(stack.base, heavy=0, tabs=a.tabs, seconds=a.seconds / 2).run()
        print("without heavy requests: " + quiet.summary().split("; ", 1)[1])
        probe = Probe(stack.base, heavy=a.heavy, tabs=a.tabs, seconds=a.seconds).run()
        print(probe.summary())
        ok = probe.p99("tick") < 250 and probe.p99("health") < 250
        print(f"tick and /healthz p99 under 250 ms: {'yes' if ok else 'NO'}")
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
