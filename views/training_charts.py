"""The Training charts' data: full renders and tick appends, bounded at any run length.

Owns the ``TR_META`` Store (``ChartMeta``: what the browser's charts hold) and the two ways
of filling the charts (docs/architecture.md, "The tick" and "Store formats"):

- ``full_render`` reads the run in buckets of ``bucket_size`` steps (a power of two, at most
  ``FULL_BUCKETS`` buckets and ``TICK_BUCKETS`` per tick) without computing every step
  (``simulator.buckets``): each bucket's first, last, minimum, maximum and non-finite points,
  exactly the points ``simulator.series.bucket_indices`` keeps from every step. A one-step
  loss spike in a million steps is therefore on the chart at its exact height, and a NaN
  stays a gap. No trace exceeds ``BOUND`` points (6 points per bucket at worst). Smoothed
  lines are the EMA of the buckets' means, one point a bucket.
- ``tick_appends`` continues the same buckets: ``ChartMeta`` carries the bucket size and the
  first step not drawn yet, and a tick draws every bucket it completes, exactly the points a
  full render at that step would hold (issue 17, item 10: the resolution of what is drawn
  must not depend on how it arrived). While a run is running, only complete buckets are
  drawn (the open one lags the current step by less than one bucket: under 1/300 of the
  run, or 1/16 of a tick's steps); a run that ended or paused is drawn to its last step.
  ``append_edits`` says it as one ``Edit`` per chart. The browser's point count is tracked
  in ``ChartMeta``; once the next append would pass ``BOUND``, the caller sends a full
  render instead (a "rebase").

The figure dicts themselves come from ``layouts.figures.training`` (pure builders).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
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
from simulator import buckets as sim_buckets
from simulator import dynamics as dyn
from simulator import series
from simulator import timeline as tlm
from simulator.estimate import flops_per_token, peak_flops
from views.contract import KEEP, Edit

BOUND = 4000  # points per trace the browser may hold; past it the server rebases
FULL_BUCKETS = 600  # 300-600 buckets of ~4 points after a rebase; 3,600 at worst, < BOUND
TICK_BUCKETS = 16  # a tick completes at most ~16-32 buckets (~64-128 points per trace)
PLANNED_POINTS = 240  # points of the planned LR schedule drawn ahead of the run

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
    bucket: int = 1  # steps per bucket of what is drawn (a power of two)
    edge: int = 0  # the first step not drawn yet (a bucket boundary while running)

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
            "bucket": self.bucket,
            "edge": self.edge,
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
                bucket=raw["bucket"],
                edge=raw["edge"],
            )
        except (KeyError, TypeError, ValueError):
            return None
        ints = (meta.step, meta.points, meta.events, meta.changes, meta.bucket, meta.edge)
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in ints):
            return None
        b = meta.bucket
        if b < 1 or b & (b - 1) or b > bucket_size(sim.MAX_STEPS, sim.MAX_ADVANCE):
            return None  # bounds the steps a tick recomputes (``tick_appends``)
        if not meta.step - b < meta.edge <= meta.step:
            return None  # the open bucket is shorter than a bucket
        return meta

    @classmethod
    def drawn(
        cls,
        state: sim.RunState,
        opts: ChartOptions,
        points: int,
        carry: Mapping[str, tuple[float, int]],
        bucket: int,
        edge: int,
    ) -> ChartMeta:
        """The meta of charts drawn up to step ``edge`` of ``state`` with ``opts``."""
        return cls(
            step=state.step,
            points=points,
            xaxis=opts.xaxis,
            smoothing=opts.smoothing,
            carry=carry,
            status=state.status,
            events=len(state.events),
            changes=len(state.changes),
            bucket=bucket,
            edge=edge,
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
def bucket_size(steps: int, speed: int = 1) -> int:
    """Steps per bucket for charts of ``steps`` steps advancing ``speed`` steps per tick: the
    least power of two giving at most ``FULL_BUCKETS`` buckets and at most ``TICK_BUCKETS``
    per tick (so a tick of 1,000 steps early in a run sends ~64 points per trace, not 1,000).
    Powers of two keep one size over a doubling of the run, so the ticks after a render
    continue its buckets and a later render at that speed draws the very same points.
    """
    need = max(1, math.ceil(steps / FULL_BUCKETS), math.ceil(speed / TICK_BUCKETS))
    return 1 << (need - 1).bit_length()


def drawn_to(state: sim.RunState, start: int, bucket: int) -> int:
    """The step charts are drawn up to: the last complete bucket's end while running (the
    open bucket would be drawn again once complete), else the run's last step."""
    if state.status != "running":
        return state.step
    return start + (state.step - start) // bucket * bucket


def x_values(m: Mapping[str, NDArray[np.generic]], xaxis: str) -> NDArray[np.generic]:
    """The x coordinate of each step for the chosen axis (wall time in hours)."""
    if xaxis == "tokens":
        return m["tokens"]
    if xaxis == "wall":
        return np.asarray(m["wall_time"], dtype=np.float64) / 3600.0
    return m["step"]


# Series bucketed on their own (they carry spikes, dips and NaN) and the series drawn at the
# same steps: accuracy is a decreasing function of the loss (its bucket extremes sit at the
# loss's), MFU is proportional to tokens/s, LR and memory are smooth or flat.
LEADERS: dict[str, tuple[str, ...]] = {
    "train_loss": ("accuracy", "lr", "memory_gb"),
    "grad_norm": (),
    "tokens_per_sec": ("mfu",),
}


_SCALE = {"accuracy": 100.0, "mfu": 100.0}  # shown in percent


def _x_at(state: sim.RunState, steps: NDArray[np.int64], xaxis: str) -> NDArray[np.generic]:
    """x of each step on the chosen axis, in closed form (no loss model)."""
    if xaxis == "step":
        return steps + 1
    tl = state.timeline
    idx = tl.segment_index(steps)
    if xaxis == "tokens":
        return tlm.tokens_after(tl, idx, steps)
    return tlm.wall_at(tl, state.seed, steps, idx) / 3600.0


def _bucket_means(state: sim.RunState, bk: sim_buckets.Buckets) -> dict[str, FloatArray]:
    """Each bucket's mean of every smoothed series (accuracy and MFU from the loss's and the
    throughput's means, as the charts draw them)."""
    tl = state.timeline
    base = tl.base
    idx = tl.segment_index(bk.ends)
    gpus = tl.const(idx, lambda s: s.cfg.num_gpus)
    tps = bk.means["tokens_per_sec"]
    return {
        "train_loss": bk.means["train_loss"],
        "accuracy": dyn.token_accuracy(bk.means["train_loss"], base.arch.vocab_size),
        "grad_norm": bk.means["grad_norm"],
        "tokens_per_sec": tps,
        "mfu": tps * (flops_per_token(base) / peak_flops(base)) / gpus,
    }


def _bucketed(
    state: sim.RunState,
    opts: ChartOptions,
    carry: dict[str, tuple[float, int]],
    start: int,
    stop: int,
    bucket: int,
    per_step: Mapping[str, NDArray[np.generic]] | None = None,
    found: dyn.Events | None = None,
) -> dict[str, tuple[NDArray[np.generic], FloatArray]]:
    """The points of steps [start, stop) in buckets of ``bucket`` steps (``start`` a bucket
    boundary), read without drawing every step (``simulator.buckets``).

    ``carry`` (EMA state per smoothed series, on the raw metric's scale) is updated in place.
    A smoothed line is the EMA of the buckets' means, one point at each bucket's last step.
    ``per_step``, the metrics of every step of the range when a tick has just computed them
    (``sim.metrics``' arrays), is read instead of computing the drawn points again.
    """
    tl = state.timeline
    seed = state.seed
    given = per_step is not None and len(per_step["step"]) == stop - start
    if found is not None:
        ev = found
    else:
        ev = dyn.find_events(
            tl,
            seed,
            max(0, start - dyn.LOOKBACK),
            stop,
            diverged_at=state.diverged_at,
            scan_from=state.step if state.diverged_at is None else stop,
        )
    bk = sim_buckets.summarise(tl, seed, ev, start, stop, bucket, per_step)
    means = _bucket_means(state, bk)
    evals = dyn.eval_steps(tl, start, stop)
    # Every point drawn, read at once: the leaders' kept steps, the evals, the bucket ends.
    wanted = np.unique(np.concatenate([*bk.kept.values(), evals, bk.ends]))
    if given and per_step is not None:
        m = {k: np.asarray(v)[wanted - start] for k, v in per_step.items()}
    else:
        m = dyn.evaluate(tl, seed, wanted, ev)
    x_all = x_values(m, opts.xaxis)

    def at(steps: NDArray[np.int64]) -> NDArray[np.int64]:
        out: NDArray[np.int64] = np.searchsorted(wanted, steps)
        return out

    x_ends = x_all[at(bk.ends)]
    out: dict[str, tuple[NDArray[np.generic], FloatArray]] = {}
    for leader, followers in LEADERS.items():
        pos = at(bk.kept[leader])
        xk = x_all[pos]
        for name in (leader, *followers):
            scale = _SCALE.get(name, 1.0)
            out[name] = (xk, np.asarray(m[name], dtype=np.float64)[pos] * scale)
            if name not in SMOOTHED:
                continue
            sm, carry[name] = series.ema_smooth(means[name], opts.smoothing, carry.get(name))
            if opts.smoothing > 0.0:
                out[name if name in SMOOTH_ONLY else name + "_smooth"] = (x_ends, sm * scale)
    pos = at(evals)
    out["val_loss"] = (x_all[pos], np.asarray(m["val_loss"], dtype=np.float64)[pos])
    return out


# ----------------------------------------------------------------------------- full render
@dataclass
class Rendered:
    """Everything a full render sends: figures, the meta the browser keeps, the last step."""

    figures: dict[str, dict[str, Any]]
    meta: ChartMeta
    points: dict[str, int]  # points per trace, for tests and the benchmark


def full_render(state: sim.RunState, opts: ChartOptions, speed: int = 1) -> Rendered:
    """All six charts for ``state``, downsampled so no trace holds more than ``BOUND`` points.

    Cost: about the same at any run length (``simulator.buckets`` reads each bucket's
    extremes without drawing every step; ``python benchmarks/bench_training.py``). ``speed``
    is the steps per tick the ticks after this render will advance (``bucket_size``).
    """
    size = bucket_size(state.step, speed)
    stop = drawn_to(state, 0, size)
    carry: dict[str, tuple[float, int]] = {}
    data = _bucketed(state, opts, carry, 0, stop, size) if stop > 0 else {}
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
    meta = ChartMeta.drawn(state, opts, max(appendable, default=0), carry, size, stop)
    return Rendered(figures, meta, points)


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
    x = _x_at(state, steps, opts.xaxis)
    out: dict[str, tuple[NDArray[np.generic], FloatArray]] = {"lr_planned": (x, lr)}
    # Clip threshold: one point per segment start and one at the current step ("hv" line).
    if state.step > 0:
        starts = np.array([s.start for s in tl.segments] + [state.step - 1], dtype=np.int64)
        clips = np.array([s.cfg.grad_clip for s in tl.segments] + [seg.cfg.grad_clip])
        cx = _x_at(state, starts, opts.xaxis)
        out["grad_clip"] = (cx, np.where(clips > 0, clips, np.nan))
    else:
        out["grad_clip"] = (np.empty(0), np.empty(0))
    return out


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
    found: dyn.Events | None = None,
) -> Appends | None:
    """The points to append for the buckets a tick completed, or None when a rebase is due.

    ``found``, the spikes and divergence ``sim.advance_for_charts`` found from ``meta.edge``
    on, saves finding them again.

    ``m`` holds the metrics of steps ``before.step .. after.step - 1`` as returned by
    ``sim.advance_with_metrics``; the steps of the open bucket (``meta.edge`` up to
    ``before.step``, fewer than ``meta.bucket``) are recomputed in front of them, so the
    appended points are exactly those a full render at ``after`` would hold. None means the
    browser would pass ``BOUND`` points or its charts do not continue this run (``meta`` is
    stale, or its last bucket was drawn incomplete): send ``full_render`` instead.
    """
    if not meta.matches(before, opts) or meta.step == 0 or meta.edge % meta.bucket:
        return None  # stale or incomplete charts, or empty ones a full render must bring back
    stop = drawn_to(after, meta.edge, meta.bucket)
    n = stop - meta.edge
    carry = dict(meta.carry)
    pieces: dict[str, tuple[NDArray[np.generic], FloatArray]] = {}
    if n:
        first = int(m["step"][0]) - 1 if len(m["step"]) else before.step
        if meta.edge < first:  # the open bucket's first steps, drawn by no tick yet
            m = {
                k: np.concatenate([v, np.asarray(m[k])])
                for k, v in sim.metrics(before, meta.edge, first).items()
            }
        m = {k: np.asarray(v)[meta.edge - min(first, meta.edge) :] for k, v in m.items()}
        steps = {k: np.asarray(v)[:n] for k, v in m.items()}
        if found is not None and first > meta.edge:
            found = None  # found from the tick's first step: the open bucket's are missing
        pieces = _bucketed(after, opts, carry, meta.edge, stop, meta.bucket, steps, found)
    added = max((y.size for y in (p[1] for p in pieces.values())), default=0)
    clip_point = n > 0
    if meta.points + added + int(clip_point) > BOUND:
        return None
    traces: dict[str, list[tuple[int, list[Any], list[Any]]]] = {}
    for chart in CHARTS:
        for i, name in enumerate(TRACES[chart]):
            if name in pieces and pieces[name][1].size:
                x, y = pieces[name]
                traces.setdefault(chart, []).append((i, json_values(x), json_values(y)))
    if clip_point and after.current_config.grad_clip > 0:
        x = _x_at(after, np.array([stop - 1], dtype=np.int64), opts.xaxis)
        traces.setdefault("grad", []).append(
            (TRACES["grad"].index("grad_clip"), json_values(x), [after.current_config.grad_clip])
        )
    points = meta.points + added + int(clip_point)
    new_meta = ChartMeta.drawn(after, opts, points, carry, meta.bucket, stop)
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
