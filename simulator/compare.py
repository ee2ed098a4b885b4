"""Comparing runs and recipes: curves on a common x-axis, final metrics, config diff, frontier.

Computation only, pure Python + numpy like the rest of the simulator: what a compared run's
curve and final figures are, how two configs differ, where the compute-optimal frontier lies.
Which runs are compared, how they are labelled and bounded per view, and how the results are
shown is the Model Comparison tab's browser contract (``views.comparison``); the design is in
docs/architecture.md, the published figures used in docs/sources.md.

Why the curves are built this way:

- Long runs are not computed step by step: past ``BUCKETED_FROM`` steps a run is read in
  buckets (``simulator.buckets``, issue 13): each bucket's first, last, lowest and highest
  step exactly as every step would give them, and its mean, at a cost that does not grow
  with the run (``_bucketed``). Shorter runs take the pass below.
- One pass per run. A what-if recipe is advanced to its end with ``advance_with_metrics``,
  which finds its divergence (if any) and returns its metrics in the same pass;
  ``predicted_run`` followed by ``metrics`` would scan the run twice. A saved run already knows
  its divergence, so ``metrics`` is enough. Every x-axis (step, tokens, FLOPs, GPU-hours, cost,
  wall time) is taken from that one pass.
- Two lines per run, as W&B and TensorBoard draw them: the raw loss downsampled with
  ``simulator.series`` (min/max per bucket, first, last and non-finite points kept, so a spike
  or a NaN is never averaged away), drawn faint, and the smoothed line: the loss averaged over
  500-1,000 buckets of a power of two steps, then smoothed with the debiased EMA over those
  points, as TensorBoard smooths the points it samples. So the smoothing weight means the same
  on a 3,000-step fine-tune and a million-step pretraining run (a per-step EMA of 0.9 spans
  10 steps, nothing on a long run), and the min/max of a noisy line no longer makes every
  overlaid curve a band.
- Bounded memory. Steps are computed in chunks of ``CHUNK``; each chunk is smoothed and
  downsampled at once, so the
  longest run (``MAX_STEPS``) never holds more than one chunk of full-resolution arrays. The
  chunk size is also the fastest measured: large temporaries (1M steps) spend more time in
  page faults.
- Work proportional to the steps asked for: ``analyse_state(curve=False)`` computes only a
  run's last steps, so a caller with a step budget (``views.comparison_list.MAX_VIEW_STEPS``) can
  keep a long run's final figures without its curve.

FLOPs are tokens x ``flops_per_token`` (6N + 12 * n_layers * seq_len * d_model, PaLM appendix
B), the model FLOPs the compute-optimal frontier is drawn in (Hoffmann et al. 2022 count 6ND;
the attention term adds 4-30% to 6N for the presets, the most for long sequences on small
models). The frontier itself is ``simulator.frontier``'s; ``frontier_line`` says which one a run is
judged against.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from simulator import buckets, dynamics, series
from simulator.config import TrainingConfig
from simulator.estimate import flops_per_token, param_count
from simulator.run import (
    FINAL_TAIL,
    RunState,
    advance_with_metrics,
    final_mean,
    iter_metrics,
    metrics,
    new_run,
    predicted_run,
    start,
)

FloatArray = NDArray[np.float64]

MAX_POINTS = 4000  # per trace, as on the Training tab
CHUNK = 65_536
SMOOTH_POINTS = 1000  # most points of a smoothed line (bucket means; over 500 on long runs)
# Runs longer than this are read in buckets (``simulator.buckets``: each bucket's true
# extremes and its mean without computing every step), so a 4M-step recipe costs what a
# 300k-step one does; shorter ones are computed step by step (under ~80 ms).
BUCKETED_FROM = 262_144
TAIL = FINAL_TAIL  # final train loss and accuracy: their mean over the last TAIL steps

X_AXES: Mapping[str, str] = {
    "step": "Step",
    "tokens": "Tokens",
    "flops": "Training compute (FLOPs)",
    "gpu_hours": "GPU-hours",
    "cost": "Cost (USD)",
    "wall_time": "Wall-clock time (hours)",
}
"""Every x-axis a curve can be drawn against, with its axis title."""


@dataclass(frozen=True)
class Curve:
    """A downsampled loss curve with every x-axis precomputed at the kept points."""

    x: dict[str, FloatArray]
    train: FloatArray  # smoothed training loss (bucket means), or the raw one unsmoothed
    val_x: dict[str, FloatArray]
    val: FloatArray  # validation loss at eval steps (never smoothed)
    raw_x: dict[str, FloatArray] | None = None  # the raw loss behind a smoothed line
    raw: FloatArray | None = None
    band: tuple[FloatArray, FloatArray] | None = None  # a prediction's low and high


@dataclass(frozen=True)
class Final:
    """End-of-run figures for the table and the compute-efficiency chart.

    Losses are NaN when the run diverged or has not taken a step.
    """

    steps: int
    status: str
    train_loss: float
    val_loss: float
    perplexity: float  # exp(final validation loss)
    accuracy: float  # next-token accuracy, mean over the last TAIL steps
    tokens: float
    flops: float
    gpu_hours: float
    wall_hours: float
    cost_usd: float
    params: int
    tokens_per_param: float
    diverged_at: int | None


@dataclass(frozen=True)
class Analysis:
    """One compared run: what it is, its final state and figures, and its curve (if drawn)."""

    key: str
    label: str
    kind: str  # "saved" | "recipe" | "real" | "prediction" (``KIND_NAMES``)
    state: RunState
    final: Final
    curve: Curve | None
    note: str = ""
    slot: int = 0  # the run's colour in every chart: a palette slot the caller picks
    missing: Mapping[str, str] = field(default_factory=dict)
    """x-axes (``X_AXES`` keys, and "flops" for the efficiency chart) this run cannot be
    drawn on, each with why (a real run whose recipe does not say its batch or hardware)."""
    estimated: Mapping[str, str] = field(default_factory=dict)
    """x-axes this run is drawn on from an estimate rather than its own record, each with
    why (a real run whose logs carry no wall times: its wall time is the recipe's)."""


# ----------------------------------------------------------------------------- curves
class _Accumulator:
    """Collects one run's chunks: smoothed, downsampled points plus the tail for finals."""

    _X = ("step", "tokens", "wall_time", "cost_usd")

    def __init__(self, smoothing: float, max_points: int, want_curve: bool, steps: int) -> None:
        self.smoothing = smoothing
        self.max_points = max_points
        self.want_curve = want_curve
        # Steps per smoothed point: a power of two, so buckets never straddle a chunk border.
        self.bucket = 1 << (max(1, math.ceil(steps / SMOOTH_POINTS)) - 1).bit_length()
        self.parts: list[dict[str, FloatArray]] = []
        self.smooth_parts: list[dict[str, FloatArray]] = []
        self.val_parts: list[dict[str, FloatArray]] = []
        self.tail_loss = np.empty(0)
        self.tail_acc = np.empty(0)
        self.last: dict[str, float] = {}
        self.last_val = math.nan

    def add(self, m: Mapping[str, NDArray[np.generic]]) -> None:
        y = np.asarray(m["train_loss"], dtype=np.float64)
        if y.size == 0:
            return
        self.tail_loss = np.concatenate([self.tail_loss, y[-TAIL:]])[-TAIL:]
        self.tail_acc = np.concatenate([self.tail_acc, np.asarray(m["accuracy"])[-TAIL:]])[-TAIL:]
        self.last = {k: float(m[k][-1]) for k in self._X}
        ev = np.flatnonzero(np.asarray(m["is_eval"]))
        if ev.size:
            vals = np.asarray(m["val_loss"], dtype=np.float64)[ev]
            finite = vals[np.isfinite(vals)]
            if finite.size:
                self.last_val = float(finite[-1])
        if not self.want_curve:
            return
        keep = series.downsample_indices(y, self.max_points)
        part = {k: np.asarray(m[k], dtype=np.float64)[keep] for k in self._X}
        part["y"] = y[keep]
        self.parts.append(part)
        if self.smoothing > 0.0:
            self.smooth_parts.append(self._bucket_means(m, y))
        if ev.size:
            vy = np.asarray(m["val_loss"], dtype=np.float64)[ev]
            vkeep = series.downsample_indices(vy, self.max_points)
            vpart = {k: np.asarray(m[k], dtype=np.float64)[ev][vkeep] for k in self._X}
            vpart["y"] = vy[vkeep]
            self.val_parts.append(vpart)

    def _bucket_means(
        self, m: Mapping[str, NDArray[np.generic]], y: FloatArray
    ) -> dict[str, FloatArray]:
        """The loss's mean over each bucket of ``self.bucket`` steps, at the bucket's mean x
        (on every axis).

        Buckets start at multiples of the size from step 0, whatever the chunks. A bucket
        holding a non-finite value keeps it (the line breaks there, as the raw one
        does), so a diverged tail is never averaged into finite numbers.
        """
        n, size = y.size, self.bucket
        first = int(-(int(np.asarray(m["step"])[0]) - 1) % size)  # buckets from step 0 on
        starts = np.unique(np.append(0, np.arange(first, n, size)))
        counts = np.diff(np.append(starts, n)).astype(np.float64)
        out = {
            k: np.add.reduceat(np.asarray(m[k], dtype=np.float64), starts) / counts for k in self._X
        }
        out["y"] = np.add.reduceat(y, starts) / counts
        return out

    def curve(self, state: RunState) -> Curve | None:
        if not self.want_curve or not self.parts:
            return None
        pts = _merge(self.parts, self.max_points)
        val = _merge(self.val_parts, self.max_points) if self.val_parts else None
        xs = _x_axes(state, pts)
        vxs = _x_axes(state, val) if val is not None else {k: np.empty(0) for k in X_AXES}
        vy = val["y"] if val is not None else np.empty(0)
        if not self.smooth_parts:
            return Curve(xs, pts["y"], vxs, vy)
        sm = {k: np.concatenate([p[k] for p in self.smooth_parts]) for k in self.smooth_parts[0]}
        line, _ = series.ema_smooth(sm["y"], self.smoothing)
        return Curve(_x_axes(state, sm), line, vxs, vy, xs, pts["y"])

    def final(self, state: RunState) -> Final:
        cfg = state.config
        params = param_count(cfg.arch)
        if not self.last:
            nan = math.nan
            return Final(
                0, state.status, nan, nan, nan, nan, 0.0, 0.0, 0.0, 0.0, 0.0, params, 0.0, None
            )
        diverged = state.status == "diverged"
        train = final_mean(self.tail_loss, diverged)
        val = math.nan if diverged else self.last_val
        acc = final_mean(self.tail_acc, diverged)
        tokens = self.last["tokens"]
        pt = {k: np.array([v]) for k, v in self.last.items()}
        gh = float(_gpu_hours(state, pt["step"], pt["wall_time"])[0])
        return Final(
            steps=int(self.last["step"]),
            status=state.status,
            train_loss=train,
            val_loss=val,
            perplexity=math.exp(min(val, 700.0)) if math.isfinite(val) else math.nan,
            accuracy=acc,
            tokens=tokens,
            flops=tokens * flops_per_token(cfg),
            gpu_hours=gh,
            wall_hours=self.last["wall_time"] / 3600.0,
            cost_usd=self.last["cost_usd"],
            params=params,
            tokens_per_param=tokens / params,
            diverged_at=state.diverged_at,
        )


def _merge(parts: list[dict[str, FloatArray]], max_points: int) -> dict[str, FloatArray]:
    """Concatenate per-chunk points and downsample once more if they exceed the bound."""
    if len(parts) == 1:
        return parts[0]
    out = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    keep = series.downsample_indices(out["y"], max_points)
    if keep.size == out["y"].size:
        return out
    return {k: v[keep] for k, v in out.items()}


def _gpu_hours(state: RunState, step: FloatArray, wall: FloatArray) -> FloatArray:
    """GPU-hours used by the end of each (1-based) step, across mid-run GPU-count changes."""
    tl = state.timeline
    segs = tl.segments
    gh0 = np.zeros(len(segs))
    for i in range(1, len(segs)):
        gh0[i] = gh0[i - 1] + (segs[i].wall0 - segs[i - 1].wall0) * segs[i - 1].cfg.num_gpus
    idx = tl.segment_index(np.maximum(step.astype(np.int64) - 1, 0))
    wall0 = np.array([s.wall0 for s in segs])[idx]
    gpus = np.array([s.cfg.num_gpus for s in segs], dtype=np.float64)[idx]
    out: FloatArray = (gh0[idx] + (wall - wall0) * gpus) / 3600.0
    return out


def _x_axes(state: RunState, pts: Mapping[str, FloatArray]) -> dict[str, FloatArray]:
    return {
        "step": pts["step"],
        "tokens": pts["tokens"],
        "flops": pts["tokens"] * flops_per_token(state.config),
        "gpu_hours": _gpu_hours(state, pts["step"], pts["wall_time"]),
        "cost": pts["cost_usd"],
        "wall_time": pts["wall_time"] / 3600.0,
    }


def analyse_state(
    key: str,
    label: str,
    state: RunState,
    *,
    smoothing: float = 0.0,
    max_points: int = MAX_POINTS,
    curve: bool = True,
) -> Analysis:
    """A saved run's curve (if ``curve``) and final figures, from its state alone.

    Without the curve only the last ``TAIL`` steps (and the eval before them) are computed.
    """
    if curve and state.step > BUCKETED_FROM:
        return _bucketed(key, label, "saved", state, smoothing, max_points)
    acc = _Accumulator(smoothing, max_points, curve, state.step)
    if curve:
        for m in iter_metrics(state, 0, state.step, chunk=CHUNK):
            acc.add(m)
    elif state.step:
        ev = state.config.resolved_eval_interval
        lo = max(0, state.step - max(TAIL, min(ev, CHUNK)))
        acc.add(metrics(state, lo, state.step))
    return Analysis(key, label, "saved", state, acc.final(state), acc.curve(state))


def analyse_recipe(
    key: str,
    label: str,
    config: TrainingConfig,
    *,
    smoothing: float = 0.0,
    max_points: int = MAX_POINTS,
) -> Analysis:
    """A what-if run of ``config`` computed to its end (or divergence) in one pass.

    A recipe that does not fit GPU memory would stop at step 0 in a real run; here it is still
    predicted (``predicted_run`` ignores memory) and the note says it would not fit.
    """
    state = start(new_run(config))
    if state.status == "running" and config.total_steps > BUCKETED_FROM:
        return _bucketed(key, label, "recipe", predicted_run(config), smoothing, max_points)
    acc = _Accumulator(smoothing, max_points, True, config.total_steps)
    note = ""
    if state.status == "running":
        while state.status == "running":
            state, m = advance_with_metrics(state, CHUNK)
            acc.add(m)
    else:
        note = "does not fit GPU memory as configured; curve predicted anyway"
        state = predicted_run(config)
        for m in iter_metrics(state, 0, state.step, chunk=CHUNK):
            acc.add(m)
    return Analysis(key, label, "recipe", state, acc.final(state), acc.curve(state), note)


def _bucketed(
    key: str, label: str, kind: str, state: RunState, smoothing: float, max_points: int
) -> Analysis:
    """A long run's curve and finals without computing every step (``simulator.buckets``):
    the raw line is each bucket's first, last, lowest and highest step, exactly as a pass over
    every step keeps them; the smoothed line the EMA of the buckets' means (a bucket that
    reaches the divergence's NaN breaks the line, as a step-by-step mean would); the finals
    come from the last ``TAIL`` steps and the last evaluation."""
    tl, seed, stop = state.timeline, state.seed, state.step
    size = 1 << (max(1, math.ceil(stop / SMOOTH_POINTS)) - 1).bit_length()
    ev = dynamics.find_events(tl, seed, 0, stop, diverged_at=state.diverged_at, scan_from=stop)
    bk = buckets.summarise(tl, seed, ev, 0, stop, size)
    kept = bk.kept["train_loss"]
    m = dynamics.evaluate(tl, seed, kept, ev)
    pts = {k: np.asarray(m[k], dtype=np.float64) for k in _Accumulator._X}
    pts["y"] = np.asarray(m["train_loss"], dtype=np.float64)
    pts = _merge([pts, {k: v[:0] for k, v in pts.items()}], max_points)
    evals = dynamics.eval_steps(tl, 0, stop)
    vm = dynamics.evaluate(tl, seed, evals, ev)
    val = {k: np.asarray(vm[k], dtype=np.float64) for k in _Accumulator._X}
    val["y"] = np.asarray(vm["val_loss"], dtype=np.float64)
    val = _merge([val, {k: v[:0] for k, v in val.items()}], max_points)
    xs, vxs = _x_axes(state, pts), _x_axes(state, val)
    if smoothing > 0.0:
        firsts = bk.ends - np.minimum(size, bk.ends + 1) + 1
        both = dynamics.evaluate(tl, seed, np.concatenate([firsts, bk.ends]), ev)
        n = bk.ends.size
        ends = {k: np.asarray(both[k], dtype=np.float64) for k in _Accumulator._X}
        mid = {k: 0.5 * (v[:n] + v[n:]) for k, v in ends.items()}
        means = bk.means["train_loss"].copy()
        if state.diverged_at is not None:  # a bucket reaching the NaN keeps it
            means[bk.ends > state.diverged_at + dynamics.DIVERGE_RAMP] = math.nan
        line, _ = series.ema_smooth(means, smoothing)
        curve = Curve(_x_axes(state, mid), line, vxs, val["y"], xs, pts["y"])
    else:
        curve = Curve(xs, pts["y"], vxs, val["y"])
    acc = _Accumulator(smoothing, max_points, False, stop)
    acc.add(metrics(state, max(0, stop - TAIL), stop))
    finite = np.isfinite(val["y"])
    if finite.any():
        acc.last_val = float(val["y"][finite][-1])
    return Analysis(key, label, kind, state, acc.final(state), curve)


# ------------------------------------------------------------------------------- table
KIND_NAMES: Mapping[str, str] = {
    "recipe": "what-if recipe",
    "saved": "saved run",
    "real": "real run",
    "prediction": "prediction (raw)",
}
"""How the final-metrics table names each kind of compared item."""


def final_rows(analyses: Sequence[Analysis]) -> list[dict[str, Any]]:
    """One row of final figures per run, keyed by the metrics table's column ids
    (``views.comparison.TABLE_COLUMNS`` names and orders them); NaN becomes None (sorted
    last, a blank CSV cell)."""
    rows = []
    for a in analyses:
        f = a.final
        row: dict[str, Any] = {
            "run": a.label,
            "kind": KIND_NAMES.get(a.kind, a.kind),
            "status": f.status if f.diverged_at is None else f"diverged at {f.steps:,}",
            "steps": f.steps,
        }
        for col in (
            "train_loss",
            "val_loss",
            "perplexity",
            "accuracy",
            "tokens_per_param",
            "flops",
            "gpu_hours",
            "wall_hours",
            "cost_usd",
        ):
            v = float(getattr(f, col))
            row[col] = v if math.isfinite(v) else None
        # billions: the unit papers quote, one unit per column; unknown (a real run whose
        # recipe does not say its batch or model) is a blank cell, never a guess
        row["tokens_b"] = f.tokens / 1e9 if math.isfinite(f.tokens) else None
        row["params_b"] = f.params / 1e9 if f.params > 0 else None
        rows.append(row)
    return rows


# ------------------------------------------------------------------------------ config diff
def flatten_config(state: RunState) -> dict[str, Any]:
    """A run's settings as flat ``field: value`` pairs, for a side-by-side diff.

    A custom architecture's settings become dotted names (``custom_model.d_model``). The
    seed and the mid-run changes (which only saved runs have) are included: both change the
    curve.
    """
    cfg = state.config
    d = cfg.to_dict()
    out: dict[str, Any] = {}
    for k, v in d.items():
        if k == "custom_model":
            if v is not None:
                for ck, cv in v.items():
                    out[f"custom_model.{ck}"] = cv
        else:
            out[k] = v
    out["seed"] = state.seed
    out["parameters"] = param_count(cfg.arch)
    out["total_steps"] = state.total_steps
    out["mid-run changes"] = (
        "; ".join(
            f"@{s:,}: " + ", ".join(f"{k}={_display(v)}" for k, v in c.items())
            for s, c in state.changes
        )
        if state.changes
        else "none"
    )
    return out


def config_diff(
    columns: Sequence[tuple[str, Mapping[str, Any]]], hide_identical: bool = False
) -> list[dict[str, Any]]:
    """Rows ``{"field", <label>: value, ..., "differs": bool}`` across the given runs.

    A field missing from one run (a custom architecture) counts as different. Labels must be
    unique; the caller disambiguates them.
    """
    fields: list[str] = []
    for _, flat in columns:
        for k in flat:
            if k not in fields:
                fields.append(k)
    rows = []
    for f in fields:
        values = [flat.get(f, "—") for _, flat in columns]
        differs = len({_display(v) for v in values}) > 1
        if hide_identical and not differs:
            continue
        row: dict[str, Any] = {"field": f, "differs": differs}
        for (label, _), v in zip(columns, values, strict=True):
            row[label] = _display(v)
        rows.append(row)
    return rows


def _display(v: Any) -> str:
    if v is None:
        return "default"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


# --------------------------------------------------------------------------- frontier
def frontier_line(state: RunState) -> tuple[str, int] | None:
    """The family and context length of the frontier a run is judged against, or None for a
    fine-tune or continued pretraining (``base_tokens > 0``): its base model's compute is not
    in its FLOPs, so no from-scratch frontier applies to it (``simulator.frontier``)."""
    cfg = state.config
    if cfg.base_tokens > 0:
        return None
    return cfg.family, cfg.seq_len
