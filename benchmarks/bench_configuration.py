"""Server time of the Configuration tab's estimate callback, through the real HTTP endpoint.

Each request is what the browser sends when one field changes: the whole form (every field,
pattern-matching ``ALL``) POSTed to /_dash-update-component via Flask's test client, answered
with every mark, message, estimate tile, both figures, the fit advice and the link. The
budget is 20 ms per change. Wall time and this thread's CPU time are both printed:
on a shared machine the wall p95 includes time spent waiting for a core. Cases cycle through
presets, field edits, a config that does not fit (fit advice runs), a custom architecture and
an invalid form.

    .venv/bin/python benchmarks/bench_configuration.py [--n 300]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from renderer import Callbacks

import simulator as sim
from app import app
from layouts import ids
from views import config_form as cf

# The components of each ALL group on the page (no fit-advice buttons before an estimate).
NAMES = {
    ids.CFG_FIELD: list(cf.FIELDS),
    ids.CFG_FEEDBACK: list(cf.FIELDS),
    ids.CFG_HINT: list(cf.FIELDS),
    ids.CFG_GROUP: list(cf.GROUPS),
}


def cases() -> list[tuple[str, str, dict[str, Any]]]:
    """(label, preset, form values) for a spread of realistic edits."""
    out = []
    for slug in ("llama-2-7b", "llama-2-70b", "mistral-7b", "codellama-34b", "vicuna-13b"):
        out.append((f"preset {slug}", *cf.config_to_form(sim.preset(slug))))
    for n in ("256", "512", "2048"):
        model, values = cf.config_to_form(sim.preset("llama-2-13b"))
        out.append((f"num_gpus {n}", model, {**values, "num_gpus": n}))
    model, values = cf.config_to_form(sim.preset("llama-2-70b", num_gpus=64, zero_stage=0))
    out.append(("does not fit (fit advice)", model, values))
    model, values = cf.config_to_form(sim.preset("llama-2-7b", schedule="wsd"))
    out.append(("custom architecture", "custom", {**values, "arch.n_layers": "48"}))
    model, values = cf.config_to_form(sim.preset("llama-2-7b"))
    out.append(("invalid field", model, {**values, "seq_len": "abc"}))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=300, help="requests to time")
    args = parser.parse_args()
    client = app.server.test_client()
    callbacks = Callbacks(client.get("/_dash-dependencies").json, components=NAMES)
    dep = next(d for d in callbacks.dependencies if d["inputs"][0]["id"] == ids.CFG_PRESET)
    field_key = '{"name":["ALL"],"type":"cfg-field"}'

    def body(model: str, values: dict[str, Any]) -> dict[str, Any]:
        """The request for one edit of the form, built by tests/renderer.py."""
        vals = {
            f"{ids.CFG_PRESET}.value": model,
            f"{field_key}.value": values,
            f"{ids.URL}.href": "http://127.0.0.1:8050/",
        }
        return callbacks.request(dep, vals, [f"{field_key}.value"])

    all_cases = cases()
    bodies = [(label, body(m, v)) for label, m, v in all_cases]
    for _, b in bodies:  # warm up (imports, first figure)
        client.post("/_dash-update-component", json=b)
    times: list[float] = []
    cpu: list[float] = []
    per_case: dict[str, list[float]] = {label: [] for label, _ in bodies}
    sizes: dict[str, int] = {}
    for i in range(args.n):
        label, b = bodies[i % len(bodies)]
        c0, t0 = time.thread_time(), time.perf_counter()
        r = client.post("/_dash-update-component", json=b)
        dt = time.perf_counter() - t0
        cpu.append(time.thread_time() - c0)
        assert r.status_code == 200, r.status_code
        times.append(dt)
        per_case[label].append(dt)
        sizes[label] = len(r.data)
    times.sort()
    med = statistics.median(times) * 1e3
    p95 = times[int(0.95 * (len(times) - 1))] * 1e3
    print(f"estimate callback via POST /_dash-update-component, {args.n} requests")
    print(f"  server time: median {med:.1f} ms, p95 {p95:.1f} ms, max {times[-1] * 1e3:.1f} ms")
    cpu.sort()
    print(
        f"  CPU time:    median {statistics.median(cpu) * 1e3:.1f} ms, "
        f"p95 {cpu[int(0.95 * (len(cpu) - 1))] * 1e3:.1f} ms "
        "(this thread only: excludes waiting for a core on a busy machine)"
    )
    print(f"  load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print("  budget 20 ms per change:", "OK" if p95 <= 20 else "OVER (wall p95)")
    for label, ts in per_case.items():
        ts.sort()
        print(
            f"  {label:<28} median {statistics.median(ts) * 1e3:5.1f} ms"
            f"   response {sizes[label] / 1024:5.1f} KB"
        )


if __name__ == "__main__":
    main()
