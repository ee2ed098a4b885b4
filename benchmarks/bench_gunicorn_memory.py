"""Memory of the production gunicorn: what one worker costs (deploy/gunicorn.conf.py cites it).

Run from the repo root: ``.venv/bin/python benchmarks/bench_gunicorn_memory.py`` (or
``make bench``). Starts ``gunicorn -c deploy/gunicorn.conf.py app:server`` with 2 workers on
a free loopback port (no nginx), loads the page, layout and dependencies 20 times, and prints
each process's resident (RSS), proportional (PSS) and private (USS) memory in MiB. PSS and
USS show what preload_app shares between the master and its workers. The loads go over one
kept-alive connection, so one worker serves them all and the other shows a fresh worker.
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "deploy"))

from stack import Stack  # noqa: E402  (the deploy tests' stack: real gunicorn on a free port)

LOADS = 20


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    with Stack(f"127.0.0.1:{_port()}", f"127.0.0.1:{_port()}", workers=2, with_nginx=False) as st:
        for _ in range(LOADS):
            for path in ("/", "/_dash-layout", "/_dash-dependencies"):
                st.session.get(st.base + path, timeout=10).raise_for_status()
        assert st.gunicorn is not None
        master = psutil.Process(st.gunicorn.pid)
        print(f"gunicorn, 2 gthread workers, after {LOADS} page+layout+dependencies loads (MiB)")
        for name, proc in [("master", master)] + [("worker", c) for c in master.children()]:
            mem = proc.memory_full_info()
            print(
                f"  {name:6} rss {mem.rss / 2**20:5.0f}  pss {mem.pss / 2**20:5.0f}  "
                f"uss {mem.uss / 2**20:5.0f}"
            )


if __name__ == "__main__":
    main()
