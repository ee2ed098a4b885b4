"""Pure figure builders for the Model Comparison tab: analyses or published scores -> dict.

No Dash import, no clock, no I/O: each function takes plain data (``simulator.compare``
analyses, ``simulator.benchmarks_data`` scores) and returns a Plotly figure as a dict (or, for
the config diff, a DataTable style list), so the tests call them directly. Which runs are
drawn, and when a run is appended to a drawn chart instead, is ``views.comparison``'s.

Presentation choices, made for a chart an ML lead can put on a slide:

- A run keeps its colour in every chart, and from one view to the next: the colour comes from
  the run's identity (``palette_slots``: a hash of its key picks one of eight colour-blind-safe
  colours; an item whose colour is taken takes the next free one), not from its position, so
  adding or removing another run leaves it alone (unless it had yielded its colour to the one
  removed). What-if recipes are dashed (predictions); saved runs are solid (what happened).
- Smoothed lines over the raw loss drawn faint, as W&B and TensorBoard draw them
  (``DEFAULT_SMOOTHING``). The y-range covers the healthy part of every curve (before a
  divergence, after the first 5% of steps), so one diverged run cannot flatten the others;
  its tail is drawn dotted and faint past a marker at the divergence step.
- Published scores: one source per chart, named in the title, with the protocol and the
  citation in a note under the plot, because the same model scores differently under two
  protocols (Llama 2 7B MMLU: 44.4 in the Mistral paper, 45.3 in the Llama 2 paper); the
  sources are listed in docs/sources.md.
- The compute-efficiency chart draws, for each family with a from-scratch run on it, the
  compute-optimal frontier of the simulator's own loss law (``simulator.frontier``): the lowest
  final loss any split of that compute gives, with the family's calibration and the longest
  context among its runs, so every run sits on or above its line, as a real run would. The
  note names the fit and the calibration. Fine-tunes get no line: their base model's compute
  is not in their FLOPs.
"""

from __future__ import annotations

import hashlib
import math
import textwrap
from collections.abc import Sequence
from typing import Any

import numpy as np

from layouts.figures.axes import log_ticks, positive_span
from layouts.figures.text import hover_text, plain_text
from layouts.figures.theme import COLORWAY, base_layout
from simulator import benchmarks_data as bd
from simulator.catalog import FAMILY_LOSS
from simulator.compare import X_AXES, Analysis, frontier_line
from simulator.frontier import frontier

Figure = dict[str, Any]

# Okabe & Ito's eight colour-blind-safe hues ("Color Universal Design", 2008, docs/sources.md),
# each set to a lightness with >= 3:1 contrast on the light and the dark card (theme.py).
# Equal lightness would merge orange and yellow for a deuteranope, so lightness differs where
# hue alone does not carry: every pair stays >= 0.06 apart in OKLab under normal, protan and
# deutan vision (Machado et al. 2009 simulation; tests/test_comparison_colours.py), where the
# old saved-run teal and Llama 2 13B green were 0.063 apart to everyone.
SAFE_PALETTE = (
    "#0081ca",  # blue
    "#a57200",  # orange (dark)
    "#007656",  # bluish green
    "#cb78a6",  # reddish purple
    "#a94b00",  # vermillion (dark)
    "#156c9e",  # sky blue (dark)
    "#a0950d",  # yellow (olive at this lightness)
    "#7b7b7b",  # grey (Okabe-Ito's black, which the dark theme cannot show)
)
# A comparison holds up to 12 runs: four more from the app's colourway, used only past eight.
PALETTE = (*SAFE_PALETTE, *(COLORWAY[j] for j in (4, 3, 5, 6)))  # violet, red, teal, pink
DEFAULT_SMOOTHING = 0.9  # TensorBoard's slider defaults to 0.6; overlays of many runs need more
RAW_OPACITY = 0.22  # the raw loss behind a smoothed line
NOTE_FONT = {"size": 11}
HOVER_XY = "x %{x:.4s}<br>loss %{y:.4f}<extra></extra>"
HOVER_RAW = "x %{x:.4s}<br>loss %{customdata:.4f} raw, %{y:.4f} smoothed<extra></extra>"
_X_IN_TITLE = {
    "step": "step",
    "tokens": "tokens",
    "flops": "training compute (FLOPs)",
    "gpu_hours": "GPU-hours",
    "cost": "cost (USD)",
    "wall_time": "wall-clock time",
}
# Tick labels as ML papers write them: tokens 2T, FLOPs 1e+23, dollars $400k. "B" is SI with
# B for 10^9 (Plotly's SI writes G), as simulator.fmt.si writes counts everywhere else.
_X_FORMAT: dict[str, dict[str, Any]] = {
    "tokens": {"exponentformat": "B"},
    "flops": {"exponentformat": "e"},
    "gpu_hours": {"exponentformat": "B"},
    "cost": {"exponentformat": "B", "tickprefix": "$"},
}


PREDICTED = ("recipe", "prediction")
"""Kinds drawn dashed (lines) and as diamonds (efficiency): what the simulator predicts."""


def color(i: int) -> str:
    """The colour of palette slot ``i`` (``palette_slots``; also the i-th published model)."""
    return PALETTE[i % len(PALETTE)]


def palette_slots(keys: Sequence[str]) -> list[int]:
    """A palette slot per compared item, from its identity; two items never share one.

    The preferred slot is a hash of the item's key (``kind:ref``) into ``SAFE_PALETTE``; in
    comparison order, an item whose slot is taken takes the next free safe one, then one of
    the four extra colours. An item's colour therefore depends only on the items before it
    in the list, so adding a run never recolours another.
    """
    taken: set[int] = set()
    out = []
    safe = len(SAFE_PALETTE)
    for key in keys:
        first = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=4).digest()) % safe
        order = [(first + k) % safe for k in range(safe)] + list(range(safe, len(PALETTE)))
        slot = next((j for j in order if j not in taken), len(out) % len(PALETTE))
        taken.add(slot)
        out.append(slot)
    return out


def wrap(text: str, width: int = 110) -> str:
    """Break a note into lines of at most ``width`` characters (Plotly never wraps text)."""
    lines = []
    for para in text.split("\n"):
        lines += textwrap.wrap(para, width) or [""]
    return "<br>".join(lines)


def _rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    r, g, b = (int(h[k : k + 2], 16) for k in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def _note(text: str, y: float = -0.22, width: int = 110) -> dict[str, Any]:
    """A source/caveat note under the plot area (paper coordinates), wrapped to ``width``."""
    return {
        "text": wrap(text, width),
        "xref": "paper",
        "yref": "paper",
        "x": 0,
        "y": y,
        "xanchor": "left",
        "yanchor": "top",
        "showarrow": False,
        "align": "left",
        "font": NOTE_FONT,
        "opacity": 0.8,
    }


def _empty(title: str, message: str) -> Figure:
    layout = base_layout(
        title={"text": title},
        xaxis={"visible": False},
        yaxis={"visible": False},
        annotations=[
            {
                "text": message,
                "xref": "paper",
                "yref": "paper",
                "x": 0.5,
                "y": 0.5,
                "showarrow": False,
                "font": {"size": 14},
                "opacity": 0.7,
            }
        ],
    )
    return {"data": [], "layout": layout}


# ------------------------------------------------------------------------------ curves
def run_traces(a: Analysis, x_key: str, show: str) -> list[dict[str, Any]]:
    """The traces of one run in the loss-curve chart (also appended alone when a run is added).

    Empty if the run has no curve. A smoothed run draws its raw loss faint behind the
    smoothed line; a diverged run's line stops at the divergence step (marked) and its tail
    continues dotted and faint, mostly above the chart's range.
    """
    c = a.curve
    if c is None or x_key not in c.x:
        return []  # a real run not drawable on this axis: the chart's note says why
    i = a.slot
    dash = "dash" if a.kind in PREDICTED else "solid"
    group = f"run{i}"
    cut = a.final.diverged_at
    data: list[dict[str, Any]] = []
    if show in ("train", "both") and c.band is not None:
        data += _band(a, c.x[x_key], x_key, c.band, group)
    if show in ("train", "both"):
        if c.raw is not None and c.raw_x is not None:
            data.append(
                {
                    "type": "scatter",
                    "mode": "lines",
                    "name": plain_text(f"{a.label} (raw)"),
                    "legendgroup": group,
                    "showlegend": False,
                    "x": _xs(c.raw_x[x_key], x_key),
                    "y": _finite_or_none(c.raw),
                    "line": {"color": color(i), "width": 1},
                    "opacity": RAW_OPACITY,
                    "hoverinfo": "skip",
                }
            )
        steps = c.x["step"]
        head = steps <= cut if cut is not None else np.ones(steps.size, dtype=bool)
        line: dict[str, Any] = {
            "type": "scatter",
            "mode": "lines",
            "name": plain_text(a.label),
            "legendgroup": group,
            "x": _xs(c.x[x_key][head], x_key),
            "y": _finite_or_none(c.train[head]),
            "line": {"color": color(i), "width": 2, "dash": dash},
            "hovertemplate": f"{hover_text(a.label)}<br>{HOVER_XY}",
        }
        if c.raw is not None and c.raw_x is not None:
            # One label per curve with both values, as W&B shows them: the smoothed line's
            # and the raw loss at the nearest drawn step (the faint curve takes no hover).
            line["customdata"] = _finite_or_none(_raw_at(c.raw_x["step"], c.raw, steps[head]))
            line["hovertemplate"] = f"{hover_text(a.label)}<br>{HOVER_RAW}"
        data.append(line)
        if cut is not None:
            data += _divergence(a, x_key, head, group)
    if show in ("val", "both") and c.val.size:
        data.append(
            {
                "type": "scatter",
                "mode": "lines+markers" if show == "val" else "markers",
                "name": plain_text(a.label if show == "val" else f"{a.label} (val)"),
                "legendgroup": group,
                "showlegend": show == "val",
                "x": _xs(c.val_x[x_key], x_key),
                "y": _finite_or_none(c.val),
                "marker": {"color": color(i), "size": 5, "symbol": "circle-open"},
                "line": {"color": color(i), "width": 1.5, "dash": dash},
                "hovertemplate": f"{hover_text(a.label)} (val)<br>{HOVER_XY}",
            }
        )
    return data


def _band(
    a: Analysis, x: np.ndarray, x_key: str, band: tuple[np.ndarray, np.ndarray], group: str
) -> list[dict[str, Any]]:
    """A prediction's band (+-2 sigma of the averaged noise, ``tracking.prediction``): its
    lower edge, then the upper one filled down to it, faint in the run's colour."""
    xs = _xs(x, x_key)
    edge = {"color": color(a.slot), "width": 0}
    common = {"type": "scatter", "mode": "lines", "legendgroup": group, "showlegend": False}
    return [
        {
            **common,
            "name": plain_text(f"{a.label} (band low)"),
            "x": xs,
            "y": _finite_or_none(band[0]),
            "line": edge,
            "hoverinfo": "skip",
        },
        {
            **common,
            "name": plain_text(f"{a.label} (band)"),
            "x": xs,
            "y": _finite_or_none(band[1]),
            "line": edge,
            "fill": "tonexty",
            "fillcolor": _rgba(color(a.slot), 0.15),
            "hoverinfo": "skip",
        },
    ]


def _divergence(a: Analysis, x_key: str, head: np.ndarray, group: str) -> list[dict[str, Any]]:
    """A diverged run's tail (dotted, faint) and a marker at its last healthy point."""
    c = a.curve
    assert c is not None and a.final.diverged_at is not None
    out: list[dict[str, Any]] = []
    after = np.flatnonzero(~head)
    if after.size:
        tail = np.append(max(0, int(after[0]) - 1), after)  # from the last healthy point on
        out.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": plain_text(f"{a.label} (after divergence)"),
                "legendgroup": group,
                "showlegend": False,
                "x": _xs(c.x[x_key][tail], x_key),
                "y": _finite_or_none(c.train[tail]),
                "line": {"color": color(a.slot), "width": 1.5, "dash": "dot"},
                "opacity": 0.5,
                "hovertemplate": f"{hover_text(a.label)} (diverged)<br>{HOVER_XY}",
            }
        )
    ok = np.flatnonzero(head & np.isfinite(c.train))
    if ok.size:
        k = int(ok[-1])
        out.append(
            {
                "type": "scatter",
                "mode": "markers+text",
                "name": plain_text(f"{a.label} diverged"),
                "x": _xs(c.x[x_key][k : k + 1], x_key),
                "y": [round(float(c.train[k]), 5)],
                "text": [f"diverged at step {a.final.diverged_at:,}"],
                "textposition": "top right",  # "top center" is cut off at a chart's left edge
                "marker": {"color": color(a.slot), "symbol": "x", "size": 11},
                "showlegend": False,
                "legendgroup": group,
                "hoverinfo": "skip",
            }
        )
    return out


def loss_range(analyses: Sequence[Analysis], show: str) -> list[float] | None:
    """The default y-range of the loss chart for these runs (see ``_loss_range``)."""
    return _loss_range([a for a in analyses if a.curve is not None], show)


def curves_figure(
    analyses: Sequence[Analysis],
    x_key: str = "step",
    *,
    log_x: bool = False,
    log_y: bool = False,
    show: str = "train",
    smoothing: float = 0.0,
) -> Figure:
    """Loss curves of every compared run against one x-axis.

    Args:
        analyses: runs in comparison order (``slot`` sets the colour).
        x_key: one of ``simulator.compare.X_AXES``.
        log_x, log_y: logarithmic axes.
        show: "train", "val" or "both".
        smoothing: the EMA weight used (named in the note).
    """
    title = f"Loss vs {_X_IN_TITLE.get(x_key, 'step')}"
    drawn = [(a.slot, a) for a in analyses if a.curve is not None and x_key in a.curve.x]
    if not drawn and any(x_key in a.missing for a in analyses):
        return _empty(title, wrap(_missing_text(analyses, x_key), 90))
    if not drawn:
        msg = (
            "Add a saved run or a recipe above to compare loss curves"
            if not analyses
            else "No curve to draw: the selected runs have no steps yet"
        )
        return _empty(title, msg)
    data: list[dict[str, Any]] = []
    for _, a in drawn:
        data += run_traces(a, x_key, show)
    what = {
        "train": "training loss",
        "val": "validation loss",
        "both": "training loss (lines), validation loss (markers)",
    }[show]
    kinds = {a.kind for a in analyses}
    solid = "saved or real run" if "real" in kinds else "saved run"
    note = (
        f"{what.capitalize()}; solid = {solid}, dashed = what-if recipe (predicted)"
        + ("; shaded = a prediction's band (±2σ)" if "prediction" in kinds else "")
        + ". "
        + (f"EMA smoothing {smoothing:g}. " if smoothing > 0 and show != "val" else "")
        + "At most 4,000 points per trace; spikes and non-finite values are kept."
        + "".join(
            f"\nNot drawn against {_X_IN_TITLE.get(x_key, x_key)}: {a.label}: {a.missing[x_key]}."
            for a in analyses
            if x_key in a.missing
        )
        + "".join(
            f"\nEstimated: {a.label}: {a.estimated[x_key]}."
            for _, a in drawn
            if x_key in a.estimated
        )
    )
    yaxis: dict[str, Any] = {
        "title": {"text": "Loss (nats/token)"},
        "type": "log" if log_y else "linear",
    }
    y_range = _loss_range([a for _, a in drawn], show)
    if y_range is not None and not log_y:
        yaxis["range"] = y_range  # double-click still autoscales to the whole curve
    if log_y:
        ys = [t["y"] for t in data if t.get("mode") != "markers+text"]
        yaxis |= log_ticks(positive_span(ys), "loss")
    xaxis: dict[str, Any] = {
        "title": {"text": X_AXES.get(x_key, "Step")},
        "type": "log" if log_x else "linear",
        **_X_FORMAT.get(x_key, {}),
    }
    if log_x:
        xaxis |= log_ticks(positive_span([t["x"] for t in data]), x_key)
    layout = base_layout(
        title={"text": title},
        xaxis=xaxis,
        yaxis=yaxis,
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0, "xanchor": "left"},
        hovermode="closest",
        margin={"t": 80, "b": 100},
        annotations=[_note(note, -0.16, 160)],
    )
    return {"data": data, "layout": layout}


def _missing_text(analyses: Sequence[Analysis], x_key: str) -> str:
    """Why runs are not drawn against ``x_key`` (real runs whose recipe lacks what it needs)."""
    return "\n".join(
        f"{a.label} cannot be drawn against {_X_IN_TITLE.get(x_key, x_key)}: {a.missing[x_key]}"
        for a in analyses
        if x_key in a.missing
    )


def _loss_range(analyses: Sequence[Analysis], show: str) -> list[float] | None:
    """A y-range for the healthy part of every curve: from its lowest to its highest loss
    after the first 5% of its steps and before its divergence step, padded. The first steps
    start near ln(vocab) (~10 nats) and a diverged tail climbs to tens of nats; either would
    squash every difference that matters into a few pixels."""
    lo, hi = math.inf, -math.inf
    for a in analyses:
        c = a.curve
        assert c is not None
        cut = a.final.diverged_at
        lines = ([(c.x["step"], c.train)] if show != "val" else []) + (
            [(c.val_x["step"], c.val)] if show != "train" else []
        )
        for steps, y in lines:
            ok = np.isfinite(y) & (np.arange(y.size) >= int(y.size * 0.05))
            if cut is not None:
                ok &= steps < cut
            if ok.any():
                lo, hi = min(lo, float(y[ok].min())), max(hi, float(y[ok].max()))
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return None
    pad = max(0.05 * (hi - lo), 0.02)
    return [lo - pad, hi + pad]


def _raw_at(raw_steps: np.ndarray, raw: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """The raw loss at the drawn raw point nearest each of ``steps`` (both sorted by step)."""
    if raw.size == 0:
        return np.full(steps.size, np.nan)
    j = np.clip(np.searchsorted(raw_steps, steps), 1, max(raw.size - 1, 1))
    left = np.maximum(j - 1, 0)
    right = np.minimum(j, raw.size - 1)
    pick = np.where(
        np.abs(raw_steps[left] - steps) <= np.abs(raw_steps[right] - steps), left, right
    )
    return raw[pick]


def _finite_or_none(y: np.ndarray) -> list[float | None]:
    """Losses for JSON: non-finite values become null (a gap in the line), and values are
    rounded to 1e-5 nats, far below the per-step noise, which halves the figure's size."""
    return [v if math.isfinite(v) else None for v in np.round(y, 5).tolist()]


def _xs(x: np.ndarray, x_key: str) -> list[Any]:
    """x values for JSON: steps as integers, the rest to 6 significant digits (each value on
    its own scale, so a log axis keeps its first points), which shortens every number."""
    if x_key == "step":
        return x.astype(np.int64).tolist()
    out = x.astype(np.float64).copy()
    ok = np.isfinite(out) & (out != 0)
    v = out[ok]
    k = 5 - np.floor(np.log10(np.abs(v)))  # decimals that keep 6 significant digits
    up = k >= 0
    # Multiply/divide by an exact power of ten (|k| <= 22 here), so each result is the double
    # nearest the rounded decimal and prints short.
    p_up = np.power(10.0, np.where(up, k, 0.0))
    p_dn = np.power(10.0, np.where(up, 0.0, -k))
    out[ok] = np.where(up, np.round(v * p_up) / p_up, np.round(v / p_dn) * p_dn)
    return out.tolist()


# ---------------------------------------------------------------------- compute efficiency
_FRONTIER_DASH = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")


def frontier_lines(analyses: Sequence[Analysis]) -> dict[str, int]:
    """The frontiers the efficiency chart draws: family -> context length, the longest among
    that family's from-scratch runs on the chart (a longer context lowers the law's loss, so
    every run of the family sits on or above the line). Fine-tunes get none."""
    out: dict[str, int] = {}
    for a in analyses:
        line = frontier_line(a.state) if on_efficiency_chart(a) else None
        if line is not None:
            out[line[0]] = max(out.get(line[0], 0), line[1])
    return out


def efficiency_figure(analyses: Sequence[Analysis]) -> Figure:
    """Final validation loss against training FLOPs, with each family's compute-optimal
    frontier under the simulator's own law (``simulator.frontier``)."""
    title = "Compute efficiency: final loss vs training compute"
    pts = [(a.slot, a) for a in analyses if on_efficiency_chart(a)]
    if not pts and any("flops" in a.missing for a in analyses):
        why = "\n".join(
            f"Not shown: {a.label}: {a.missing['flops']}." for a in analyses if "flops" in a.missing
        )
        return _empty(title, wrap(why, 90))
    if not pts:
        return _empty(
            title, "Add runs or recipes to place them against the compute-optimal frontier"
        )
    span = efficiency_span(analyses)
    assert span is not None
    data: list[dict[str, Any]] = []
    lines = frontier_lines(analyses)
    # Families with one calibration and context share one line (Llama 2 and Qwen2.5 at 4,096).
    same: dict[tuple[float, float, int], list[str]] = {}
    for family, seq in sorted(lines.items()):
        loss = FAMILY_LOSS[family]
        same.setdefault((loss.offset, loss.size_scale, seq), []).append(family)
    for i, ((_, _, seq), families) in enumerate(same.items()):
        fr = frontier(span[0], span[1], families[0], seq)
        names = ", ".join(FAMILY_LOSS[f].name for f in families)
        name = f"frontier: {names} law, {seq:,}-token context"
        label = [""] * (len(fr.compute) - 1) + [names]
        data.append(
            {
                "type": "scatter",
                "mode": "lines+text",
                "name": name,
                "x": fr.compute.tolist(),
                "y": fr.loss.tolist(),
                "text": label,  # the family's name at the line's right end
                "textposition": "top left" if i % 2 == 0 else "bottom left",
                "textfont": {"size": 11, "color": "#888888"},
                "line": {
                    "color": "#888888",
                    "width": 2,
                    "dash": _FRONTIER_DASH[i % len(_FRONTIER_DASH)],
                },
                "hovertemplate": "C %{x:.3s} FLOPs<br>lowest final loss %{y:.3f}"
                f"<extra>{hover_text(name)}</extra>",
            }
        )
    # Labels alternate above and below the points in compute order, so neighbours' labels
    # (up to 12, each ~20 characters) do not print over each other.
    order = sorted(range(len(pts)), key=lambda k: pts[k][1].final.flops)
    below = {k for n, k in enumerate(order) if n % 2}
    data += [
        point_trace(a, "bottom center" if k in below else "top center")
        for k, (_, a) in enumerate(pts)
    ]
    skipped = len(analyses) - len(pts) - sum("flops" in a.missing for a in analyses)
    calib = "; ".join(
        f"{FAMILY_LOSS[f].name} ×{FAMILY_LOSS[f].size_scale:g}, {FAMILY_LOSS[f].offset:+.3g}"
        for f in sorted(lines)
    )
    note = (
        "Frontier: the lowest final loss the simulator's law gives at each compute, over every "
        "split into model size and tokens, for a from-scratch run of the reference recipe "
        "(LLaMA's: cosine to 10% at the reference LR, 4M-token batches) at the family's "
        "context. The law: Hoffmann et al. 2022's fit as printed (E 1.69, A 406.4, B 410.7, "
        "α 0.34, β 0.28) with the family's size term ×k and offset in nats"
        + (f" ({calib})" if calib else "")
        + "; LLaMA's and Llama 2's are fitted to their papers' training-loss figures, the "
        "others assumed. A run sits on or above its family's frontier: the higher, the less "
        "compute-efficient its split.\n"
        "FLOPs = tokens × (6N + 12·layers·seq·d_model) of this run only: a fine-tune or "
        "continued pretraining (Code Llama, Vicuna) has no frontier, its base model's compute "
        "is not counted."
        + (f"\n{skipped} run(s) not shown: diverged or no steps." if skipped else "")
        + "".join(
            f"\nNot shown: {a.label}: {a.missing['flops']}."
            for a in analyses
            if "flops" in a.missing
        )
    )
    layout = base_layout(
        title={"text": title},
        xaxis={
            "title": {"text": "Training compute (FLOPs)"},
            "type": "log",
            **log_ticks(_span_pair(efficiency_span([a for _, a in pts])), "flops"),
        },
        yaxis={"title": {"text": "Final validation loss (nats/token)"}},
        legend={"x": 1, "xanchor": "right", "y": 1, "yanchor": "top", "font": {"size": 11}},
        margin={"t": 50, "b": 165},  # room for the note's five or six lines
        annotations=[_note(note, -0.16, 150)],
    )
    return {"data": data, "layout": layout}


def _span_pair(span: list[float] | None) -> tuple[float, float] | None:
    return (span[0], span[1]) if span else None


def point_trace(a: Analysis, position: str = "top center") -> dict[str, Any]:
    """One run's marker on the compute-efficiency chart, labelled at ``position``."""
    f = a.final
    return {
        "type": "scatter",
        "mode": "markers+text",
        "name": plain_text(a.label),
        "x": [f.flops],
        "y": [_final_loss(a)],
        "text": [plain_text(a.label)],
        "textposition": position,
        "textfont": {"size": 11},
        "showlegend": False,
        "marker": {
            "color": color(a.slot),
            "size": 12,
            "symbol": "diamond" if a.kind in PREDICTED else "circle",
            "line": {"width": 1, "color": "rgba(0,0,0,0.4)"},
        },
        "hovertemplate": f"{hover_text(a.label)}<br>%{{x:.3s}} FLOPs<br>loss %{{y:.4f}}"
        f"<br>{f.tokens_per_param:.0f} tokens/param<extra></extra>",
    }


def on_efficiency_chart(a: Analysis) -> bool:
    """Whether a run has a point on the compute-efficiency chart (it ran and did not diverge)."""
    return a.final.flops > 0 and math.isfinite(_final_loss(a))


def efficiency_span(analyses: Sequence[Analysis]) -> list[float] | None:
    """The compute range the frontier is drawn over: the runs' FLOPs, a factor 4 either side."""
    c = [a.final.flops for a in analyses if on_efficiency_chart(a)]
    return [min(c) / 4.0, max(c) * 4.0] if c else None


def _final_loss(a: Analysis) -> float:
    """Validation loss if the run evaluated, else the (tail-averaged) training loss."""
    f = a.final
    return f.val_loss if math.isfinite(f.val_loss) else f.train_loss


# ------------------------------------------------------------------ published benchmarks
def _source_note(source: str) -> str:
    s = bd.SOURCES[source]
    return f"Source: {s.citation}.\nProtocol: {s.protocol}."


def benchmark_bars(
    source: str, model_names: Sequence[str] | None = None, bench_names: Sequence[str] | None = None
) -> Figure:
    """Grouped bars: benchmarks on x, one bar per model, all from one source.

    A source whose benchmarks use different units (the LMSYS chat table: MT-Bench, MMLU %,
    Elo) gets one panel per benchmark, each with its own axis, instead of one shared scale.
    """
    src = bd.SOURCES[source]
    sel = bd.select(source, model_names, bench_names)
    title = f"Published scores — {src.title}"
    if not sel:
        return _empty(title, "Choose at least one model and one benchmark")
    models = [m for m in bd.models(source) if any(s.model == m for s in sel)]
    benches = [b for b in bd.benchmarks(source) if any(s.benchmark == b for s in sel)]
    units = bd.units(source)
    mixed = len({units[b] for b in benches}) > 1
    value = {(s.model, s.benchmark): s.value for s in sel}
    data: list[dict[str, Any]] = []
    layout_axes: dict[str, Any] = {}
    if not mixed:
        for j, m in enumerate(models):
            data.append(
                {
                    "type": "bar",
                    "name": plain_text(m),
                    "x": benches,
                    "y": [value.get((m, b)) for b in benches],
                    "marker": {"color": color(j)},
                    "hovertemplate": f"{hover_text(m)}<br>%{{x}}: %{{y}}<extra></extra>",
                }
            )
        unit = units[benches[0]]
        layout_axes = {
            "xaxis": {"tickangle": -30},
            "yaxis": {"title": {"text": f"Score ({unit})" if unit != "%" else "Score (%)"}},
        }
    else:
        n = len(benches)
        gap = 0.08
        width = (1.0 - gap * (n - 1)) / n
        for k, b in enumerate(benches):
            ax = "" if k == 0 else str(k + 1)
            for j, m in enumerate(models):
                data.append(
                    {
                        "type": "bar",
                        "name": plain_text(m),
                        "legendgroup": m,
                        "showlegend": k == 0,
                        "x": [b],
                        "y": [value.get((m, b))],
                        "xaxis": f"x{ax}",
                        "yaxis": f"y{ax}",
                        "marker": {"color": color(j)},
                        "hovertemplate": f"{hover_text(m)}<br>{hover_text(b)}: %{{y}}"
                        "<extra></extra>",
                    }
                )
            lo = k * (width + gap)
            layout_axes[f"xaxis{ax}"] = {"domain": [lo, lo + width], "anchor": f"y{ax}"}
            vals = [value[(m, b)] for m in models if (m, b) in value]
            yr = None
            if units[b] == "Elo" and vals:  # Elo has no zero: show the spread, not the offset
                yr = [min(vals) - 30, max(vals) + 20]
            layout_axes[f"yaxis{ax}"] = {
                "anchor": f"x{ax}",
                "title": {"text": f"{b} ({units[b]})"},
                **({"range": yr} if yr else {}),
            }
        title += " — separate scales per benchmark"
    layout = base_layout(
        title={"text": title},
        barmode="group",
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0, "xanchor": "left"},
        margin={"t": 80, "b": 130},
        annotations=[_note(_source_note(source), -0.24, 105)],
        **layout_axes,
    )
    return {"data": data, "layout": layout}


def benchmark_radar(
    source: str, model_names: Sequence[str] | None = None, bench_names: Sequence[str] | None = None
) -> Figure:
    """One closed polygon per model over the chosen benchmarks (0-100 %), from one source."""
    src = bd.SOURCES[source]
    sel = bd.select(source, model_names, bench_names)
    title = f"Profile per model — {src.title}"
    units = bd.units(source)
    benches = [b for b in bd.benchmarks(source) if any(s.benchmark == b for s in sel)]
    if len(benches) < 3:
        return _empty(title, "A radar needs at least three benchmarks; choose more")
    if len({units[b] for b in benches}) > 1:
        return _empty(title, "These benchmarks use different scales; a radar would mislead")
    value = {(s.model, s.benchmark): s.value for s in sel}
    models = [m for m in bd.models(source) if any(s.model == m for s in sel)]
    data = []
    for j, m in enumerate(models):
        r = [value.get((m, b)) for b in benches]
        data.append(
            {
                "type": "scatterpolar",
                "name": plain_text(m),
                "r": [*r, r[0]],
                "theta": [*benches, benches[0]],
                "fill": "toself",
                "fillcolor": _rgba(color(j), 0.08),
                "line": {"color": color(j), "width": 2},
                "hovertemplate": f"{hover_text(m)}<br>%{{theta}}: %{{r}}<extra></extra>",
            }
        )
    layout = base_layout(
        title={"text": title},
        polar={
            # The first benchmark at the top, clockwise; the scale's labels on the spoke
            # halfway between the first two benchmarks, where no polygon vertex sits (at 15°
            # they printed over the MMLU vertices and label).
            "angularaxis": {"rotation": 90, "direction": "clockwise"},
            "radialaxis": {
                "range": [0, 100],
                "dtick": 25,
                "angle": 90 - 180 / len(benches),
                "tickangle": 90 - 180 / len(benches),
                "tickfont": {"size": 9},
            },
            "bgcolor": "rgba(0,0,0,0)",
        },
        legend={"orientation": "h", "y": -0.08, "yanchor": "top", "x": 0, "xanchor": "left"},
        margin={"t": 70, "b": 150, "l": 60, "r": 60},
        annotations=[_note(_source_note(source), -0.3, 75)],
    )
    return {"data": data, "layout": layout}


def benchmark_rows(
    source: str, model_names: Sequence[str] | None = None, bench_names: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """The numbers behind the charts, one row per score, with the table it is printed in."""
    src = bd.SOURCES[source]
    return [
        {
            "model": s.model,
            "benchmark": s.benchmark,
            "score": s.value,
            "unit": s.unit,
            "table": f"{src.citation.split(',')[0]} {s.table}"
            if s.table != "leaderboard"
            else src.citation,
        }
        for s in bd.select(source, model_names, bench_names)
    ]


# ------------------------------------------------------------------------------ config diff
# A DataTable style builder rather than a figure, kept here because it is the same kind of
# thing: a pure function from data to a style dict. ``views.comparison`` computes it for each
# diff (which cells differ depends on the rows), and views may import these Dash-free builders
# but not ``layouts.comparison``, which builds components.
DIFF_ROW_TINT = "rgba(255, 193, 7, 0.12)"
DIFF_CELL_TINT = "rgba(255, 193, 7, 0.38)"


def diff_styles(rows: Sequence[dict[str, Any]], n_runs: int) -> list[dict[str, Any]]:
    """DataTable ``style_data_conditional`` for the config diff.

    A setting that differs anywhere gets a light tint; each value that differs from the first
    run's (the reference column) is bold on a stronger tint, so "what changed against the
    baseline" reads at a glance even when every shown row differs somewhere.
    """
    style: list[dict[str, Any]] = [
        {"if": {"filter_query": '{differs} = "yes"'}, "backgroundColor": DIFF_ROW_TINT},
        {
            "if": {"column_id": "field"},
            "textAlign": "left",
            "fontFamily": "var(--bs-font-monospace)",
        },
    ]
    for i, r in enumerate(rows):
        if r.get("differs") != "yes":
            continue
        for k in range(1, n_runs):
            if r.get(f"c{k}") != r.get("c0"):
                style.append(
                    {
                        "if": {"row_index": i, "column_id": f"c{k}"},
                        "backgroundColor": DIFF_CELL_TINT,
                        "fontWeight": "700",
                    }
                )
    return style
