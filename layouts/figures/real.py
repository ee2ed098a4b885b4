"""A real run's Training charts as plain Plotly figure dicts (pure builders).

``views.real_charts`` reads and buckets the stored points and hands them here as
``{slot: (x, y)}`` (NaN markers as ``(x, y, text)``). Trace order per chart is fixed
(``TRACES``) after the hook traces drawn behind them (the prediction band), so a tick's
``Edit`` extends the same trace whatever the options.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from layouts.figures.training import COLORS, FAINT, XAXIS_TITLES, ChartOptions, chart_layout

CHARTS = ("loss", "lr", "grad", "throughput", "other")
# chart -> trace slots in index order: raw, smoothed ("_smooth"), NaN/inf markers ("_nan")
TRACES: dict[str, tuple[str, ...]] = {
    "loss": ("train_loss", "train_loss_smooth", "val_loss", "train_loss_nan", "val_loss_nan"),
    "lr": ("lr", "lr_nan"),
    "grad": ("grad_norm", "grad_norm_smooth", "grad_norm_nan"),
    "throughput": ("throughput", "throughput_smooth", "throughput_nan"),
    "other": ("other", "other_smooth", "other_nan"),
}
SLOTS = ("train_loss", "val_loss", "lr", "grad_norm", "throughput", "other")
SMOOTHED = ("train_loss", "grad_norm", "throughput", "other")
TITLES = {
    "loss": "Loss",
    "lr": "Learning rate",
    "grad": "Gradient norm",
    "throughput": "Throughput",
    "other": "Other metric",
}
_COLOR = {
    "train_loss": COLORS["train_loss"],
    "val_loss": COLORS["val_loss"],
    "lr": COLORS["lr"],
    "grad_norm": COLORS["grad_norm"],
    "throughput": COLORS["tokens_per_sec"],
    "other": "#64748b",
}
NAN_COLOR = "#dc2626"


class Named(Protocol):
    """What the builder needs of the metric mapping (``views.real_run.Mapped``)."""

    slots: Mapping[str, str]


def _line(name: str, data: Mapping[str, Sequence[Any]], label: str, **style: Any) -> dict:
    x, y = (list(data[name][0]), list(data[name][1])) if name in data else ([], [])
    trace: dict[str, Any] = {
        "type": "scatter",
        "mode": "lines",
        "name": label,
        "x": x,
        "y": y,
        "line": {"color": _COLOR[name.removesuffix("_smooth")], "width": 1.4},
        "hovertemplate": "%{y:.4g}",
    }
    trace.update(style)
    return trace


def _nan(slot: str, data: Mapping[str, Sequence[Any]], label: str) -> dict[str, Any]:
    x, y, text = data.get(slot + "_nan", ([], [], []))
    return {
        "type": "scatter",
        "mode": "markers",
        "name": f"{label}: NaN/inf",
        "x": list(x),
        "y": list(y),
        "text": list(text),
        "marker": {"symbol": "x", "size": 10, "color": NAN_COLOR, "line": {"width": 2}},
        "hovertemplate": "%{text} at step %{x}<extra></extra>",
        "showlegend": True,  # Plotly lists no trace without points; one appended shows
    }


def build(
    chart: str,
    data: Mapping[str, Sequence[Any]],
    mapped: Named,
    opts: ChartOptions,
    run_id: str,
    behind: list[dict[str, Any]],
) -> dict[str, Any]:
    """One chart: ``behind`` (hook traces, e.g. the prediction band) then ``TRACES[chart]``."""
    smooth = opts.smoothing > 0.0
    x_title = XAXIS_TITLES[opts.xaxis]
    uirev = f"{run_id}|{opts.xaxis}"
    log = opts.log and chart in ("loss", "grad", "other")
    slots = mapped.slots

    def raw_and_smooth(slot: str) -> list[dict[str, Any]]:
        label = slots.get(slot, slot)
        raw = _line(slot, data, f"{label} (raw)" if smooth else label, connectgaps=False)
        if smooth:
            raw.update(opacity=FAINT, showlegend=False, hoverinfo="skip")
            raw.pop("hovertemplate")
        sm = _line(slot + "_smooth", data, label, line={"color": _COLOR[slot], "width": 1.8})
        return [raw, sm]

    if chart == "loss":
        traces = [
            *raw_and_smooth("train_loss"),
            _line(
                "val_loss",
                data,
                slots.get("val_loss", "validation"),
                mode="markers+lines",
                marker={"size": 5, "color": _COLOR["val_loss"]},
                line={"color": _COLOR["val_loss"], "width": 1, "dash": "dot"},
                connectgaps=False,
            ),
            _nan("train_loss", data, slots.get("train_loss", "train")),
            _nan("val_loss", data, slots.get("val_loss", "validation")),
        ]
        y_title = "loss"
    elif chart == "lr":
        traces = [_line("lr", data, slots.get("lr", "lr")), _nan("lr", data, "lr")]
        y_title = "learning rate"
    else:
        slot = {"grad": "grad_norm", "throughput": "throughput", "other": "other"}[chart]
        traces = [*raw_and_smooth(slot), _nan(slot, data, slots.get(slot, slot))]
        y_title = slots.get(slot, "") if chart != "grad" else "gradient norm"
    layout = chart_layout(y_title, x_title, log, uirev, f"{uirev}|{opts.log}")
    if chart == "lr":
        layout["yaxis"]["exponentformat"] = "e"
    if not any(len(t["x"]) for t in traces):
        layout["xaxis"]["visible"] = False
        layout["yaxis"]["visible"] = False
        layout["annotations"] = [
            {
                "text": "No points for this chart in the run",
                "xref": "paper",
                "yref": "paper",
                "x": 0.5,
                "y": 0.5,
                "showarrow": False,
                "font": {"size": 12},
            }
        ]
    return {"data": [*behind, *traces], "layout": layout}
