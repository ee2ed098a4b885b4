"""Axis helpers shared by the charts of every tab (pure: values in, Plotly axis keys out)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from simulator import fmt


def positive_span(columns: Sequence[Sequence[Any]]) -> tuple[float, float] | None:
    """The smallest and largest positive finite value in ``columns`` (a log axis' data)."""
    vals = np.array(
        [v for col in columns for v in col if isinstance(v, (int, float))], dtype=np.float64
    )
    vals = vals[np.isfinite(vals) & (vals > 0)]
    return (float(vals.min()), float(vals.max())) if vals.size else None


# Labelled values per decade on a log axis, by how many decades it spans: plotly.js labels
# every digit (2 3 4 5 6 7 8 9) of a short log axis, each without its decade, which cluttered
# the FLOPs axis ("2 3 4 5 6 7 8 9 10^23 2 3 ...") and told no value on its own.
_LOG_MANTISSAS = ((1.0, (1, 1.5, 2, 3, 5, 7)), (3.0, (1, 2, 5)), (math.inf, (1,)))


def log_ticks(span: tuple[float, float] | None, x_key: str) -> dict[str, Any]:
    """Tick values and labels for a log axis over ``span``: 1-2-5 per decade (every decade on
    a long axis, more on a short one), each label a whole value in the axis' units ("2e22",
    "500k", "$2M", "1.5"), with the unlabelled minor ticks between. Ticks reach a decade past
    each end, so a zoom out or an appended run still has labels."""
    if span is None:
        return {}
    lo, hi = span
    decades = math.log10(hi / lo) if hi > lo else 0.0
    mantissas = next(m for limit, m in _LOG_MANTISSAS if decades <= limit)
    vals = [
        m * 10.0**e
        for e in range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 2)
        for m in mantissas
    ]
    return {
        "tickmode": "array",
        "tickvals": [float(f"{v:.3g}") for v in vals],
        "ticktext": [_tick_label(v, x_key) for v in vals],
        "minor": {"ticks": "outside", "ticklen": 2, "showgrid": False},
    }


def _tick_label(v: float, x_key: str) -> str:
    if x_key == "flops":
        mant, exp = f"{v:.1e}".split("e")
        return f"{float(mant):g}e{int(exp)}"
    if x_key == "loss":
        return f"{v:g}"
    text = fmt.si(v, 2)
    return "$" + text if x_key == "cost" else text
