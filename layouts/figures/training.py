"""Training-tab charts as plain Plotly figure dicts, from already-bucketed series.

Pure builders (no Dash, no clock, no I/O): ``views.training_charts`` computes each trace's
points from the run (smoothing, spike-keeping downsampling, the EMA carry) and hands them
here as ``{trace name: (x, y)}``. Trace indices are fixed per chart (``TRACES``) whatever the
options, so a tick's ``Edit`` that extends trace 1 always extends the smoothed line
(docs/architecture.md, "The tick").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

import simulator as sim
from layouts.figures import theme
from layouts.figures.axes import log_ticks, positive_span
from simulator import series
from simulator.catalog import GPUS

XAXES = ("step", "tokens", "wall")
XAXIS_TITLES = {"step": "step", "tokens": "tokens", "wall": "wall time (h)"}
CHARTS = ("loss", "accuracy", "lr", "grad", "throughput", "memory")
# chart -> trace names in index order; "smooth" traces are EMA of the raw trace before them.
TRACES: dict[str, tuple[str, ...]] = {
    "loss": ("train_loss", "train_loss_smooth", "val_loss"),
    "accuracy": ("accuracy", "accuracy_smooth"),
    "lr": ("lr", "lr_planned"),
    "grad": ("grad_norm", "grad_norm_smooth", "grad_clip"),
    "throughput": ("tokens_per_sec", "tokens_per_sec_smooth", "mfu"),
    "memory": ("memory_gb",),
}
SMOOTHED = ("train_loss", "accuracy", "grad_norm", "tokens_per_sec", "mfu")  # get an EMA
SMOOTH_ONLY = ("mfu",)  # drawn smoothed only (a second jittery line would hide the first)

COLORS = {
    "train_loss": "#3b82f6",
    "val_loss": "#f59e0b",
    "accuracy": "#10b981",
    "lr": "#8b5cf6",
    "grad_norm": "#f97316",
    "grad_clip": "#ef4444",
    "tokens_per_sec": "#06b6d4",
    "mfu": "#a855f7",
    "memory_gb": "#64748b",
    "capacity": "#ef4444",
}
FAINT = 0.28  # opacity of the raw line behind a smoothed one


FloatArray = NDArray[np.float64]
Series = Mapping[str, tuple[NDArray[np.generic], FloatArray]]


@dataclass(frozen=True)
class ChartOptions:
    """What the user chose above the charts; validated, since it comes from the browser."""

    xaxis: str = "step"
    smoothing: float = 0.6
    log: bool = False

    @classmethod
    def parse(cls, xaxis: Any, smoothing: Any, log: Any) -> ChartOptions:
        """Clamp browser values to safe ones (an unknown axis falls back to steps)."""
        x = xaxis if xaxis in XAXES else "step"
        return cls(x, series.smoothing_weight(smoothing), bool(log))


def json_values(a: NDArray[np.generic]) -> list[Any]:
    """JSON-ready list; non-finite values become None (Plotly draws a gap, JSON stays valid)."""
    if a.dtype.kind == "f":
        out: list[Any] = a.tolist()
        bad = np.flatnonzero(~np.isfinite(a))
        for i in bad.tolist():
            out[i] = None
        return out
    return a.tolist()


LINEAR_ONLY = ("throughput", "memory")  # charts whose y axis the log toggle leaves linear


def y_uirevision(state: sim.RunState, opts: ChartOptions) -> str:
    """Keeps a y zoom across updates, but not across runs, x-axis or log-scale changes."""
    return f"{state.seed}|{opts.xaxis}|{opts.log}"


def chart_layout(y_title: str, x_title: str, log: bool, uirev: str, y_uirev: str) -> dict[str, Any]:
    """Dense, calm chart layout from the app template (CSS recolours it in dark mode)."""
    mono = {"family": theme.FONT_MONO, "size": 10}
    axis: dict[str, Any] = {"tickfont": mono, "title": {"font": {"size": 11}, "standoff": 4}}
    return theme.base_layout(
        uirevision=uirev,
        margin={"l": 8, "r": 8, "t": 6, "b": 6},
        autosize=True,
        hovermode="x unified",
        showlegend=True,
        legend={
            "orientation": "h",
            "x": 0,
            "y": 1.0,
            "yanchor": "bottom",
            "font": {"size": 10},
        },
        xaxis={**axis, "title": {**axis["title"], "text": x_title}},
        yaxis={
            **axis,
            "title": {**axis["title"], "text": y_title},
            "type": "log" if log else "linear",
            "uirevision": y_uirev,
            # "B": SI ticks with B for 10^9 (Plotly's SI writes G), as simulator.fmt.si and
            # the KPI cards write counts: "10B" tokens on the axis, "36.5B" on the card.
            "exponentformat": "power" if log else "B",
        },
    )


def _trace(
    name: str,
    data: Mapping[str, tuple[NDArray[np.generic], FloatArray]],
    label: str,
    color: str,
    **style: Any,
) -> dict[str, Any]:
    x, y = data.get(name, (np.empty(0), np.empty(0)))
    trace = {
        "type": "scatter",  # the page's plotly.js has scatter, bar and scatterpolar only
        "mode": "lines",
        "name": label,
        "x": json_values(np.asarray(x)),
        "y": json_values(np.asarray(y)),
        "line": {"color": color, "width": 1.4},
        "hovertemplate": "%{y:.4g}",
    }
    trace.update(style)
    return trace


def build_figure(
    chart: str,
    data: Mapping[str, tuple[NDArray[np.generic], FloatArray]],
    state: sim.RunState,
    opts: ChartOptions,
) -> dict[str, Any]:
    """One chart as a Plotly figure dict, traces in ``TRACES[chart]`` order."""
    smooth = opts.smoothing > 0.0
    uirev = f"{state.seed}|{opts.xaxis}"
    x_title = XAXIS_TITLES[opts.xaxis]
    log = opts.log and chart not in LINEAR_ONLY

    def base_layout(y_title: str) -> dict[str, Any]:
        return chart_layout(y_title, x_title, log, uirev, y_uirevision(state, opts))

    def raw_and_smooth(name: str, label: str) -> list[dict[str, Any]]:
        c = COLORS[name]
        raw = _trace(
            name,
            data,
            label if not smooth else f"{label} (raw)",
            c,
            opacity=FAINT if smooth else 1.0,
            showlegend=not smooth,
            hoverinfo="skip" if smooth else None,
        )
        if smooth:
            raw.pop("hovertemplate")
        else:
            raw.pop("hoverinfo")
        sm = _trace(name + "_smooth", data, label, c, line={"color": c, "width": 1.8})
        return [raw, sm]

    if chart == "loss":
        traces = [
            *raw_and_smooth("train_loss", "train"),
            _trace(
                "val_loss",
                data,
                "validation",
                COLORS["val_loss"],
                mode="markers+lines",
                marker={"size": 5, "color": COLORS["val_loss"]},
                line={"color": COLORS["val_loss"], "width": 1, "dash": "dot"},
                connectgaps=False,
            ),
        ]
        layout = base_layout("loss (nats/token)")
    elif chart == "accuracy":
        traces = raw_and_smooth("accuracy", "token accuracy")
        layout = base_layout("token accuracy (%)")
    elif chart == "lr":
        traces = [
            _trace("lr", data, "actual", COLORS["lr"]),
            _trace(
                "lr_planned",
                data,
                "planned",
                COLORS["lr"],
                opacity=0.55,
                line={"color": COLORS["lr"], "width": 1.2, "dash": "dash"},
            ),
        ]
        layout = base_layout("learning rate")
        layout["yaxis"]["exponentformat"] = "e"
    elif chart == "grad":
        traces = [
            *raw_and_smooth("grad_norm", "grad norm"),
            _trace(
                "grad_clip",
                data,
                "clip threshold",
                COLORS["grad_clip"],
                line={"color": COLORS["grad_clip"], "width": 1, "dash": "dash", "shape": "hv"},
                opacity=0.7,
            ),
        ]
        layout = base_layout("gradient norm")
    elif chart == "throughput":
        traces = [
            *raw_and_smooth("tokens_per_sec", "tokens/s"),
            _trace(
                "mfu",
                data,
                "MFU (right)",
                COLORS["mfu"],
                yaxis="y2",
                line={"color": COLORS["mfu"], "width": 1.2, "dash": "dot"},
                hovertemplate="%{y:.1f}%",
            ),
        ]
        layout = base_layout("tokens/s")
        # MFU on a fixed 0-100% scale: its level reads at a glance, and an empty chart still
        # has a finite axis (an autoranged empty overlay axis makes Plotly draw NaN paths).
        layout["yaxis2"] = {
            "tickfont": layout["yaxis"]["tickfont"],
            "overlaying": "y",
            "side": "right",
            "showgrid": False,
            "range": [0, 100],
            "tickmode": "linear",
            "tick0": 0,
            "dtick": 25,
            "ticksuffix": "%",
            "title": {"text": "MFU", "font": {"size": 11}, "standoff": 4},
        }
        layout["margin"] = {**layout["margin"], "r": 44}
    elif chart == "memory":
        cap = state.current_config
        capacity = float(state.timeline.segments[-1].memory_capacity) / 1e9
        traces = [_trace("memory_gb", data, "allocated", COLORS["memory_gb"], fill="tozeroy")]
        layout = base_layout("GPU memory (GB)")
        layout["shapes"] = [
            {
                "type": "line",
                "xref": "paper",
                "x0": 0,
                "x1": 1,
                "y0": capacity,
                "y1": capacity,
                "line": {"color": COLORS["capacity"], "width": 1, "dash": "dash"},
            }
        ]
        layout["annotations"] = [
            {
                "xref": "paper",
                "x": 0,
                "y": capacity,
                "xanchor": "left",
                "yanchor": "bottom",
                "text": f"{GPUS[cap.gpu].name} capacity {capacity:.0f} GB",
                "showarrow": False,
                "font": {"size": 10, "color": COLORS["capacity"]},
            }
        ]
        layout["yaxis"]["range"] = [0, capacity * 1.12]
    else:
        raise ValueError(f"unknown chart {chart!r}; one of {', '.join(CHARTS)}")
    if log:
        # Whole values at 1-2-5 a decade, not plotly's bare digit at every minor tick (a
        # loss from 1.7 to 10 read "2 3 4 5 6 7 8 9 10^1").
        on_y = [t["y"] for t in traces if t.get("yaxis", "y") == "y"]
        ticks = log_ticks(positive_span(on_y), "flops" if chart == "lr" else "loss")
        ticks.pop("minor", None)
        layout["yaxis"] |= ticks
    if opts.xaxis == "tokens":
        layout["xaxis"]["exponentformat"] = "B"
    if chart in EMPTY_HINT and not any(len(t["x"]) for t in traces):
        # Nothing measured yet: a quiet hint instead of a meaningless -1..3 grid. The first
        # tick after step 0 always rebases (``tick_appends``), which brings the axes back.
        layout["xaxis"]["visible"] = False
        layout["yaxis"]["visible"] = False
        layout.pop("yaxis2", None)
        layout["annotations"] = [
            {
                "text": "No steps yet · press Start",
                "xref": "paper",
                "yref": "paper",
                "x": 0.5,
                "y": 0.5,
                "showarrow": False,
                "font": {"size": 12},
            }
        ]
    return {"data": traces, "layout": layout}


EMPTY_HINT = ("loss", "accuracy", "grad", "throughput")
