"""A real run's forecast panel: where it will end, and how that forecast moved.

Refreshed at a slow pace, never per tick: the page holds ``{"run", "step", "at", "hist"}``
of the forecast it shows (``TR_REAL_FC_AT``, memory) and asks every ``POLL_MS``; the
forecast is recomputed only for another run, after ``EVERY_S`` seconds or when the run has
grown by ``GROWTH`` since, else nothing is sent (Dash's 204).

Cost: one forecast reads at most 4,000 points and fits on at most 200 bins (about 20 ms at
any run length, benchmarks/bench_real_tab.py). The history chart would cost one fit per
point if recomputed each time (600 ms for 30), so it is computed once when the run is
opened (``OPEN_HISTORY`` points of ``forecast_history``) and then each refresh appends its
own forecast to the history the page holds (``hist``: ``[step, final, low, high]``, at most
``HISTORY_POINTS``, thinned from the oldest): a forecast at a step uses only the points
up to it, so an earlier one never changes.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from simulator import fmt
from tracking.forecast import Forecast, forecast, forecast_history
from tracking.store import Store
from views.contract import KEEP

POLL_MS = 5_000
EVERY_S = 30.0
GROWTH = 0.05
HISTORY_POINTS = 30
OPEN_HISTORY = 12
FILL = "rgba(100, 116, 139, 0.22)"
LINE = "#64748b"


def due(held: Any, run_id: str, last_step: int | None, now: float) -> bool:
    """Whether the panel must be recomputed: another run, ``EVERY_S`` seconds since, or
    the run grown by ``GROWTH`` (or the held value unreadable)."""
    if not isinstance(held, dict) or held.get("run") != run_id:
        return True
    step, at = held.get("step"), held.get("at")
    if not isinstance(at, (int, float)) or not isinstance(step, (int, type(None))):
        return True
    if now - at >= EVERY_S:
        return True
    if last_step is None or step is None:
        return last_step != step
    return last_step >= step * (1 + GROWTH) and last_step > step


@dataclass(frozen=True)
class Panel:
    """The panel's text lines (label, value, tooltip), its chart, and what it was made from."""

    lines: list[tuple[str, str, str]]
    reason: str
    method: str
    figure: dict[str, Any] | None
    held: dict[str, Any]


def _loss(v: float | None) -> str:
    return "-" if v is None or not math.isfinite(v) else f"{v:.4g}"


def _interval(mid: float | None, lo: float | None, hi: float | None) -> str:
    if mid is None:
        return "-"
    return f"{_loss(mid)} ({_loss(lo)}\u2013{_loss(hi)})"


def _when(t: float | None, now: float) -> str:
    if t is None:
        return ""
    left = t - now
    if left < -60:  # the log's own clock is behind ours (an old log read now)
        rel = "already past at the logged pace"
    else:
        rel = "any moment" if left < 60 else f"in {fmt.duration(left)}"
    return f"{rel} \u00b7 {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(t))}"


def lines(fc: Forecast, now: float) -> list[tuple[str, str, str]]:
    """(label, value, tooltip) rows of what is known; nothing for what is not."""
    target = f"step {fc.target_step:,}" if fc.target_step else "the planned end"
    out = [
        (
            "Final train loss",
            _interval(fc.final_loss, fc.low, fc.high),
            f"Forecast mean of the last 2% of the run's steps at {target} "
            f"({fc.target_source}), from the points up to step {fc.step or 0:,}; "
            f"the range is the interval. Method: {fc.method}",
        )
    ]
    if fc.val_final_loss is not None:
        out.append(
            (
                "Final val loss",
                _interval(fc.val_final_loss, fc.val_low, fc.val_high),
                f"{fc.val_metric} at {target}; same method.",
            )
        )
    if fc.finish_time is not None:
        rate = f"{fc.steps_per_second:.3g} steps/s" if fc.steps_per_second else "its pace"
        out.append(("Finishes", _when(fc.finish_time, now), f"At the measured rate, {rate}."))
    if fc.cost is not None:
        hours = f"{fc.gpu_hours:,.0f} GPU-hours" if fc.gpu_hours else ""
        out.append(("Cost (whole run)", fmt.money(fc.cost), f"{hours} at the stated GPUs' price"))
    return out


Point = tuple[int, float, float, float]  # step, final loss, low, high


def _point(f: Forecast) -> Point | None:
    if f.step is None or f.final_loss is None or f.low is None or f.high is None:
        return None
    return (
        int(f.step),
        float(f"{f.final_loss:.5g}"),
        float(f"{f.low:.5g}"),
        float(f"{f.high:.5g}"),
    )


def held_history(raw: Any) -> list[Point]:
    """The ``hist`` the page sent back, checked (anything malformed is dropped)."""
    out: list[Point] = []
    if not isinstance(raw, list):
        return out
    for p in raw[:HISTORY_POINTS]:
        if (
            isinstance(p, list)
            and len(p) == 4
            and isinstance(p[0], int)
            and all(isinstance(v, (int, float)) and math.isfinite(v) for v in p[1:])
        ):
            out.append((p[0], float(p[1]), float(p[2]), float(p[3])))
    return sorted(out)


def appended(hist: list[Point], new: Point | None) -> list[Point]:
    """``hist`` with ``new`` (a later step) added; past ``HISTORY_POINTS``, every other of the
    oldest half is dropped, so the chart keeps its whole span."""
    out = [p for p in hist if new is None or p[0] < new[0]]
    if new is not None:
        out.append(new)
    while len(out) > HISTORY_POINTS:
        half = len(out) // 2
        out = out[:half:2] + out[half:]
    return out


def history_figure(hist: list[Point]) -> dict[str, Any] | None:
    """How the final-loss forecast moved: its value and interval against the step it was
    made at (at most ``HISTORY_POINTS``); None with fewer than two."""
    if len(hist) < 2:
        return None
    x = [p[0] for p in hist]
    mid, lo, hi = [p[1] for p in hist], [p[2] for p in hist], [p[3] for p in hist]
    edge = {"color": "rgba(0,0,0,0)", "width": 0}
    line = {"type": "scatter", "x": x, "mode": "lines", "line": edge, "hoverinfo": "skip"}
    return {
        "data": [
            {**line, "y": lo, "showlegend": False},
            {**line, "y": hi, "fill": "tonexty", "fillcolor": FILL, "showlegend": False},
            {
                "type": "scatter",
                "x": x,
                "y": mid,
                "mode": "lines+markers",
                "name": "forecast",
                "line": {"color": LINE, "width": 1.4},
                "marker": {"size": 4, "color": LINE},
                "hovertemplate": "made at step %{x:,}: %{y:.4g}<extra></extra>",
                "showlegend": False,
            },
        ],
        "layout": {
            "autosize": True,  # the card's width, on a phone too
            "height": 120,
            "margin": {"l": 40, "r": 6, "t": 4, "b": 26},
            "paper_bgcolor": "rgba(0,0,0,0)",
            "plot_bgcolor": "rgba(0,0,0,0)",
            "xaxis": {
                "title": {"text": "forecast made at step", "font": {"size": 10}},
                "tickfont": {"size": 9},
            },
            "yaxis": {
                "title": {"text": "final loss", "font": {"size": 10}},
                "tickfont": {"size": 9},
            },
            "showlegend": False,
        },
    }


def panel(store: Store, run_id: str, now: float | None = None, held: Any = None) -> Panel | None:
    """The panel for ``run_id`` (None for an unknown run). ``held``: what the page holds;
    its history is extended by this forecast, or computed (``OPEN_HISTORY`` points) when
    the page holds none for this run."""
    t = time.time() if now is None else now
    fc = forecast(store, run_id)
    if fc is None:
        return None
    mine = isinstance(held, dict) and held.get("run") == run_id
    hist = held_history(held.get("hist")) if mine else []
    if fc.final_loss is None:
        state = {"run": run_id, "step": fc.step, "at": t, "hist": [list(p) for p in hist]}
        return Panel([], fc.reason or "Nothing can be forecast yet.", "", None, state)
    if not hist:
        hist = [p for p in map(_point, forecast_history(store, run_id, points=OPEN_HISTORY)) if p]
    hist = appended(hist, _point(fc))
    state = {"run": run_id, "step": fc.step, "at": t, "hist": [list(p) for p in hist]}
    return Panel(lines(fc, t), "", fc.method, history_figure(hist), state)


def refresh(store: Store, run_id: Any, last_step: Any, held: Any, now: float | None = None) -> Any:
    """The panel when due (``due``), else ``KEEP``; ``KEEP`` when no real run is shown."""
    if not isinstance(run_id, str) or not run_id:
        return KEEP
    t = time.time() if now is None else now
    step = last_step if isinstance(last_step, int) else None
    if not due(held, run_id, step, t):
        return KEEP
    return panel(store, run_id, t, held)
