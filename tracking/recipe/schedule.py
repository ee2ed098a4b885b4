"""Learning rate: peak, minimum, schedule and warmup, from settings or the logged LR curve."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from tracking.recipe.settings import DEFAULTS, Field, Settings
from tracking.records import Series

LR_SERIES = ("learning_rate", "lr")
SCHEDULES = {
    "linear": "linear",
    "polynomial": "linear",
    "cosine": "cosine",
    "cosine_with_restarts": "cosine",
    "cosine_with_min_lr": "cosine",
    "cosine_warmup_with_min_lr": "cosine",
    "constant": "constant",
    "constant_with_warmup": "constant",
    "inverse_sqrt": "inverse-sqrt",
    "inverse-square-root": "inverse-sqrt",
    "warmup_stable_decay": "wsd",
    "wsd": "wsd",
}
"""Schedule names of HF (``lr_scheduler_type``), Megatron (``lr_decay_style``) and llm.c ->
the simulator's."""


def learning_rate(s: Settings, curves: Mapping[str, Series], out: dict[str, Field]) -> None:
    lr = s.number("lr")
    shape = _lr_shape(curves)
    if lr:
        out["lr_peak"] = Field(lr[1], "found", lr[0])
    elif shape:
        out["lr_peak"] = Field(shape.peak, "derived", f"peak of the logged `{shape.metric}`")
    sched = s.text("schedule")
    if sched and sched[1].lower() in SCHEDULES:
        out["schedule"] = Field(SCHEDULES[sched[1].lower()], "found", f"{sched[0]}={sched[1]!r}")
    elif shape and shape.schedule:
        out["schedule"] = Field(
            shape.schedule, "derived", f"shape of the logged `{shape.metric}` after its peak"
        )
    peak = out["lr_peak"].value if "lr_peak" in out else DEFAULTS.lr_peak
    low = s.number("lr_min", positive=False)
    ratio = s.number("lr_min_ratio", positive=False)
    if low:
        out["lr_min"] = Field(low[1], "found", low[0])
    elif ratio:
        out["lr_min"] = Field(peak * ratio[1], "derived", f"{ratio[0]} ({ratio[1]:g}) x peak LR")
    elif sched and sched[1].lower() in ("linear", "cosine", "polynomial"):
        out["lr_min"] = Field(
            0.0, "derived", f"{sched[0]}={sched[1]!r} decays to 0 (HF Trainer's schedules)"
        )
    elif shape and shape.finished:
        out["lr_min"] = Field(shape.final, "derived", f"last value of the logged `{shape.metric}`")
    warm = s.number("warmup_steps", positive=False)
    warm_ratio = s.number("warmup_ratio")
    total = out.get("_total_steps")
    if warm and warm[1] == int(warm[1]) and warm[1] > 0:
        out["warmup_steps"] = Field(int(warm[1]), "found", warm[0])
    elif warm_ratio and total:
        out["warmup_steps"] = Field(
            round(warm_ratio[1] * total.value),
            "derived",
            f"{warm_ratio[0]} ({warm_ratio[1]:g}) x {total.value:,} steps",
        )
    elif warm and warm[1] == 0:
        out["warmup_steps"] = Field(0, "found", warm[0])
    elif shape and shape.peak_step > shape.first_step:
        out["warmup_steps"] = Field(
            shape.peak_step, "derived", f"step where the logged `{shape.metric}` peaks"
        )


@dataclass(frozen=True)
class _Shape:
    metric: str
    peak: float
    peak_step: int
    first_step: int
    final: float
    finished: bool
    schedule: str | None


def _lr_shape(curves: Mapping[str, Series]) -> _Shape | None:
    """Peak, where it is reached, and the decay's shape of a logged learning-rate curve.

    After the peak: flat (within 1%) is ``constant``; a curve that has decayed below half
    its peak is ``cosine`` when a quarter of the way down the decay it still holds more
    than 80% of the peak (cosine holds 85%, a straight line 75%), else ``linear``.
    """
    c = next((curves[n] for n in LR_SERIES if n in curves and len(curves[n]) >= 3), None)
    if c is None:
        return None
    ok = np.isfinite(c.value) & (c.value >= 0)
    step, value = c.step[ok], c.value[ok]
    if len(value) < 3 or value.max() <= 0:
        return None
    peak = float(value.max())
    i = int(np.flatnonzero(value >= 0.99 * peak)[0])
    after = value[i:]
    final = float(after[-1])
    finished = final < 0.5 * peak
    schedule: str | None = None
    if len(after) >= 3 and after.min() >= 0.99 * peak:
        schedule = "constant"
    elif finished and len(after) >= 8:
        span = step[i:]
        quarter = span[0] + (span[-1] - span[0]) / 4
        at = float(np.interp(quarter, span, after))
        schedule = "cosine" if (at - final) / (peak - final) > 0.8 else "linear"
    return _Shape(c.metric, peak, int(step[i]), int(step[0]), final, finished, schedule)
