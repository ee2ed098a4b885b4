"""A real run's Training charts: open (full render) and follow (tick appends), bounded.

The same contract as the simulated charts (``views.training_charts``, docs/architecture.md
"The tick"): what is drawn is bucketed into buckets of ``bucket`` steps, a power of two,
and each bucket keeps its first finite minimum and maximum and its first NaN, +inf and -inf
(``keep_extremes``), so a one-step spike stays at its exact step and height and a NaN at its
step. The browser keeps ``RealMeta`` (the ``TR_REAL_META`` Store): the run, the store's
version of it, the bucket size and per trace the first step not drawn yet (``edge``).

- ``open_run`` reads each charted metric once (``Store.live_read``: one snapshot). Buckets
  of 64 steps or more are read from the store's block summaries (a 1M-step run costs what a
  40k-step one does) and then regrouped into our power-of-two buckets: every point drawn is
  a stored point at its true step; a bucket's extremes are exact whenever the store's
  buckets nest in ours (the run's first stored step below 64, the usual case). Shorter runs
  are read whole.
- ``tick`` makes one read transaction (``Store.live_read``): the run's version first;
  unchanged means "nothing new" and no figure at all. Else, in the same snapshot, only the
  steps after each trace's edge, and the buckets they complete go out as appends. Too many
  new points for one tick (a writer far ahead of the page), a changed option or a stale
  meta is a full render instead (a "rebase").

While a run is being written only complete buckets are drawn (the open one lags by less than
one bucket, under 1/300 of the run); once the run is finished, failed or quiet for
``QUIET_S`` it is drawn to its last point.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from layouts.figures import real as fig
from layouts.figures.training import ChartOptions, json_values
from simulator import series as sseries
from simulator.run import FINAL_TAIL
from tracking.store import RunInfo, Store
from views.contract import KEEP, Edit
from views.real_run import Mapped, map_metrics

FULL_BUCKETS = 600  # as the simulated charts: 300-600 buckets after a render
TICK_BUCKETS = 12  # buckets per tick a render plans for (at the pace it saw)
MAX_TICK_BUCKETS = 24  # more in one tick is a rebase at a coarser bucket (keeps <= 8 KB)
BOUND = 4000  # points per trace the browser may hold; past it, rebase
BLOCK = 64  # the store's block summary width (tracking.store.downsample.BLOCK)
EXACT_READ = 100_000  # the store's most points in one read (tracking.store.store.MAX_POINTS)
QUIET_S = 60.0  # a run with no write for this long is drawn to its last point
ENDED = ("finished", "failed")
SIG = 6  # significant digits sent for y values (a chart draws ~500 px; 6 is plenty)
TICK_S = 1.0  # the follow tick's period (layouts/real_run.py FOLLOW_MS)
PACE_MIN_S = 5.0  # history a run needs before its pace is trusted (one write says nothing)

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


# ----------------------------------------------------------------------------- bucketing
def bucket_size(steps: int, rate: int = 1) -> int:
    """Steps per bucket: the least power of two giving at most ``FULL_BUCKETS`` buckets over
    ``steps`` and at most ``TICK_BUCKETS`` over the ``rate`` steps a tick brings (the
    simulated charts' rule, ``views.training_charts.bucket_size``, with a real run's own
    per-tick bound)."""
    need = max(1, math.ceil(steps / FULL_BUCKETS), math.ceil(rate / TICK_BUCKETS))
    return 1 << (need - 1).bit_length()


def pace(info: RunInfo) -> int:
    """The steps a follow tick will bring, from the run's own history: its step span over
    the seconds between its first and its latest write. An open used to plan for one step a
    tick, so a run logging 100 steps a second rebased on its first tick (a whole render of
    ~17 KB per tab, over the 8 KB a tick may send; found by the 50-tab load test). 1 when
    the run has less than ``PACE_MIN_S`` of history (logs ingested at once say nothing)."""
    span = info.updated - info.created
    if info.first_step is None or info.last_step is None or span < PACE_MIN_S:
        return 1
    return max(1, math.ceil((info.last_step - info.first_step) / span * TICK_S))


def keep_extremes(step: IntArray, value: FloatArray, bucket: int) -> NDArray[np.intp]:
    """Indices (sorted) of what each ``bucket``-step bucket keeps: its first finite minimum
    and maximum, and its first NaN, +inf and -inf. ``step`` ascending and unique."""
    if step.size == 0:
        return np.empty(0, np.intp)
    if bucket == 1:
        return np.arange(step.size)
    ids = step // bucket
    starts = np.flatnonzero(np.concatenate(([True], ids[1:] != ids[:-1])))
    finite = np.isfinite(value)
    low = np.where(finite, value, np.inf)
    high = np.where(finite, value, -np.inf)
    counts = np.diff(np.concatenate((starts, [step.size])))
    seg = np.repeat(np.arange(starts.size), counts)
    keep = [
        _first(finite & (low == np.repeat(np.minimum.reduceat(low, starts), counts)), seg),
        _first(finite & (high == np.repeat(np.maximum.reduceat(high, starts), counts)), seg),
        _first(np.isnan(value), seg),
        _first(value == np.inf, seg),
        _first(value == -np.inf, seg),
    ]
    return np.unique(np.concatenate(keep))


def _first(mask: NDArray[np.bool_], seg: NDArray[np.int64]) -> NDArray[np.intp]:
    """Index of the first True of ``mask`` in each segment that has one."""
    hits = np.flatnonzero(mask)
    if hits.size == 0:
        return hits
    lead = np.concatenate(([True], seg[hits][1:] != seg[hits][:-1]))
    return hits[lead]


# ----------------------------------------------------------------------------- meta
@dataclass(frozen=True)
class RealMeta:
    """The ``TR_REAL_META`` Store: what the browser's real-run charts hold."""

    run: str
    version: float
    bucket: int
    edges: Mapping[str, int]  # trace slot -> first step not drawn
    points: int  # most points held by any trace
    xaxis: str
    smoothing: float
    other: str  # the metric on the "other" chart ("" for none)
    carry: Mapping[str, tuple[float, int]] = field(default_factory=dict)
    lead: Mapping[str, int] = field(default_factory=dict)  # hook traces before ours, per chart
    last: int = -1  # last stored step seen
    whole: bool = False  # drawn to the last point (a finished or quiet run)
    held: Mapping[str, float] = field(default_factory=dict)  # last finite value drawn per slot
    t0: float | None = None  # the wall axis' zero: the run's first timed point (Unix s)
    timed: bool = False  # the run's points carry wall times (the Wall time axis is offered)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run": self.run,
            "version": self.version,
            "bucket": self.bucket,
            "edges": dict(self.edges),
            "points": self.points,
            "xaxis": self.xaxis,
            "smoothing": self.smoothing,
            "other": self.other,
            "carry": {k: [v[0], v[1]] for k, v in self.carry.items()},
            "lead": dict(self.lead),
            "last": self.last,
            "whole": self.whole,
            "held": dict(self.held),
            "t0": self.t0,
            "timed": self.timed,
        }

    @classmethod
    def from_dict(cls, raw: Any) -> RealMeta | None:
        """Parse the Store, or None when it is not exactly what ``to_dict`` writes."""
        try:
            meta = cls(
                run=str(raw["run"]),
                version=float(raw["version"]),
                bucket=int(raw["bucket"]),
                edges={str(k): int(v) for k, v in raw["edges"].items()},
                points=int(raw["points"]),
                xaxis=str(raw["xaxis"]),
                smoothing=float(raw["smoothing"]),
                other=str(raw["other"]),
                carry={str(k): (float(v[0]), int(v[1])) for k, v in raw["carry"].items()},
                lead={str(k): int(v) for k, v in raw["lead"].items()},
                last=int(raw["last"]),
                whole=bool(raw["whole"]),
                held={str(k): float(v) for k, v in raw["held"].items()},
                # absent in a meta written before the wall axis (a page open across a deploy)
                t0=None if raw.get("t0") is None else float(raw["t0"]),
                timed=bool(raw.get("timed", False)),
            )
        except (KeyError, TypeError, ValueError, AttributeError, IndexError):
            return None
        b = meta.bucket
        if b < 1 or b & (b - 1) or b > 1 << 30 or not math.isfinite(meta.version):
            return None
        if any(e < 0 for e in meta.edges.values()) or set(meta.edges) - set(fig.SLOTS):
            return None
        if meta.t0 is not None and not math.isfinite(meta.t0):
            return None
        if meta.xaxis == "wall" and meta.t0 is None:
            return None
        return meta


# ----------------------------------------------------------------------------- reads
Read = tuple[str, int | None, int | None, int]  # (metric, start, stop, points) for the store
Tails = dict[str, tuple[list[int], list[float]]]  # slot -> its points in the last steps
KPI_SLOTS = ("train_loss", "val_loss", "throughput")
TAIL_STEPS = FINAL_TAIL  # the KPIs' final-loss window (layouts/definitions.py TRAIN_LOSS)


def _range_read(metric: str, start: int, stop: int, bucket: int) -> Read:
    """The store read for ``start..stop`` at ``bucket``-step resolution: every point for
    buckets under 64 steps, else each 64-step-aligned bucket's extremes (block summaries)."""
    if bucket < BLOCK:  # as many points as steps: every point comes back, no bucket math
        return (metric, start, stop, min(EXACT_READ, max(2, stop + 1 - start)))
    return (metric, start, stop, max(2, 2 * math.ceil((stop + 1 - start) / bucket)))


@dataclass
class _Plan:
    """What one ``Store.live_read`` reads for a render or a tick, decided once the run's
    metrics and last steps are known (inside the read's snapshot).

    Per slot, the chart's range (``edges[slot] .. edge - 1``) and, for the KPI metrics, the
    tail (their last ``TAIL_STEPS`` steps). At a resolution of under 64 steps both are exact
    reads, so they are one read of the span covering both; else two reads."""

    other: str
    bucket: int | None  # None: choose from the run's length and ``rate``
    edges: Mapping[str, int] | None  # first step to read per slot (None: from 0)
    rate: int = 1
    now: float | None = None
    mapped: Mapped | None = None
    # per read: (slot, chart range or None, tail start or None)
    parts: list[tuple[str, tuple[int, int] | None, int | None]] = field(default_factory=list)
    edge: int = 0
    last: int = -1
    whole: bool = False
    seen: float | None = None  # a tick: the version the page holds (None: a render)
    seen_whole: bool = False  # ... and whether the page holds the run to its last point
    nothing: bool = False  # a tick found nothing new (no reads made)
    heads: bool = False  # also read each metric's first 64 steps (the wall axis' zero)
    head_reads: int = 0

    def __call__(self, info: RunInfo, lasts: dict[str, int]) -> list[Read]:
        if info.updated == self.seen and (
            self.seen_whole or not _whole("", info.updated, self.now)
        ):
            self.nothing = True
            return []
        self.mapped = map_metrics(info.metrics, self.other)
        self.last = -1 if info.last_step is None else info.last_step
        self.whole = _whole(info.status, info.updated, self.now)
        if self.bucket is None:
            rate = self.rate if self.whole else max(self.rate, pace(info))
            self.bucket = bucket_size(max(1, self.last + 1), max(1, rate))
        self.edge = _edge(self.last, self.bucket, self.whole)
        reads: list[Read] = []
        for slot, metric in self.mapped.slots.items():
            start = 0 if self.edges is None else self.edges.get(slot, 0)
            chart = (start, self.edge - 1) if start <= self.edge - 1 else None
            tail = None
            if slot in KPI_SLOTS and metric in lasts:
                tail = max(0, lasts[metric] - TAIL_STEPS + 1)
            if chart and tail is not None and self.bucket < BLOCK:
                lo, hi = min(chart[0], tail), max(chart[1], lasts[metric])
                reads.append((metric, lo, hi, min(EXACT_READ, max(2, hi + 1 - lo))))
                self.parts.append((slot, chart, tail))
                continue
            if chart:
                reads.append(_range_read(metric, chart[0], chart[1], self.bucket))
                self.parts.append((slot, chart, None))
            if tail is not None:
                reads.append((metric, tail, None, TAIL_STEPS))
                self.parts.append((slot, None, tail))
        if self.heads and info.first_step is not None:
            for metric in sorted(set(self.mapped.slots.values())):
                reads.append((metric, None, info.first_step + BLOCK - 1, BLOCK))
                self.head_reads += 1
        return reads


Raw = dict[str, tuple[IntArray, FloatArray, FloatArray]]  # slot -> kept (step, value, time)


def _split(plan: _Plan, curves: list[Any]) -> tuple[Raw, Tails, float | None]:
    """The chart pieces (bucketed, each point with its stored wall time), the KPI tails
    and the earliest wall time among every point read (None: no point read has one)."""
    assert plan.bucket is not None
    raw: Raw = {}
    tails: Tails = {}
    first: float | None = None
    parts = [*plan.parts, *[None] * plan.head_reads]
    for part, c in zip(parts, curves, strict=True):
        wall = np.asarray(c.time, dtype=np.float64)
        timed = wall[np.isfinite(wall)]
        if timed.size:
            first = float(timed.min()) if first is None else min(first, float(timed.min()))
        if part is None:
            continue
        slot, chart, tail = part
        step = np.asarray(c.step, dtype=np.int64)
        value = np.asarray(c.value, dtype=np.float64)
        if chart is not None:
            lo, hi = np.searchsorted(step, chart[0]), np.searchsorted(step, chart[1], "right")
            s, v, w = step[lo:hi], value[lo:hi], wall[lo:hi]
            keep = keep_extremes(s, v, plan.bucket)
            raw[slot] = (s[keep], v[keep], w[keep])
        if tail is not None:
            t = np.searchsorted(step, tail)
            tails[slot] = (step[t:].tolist(), value[t:].tolist())
    return raw, tails, first


def hours_since(wall: FloatArray, t0: float) -> FloatArray:
    """The wall axis' x: hours since ``t0`` (the simulated run's wall axis is in hours too),
    to 1e-6 h (3.6 ms) so a tick's numbers stay short; NaN (drawn as a gap) where the
    source gave no time."""
    out: FloatArray = np.round((wall - t0) / 3600.0, 6)
    return out


def x_of(
    step: IntArray, wall: FloatArray, opts: ChartOptions, tokens: float | None, t0: float | None
) -> NDArray[Any]:
    """Each point's x on the chosen axis: steps, tokens, or hours since ``t0``."""
    if opts.xaxis == "tokens" and tokens:
        return step.astype(np.float64) * tokens
    if opts.xaxis == "wall" and t0 is not None:
        return hours_since(wall, t0)
    return step


@dataclass
class Drawn:
    """Points for each trace slot: x, y, and the raw steps (for NaN markers)."""

    data: dict[str, tuple[list[Any], ...]]  # slot -> (x, y) or (x, y, hover text)
    carry: dict[str, tuple[float, int]]
    counts: dict[str, int]
    held: dict[str, float]


def _pieces(
    raw: Raw,
    opts: ChartOptions,
    tokens_per_step: float | None,
    carry: dict[str, tuple[float, int]],
    held: Mapping[str, float] | None = None,
    t0: float | None = None,
) -> Drawn:
    """Turn each slot's kept (step, value, time) into its traces: raw, smoothed, NaN
    markers, at x on the chosen axis (``t0``: the wall axis' zero). ``held``: the last
    finite value already drawn per slot (where a marker at the start of a piece sits)."""
    data: dict[str, tuple[list[Any], ...]] = {}
    counts: dict[str, int] = {}
    out_held = dict(held or {})
    for slot, (step, value, wall) in raw.items():
        x = x_of(step, wall, opts, tokens_per_step, t0)
        xs = json_values(np.asarray(x))
        data[slot] = (xs, _rounded(value))
        counts[slot] = int(step.size)
        if slot in fig.SMOOTHED:
            if opts.smoothing > 0.0:
                sm, carry[slot] = sseries.ema_smooth(value, opts.smoothing, carry.get(slot))
                data[slot + "_smooth"] = (xs, _rounded(sm))
            else:
                carry.setdefault(slot, (0.0, 0))
        bad = np.flatnonzero(~np.isfinite(value))
        if bad.size:
            data[slot + "_nan"] = _markers(np.asarray(x), value, bad, out_held.get(slot))
        good = np.flatnonzero(np.isfinite(value))
        if good.size:
            out_held[slot] = float(value[good[-1]])
    return Drawn(data, carry, counts, out_held)


def _rounded(a: FloatArray) -> list[Any]:
    out = json_values(a)
    return [v if v is None else float(f"{v:.{SIG}g}") for v in out]


def _markers(
    x: NDArray[np.generic], value: FloatArray, bad: NDArray[np.intp], before: float | None
) -> tuple[list[Any], ...]:
    """NaN/inf markers at their steps, drawn at the last finite value before them (on the
    curve, where the eye looks; ``before`` when the piece starts with them, else the first
    finite value after) with the true value in the hover text."""
    finite_at = np.flatnonzero(np.isfinite(value))
    fallback = (
        before if before is not None else (float(value[finite_at[0]]) if finite_at.size else 0.0)
    )
    finite = np.isfinite(value)
    prev = np.maximum.accumulate(np.where(finite, np.arange(value.size), -1))
    ys: list[Any] = []
    texts: list[str] = []
    for i in bad.tolist():
        j = int(prev[i])
        ys.append(float(f"{value[j] if j >= 0 else fallback:.{SIG}g}"))
        texts.append("NaN" if math.isnan(value[i]) else ("+inf" if value[i] > 0 else "-inf"))
    return (json_values(x[bad]), ys, texts)


# ----------------------------------------------------------------------------- open
@dataclass
class Opened:
    """A full render of a real run: figures per chart and the meta the browser keeps."""

    figures: dict[str, dict[str, Any]]
    meta: RealMeta
    mapped: Mapped
    last: int
    info: RunInfo
    tails: Tails  # each KPI metric's points in its last ``TAIL_STEPS`` steps


def _edge(last: int, bucket: int, whole: bool) -> int:
    """First step not drawn: past the last point when drawn whole, else the open bucket's
    start (only complete buckets are drawn while the run is written)."""
    return last + 1 if whole else (last + 1) // bucket * bucket


def open_run(
    store: Store,
    run_id: str,
    opts: ChartOptions,
    other: str,
    tokens_per_step: float | None,
    rate: int = 1,
    hooks: Callable[[str], list[dict[str, Any]]] | None = None,
    now: float | None = None,
) -> Opened | None:
    """Every chart of ``run_id`` drawn from the store; None when the run is not there.

    ``rate`` is the steps a tick brought last time (so the ticks after this render each
    complete at most ``TICK_BUCKETS`` buckets). ``hooks(chart)`` gives the traces drawn
    behind the run's own (the prediction band; ``views.real_run.prediction_traces``).
    """
    plan = _Plan(other, None, None, rate, now, heads=opts.xaxis == "wall")
    got = store.live_read(run_id, plan)
    if got is None or plan.mapped is None or plan.bucket is None:
        return None
    info, curves = got
    raw, tails, t0 = _split(plan, curves)
    mapped, bucket, edge, last, whole = plan.mapped, plan.bucket, plan.edge, plan.last, plan.whole
    version = info.updated
    if opts.xaxis == "wall" and t0 is None:  # no point carries a time: steps instead
        opts = ChartOptions("step", opts.smoothing, opts.log)
    carry: dict[str, tuple[float, int]] = {}
    drawn = _pieces(raw, opts, tokens_per_step, carry, t0=t0)
    hooks = hooks or (lambda _chart: [])
    lead = {chart: len(hooks(chart)) for chart in fig.CHARTS}
    clock = _clock(raw, t0) if opts.xaxis == "wall" and t0 is not None else None

    def behind(chart: str) -> list[dict[str, Any]]:
        traces = hooks(chart)
        return traces if clock is None else [_on_clock(t, clock) for t in traces]

    figures = {
        chart: fig.build(chart, drawn.data, mapped, opts, run_id, behind(chart))
        for chart in fig.CHARTS
    }
    meta = RealMeta(
        run=run_id,
        version=version,
        bucket=bucket,
        edges=dict.fromkeys(mapped.slots, edge),
        points=max(drawn.counts.values(), default=0),
        xaxis=opts.xaxis,
        smoothing=opts.smoothing,
        other=mapped.other,
        carry=drawn.carry,
        lead=lead,
        last=last,
        whole=whole,
        held=drawn.held,
        t0=t0 if opts.xaxis == "wall" else None,
        timed=t0 is not None,
    )
    return Opened(figures, meta, mapped, last, info, tails)


def _clock(raw: Raw, t0: float) -> tuple[FloatArray, FloatArray] | None:
    """The run's (step, hours since ``t0``) as its drawn points show it, sorted by step:
    what places the prediction band (computed per step) on the wall axis."""
    steps = np.concatenate([s for s, _, _ in raw.values()]) if raw else np.empty(0, np.int64)
    walls = np.concatenate([w for _, _, w in raw.values()]) if raw else np.empty(0)
    ok = np.isfinite(walls)
    if int(ok.sum()) < 2:
        return None
    s, order = np.unique(steps[ok], return_index=True)
    h = np.maximum.accumulate(hours_since(walls[ok][order], t0))  # a pause never runs back
    if s[-1] == s[0]:
        return None
    return s.astype(np.float64), h


def _on_clock(trace: dict[str, Any], clock: tuple[FloatArray, FloatArray]) -> dict[str, Any]:
    """A hook trace whose x are steps, moved to the wall axis: between the run's points by
    its own clock, past them at its mean pace (the band's future is an estimate)."""
    xs = trace.get("x")
    if not xs:
        return trace
    s, h = clock
    step = np.asarray(xs, dtype=np.float64)
    pace = (h[-1] - h[0]) / (s[-1] - s[0])
    x = np.interp(step, s, h)
    x = np.where(step > s[-1], h[-1] + (step - s[-1]) * pace, x)
    x = np.where(step < s[0], h[0] + (step - s[0]) * pace, x)
    return {**trace, "x": [float(f"{v:.8g}") for v in x.tolist()]}


def _whole(status: str, version: float, now: float | None) -> bool:
    return status in ENDED or (now if now is not None else time.time()) - version > QUIET_S


# ----------------------------------------------------------------------------- tick
@dataclass
class Ticked:
    """A tick's answer: ``charts`` per chart an ``Edit``, or ``KEEP`` for every chart when
    nothing is new (``nothing`` true); ``rebase`` when a full render is due instead."""

    charts: dict[str, Any]
    meta: RealMeta | None
    nothing: bool = False
    rebase: bool = False
    gone: bool = False
    rate: int = 1  # steps the store moved since the meta (the next render's bucket uses it)
    info: RunInfo | None = None
    tails: Tails = field(default_factory=dict)
    mapped: Mapped | None = None


def tick(
    store: Store,
    meta: RealMeta,
    opts: ChartOptions,
    tokens_per_step: float | None,
    now: float | None = None,
) -> Ticked:
    """Only what is new since ``meta``: nothing, appends, or a rebase (see module doc)."""
    keep = dict.fromkeys(fig.CHARTS, KEEP)
    if meta.xaxis != opts.xaxis or meta.smoothing != opts.smoothing:
        return Ticked(keep, None, rebase=True)
    # One read transaction: the run's version first; the points only when it moved.
    plan = _Plan(meta.other, meta.bucket, meta.edges, now=now, seen=meta.version)
    plan.seen_whole = meta.whole
    got = store.live_read(meta.run, plan)
    if got is None:
        return Ticked(keep, None, gone=True)
    if plan.nothing:
        return Ticked(keep, meta, nothing=True)
    if plan.mapped is None:
        return Ticked(keep, None, gone=True)
    if any(e % meta.bucket for e in meta.edges.values()):
        return Ticked(keep, None, rebase=True)  # the last bucket was drawn open, now it grew
    info, curves = got
    version = info.updated
    mapped, last, whole, edge = plan.mapped, plan.last, plan.whole, plan.edge
    if set(mapped.slots) != set(meta.edges):
        return Ticked(keep, None, rebase=True)  # a metric appeared
    if edge - min(meta.edges.values(), default=edge) > MAX_TICK_BUCKETS * meta.bucket:
        # Far behind: a render picks a coarser bucket for this pace.
        return Ticked(keep, None, rebase=True, rate=edge - min(meta.edges.values()))
    raw, tails, _ = _split(plan, curves)
    if any(step.size and step[0] < meta.edges[slot] for slot, (step, _, _) in raw.items()):
        return Ticked(keep, None, rebase=True)
    carry = dict(meta.carry)
    drawn = _pieces(raw, opts, tokens_per_step, carry, meta.held, meta.t0)
    added = max(drawn.counts.values(), default=0)
    if meta.points + added > BOUND:
        return Ticked(keep, None, rebase=True)
    charts: dict[str, Any] = {}
    for chart in fig.CHARTS:
        edit = Edit()
        touched = False
        for i, name in enumerate(fig.TRACES[chart]):
            if name not in drawn.data or not drawn.data[name][0]:
                continue
            index = meta.lead.get(chart, 0) + i
            xs, ys, *rest = drawn.data[name]
            edit = edit.extend(("data", index, "x"), xs).extend(("data", index, "y"), ys)
            if rest:
                edit = edit.extend(("data", index, "text"), rest[0])
            touched = True
        charts[chart] = edit if touched else KEEP
    new = RealMeta(
        run=meta.run,
        version=version,
        bucket=meta.bucket,
        edges={slot: max(edge, meta.edges[slot]) for slot in mapped.slots},
        points=meta.points + added,
        xaxis=meta.xaxis,
        smoothing=meta.smoothing,
        other=meta.other,
        carry=drawn.carry,
        lead=meta.lead,
        last=last,
        whole=whole,
        held=drawn.held,
        t0=meta.t0,
        timed=meta.timed,
    )
    return Ticked(charts, new, info=info, tails=tails, mapped=mapped)
