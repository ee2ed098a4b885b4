"""A run's measured step rate up to a step, from the wall times the store keeps with points.

``Store.series`` returns steps and values only, so this reads the ``times`` blob of at most
the two chunks (4,096 steps each) that end at or before the step asked for: the rate of the
run's most recent stretch, at a bounded cost whatever the run's length. It reads the
store's ``chunks`` table directly (``tracking.store.schema``); a ``Store`` method returning
times would be the better home once the store grows one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tracking.store import Store
from tracking.store.chunks import CHUNK, decode_floats, decode_offsets

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
    sql = "SELECT chunk, steps, times FROM chunks WHERE run_id = ? AND metric = ?"
    args: list[object] = [run_id, metric]
    if until is not None:
        sql += " AND chunk <= ?"
        args.append(until // CHUNK)
    sql += " ORDER BY chunk DESC LIMIT 2"
    with store._engine.read() as db:  # the store has no times read yet (module doc)
        rows = db.all(sql, args)
    if not rows:
        return None
    steps = np.concatenate([decode_offsets(int(r[0]), bytes(r[1])) for r in reversed(rows)])
    times = np.concatenate([decode_floats(bytes(r[2])) for r in reversed(rows)])
    keep = np.isfinite(times)
    if until is not None:
        keep &= steps <= until
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
