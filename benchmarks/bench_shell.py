"""The shell's weight on the wire and its server time, through Flask's test client.

Run from the repo root: ``.venv/bin/python benchmarks/bench_shell.py`` (or ``make bench``).

Prints the bytes a first visit costs before any tab does work (index page, layout, gzipped
as nginx sends it), the Plotly template against plotly.py's default, and the median server
time of the requests the shell itself makes: /healthz, /_dash-layout, and the tab <-> hash
callback.
"""

from __future__ import annotations

import gzip
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import plotly.io as pio
from renderer import Callbacks

import app as entry_point  # a benchmark drives the entry point, as a browser would
from layouts import ids
from layouts.figures.theme import TEMPLATE

REPEATS = 200


def median_ms(fn: Callable[[], object], repeats: int = REPEATS) -> float:
    fn()  # warm up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def main() -> None:
    client = entry_point.app.server.test_client()
    page = client.get("/").data
    layout = client.get("/_dash-layout").data
    callbacks = Callbacks(client.get("/_dash-dependencies").json)
    tab_sync = callbacks.find(ids.TABS, "value")  # a tab clicked: the hash follows
    held = {f"{ids.URL}.hash": "", f"{ids.TABS}.value": ids.TAB_COMPARISON}
    body = callbacks.request(tab_sync, held, [f"{ids.TABS}.value"])
    ours = len(json.dumps(TEMPLATE, separators=(",", ":")))
    default = len(json.dumps(pio.templates["plotly"].to_plotly_json(), separators=(",", ":")))

    print(f"index page        {len(page):>7,} B   gzip {len(gzip.compress(page, 5)):>6,} B")
    print(f"/_dash-layout     {len(layout):>7,} B   gzip {len(gzip.compress(layout, 5)):>6,} B")
    print(f"plotly template   {ours:>7,} B   (plotly.py default: {default:,} B)")
    for name, request in (
        ("GET / (index page)", lambda: client.get("/")),
        ("GET /healthz", lambda: client.get("/healthz")),
        ("GET /_dash-layout", lambda: client.get("/_dash-layout")),
        ("POST tab -> hash", lambda: client.post("/_dash-update-component", json=body)),
    ):
        print(f"{name:<22} {median_ms(request):6.2f} ms median")


if __name__ == "__main__":
    main()
