"""Nothing is kept per user on the server: any worker answers any request of any session.

One session's requests (Start, the full render, ticks, a live LR change, Pause and Resume)
go round-robin to four separate gunicorn processes, each with one worker, so no two
consecutive requests meet the same process; the same session is then replayed against a
fifth process alone. Every answer must be byte-for-byte the one a single worker gives, and the
run state and chart points the tab ends with must be identical.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import Any

import pytest
import requests
from renderer import Callbacks
from session import CALLBACK_PATH, Session
from stack import Stack, settled_log

from layouts import ids

pytestmark = pytest.mark.deploy

TICKS = 24


def script(s: Session) -> list[Callable[[], bytes]]:
    """The tab's requests in order: a run watched, changed, paused and resumed."""
    steps: list[Callable[[], bytes]] = [lambda: s.click(ids.TR_START), s.render]
    steps += [s.tick] * (TICKS // 2)
    steps += [lambda: s.adjust(0.5), s.render]  # the run store changed: the page re-renders
    steps += [s.tick] * 4
    steps += [lambda: s.click(ids.TR_PAUSE), lambda: s.click(ids.TR_PAUSE)]  # pause, resume
    steps += [s.tick] * (TICKS - TICKS // 2 - 4)
    return steps


def replay(bases: list[str], callbacks: Callbacks) -> tuple[Session, list[bytes], list[str]]:
    """Play the script, request i to ``bases[i % len(bases)]``: (tab, answers, who answered)."""
    s = Session(callbacks, interval_ms=500)
    answers, served = [], []
    with requests.Session() as http:
        http.trust_env = False
        for i, make in enumerate(script(s)):
            base = bases[i % len(bases)]
            r = http.post(
                f"{base}/{CALLBACK_PATH}",
                data=make(),
                headers={"Content-Type": "application/json"},
                timeout=10,
            )
            assert r.status_code in (200, 204), f"request {i} to {base}: {r.status_code} {r.text}"
            s.receive(r.json() if r.status_code == 200 else None)
            answers.append(r.content)
            served.append(base)
    return s, answers, served


def points(answers: list[bytes]) -> list[Any]:
    """Every chart point the answers carried (full figures and appended ones), in order."""
    found: list[Any] = []
    for a in answers:
        if not a:
            continue
        for key, props in json.loads(a)["response"].items():
            if key.startswith(ids.tr_graph("")) and "figure" in props:
                found.append((key, props["figure"]))
    return found


def test_one_session_round_robin_over_four_workers_equals_one_worker(
    make_stack: Callable[..., Stack],
) -> None:
    # Four to share the session, and a fifth that plays it alone.
    stacks = [make_stack(workers=1, with_nginx=False) for _ in range(5)]
    reference, stacks = stacks[-1], stacks[:4]
    bases = [st.base for st in stacks]
    pids = {pid for st in [*stacks, reference] for pid in st.worker_pids()}
    assert len(pids) == 5, "five separate worker processes"
    callbacks = Callbacks(requests.get(bases[0] + "/_dash-dependencies", timeout=10).json())

    spread, spread_answers, served = replay(bases, callbacks)
    # Each process's access log shows it answered its share, and only that.
    logged = [settled_log(st.gunicorn_log).count(f"POST /{CALLBACK_PATH}") for st in stacks]
    assert logged == [served.count(b) for b in bases], logged
    alone, alone_answers, _ = replay([reference.base], callbacks)

    assert set(served) == set(bases), "every worker answered part of the session"
    assert all(a != b for a, b in itertools.pairwise(served)), "no worker twice in a row"
    assert spread.status == "running" and spread.step == TICKS * 100
    assert spread.state is not None and spread.state["changes"], "the LR change is in the run"
    for i, (a, b) in enumerate(zip(spread_answers, alone_answers, strict=True)):
        assert a == b, f"request {i}: another worker than the one before it answered differently"
    assert spread.state == alone.state
    assert spread.meta == alone.meta
    assert points(spread_answers) == points(alone_answers)
    assert len(points(spread_answers)) >= TICKS, "the answers carried chart points"
    for st in stacks:
        assert "Traceback" not in st.logs(), st.logs()
