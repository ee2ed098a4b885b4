"""The Training charts' data: full renders and tick appends, bounded at any run length.

Owns the ``TR_META`` Store (``ChartMeta``: what the browser's charts hold) and the two ways
of filling the charts (docs/architecture.md, "The tick" and "Store formats"):

- ``full_render`` computes the whole run in chunks (``sim.metrics``), smooths each series
  with TensorBoard's debiased EMA (carried from chunk to chunk, so it equals one pass over the
  whole series) and downsamples it into ``FULL_BUCKETS`` buckets, keeping every bucket's
  first, last, minimum, maximum and non-finite points (``simulator.series``). A one-step loss
  spike in a million steps is therefore on the chart at its exact height, and a NaN stays a
  gap. No trace exceeds ``BOUND`` points (6 points per bucket at worst).
- ``tick_appends`` turns the metrics of the steps one tick moved into at most
  ``TICK_POINTS`` new points per trace (bucketed the same way) and the EMA carry for the next
  tick; ``append_edits`` says it as one ``Edit`` per chart. The browser's point count is
  tracked in ``ChartMeta``; once the next append would pass ``BOUND``, the caller sends a full
  render instead (a "rebase").

The figure dicts themselves come from ``layouts.figures.training`` (pure builders).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

import simulator as sim
from layouts.figures.training import (
    CHARTS,
    SMOOTH_ONLY,
    SMOOTHED,
    TRACES,
    ChartOptions,
    build_figure,
    json_values,
)
from simulator import series
from simulator import timeline as tlm
from views.contract import KEEP, Edit

BOUND = 4000  # points per trace the browser may hold; past it the server rebases
FULL_BUCKETS = 400  # ~4 points per bucket: ~1600 points per trace after a rebase (6 at worst)
TICK_POINTS = 6  # new points per trace per tick: one bucket (first, last, min, max, NaN)
PLANNED_POINTS = 240  # points of the planned LR schedule drawn ahead of the run
CHUNK_STEPS = 131_072  # steps per metrics call in a full render (cache-friendly, ~1 MB arrays)
RENDER_THREADS = 2  # threads computing chunks ahead during a full render (one per core here)

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class ChartMeta:
    """The ``TR_META`` Store: what the browser's charts hold, so a tick can append to them.

    Kept in memory storage; a tick that finds it missing, malformed or out of step with the
    run state sends a full render instead, so a tampered value costs at most one rebase.
    """

    step: int = 0
    points: int = 0  # most points held by any appendable trace
    xaxis: str = "step"
    smoothing: float = 0.0
    carry: Mapping[str, tuple[float, int]] = field(default_factory=dict)  # EMA per series
    status: str = "idle"
    events: int = 0
    changes: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The Store's JSON (``carry`` as ``{series: [last, count]}``)."""
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

    @classmethod
    def drawn(
        cls,
        state: sim.RunState,
        opts: ChartOptions,
        points: int,
        carry: Mapping[str, tuple[float, int]],
    ) -> ChartMeta:
        """The meta of charts drawn up to ``state`` with ``opts``, holding ``points``."""
        return cls(
            step=state.step,
            points=points,
            xaxis=opts.xaxis,
            smoothing=opts.smoothing,
            carry=carry,
            status=state.status,
            events=len(state.events),
            changes=len(state.changes),
        )

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
        keep = series.downsample_indices(ly, max_points)
        xk = x[keep]
        for name in (leader, *followers):
            y = ly if name == leader else np.asarray(m[name], dtype=np.float64)
            scale = _SCALE.get(name, 1.0)
            out[name] = (xk, y[keep] * scale)
            if name not in SMOOTHED:
                continue
            if opts.smoothing > 0.0:
                sm, carry[name] = series.ema_at(y, opts.smoothing, carry.get(name), keep)
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
    meta = ChartMeta.drawn(state, opts, max(appendable, default=0), carry)
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
                traces.setdefault(chart, []).append((i, json_values(x), json_values(y)))
    if clip_point and after.current_config.grad_clip > 0:
        x = x_values(m, opts.xaxis)[-1:]
        traces.setdefault("grad", []).append(
            (TRACES["grad"].index("grad_clip"), json_values(x), [after.current_config.grad_clip])
        )
    new_meta = ChartMeta.drawn(after, opts, meta.points + added + int(clip_point), carry)
    return Appends(traces, new_meta)


def append_edits(appends: Appends) -> dict[str, Edit | Any]:
    """One ``Edit`` per chart extending only the traces that got points (``KEEP`` if none)."""
    out: dict[str, Edit | Any] = {}
    for chart in CHARTS:
        items = appends.traces.get(chart)
        if not items:
            out[chart] = KEEP
            continue
        edit = Edit()
        for index, xs, ys in items:
            edit = edit.extend(("data", index, "x"), xs).extend(("data", index, "y"), ys)
        out[chart] = edit
    return out
