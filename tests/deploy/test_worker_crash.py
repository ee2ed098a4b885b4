"""A worker killed mid-load (kill -9, as the OOM killer does): gunicorn replaces it, every tab
carries on with its own run, and the requests that failed in that second are a handful that
the page resends (tests/deploy/crowd.py, the same sessions benchmarks/load_nginx.py runs at
full size against ``make serve``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
from crowd import Crowd, fetch_callbacks, in_flight, lost_runs
from stack import Stack

pytestmark = pytest.mark.deploy

SESSIONS = 24
PERIOD = 0.5  # seconds between a tab's ticks (the page's default interval)
SECONDS = 12.0
KILL_AT = 5.0


def test_kill_9_a_worker_under_load_loses_no_run(make_stack: Callable[..., Stack]) -> None:
    st = make_stack(workers=2, env={"GUNICORN_ACCESSLOG": "/dev/null"})
    crowd = Crowd(st.base, fetch_callbacks(st.base), sessions=SESSIONS, period=PERIOD)
    killed: list[tuple[int, float]] = []

    async def kill_one() -> None:
        await asyncio.sleep(KILL_AT)
        pid = st.kill_worker()
        killed.append((pid, time.perf_counter() - crowd.t0))

    async def both() -> None:
        await asyncio.gather(crowd.run(SECONDS), kill_one())

    asyncio.run(both())
    (pid, at) = killed[0]
    st.wait_workers(2, exclude=(pid,))  # gunicorn forked a replacement

    assert not lost_runs(crowd.outcomes), lost_runs(crowd.outcomes)
    for o in crowd.outcomes:
        ticks_after = [
            r for r in crowd.records if r.session == o.index and r.sent > at + 2 and r.status == 200
        ]
        assert ticks_after, f"session {o.index} stopped ticking after the kill"
    in_second = in_flight(crowd.records, at, 1.0)  # the requests the kill cut short count
    failed = [r for r in in_second if r.failed]
    assert len(in_second) >= SESSIONS, "the crowd was ticking when the worker died"
    # The kill can only cut what the worker was running: its 2 threads' requests (1% of a
    # second's requests at the load script's 200 tabs; at this size, the 2 dominate).
    assert len(failed) <= max(2, len(in_second) // 100), (
        f"{len(failed)} of {len(in_second)} requests failed in the second after the kill: "
        f"{[(round(r.sent - at, 3), r.status) for r in failed]}"
    )
    everything_failed = [r for r in crowd.records if r.failed]
    assert len(everything_failed) <= max(2, len(crowd.records) // 100), everything_failed
    assert all(r.status in (0, 502) for r in everything_failed), everything_failed
    assert "Traceback" not in st.logs()
