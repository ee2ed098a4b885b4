"""Training-tab charts, KPIs and events as pure functions of the compact run state.

Why this shape (DESIGN.md): the browser keeps only the run's compact state, so every chart
is recomputed from it. Two builders share one trace layout per chart, so the browser can be
patched in place:

- ``full_render`` computes the whole run in chunks (``sim.metrics``), smooths each series
  with TensorBoard's debiased EMA (carried from chunk to chunk, so it equals one pass over the
  whole series) and downsamples it into ``FULL_BUCKETS`` buckets, keeping every bucket's
  first, last, minimum, maximum and non-finite points (``simulator.series``). A one-step loss
  spike in a million steps is therefore on the chart at its exact height, and a NaN stays a
  gap. No trace exceeds ``BOUND`` points (6 points per bucket at worst).
- ``tick_appends`` turns the metrics of the steps one tick moved into at most
  ``TICK_POINTS`` new points per trace (bucketed the same way) and the EMA carry for the next
  tick. The browser's point count is tracked in a small ``ChartMeta``; once the next append
  would pass ``BOUND``, the caller sends a full render instead (a "rebase").

Trace indices are fixed per chart (``TRACES``) whatever the options, so a Patch that extends
trace 1 always extends the smoothed line. Figures are plain dicts: no Dash import, no clock.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

import simulator as sim
from layouts.figures import theme
from simulator import series
from simulator import timeline as tlm
from simulator.catalog import GPUS

BOUND = 4000  # points per trace the browser may hold; past it the server rebases
FULL_BUCKETS = 400  # ~4 points per bucket: ~1600 points per trace after a rebase (6 at worst)
TICK_POINTS = 6  # new points per trace per tick: one bucket (first, last, min, max, NaN)
PLANNED_POINTS = 240  # points of the planned LR schedule drawn ahead of the run
CHUNK_STEPS = 131_072  # steps per metrics call in a full render (cache-friendly, ~1 MB arrays)
RENDER_THREADS = 2  # threads computing chunks ahead during a full render (one per core here)
KPI_WINDOW = 64  # steps averaged for the loss-change KPI
KPI_SPAN = 1000  # the loss change is measured over this many steps
MAX_SMOOTHING = 0.99  # heavier smoothing would need a look-back longer than a tick computes
MAX_EXPORT_STEPS = 1_000_000  # CSV export cap: ~100 MB of text, a few seconds to write
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
RAW_SERIES = ("train_loss", "accuracy", "lr", "grad_norm", "tokens_per_sec", "mfu", "memory_gb")

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


# ----------------------------------------------------------------------------- options
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
        try:
            w = float(smoothing)
        except (TypeError, ValueError):
            w = 0.0
        w = min(MAX_SMOOTHING, max(0.0, w)) if math.isfinite(w) else 0.0
        return cls(x, w, bool(log))


@dataclass
class ChartMeta:
    """What the browser's charts hold: enough for a tick to append consistently.

    Kept in a memory store; a tick that finds it missing, malformed or out of step with the
    run state sends a full render instead, so a tampered value costs at most one rebase.
    """

    step: int = 0
    points: int = 0  # most points held by any appendable trace
    xaxis: str = "step"
    smoothing: float = 0.0
    carry: dict[str, tuple[float, int]] = field(default_factory=dict)
    status: str = "idle"
    events: int = 0
    changes: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "points": self.points,
            "xaxis": self.xaxis,
            "smoothing": self.smoothing,
            "carry": {k: [v[0], v[1]] for k, v in self.carry.items()},
            "status": self.status,
            "events": self.events,
            "changes": self.changes,
        }

    @classmethod
    def from_dict(cls, raw: Any) -> ChartMeta | None:
        """Parse the store, or None if it is not exactly what ``to_dict`` writes."""
        try:
            carry = {}
            for k in SMOOTHED:
                last, count = raw["carry"][k]
                if not isinstance(count, int) or not math.isfinite(float(last)):
                    return None
                carry[k] = (float(last), count)
            meta = cls(
                step=raw["step"],
                points=raw["points"],
                xaxis=raw["xaxis"],
                smoothing=float(raw["smoothing"]),
                carry=carry,
                status=raw["status"],
                events=raw["events"],
                changes=raw["changes"],
            )
        except (KeyError, TypeError, ValueError):
            return None
        ints = (meta.step, meta.points, meta.events, meta.changes)
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in ints):
            return None
        return meta

    def matches(self, state: sim.RunState, opts: ChartOptions) -> bool:
        """True when appending this state's next steps continues exactly what is drawn."""
        return (
            self.step == state.step
            and self.xaxis == opts.xaxis
            and self.smoothing == opts.smoothing
            and self.changes == len(state.changes)
        )


# ----------------------------------------------------------------------------- helpers
def x_values(m: Mapping[str, NDArray[np.generic]], xaxis: str) -> NDArray[np.generic]:
    """The x coordinate of each step for the chosen axis (wall time in hours)."""
    if xaxis == "tokens":
        return m["tokens"]
    if xaxis == "wall":
        return np.asarray(m["wall_time"], dtype=np.float64) / 3600.0
    return m["step"]


def _tolist(a: NDArray[np.generic]) -> list[Any]:
    """JSON-ready list; non-finite values become None (Plotly draws a gap, JSON stays valid)."""
    if a.dtype.kind == "f":
        out: list[Any] = a.tolist()
        bad = np.flatnonzero(~np.isfinite(a))
        for i in bad.tolist():
            out[i] = None
        return out
    return a.tolist()


@dataclass
class _Acc:
    """Accumulates downsampled (x, y) pieces of one trace."""

    xs: list[NDArray[np.generic]] = field(default_factory=list)
    ys: list[FloatArray] = field(default_factory=list)

    def add(self, x: NDArray[np.generic], y: FloatArray) -> None:
        self.xs.append(x)
        self.ys.append(y)

    def arrays(self) -> tuple[NDArray[np.generic], FloatArray]:
        if not self.xs:
            return np.empty(0), np.empty(0)
        return np.concatenate(self.xs), np.concatenate(self.ys)


def _extreme_indices(y: FloatArray, max_points: int) -> NDArray[np.int64]:
    """``series.downsample_indices``, with a faster path for an all-finite series.

    Same buckets and same kept points (first, last, min, max of each bucket); a series with
    any non-finite value takes the general path, which also keeps those values.
    """
    n = int(y.size)
    buckets = max(1, max_points // series.POINTS_PER_BUCKET)
    if n <= max_points or not np.isfinite(y).all():
        return series.downsample_indices(y, max_points)
    size = math.ceil(n / buckets)
    full = n // size
    base = np.arange(full, dtype=np.int64) * size
    mat = y[: full * size].reshape(full, size)
    keep = [base, base + size - 1, base + mat.argmin(axis=1), base + mat.argmax(axis=1)]
    if full * size < n:
        tail = y[full * size :]
        a = full * size
        keep.append(np.array([a, n - 1, a + tail.argmin(), a + tail.argmax()], dtype=np.int64))
    return np.unique(np.concatenate(keep))


# Series bucketed on their own (they carry spikes, dips and NaN) and the series drawn at the
# same steps: accuracy is a decreasing function of the loss (its bucket extremes sit at the
# loss's), MFU is proportional to tokens/s, LR and memory are smooth or flat.
LEADERS: dict[str, tuple[str, ...]] = {
    "train_loss": ("accuracy", "lr", "memory_gb"),
    "grad_norm": (),
    "tokens_per_sec": ("mfu",),
}


def _ema_at(
    y: FloatArray, weight: float, carry: tuple[float, int] | None, keep: NDArray[np.int64]
) -> tuple[FloatArray, tuple[float, int]]:
    """``series.ema_smooth(y, weight, carry)`` evaluated only at the indices ``keep``.

    The debiased EMA at step k is (1 - w) * sum_i w^i y[k - i] / (1 - w^count); terms older
    than ``L`` steps weigh less than w^L < 1e-16 of the newest and are dropped, which is exact
    to float precision. So the smoothed line of a full render costs ``len(keep) * L``
    multiply-adds, not a pass over the run. Heavy smoothing (long L) or a series with
    non-finite values falls back to the full pass.
    """
    n = int(y.size)
    last, count = carry if carry is not None else (0.0, 0)
    if n == 0:
        return np.empty(0), (last, count)
    span = math.ceil(37.0 / -math.log(weight))
    if span * (keep.size + 1) > n // 2 or not np.isfinite(y).all():
        sm, new_carry = series.ema_smooth(y, weight, carry)
        return sm[keep], new_carry
    idx = np.append(keep, n - 1)
    offsets = np.arange(span, dtype=np.int64)
    pos = idx[:, None] - offsets[None, :]
    vals = np.where(pos >= 0, y[np.maximum(pos, 0)], 0.0)
    raw = (1.0 - weight) * (vals @ np.power(weight, offsets.astype(np.float64)))
    near = idx < span  # the carried EMA still counts here
    raw[near] += np.power(weight, idx[near] + 1.0) * last
    counts = count + idx + 1.0
    debiased = raw / -np.expm1(counts * math.log(weight))
    return debiased[:-1], (float(raw[-1]), count + n)


# Series bucketed on their own (they carry spikes, dips and NaN) and the series drawn at the
# same steps: accuracy is a decreasing function of the loss (its bucket extremes sit at the
# loss's), MFU is proportional to tokens/s, LR and memory are smooth or flat.
LEADERS: dict[str, tuple[str, ...]] = {
    "train_loss": ("accuracy", "lr", "memory_gb"),
    "grad_norm": (),
    "tokens_per_sec": ("mfu",),
}
_SCALE = {"accuracy": 100.0, "mfu": 100.0}  # shown in percent


def _bucketed(
    m: Mapping[str, NDArray[np.generic]],
    opts: ChartOptions,
    carry: dict[str, tuple[float, int]],
    max_points: int,
) -> dict[str, tuple[NDArray[np.generic], FloatArray]]:
    """Downsample one contiguous piece of the run into at most ``max_points`` per trace.

    ``carry`` (EMA state per smoothed series, on the raw metric's scale) is updated in place.
    Smoothed lines are sampled at their raw line's kept steps: the raw line carries the
    spikes and the smoothed line is smooth, so nothing is hidden.
    """
    x = x_values(m, opts.xaxis)
    out: dict[str, tuple[NDArray[np.generic], FloatArray]] = {}
    for leader, followers in LEADERS.items():
        ly = np.asarray(m[leader], dtype=np.float64)
        keep = _extreme_indices(ly, max_points)
        xk = x[keep]
        for name in (leader, *followers):
            y = ly if name == leader else np.asarray(m[name], dtype=np.float64)
            scale = _SCALE.get(name, 1.0)
            out[name] = (xk, y[keep] * scale)
            if name not in SMOOTHED:
                continue
            if opts.smoothing > 0.0:
                sm, carry[name] = _ema_at(y, opts.smoothing, carry.get(name), keep)
                out[name if name in SMOOTH_ONLY else name + "_smooth"] = (xk, sm * scale)
            else:
                _, carry[name] = series.ema_smooth(y, 0.0, carry.get(name))
    evals = np.flatnonzero(np.asarray(m["is_eval"], dtype=bool))
    out["val_loss"] = (x[evals], np.asarray(m["val_loss"], dtype=np.float64)[evals])
    return out


# ----------------------------------------------------------------------------- full render
@dataclass
class Rendered:
    """Everything a full render sends: figures, the meta the browser keeps, the last step."""

    figures: dict[str, dict[str, Any]]
    meta: ChartMeta
    points: dict[str, int]  # points per trace, for tests and the benchmark


def full_render(state: sim.RunState, opts: ChartOptions) -> Rendered:
    """All six charts for ``state``, downsampled so no trace holds more than ``BOUND`` points.

    Cost: one pass over the steps done so far, in ``CHUNK_STEPS`` pieces (about 0.1 s per
    million steps on an idle core, ~20 ms of it ours, the rest ``sim.metrics``); memory stays
    at one chunk's arrays. The run length is bounded by ``sim.MAX_STEPS``.
    """
    n = state.step
    size = max(1, math.ceil(n / FULL_BUCKETS))
    chunk = size * max(1, CHUNK_STEPS // size)
    acc: dict[str, _Acc] = {}
    carry: dict[str, tuple[float, int]] = {}
    for a, b, m in _chunks(state, chunk):
        pieces = _bucketed(m, opts, carry, math.ceil((b - a) / size) * series.POINTS_PER_BUCKET)
        for name, (x, y) in pieces.items():
            acc.setdefault(name, _Acc()).add(x, y)
    data = {name: a.arrays() for name, a in acc.items()}
    vx, vy = data.get("val_loss", (np.empty(0), np.empty(0)))
    if vy.size > BOUND // 2:  # a tiny eval interval: bucket the validation points too
        keep = series.downsample_indices(vy, BOUND // 2)
        data["val_loss"] = (vx[keep], vy[keep])
    for name in SMOOTHED:
        carry.setdefault(name, (0.0, 0))
    data.update(_reference_lines(state, opts))
    figures = {chart: build_figure(chart, data, state, opts) for chart in CHARTS}
    points = {name: int(xy[1].size) for name, xy in data.items()}
    appendable = [points.get(t, 0) for c in CHARTS for t in TRACES[c] if t != "lr_planned"]
    meta = ChartMeta(
        step=n,
        points=max(appendable, default=0),
        xaxis=opts.xaxis,
        smoothing=opts.smoothing,
        carry=carry,
        status=state.status,
        events=len(state.events),
        changes=len(state.changes),
    )
    return Rendered(figures, meta, points)


def _chunks(
    state: sim.RunState, chunk: int
) -> Iterator[tuple[int, int, dict[str, NDArray[np.generic]]]]:
    """``sim.metrics`` of the run in order, chunk by chunk, computed up to two chunks ahead.

    numpy releases the GIL inside its array loops, so worker threads compute the next chunks
    while the caller buckets the current one (about 1.5x faster on two cores). The pool lives
    for one call (no module-level state) and at most ``RENDER_THREADS + 1`` chunks are alive.
    """
    ranges = [(a, min(state.step, a + chunk)) for a in range(0, state.step, chunk)]
    if len(ranges) <= 1:
        for a, b in ranges:
            yield a, b, sim.metrics(state, a, b)
        return
    with ThreadPoolExecutor(max_workers=RENDER_THREADS) as pool:
        pending: deque[tuple[int, int, Future[dict[str, NDArray[np.generic]]]]] = deque()
        for a, b in ranges:
            pending.append((a, b, pool.submit(sim.metrics, state, a, b)))
            if len(pending) > RENDER_THREADS:
                a0, b0, f = pending.popleft()
                yield a0, b0, f.result()
        while pending:
            a0, b0, f = pending.popleft()
            yield a0, b0, f.result()


def _reference_lines(
    state: sim.RunState, opts: ChartOptions
) -> dict[str, tuple[NDArray[np.generic], FloatArray]]:
    """The planned LR from the current step to the end, and the clip threshold so far.

    The planned schedule is evaluated in closed form at ``PLANNED_POINTS`` steps (no loss
    model), so a million-step run costs the same as a short one.
    """
    tl = state.timeline
    total = tl.total_steps
    seg = tl.segments[-1]
    first = min(state.step, total - 1)
    steps = np.unique(np.linspace(first, total - 1, PLANNED_POINTS).astype(np.int64))
    idx = tl.segment_index(steps)
    tokens = tlm.tokens_after(tl, idx, steps)
    lr = tlm.lr_at_steps(tl, idx, np.minimum(tokens / tl.total_tokens, 1.0))
    if opts.xaxis == "tokens":
        x: NDArray[np.generic] = tokens
    elif opts.xaxis == "wall":
        x = (seg.wall0 + tlm.wall_in_segment(seg, state.seed, steps)) / 3600.0
    else:
        x = steps + 1
    out: dict[str, tuple[NDArray[np.generic], FloatArray]] = {"lr_planned": (x, lr)}
    # Clip threshold: one point per segment start and one at the current step ("hv" line).
    if state.step > 0:
        starts = np.array([s.start for s in tl.segments] + [state.step - 1], dtype=np.int64)
        clips = np.array([s.cfg.grad_clip for s in tl.segments] + [seg.cfg.grad_clip])
        cx = _clip_x(state, starts, opts.xaxis)
        out["grad_clip"] = (cx, np.where(clips > 0, clips, np.nan))
    else:
        out["grad_clip"] = (np.empty(0), np.empty(0))
    return out


def _clip_x(
    state: sim.RunState,
    steps: NDArray[np.int64],
    xaxis: str,
) -> NDArray[np.generic]:
    """x of each given step on the chosen axis, in closed form (no loss model)."""
    tl = state.timeline
    if xaxis == "step":
        return steps + 1
    idx = tl.segment_index(steps)
    if xaxis == "tokens":
        return tlm.tokens_after(tl, idx, steps)
    walls = [
        tl.segments[int(j)].wall0
        + float(tlm.wall_in_segment(tl.segments[int(j)], state.seed, np.array([s]))[0])
        for j, s in zip(idx.tolist(), steps.tolist(), strict=True)
    ]
    return np.asarray(walls) / 3600.0


# ----------------------------------------------------------------------------- tick appends
@dataclass
class Appends:
    """New points for each chart's traces and the meta after they are drawn."""

    traces: dict[str, list[tuple[int, list[Any], list[Any]]]]  # chart -> (index, xs, ys)
    meta: ChartMeta


def tick_appends(
    before: sim.RunState,
    after: sim.RunState,
    m: Mapping[str, NDArray[np.generic]],
    meta: ChartMeta,
    opts: ChartOptions,
) -> Appends | None:
    """The points to append for the steps a tick moved, or None when a rebase is due.

    ``m`` holds the metrics of steps ``before.step .. after.step - 1`` as returned by
    ``sim.advance_with_metrics``. None means the browser would pass ``BOUND`` points or its
    charts do not continue this run (``meta`` is stale): send ``full_render`` instead.
    """
    if not meta.matches(before, opts) or meta.step == 0:
        return None  # stale charts, or empty ones whose axes a full render must bring back
    n = int(np.asarray(m["step"]).size)
    carry = dict(meta.carry)
    pieces = _bucketed(m, opts, carry, TICK_POINTS) if n else {}
    added = max((y.size for y in (p[1] for p in pieces.values())), default=0)
    clip_point = n > 0
    if meta.points + added + int(clip_point) > BOUND:
        return None
    traces: dict[str, list[tuple[int, list[Any], list[Any]]]] = {}
    for chart in CHARTS:
        for i, name in enumerate(TRACES[chart]):
            if name in pieces and pieces[name][1].size:
                x, y = pieces[name]
                if opts.smoothing > 0.0 and (name.endswith("_smooth") or name in SMOOTH_ONLY):
                    # A smoothed line needs no bucket extremes (its raw line shows them): one
                    # exact point per tick keeps the request + response of a tick small.
                    x, y = x[-1:], y[-1:]
                traces.setdefault(chart, []).append((i, _tolist(x), _tolist(y)))
    if clip_point and after.current_config.grad_clip > 0:
        x = x_values(m, opts.xaxis)[-1:]
        traces.setdefault("grad", []).append(
            (TRACES["grad"].index("grad_clip"), _tolist(x), [after.current_config.grad_clip])
        )
    new_meta = ChartMeta(
        step=after.step,
        points=meta.points + added + int(clip_point),
        xaxis=opts.xaxis,
        smoothing=opts.smoothing,
        carry=carry,
        status=after.status,
        events=len(after.events),
        changes=len(after.changes),
    )
    return Appends(traces, new_meta)


# ----------------------------------------------------------------------------- figures
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
            "exponentformat": "power" if log else "SI",
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
        "type": "scattergl" if style.pop("gl", False) else "scatter",
        "mode": "lines",
        "name": label,
        "x": _tolist(np.asarray(x)),
        "y": _tolist(np.asarray(y)),
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
    if opts.xaxis == "tokens":
        layout["xaxis"]["exponentformat"] = "SI"
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


# ----------------------------------------------------------------------------- text
def fmt_duration(seconds: float) -> str:
    """Compact human duration: '3 d 4 h', '5 h 12 min', '42 s'."""
    if not math.isfinite(seconds) or seconds < 0:
        return "–"
    s = round(seconds)
    d, rem = divmod(s, 86400)
    h, rem = divmod(rem, 3600)
    mi, sec = divmod(rem, 60)
    if d:
        return f"{d} d {h} h"
    if h:
        return f"{h} h {mi} min"
    if mi:
        return f"{mi} min {sec} s"
    return f"{sec} s"


def fmt_si(x: float, digits: int = 3) -> str:
    """1.23k, 4.5M, 2.1T: for tokens and throughput."""
    if not math.isfinite(x):
        return "NaN"
    for div, suf in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= div:
            return f"{x / div:.{digits}g}{suf}"
    return f"{x:.{digits}g}"


def fmt_num(x: float, spec: str = ".4f") -> str:
    return format(x, spec) if math.isfinite(x) else "NaN"


STATUS_COLORS = {
    "idle": "secondary",
    "running": "primary",
    "paused": "warning",
    "stopped": "dark",
    "finished": "success",
    "diverged": "danger",
}


def controls_enabled(status: str | None) -> dict[str, bool]:
    """Which controls make sense for a run in ``status`` (None: no run yet)."""
    s = status or "idle"
    return {
        "start": s == "idle",
        "pause": s in ("running", "paused"),
        "stop": s in ("running", "paused"),
        "reset": s != "idle",
        "adjust": s in ("running", "paused"),
        "save": s != "idle",
        "export": s != "idle",
    }


def kpis(state: sim.RunState, steps_per_tick: int, interval_ms: int) -> dict[str, str]:
    """Every KPI card's value and sub-line, the progress texts and the badge, as strings.

    Costs one ``metrics`` call over the last ~``KPI_SPAN`` steps, whatever the run length.
    """
    cfg = state.current_config
    tl = state.timeline
    total = tl.total_steps
    s = state.step
    out: dict[str, str] = {
        "step": f"{s:,}",
        "step_sub": f"of {total:,}",
        "progress": f"{100.0 * s / max(1, total):.1f}%",
    }
    gpu = GPUS[cfg.gpu].name
    seg = tl.segments[-1]
    end_wall = seg.wall0 + float(
        tlm.wall_in_segment(seg, state.seed, np.array([total - 1], dtype=np.int64))[0]
    )
    if s == 0:
        out.update({k: "–" for k in ("epoch", "tokens", "loss", "val", "ppl", "acc", "grad")})
        out.update({k: "–" for k in ("tps", "mfu", "mem", "cost")})
        out.update(
            loss_sub="",
            val_sub="",
            tokens_sub="",
            mem_sub=f"of {seg.memory_capacity / 1e9:.0f} GB",
            lr=f"{cfg.lr_peak:.2e}",
            lr_sub="peak",
            grad_sub=f"clip {cfg.grad_clip:g}" if cfg.grad_clip > 0 else "no clipping",
            tps_sub="",
            mfu_sub="",
            cost_sub="",
            elapsed="0 s",
            remaining=f"{fmt_duration(end_wall)} left on {cfg.num_gpus:,} × {gpu}",
        )
        out["playback"] = _playback(total - s, steps_per_tick, interval_ms, state.status)
        return out
    w = sim.metrics(state, max(0, s - KPI_SPAN - KPI_WINDOW), s)
    loss = np.asarray(w["train_loss"], dtype=np.float64)
    last = float(loss[-1])
    now = _finite_mean(loss[-KPI_WINDOW:])
    then = _finite_mean(loss[:KPI_WINDOW])
    span = int(w["step"][-1] - w["step"][min(KPI_WINDOW, loss.size) - 1])
    val = next((e[2] for e in reversed(state.events) if e[1] == "eval"), None)
    val_step = next((e[0] for e in reversed(state.events) if e[1] == "eval"), None)
    mem = float(w["memory_gb"][-1])
    cap = seg.memory_capacity / 1e9
    wall = float(w["wall_time"][-1])
    delta = now - then
    out.update(
        epoch=f"{float(w['epoch'][-1]):.3f}",
        tokens=fmt_si(float(w["tokens"][-1])),
        tokens_sub=f"of {fmt_si(tl.total_tokens)}",
        loss=fmt_num(last),
        loss_sub=(
            f"{'▼' if delta < 0 else '▲'} {abs(delta):.3f} in {fmt_si(span, 2)}"
            if span > 0 and math.isfinite(delta)
            else ""
        ),
        val=fmt_num(float(val)) if isinstance(val, (int, float)) else ("NaN" if val else "–"),
        val_sub=f"@ {val_step:,}" if val_step is not None else "no eval yet",
        ppl=fmt_si(math.exp(min(last, 700.0))) if math.isfinite(last) else "NaN",
        acc=f"{100.0 * float(w['accuracy'][-1]):.2f}%" if math.isfinite(last) else "NaN",
        lr=f"{float(w['lr'][-1]):.2e}",
        lr_sub=f"peak {cfg.lr_peak:.1e}",
        grad=fmt_num(float(w["grad_norm"][-1]), ".3f"),
        grad_sub=f"clip {cfg.grad_clip:g}" if cfg.grad_clip > 0 else "no clipping",
        tps=fmt_si(float(w["tokens_per_sec"][-1])),
        tps_sub=f"{fmt_si(float(w['tokens_per_sec'][-1]) / cfg.num_gpus)}/GPU",
        mfu=f"{100.0 * float(w['mfu'][-1]):.1f}%",
        mfu_sub=f"of {GPUS[cfg.gpu].peak_tflops_bf16 or GPUS[cfg.gpu].peak_tflops_fp16:g} TF peak",
        mem=f"{mem:.1f} GB",
        mem_sub=f"{100.0 * mem / cap:.0f}% of {cap:.0f} GB",
        cost=f"${fmt_si(float(w['cost_usd'][-1]))}",
        cost_sub=f"${seg.price * cfg.num_gpus:,.0f}/h",
        elapsed=fmt_duration(wall),
        remaining=(
            f"{fmt_duration(max(0.0, end_wall - wall))} left on {cfg.num_gpus:,} × {gpu}"
            if s < total
            else f"done on {cfg.num_gpus:,} × {gpu}"
        ),
    )
    out["playback"] = _playback(total - s, steps_per_tick, interval_ms, state.status)
    return out


def _finite_mean(a: FloatArray) -> float:
    f = a[np.isfinite(a)]
    return float(f.mean()) if f.size else float("nan")


def _playback(left: int, per_tick: int, interval_ms: int, status: str) -> str:
    if status not in ("running", "paused", "idle") or left <= 0:
        return "playback: –"
    secs = math.ceil(left / max(1, per_tick)) * max(1, interval_ms) / 1000.0
    return f"playback: {fmt_duration(secs)} at {per_tick:,} steps/tick"


# ----------------------------------------------------------------------------- events
EVENT_TONES = {
    "start": "secondary",
    "warmup": "info",
    "eval": "info",
    "checkpoint": "secondary",
    "spike": "warning",
    "diverged": "danger",
    "change": "primary",
    "pause": "secondary",
    "resume": "secondary",
    "stop": "dark",
    "finished": "success",
    "oom": "danger",
}


def event_text(kind: str, value: Any) -> str:
    """One sentence for an event from ``state.events``."""
    if kind == "start":
        return f"Run started: {int(value):,} steps planned" if _is_num(value) else "Run started"
    if kind == "warmup":
        return f"Warmup done, LR at peak {float(value):.2e}" if _is_num(value) else "Warmup done"
    if kind == "eval":
        return f"Evaluation: validation loss {value}"
    if kind == "checkpoint":
        return "Checkpoint saved"
    if kind == "spike":
        return f"Loss spike: +{float(value):.3f} nats" if _is_num(value) else "Loss spike"
    if kind == "diverged":
        return (
            f"Diverged: loss went to NaN at LR {float(value):.1e}; run paused"
            if _is_num(value)
            else "Diverged: loss went to NaN"
        )
    if kind == "change":
        return f"Changed: {value}"
    if kind == "pause":
        return "Paused"
    if kind == "resume":
        return "Resumed"
    if kind == "stop":
        return "Stopped by user"
    if kind == "finished":
        return f"Finished: final train loss {value}"
    if kind == "oom":
        return f"Out of memory: needs {value} GB per GPU; run stopped"
    return str(kind)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def event_rows(events: Iterable[tuple[int, str, Any]]) -> list[tuple[int, str, str, str]]:
    """(step, kind, text, tone) for each event, newest first."""
    return [(int(s), k, event_text(k, v), EVENT_TONES.get(k, "secondary")) for s, k, v in events][
        ::-1
    ]


# ----------------------------------------------------------------------------- export
# Every metric but the eval flag: val_loss is blank between evaluations instead.
CSV_COLUMNS = tuple(k for k in sim.METRIC_KEYS if k != "is_eval")


def metrics_csv(state: sim.RunState) -> str:
    """The run's metrics at full resolution, one row per step, recomputed from the state.

    Raises:
        ValueError: the run is longer than ``MAX_EXPORT_STEPS`` (the text would pass ~100 MB).
    """
    if state.step > MAX_EXPORT_STEPS:
        raise ValueError(
            f"this run has {state.step:,} steps; CSV export is limited to "
            f"{MAX_EXPORT_STEPS:,} steps (about 100 MB)"
        )
    parts = [",".join(CSV_COLUMNS) + "\n"]
    fmt = "{:.7g}".format  # 7 significant digits; str.format beats np.char by ~5x here
    for m in sim.iter_metrics(state, 0, state.step, chunk=CHUNK_STEPS):
        cols: list[list[str]] = []
        for name in CSV_COLUMNS:
            a = np.asarray(m[name])
            if a.dtype.kind in "iu":
                cols.append(list(map(str, a.tolist())))
            else:
                col = list(map(fmt, a.astype(np.float64).tolist()))
                if name == "val_loss":  # empty between evaluations, not "nan"
                    col = ["" if v == "nan" else v for v in col]
                cols.append(col)
        parts.append("\n".join(map(",".join, zip(*cols, strict=True))) + "\n")
    return "".join(parts)
