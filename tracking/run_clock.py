"""A run's measured step rate up to a step, from the wall times the store keeps with points.

It reads the points of the run's last two chunks' worth of steps (``CHUNK`` each) at or
before the step asked for, with their times (``Store.series``): the rate of the run's most
recent stretch, at a bounded cost whatever the run's length.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tracking.store import Store
from tracking.store.chunks import CHUNK

MIN_SPAN_S = 1e-3


@dataclass(frozen=True)
class StepRate:
    """Optimizer steps per second over ``(first_step, last_step)``, and the wall time (Unix
    seconds) of ``last_step``."""

    steps_per_second: float
    first_step: int
    last_step: int
    last_time: float


def step_rate(store: Store, run_id: str, metric: str, until: int | None = None) -> StepRate | None:
    """The rate over the timed points of the last two chunks at or before ``until`` (all of
    the run when None); None when fewer than two points there carry a wall time or the
    clock did not move forward."""
    if until is None:
        found = [m for m in store.metrics(run_id) if m.metric == metric]
        if not found or found[0].last_step is None:
            return None
        until = found[0].last_step
    start = max(0, (until // CHUNK - 1) * CHUNK)
    curve = store.series(run_id, metric, start, until, points=2 * CHUNK)
    if curve.step.size < 2:  # a gap in the steps: the stretch before it instead
        curve = store.series(run_id, metric, None, until, points=2 * CHUNK)
    steps, times = curve.step, curve.time
    keep = np.isfinite(times)
    steps, times = steps[keep], times[keep]
    if steps.size < 2:
        return None
    order = np.argsort(steps, kind="stable")
    steps, times = steps[order], times[order]
    span_s = float(times[-1] - times[0])
    span_steps = int(steps[-1] - steps[0])
    if span_s <= MIN_SPAN_S or span_steps <= 0:
        return None
    return StepRate(span_steps / span_s, int(steps[0]), int(steps[-1]), float(times[-1]))
