"""The request guard: the largest legitimate callback body, and what the guard costs.

Run: ``.venv/bin/python benchmarks/bench_request_guard.py`` (or ``make bench``).

Prints (1) the size and nesting depth of the largest request a real page can send, the
Model Comparison import of a full export file (20 of the largest runs a user can make,
padded to the import limit) with 20 such runs already saved, against the guard's
``MAX_BODY_BYTES`` and ``MAX_DEPTH``; and (2) the guard's time per request (parse +
checks) for that body and for a Training tick, measured by calling it directly, beside
Flask's ``get_json`` alone (the parse Dash would do anyway and now reuses from the cache).
"""

from __future__ import annotations

import base64
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "deploy"))

import flask
import hostile

import app as app_module
import simulator as sim
from callbacks import request_guard
from layouts import ids
from simulator import saved


def largest_run(k: int) -> sim.RunState:
    """A run with the most a user can put in a state: long name, every change, many events."""
    s = sim.start(sim.new_run(sim.preset("llama-2-7b"), seed=k, name=f"{k:02d} " + "n" * 76))
    for i in range(sim.run.MAX_CHANGES):
        s = sim.advance(s, 50)
        s = sim.apply_changes(s, {"lr_peak": 3e-4 * (1 + 0.01 * (i + 1)), "grad_clip": 0.5 + i})
    return sim.advance(s, 200_000)


def depth(value: Any) -> int:
    stack, deepest = [(value, 1)], 0
    while stack:
        node, d = stack.pop()
        if isinstance(node, dict | list):
            deepest = max(deepest, d)
            stack.extend((c, d + 1) for c in (node.values() if isinstance(node, dict) else node))
    return deepest


def timed(fn: Any, n: int) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times)


def main() -> None:
    app = app_module.create_app()
    client = app.server.test_client()
    env = hostile.Envelopes(
        client.get("/_dash-dependencies").json, client.get("/_dash-layout").json
    )
    runs = [largest_run(k) for k in range(saved.MAX_SAVED)]
    mine = [saved.make_entry(r) for r in runs]
    doc = saved.export_document(mine).encode()
    state_bytes = max(len(json.dumps(e["state"])) for e in mine)
    padded = doc + b" " * (saved.MAX_IMPORT_BYTES - len(doc))  # JSON allows trailing spaces
    contents = "data:application/json;base64," + base64.b64encode(padded).decode()

    dep = next(d for d in env.deps if any(i["id"] == ids.CMP_IMPORT_UPLOAD for i in d["inputs"]))
    changed = [i["id"] for i in dep["inputs"]].index(ids.CMP_IMPORT_UPLOAD)
    values = {
        f"{ids.CMP_IMPORT_UPLOAD}.contents": contents,
        f"{ids.SAVED_RUNS_STORE}.data": mine,
    }
    body_dict = env.body(dep, values, changed)
    body = json.dumps(body_dict).encode()
    r = client.post("/_dash-update-component", data=body, content_type="application/json")
    print("Largest legitimate callback body (Comparison import, 20 saved + a full export):")
    print(
        f"  largest real state {state_bytes:,} B; export of 20 {len(doc):,} B, "
        f"padded to the import limit {saved.MAX_IMPORT_BYTES:,} B"
    )
    print(
        f"  request body {len(body):,} B = {len(body) / request_guard.MAX_BODY_BYTES:.0%} of "
        f"MAX_BODY_BYTES {request_guard.MAX_BODY_BYTES:,}; nesting depth {depth(body_dict)} "
        f"(MAX_DEPTH {request_guard.MAX_DEPTH}); answered {r.status_code}"
    )
    tick = next(d for d in env.deps if d["inputs"][0]["id"] == ids.TICK)
    tick_dict = env.body(tick)
    print(f"  a Training tick: {len(json.dumps(tick_dict)):,} B, depth {depth(tick_dict)}")

    print("Guard cost per request (parse + checks, called directly), median of 50:")
    for label, payload in (("import body", body), ("tick body", json.dumps(tick_dict).encode())):

        def guard_only(p: bytes = payload) -> None:
            with app.server.test_request_context(
                "/_dash-update-component", method="POST", data=p, content_type="application/json"
            ):
                b = request_guard.parse_body(flask.request)
                request_guard.check_envelope(b, app.callback_map)

        def plain_parse(p: bytes = payload) -> None:
            with app.server.test_request_context(
                "/_dash-update-component", method="POST", data=p, content_type="application/json"
            ):
                flask.request.get_json()

        print(
            f"  {label}: guard {timed(guard_only, 50):.2f} ms, "
            f"of which Flask's get_json {timed(plain_parse, 50):.2f} ms (Dash reuses it)"
        )


if __name__ == "__main__":
    main()
