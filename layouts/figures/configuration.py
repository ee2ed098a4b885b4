"""Configuration-tab charts: memory per GPU against capacity, and the LR schedule preview.

Pure functions of a config and its estimate, returning figure dicts (no Dash import), cheap
enough to rebuild on every keystroke:

- The memory bar is one horizontal stacked bar (weights, gradients, optimizer state,
  activations, other) with the GPU's capacity as a vertical line, so "does not fit" is seen
  as the bar running past the line, not only read in a warning.
- The LR preview evaluates ``simulator.schedules.lr_at`` on a few hundred token fractions,
  never ``sim.metrics`` over millions of steps. Points are spread so the warmup ramp and a
  WSD decay are drawn even when they are 0.4% of the run (2,000 warmup steps of 480k).
"""

from __future__ import annotations

from typing import Any

import numpy as np

import simulator as sim
from layouts.figures import theme
from simulator import schedules

MEMORY_PARTS = ("weights", "gradients", "optimizer", "activations", "other")
MEMORY_LABELS = {
    "weights": "Weights",
    "gradients": "Gradients",
    "optimizer": "Optimizer state",
    "activations": "Activations",
    "other": "Other (CUDA, NCCL)",
}
MEMORY_COLORS = {
    "weights": theme.COLORWAY[0],
    "gradients": theme.COLORWAY[5],
    "optimizer": theme.COLORWAY[4],
    "activations": theme.COLORWAY[1],
    "other": theme.COLORWAY[7],
}
OVER_COLOR = theme.COLORWAY[3]
LR_POINTS = 240  # after warmup; the warmup ramp gets its own points
WARMUP_POINTS = 24


def memory_figure(est: sim.Estimate) -> dict[str, Any]:
    """Memory per GPU (GB) stacked by part, with the capacity line."""
    gb = {k: est.memory.get(k, 0.0) / 1e9 for k in MEMORY_PARTS}
    cap = est.memory_capacity / 1e9
    total = est.memory_total / 1e9
    data = [
        {
            "type": "bar",
            "orientation": "h",
            "name": MEMORY_LABELS[k],
            "x": [round(gb[k], 3)],
            "y": ["per GPU"],
            "marker": {"color": MEMORY_COLORS[k]},
            "hovertemplate": f"{MEMORY_LABELS[k]}: %{{x:.1f}} GB<extra></extra>",
        }
        for k in MEMORY_PARTS
    ]
    line_color = OVER_COLOR if total > cap else theme.COLORWAY[2]
    layout = theme.base_layout(
        barmode="stack",
        height=150,
        margin={"l": 8, "r": 16, "t": 24, "b": 8},
        showlegend=True,
        legend={
            "orientation": "h",
            "y": -0.3,
            "yanchor": "top",
            "x": 0,
            "font": {"size": 11},
            "traceorder": "normal",
        },
        xaxis={
            "ticksuffix": " GB",
            "range": [0, max(cap, total) * 1.08],
            "fixedrange": True,
        },
        yaxis={"visible": False, "fixedrange": True},
        shapes=[
            {
                "type": "line",
                "x0": cap,
                "x1": cap,
                "yref": "paper",
                "y0": -0.05,
                "y1": 1.05,
                "line": {"color": line_color, "width": 2, "dash": "dash"},
            }
        ],
        annotations=[
            {
                "x": cap,
                "y": 1.0,
                "yref": "paper",
                "yanchor": "bottom",
                "xanchor": "right" if total <= cap else "left",
                "text": f"capacity {cap:g} GB",
                "showarrow": False,
                "font": {"size": 11},
            }
        ],
    )
    return {"data": data, "layout": layout}


def lr_points(cfg: sim.TrainingConfig) -> tuple[np.ndarray, np.ndarray]:
    """(steps, learning rates) of the planned schedule, a few hundred points."""
    steps = cfg.total_steps
    w = min(1.0, cfg.warmup_steps / steps)
    grids = [np.linspace(0.0, w, WARMUP_POINTS)] if w > 0 else []
    grids.append(np.linspace(w, 1.0, LR_POINTS))
    if cfg.schedule == "wsd":
        start = w + (1.0 - w) * (1.0 - cfg.decay_fraction)
        grids.append(np.linspace(start, 1.0, 40))
        grids.append(np.array([max(w, start - 1e-9)]))
    p = np.unique(np.concatenate(grids))
    lr = schedules.lr_at(cfg.schedule, p, w, cfg.lr_peak, cfg.lr_min, cfg.decay_fraction)
    return p * steps, lr


def lr_figure(cfg: sim.TrainingConfig) -> dict[str, Any]:
    """The learning rate over the whole run, x in optimizer steps."""
    x, y = lr_points(cfg)
    data = [
        {
            "type": "scatter",
            "mode": "lines",
            "x": [round(float(v), 1) for v in x],
            "y": [float(f"{v:.5g}") for v in y],
            "line": {"color": theme.COLORWAY[0], "width": 2},
            "fill": "tozeroy",
            "fillcolor": "rgba(59,130,246,0.12)",
            "hovertemplate": "step %{x:,.0f}<br>LR %{y:.3g}<extra></extra>",
            "name": "learning rate",
        }
    ]
    layout = theme.base_layout(
        height=190,
        margin={"l": 8, "r": 16, "t": 8, "b": 8},
        showlegend=False,
        xaxis={"title": {"text": "optimizer step"}, "rangemode": "tozero"},
        yaxis={"title": {"text": "learning rate"}, "exponentformat": "e", "rangemode": "tozero"},
    )
    return {"data": data, "layout": layout}


def empty_figure(message: str, height: int = 150) -> dict[str, Any]:
    """A blank chart carrying a short note (shown while the form is invalid)."""
    return {
        "data": [],
        "layout": theme.base_layout(
            height=height,
            margin={"l": 8, "r": 8, "t": 8, "b": 8},
            xaxis={"visible": False},
            yaxis={"visible": False},
            annotations=[
                {
                    "text": message,
                    "showarrow": False,
                    "xref": "paper",
                    "yref": "paper",
                    "x": 0.5,
                    "y": 0.5,
                    "font": {"size": 12},
                }
            ],
        ),
    }
