"""Issue 15's load test, shortened: 50 tabs follow 10 live runs through nginx while one
writer pushes 1,000 points a second (10 runs x 100 steps/s x 4 metrics) with the real client.

The whole production path: ``tracking.client.Run`` (all ten runs from one host) -> nginx
``/api/v1`` -> gunicorn (2 gthread workers x 2 threads, deploy/gunicorn.conf.py) -> the
SQLite store (the default, and the weaker case: several processes writing and reading one
file; PostgreSQL's figures come from benchmarks/load_real_runs.py), and each tab's open and
once-a-second follow tick through nginx's callback location, each tab from its own address
(tests/deploy/follow.py).

What a user would notice, asserted: no request failed (no 429, 5xx or dropped connection,
no notice on a tab, no point left unsent), every point the script logged is in the store
with its value (nothing lost, nothing doubled), every tab's charts grew and hold exactly
what a full render would draw, and the ticks were not starved. The issue's bound (tick
p99 <= 250 ms) is measured by benchmarks/load_real_runs.py: on this shared 2-core machine
p99 16-36 ms with CPU to spare, 158-175 ms over 60 s beside other suites, and past a second
when they loaded it to 8-10 (queueing in gunicorn; the benchmark says where). Here the bound
is twice the issue's, for CI noise (a machine loaded past its cores can still miss it).

What this test found: the client sent the points logged during a request at once, so a
loop logging every 10 ms made 5-10 requests a second per run: hundreds of 429s from nginx's
per-address write limit (the failures asserted first), and ticks queued behind ten times
the pushes (p99 450-890 ms). nginx's write limit (now 20/s, a burst of 40)
also let only "a few" runs share a host; ten at 1/s each met it (a 429 as they ended).
15 s of load at the full rate; about 30 s in all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from follow import ACCESS_FORMAT, LEAD_S, pct, run_load
from stack import Stack

from tracking import store as store_module
from tracking.store import Store

pytestmark = pytest.mark.deploy

TABS, RUNS, RATE, SECONDS = 50, 10, 100, 15.0
P99_S = 0.500  # twice issue 15's 250 ms (measured by the benchmark), for CI noise
WARMUP_S = 3.0  # opens and each tab's first tick (a rebase to the run's pace) left out


@pytest.fixture
def served(free_port: Callable[[], int], tmp_path: Path) -> Iterator[tuple[Stack, Store]]:
    url = f"sqlite:///{tmp_path}/runs.sqlite3"
    store = store_module.open(url)
    env = {
        "DASHBOARD_DB": url,
        "GUNICORN_CMD_ARGS": f"--access-logformat '{ACCESS_FORMAT}'",
        "GUNICORN_LOGLEVEL": "warning",
    }
    try:
        with Stack(f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}", env=env) as stack:
            yield stack, store
    finally:
        store.close()


def test_fifty_tabs_follow_ten_runs_while_a_writer_pushes_1000_points_a_second(
    served: tuple[Stack, Store], tmp_path: Path
) -> None:
    stack, store = served
    res = run_load(
        stack.base, store, tabs=TABS, runs=RUNS, rate=RATE, seconds=SECONDS, spill_dir=tmp_path
    )
    assert res.failed() == {}, (res.failed(), stack.logs())
    # nothing lost: every logged point stored once, with its value
    assert res.store_problems == [], res.store_problems[:5]
    assert all(pushed == stored for _, pushed, stored in res.store_rows), res.store_rows
    assert res.writer.points >= RUNS * RATE * SECONDS
    # the client sends about once a second per run (plus its PUT and the close)
    writing = SECONDS + LEAD_S + 2.0
    assert max(res.writer.requests()) <= writing + 4, res.writer.requests()
    # every tab followed its run to the end and holds exactly the store's buckets
    assert res.tab_problems == [], res.tab_problems[:5]
    for tab in res.followers.tabs:
        assert tab.ticks >= SECONDS - 2 and tab.ticking, (tab.run, tab.ticks, tab.notices)
        assert tab.grown[-1] > tab.grown[1] > 0, (tab.run, tab.grown)
    ticks = res.ticks(WARMUP_S)
    assert len(ticks) >= TABS * (SECONDS - WARMUP_S - 2)
    assert pct(ticks, 0.99) <= P99_S, (
        f"tick p99 {1000 * pct(ticks, 0.99):.0f} ms, max {1000 * max(ticks):.0f} ms"
    )
