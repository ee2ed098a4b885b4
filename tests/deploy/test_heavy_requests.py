"""Eight worst-case redraws at once do not stall anyone else's ticks or the health check.

Through real nginx in front of real gunicorn (2 workers x 2 threads, as deployed). Before
the fix, a run could be 50M steps long (a 15-19 s redraw) and a worker took on as many heavy
redraws as it had threads; now a run is at most ``sim.MAX_STEPS`` steps (about half a second
to redraw) and each worker admits one heavy job at a time, answering the rest 503 with
``Retry-After`` (``callbacks/limits.py``).
"""

from __future__ import annotations

import pytest
from heavy import Probe, longest_run

import simulator as sim

pytestmark = pytest.mark.deploy

P99_MS = 250


def test_the_longest_run_allowed_is_bounded() -> None:
    state = longest_run()
    assert 0.9 * sim.MAX_STEPS < state["step"] < sim.MAX_STEPS <= 4_000_000
    with pytest.raises(sim.ConfigError, match="at most 4,000,000 steps"):
        sim.preset("llama-2-7b", global_batch_tokens=2**17, num_gpus=8)  # 15M steps


def test_eight_heavy_redraws_leave_ticks_and_healthz_fast(stack) -> None:  # type: ignore[no-untyped-def]
    probe = Probe(stack.base, heavy=8, tabs=4, seconds=8.0).run()
    print(probe.summary())
    assert not probe.errors, probe.errors[:5]
    assert probe.heavy_status.count(200) >= 2, "heavy work is still done, one at a time"
    assert set(probe.heavy_status) <= {200, 503}, "a refused redraw is a 503 to retry"
    assert max(ms for ms, s in zip(probe.heavy_ms, probe.heavy_status, strict=True)) < 5_000
    assert len(probe.tick_ms) >= 4 * 8 * 2 and len(probe.health_ms) >= 30
    assert probe.p99("tick") < P99_MS, probe.summary()
    assert probe.p99("health") < P99_MS, probe.summary()
