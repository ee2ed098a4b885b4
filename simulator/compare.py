"""Comparing runs and recipes: curves on a common x-axis, final metrics, config diff, frontier.

Pure Python + numpy, like the rest of the simulator; the Model Comparison tab's callbacks are
thin adapters around these functions.

Why the curves are built this way:

- One pass per run. A what-if recipe is advanced to its end with ``advance_with_metrics``,
  which finds its divergence (if any) and returns its metrics in the same pass;
  ``predicted_run`` followed by ``metrics`` would scan the run twice. A saved run already knows
  its divergence, so ``metrics`` is enough. Every x-axis (step, tokens, FLOPs, GPU-hours, cost,
  wall time) is taken from that one pass.
- Bounded memory. Steps are computed in chunks of ``CHUNK``; each chunk is smoothed (the EMA
  carry continues across chunks, so the smoothed line is exact) and downsampled at once with
  ``simulator.series`` (min/max per bucket, first, last and non-finite points kept), so a
  50M-step run never holds more than one chunk of full-resolution arrays. The chunk size is
  also the fastest measured: large temporaries (1M steps) spend more time in page faults.
- Bounded work. A view computes at most ``MAX_VIEW_STEPS`` steps; a run past the budget is
  listed without its curve and a note says why, so no request can run for minutes.

FLOPs are tokens x ``flops_per_token`` (Kaplan: 6N + 6 * n_layers * seq_len * d_model), the
model FLOPs the compute-optimal frontier is drawn in (Hoffmann et al. 2022 count 6ND; the
attention term adds a few per cent at these sizes).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from simulator import series
from simulator.catalog import FAMILY_LOSS_OFFSET, MODELS
from simulator.config import PRESETS, ConfigError, TrainingConfig, preset
from simulator.estimate import (
    CHINCHILLA_A,
    CHINCHILLA_ALPHA,
    CHINCHILLA_B,
    CHINCHILLA_BETA,
    CHINCHILLA_E,
    compute_optimal,
    flops_per_token,
    param_count,
)
from simulator.run import (
    RunState,
    advance_with_metrics,
    iter_metrics,
    metrics,
    new_run,
    predicted_run,
    start,
)

FloatArray = NDArray[np.float64]

MAX_POINTS = 4000  # per trace, as on the Training tab
CHUNK = 65_536
MAX_VIEW_STEPS = 30_000_000  # steps one view may compute (~5 s); longer runs lose their curve
TAIL = 100  # final train loss and accuracy: mean over the last TAIL steps (one step is noise)

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
    train: FloatArray  # smoothed training loss
    val_x: dict[str, FloatArray]
    val: FloatArray  # validation loss at eval steps (never smoothed)


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
    kind: str  # "saved" | "recipe"
    state: RunState
    final: Final
    curve: Curve | None
    note: str = ""
    slot: int = 0  # position in the comparison list: sets the run's colour in every chart


# ----------------------------------------------------------------------------- curves
class _Accumulator:
    """Collects one run's chunks: smoothed, downsampled points plus the tail for finals."""

    _X = ("step", "tokens", "wall_time", "cost_usd")

    def __init__(self, smoothing: float, max_points: int, want_curve: bool) -> None:
        self.smoothing = smoothing
        self.max_points = max_points
        self.want_curve = want_curve
        self.carry: tuple[float, int] | None = None
        self.parts: list[dict[str, FloatArray]] = []
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
        sm, self.carry = series.ema_smooth(y, self.smoothing, self.carry)
        keep = series.downsample_indices(sm, self.max_points)
        part = {k: np.asarray(m[k], dtype=np.float64)[keep] for k in self._X}
        part["y"] = sm[keep]
        self.parts.append(part)
        if ev.size:
            vy = np.asarray(m["val_loss"], dtype=np.float64)[ev]
            vkeep = series.downsample_indices(vy, self.max_points)
            vpart = {k: np.asarray(m[k], dtype=np.float64)[ev][vkeep] for k in self._X}
            vpart["y"] = vy[vkeep]
            self.val_parts.append(vpart)

    def curve(self, state: RunState) -> Curve | None:
        if not self.want_curve or not self.parts:
            return None
        pts = _merge(self.parts, self.max_points)
        val = _merge(self.val_parts, self.max_points) if self.val_parts else None
        xs = _x_axes(state, pts)
        vxs = _x_axes(state, val) if val is not None else {k: np.empty(0) for k in X_AXES}
        return Curve(xs, pts["y"], vxs, val["y"] if val is not None else np.empty(0))

    def final(self, state: RunState) -> Final:
        cfg = state.config
        params = param_count(cfg.arch)
        if not self.last:
            nan = math.nan
            return Final(
                0, state.status, nan, nan, nan, nan, 0.0, 0.0, 0.0, 0.0, 0.0, params, 0.0, None
            )
        diverged = state.status == "diverged"
        finite = self.tail_loss[np.isfinite(self.tail_loss)]
        train = math.nan if diverged or not finite.size else float(finite.mean())
        val = math.nan if diverged else self.last_val
        acc_f = self.tail_acc[np.isfinite(self.tail_acc)]
        acc = math.nan if diverged or not acc_f.size else float(acc_f.mean())
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
    acc = _Accumulator(smoothing, max_points, curve)
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
    acc = _Accumulator(smoothing, max_points, True)
    state = start(new_run(config))
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


# ------------------------------------------------------------------------------- table
TABLE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("run", "Run"),
    ("kind", "Kind"),
    ("status", "Status"),
    ("steps", "Steps"),
    ("train_loss", "Final train loss"),
    ("val_loss", "Final val loss"),
    ("perplexity", "Val perplexity"),
    ("accuracy", "Token accuracy"),
    ("tokens_b", "Tokens (B)"),
    ("params_b", "Params (B)"),
    ("tokens_per_param", "Tokens / param"),
    ("flops", "FLOPs"),
    ("gpu_hours", "GPU-hours"),
    ("wall_hours", "Wall time (h)"),
    ("cost_usd", "Cost (USD)"),
)
"""Column id and heading of the final-metrics table and its CSV export, in order."""


def final_rows(analyses: Sequence[Analysis]) -> list[dict[str, Any]]:
    """One table row per run; NaN becomes None (sorted last, a blank CSV cell)."""
    rows = []
    for a in analyses:
        f = a.final
        row: dict[str, Any] = {
            "run": a.label,
            "kind": "what-if recipe" if a.kind == "recipe" else "saved run",
            "status": f.status if f.diverged_at is None else f"diverged at {f.diverged_at + 1:,}",
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
        row["tokens_b"] = f.tokens / 1e9  # billions: the unit papers quote, one unit per column
        row["params_b"] = f.params / 1e9
        rows.append(row)
    return rows


def rows_to_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    """The final-metrics table as CSV with the on-screen headings (full precision)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([title for _, title in TABLE_COLUMNS])
    for r in rows:
        w.writerow(["" if r.get(c) is None else r.get(c) for c, _ in TABLE_COLUMNS])
    return buf.getvalue()


# ------------------------------------------------------------------------------ config diff
def flatten_config(state: RunState) -> dict[str, Any]:
    """A run's settings as flat ``field: value`` pairs, for a side-by-side diff.

    Nested settings become dotted names; the optimizer's defaults are filled in so two AdamW
    runs that differ only in an explicit beta still show the difference. The seed and the
    mid-run changes (which only saved runs have) are included: both change the curve.
    """
    cfg = state.config
    d = cfg.to_dict()
    out: dict[str, Any] = {}
    for k, v in d.items():
        if k == "optimizer_params":
            for pk, pv in sorted(cfg.resolved_optimizer_params.items()):
                out[f"optimizer_params.{pk}"] = pv
        elif k == "custom_model":
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
            f"@{s:,}: " + ", ".join(f"{k}={v}" for k, v in c.items()) for s, c in state.changes
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
@dataclass(frozen=True)
class Frontier:
    """Hoffmann et al.'s compute-optimal loss L(N_opt(C), D_opt(C)) over a compute range."""

    compute: FloatArray
    loss: FloatArray
    params: FloatArray
    tokens: FloatArray


def chinchilla_loss(params: FloatArray | float, tokens: FloatArray | float) -> FloatArray:
    """L(N, D) = E + A / N^alpha + B / D^beta with the fit as printed (approach 3)."""
    n = np.asarray(params, dtype=np.float64)
    d = np.asarray(tokens, dtype=np.float64)
    return np.asarray(
        CHINCHILLA_E + CHINCHILLA_A / n**CHINCHILLA_ALPHA + CHINCHILLA_B / d**CHINCHILLA_BETA
    )


def frontier(c_min: float, c_max: float, n: int = 64) -> Frontier:
    """The compute-optimal frontier from ``c_min`` to ``c_max`` FLOPs (log-spaced points).

    Uses ``estimate.compute_optimal`` (Hoffmann eq. 4), so the frontier and the estimator's
    "optimal tokens per parameter" advice agree.
    """
    if not (c_min > 0 and c_max >= c_min and math.isfinite(c_max)):
        raise ValueError(f"compute range must be positive and ordered, not {c_min}..{c_max}")
    c = np.logspace(math.log10(c_min), math.log10(max(c_max, c_min * 1.0001)), n)
    split = [compute_optimal(float(ci)) for ci in c]
    n_opt = np.array([s[0] for s in split])
    d_opt = np.array([s[1] for s in split])
    return Frontier(c, chinchilla_loss(n_opt, d_opt), n_opt, d_opt)


def family_offset(state: RunState) -> float:
    """The simulator's per-family loss offset for this run's model (nats)."""
    cfg = state.config
    family = cfg.family if cfg.model not in MODELS else MODELS[cfg.model].family
    return float(FAMILY_LOSS_OFFSET.get(family, 0.0))


# ---------------------------------------------------------------------------- selection
MAX_COMPARED = 12
"""Runs and recipes in one comparison: bounds the work of a view and keeps legends legible."""


@dataclass(frozen=True)
class Item:
    """One entry of the comparison: a published recipe, a saved run or a saved config."""

    kind: str  # "preset" | "saved" | "config"
    ref: str  # preset slug, saved-run id, or "" for a config
    config: TrainingConfig | None = None

    def to_dict(self) -> dict[str, Any]:
        if self.kind == "config":
            assert self.config is not None
            return {"kind": "config", "config": self.config.to_dict()}
        return {"kind": self.kind, "ref": self.ref}

    @property
    def key(self) -> str:
        """A stable identity, to refuse duplicates and to address removal."""
        if self.kind == "config":
            assert self.config is not None
            return "config:" + _config_hash(self.config)
        return f"{self.kind}:{self.ref}"


def _config_hash(cfg: TrainingConfig) -> str:
    blob = json.dumps(cfg.to_dict(), sort_keys=True, separators=(",", ":")).encode()
    return hashlib.blake2b(blob, digest_size=5).hexdigest()


def parse_selection(raw: Any) -> tuple[list[Item], list[str]]:
    """The comparison list from the browser, validated; one message per dropped entry.

    Accepts at most ``MAX_COMPARED`` entries; unknown presets, malformed entries and invalid
    configs are dropped (and named), duplicates silently.
    """
    if raw is None:
        return [], []
    if not isinstance(raw, list):
        return [], ["the comparison list was not a list; started a new one"]
    items: list[Item] = []
    errors: list[str] = []
    seen: set[str] = set()
    for i, e in enumerate(raw[: MAX_COMPARED * 2]):
        item: Item | None = None
        if isinstance(e, dict) and e.get("kind") == "preset" and e.get("ref") in PRESETS:
            item = Item("preset", str(e["ref"]))
        elif (
            isinstance(e, dict)
            and e.get("kind") == "saved"
            and isinstance(e.get("ref"), str)
            and 0 < len(e["ref"]) <= 16
        ):
            item = Item("saved", e["ref"])
        elif isinstance(e, dict) and e.get("kind") == "config":
            try:
                item = Item("config", "", TrainingConfig.from_dict(e.get("config")))
            except ConfigError as exc:
                errors.append(f"compared config {i + 1} was dropped: {exc}")
                continue
        if item is None:
            errors.append(f"compared entry {i + 1} was not understood and was dropped")
            continue
        if item.key not in seen:
            seen.add(item.key)
            items.append(item)
    if len(items) > MAX_COMPARED:
        errors.append(f"at most {MAX_COMPARED} runs are compared; kept the first {MAX_COMPARED}")
        items = items[:MAX_COMPARED]
    return items, errors


def recipe_label(cfg: TrainingConfig, kind: str) -> str:
    """A short legend label for a recipe: model and tokens (and 'config' for a saved config)."""
    name = MODELS[cfg.model].name if cfg.model in MODELS else "custom model"
    tokens = cfg.total_tokens
    size = f"{tokens / 1e12:.3g}T" if tokens >= 1e12 else f"{tokens / 1e9:.3g}B"
    return f"{name} recipe" if kind == "preset" else f"Saved config: {name}, {size} tokens"


def analyse_items(
    items: Sequence[Item],
    saved: Mapping[str, RunState],
    *,
    smoothing: float = 0.0,
    max_points: int = MAX_POINTS,
    budget: int = MAX_VIEW_STEPS,
) -> tuple[list[Analysis], list[str]]:
    """Analyse every compared item within a step budget; notes say what was left out.

    A saved run that is gone (deleted, or its entry was invalid) is skipped with a note. A run
    past the remaining budget keeps its final figures if they are cheap (a saved run's last
    steps) and loses its curve; a recipe past the budget is skipped (its end is unknown
    without computing it).
    """
    out: list[Analysis] = []
    notes: list[str] = []
    left = budget
    labels: dict[str, int] = {}
    for slot, item in enumerate(items):
        if item.kind == "saved":
            state = saved.get(item.ref)
            if state is None:
                notes.append(f"saved run {item.ref} is no longer saved; removed from the view")
                continue
            label = _unique(state.name or f"run {item.ref}", labels)
            want = state.step <= left
            if not want:
                notes.append(
                    f"{label}: {state.step:,} steps is past this view's budget "
                    f"({budget:,} steps in all); its curve is not drawn"
                )
            left -= state.step if want else 0
            a = analyse_state(
                item.key, label, state, smoothing=smoothing, max_points=max_points, curve=want
            )
            out.append(replace(a, slot=slot))
            continue
        cfg = preset(item.ref) if item.kind == "preset" else item.config
        assert cfg is not None
        label = _unique(recipe_label(cfg, item.kind), labels)
        if cfg.total_steps > left:
            notes.append(
                f"{label}: {cfg.total_steps:,} steps is past this view's budget "
                f"({budget:,} steps in all); remove a long run to include it"
            )
            continue
        a = analyse_recipe(item.key, label, cfg, smoothing=smoothing, max_points=max_points)
        left -= cfg.total_steps
        if a.note:
            notes.append(f"{label}: {a.note}")
        out.append(replace(a, slot=slot))
    return out, notes


def analyse_appended(
    items: Sequence[Item],
    first: int,
    saved: Mapping[str, RunState],
    *,
    smoothing: float = 0.0,
    max_points: int = MAX_POINTS,
    budget: int = MAX_VIEW_STEPS,
) -> list[Analysis] | None:
    """``items[first:]`` analysed exactly as ``analyse_items`` would (labels, slots, colours),
    so they can be appended to a view already showing ``items[:first]``.

    Returns None when the result would need a note (a saved run that is gone, the step
    budget, a recipe that does not fit memory): the caller then redraws the whole view, which
    says why.
    """
    labels = {slot: label for slot, _, label, _ in item_states(items, saved)}
    out: list[Analysis] = []
    left = budget
    for slot in range(first, len(items)):
        item = items[slot]
        if slot not in labels:
            return None
        if item.kind == "saved":
            state = saved[item.ref]
            if state.step > left:
                return None
            left -= state.step
            a = analyse_state(
                item.key, labels[slot], state, smoothing=smoothing, max_points=max_points
            )
        else:
            cfg = preset(item.ref) if item.kind == "preset" else item.config
            assert cfg is not None
            if cfg.total_steps > left:
                return None
            left -= cfg.total_steps
            a = analyse_recipe(
                item.key, labels[slot], cfg, smoothing=smoothing, max_points=max_points
            )
            if a.note:
                return None
        out.append(replace(a, slot=slot))
    return out


def steps_drawn(analyses: Sequence[Analysis]) -> int:
    """Steps computed for the curves of a view (what counts against ``MAX_VIEW_STEPS``)."""
    return sum(a.state.step for a in analyses if a.curve is not None)


def _unique(label: str, seen: dict[str, int]) -> str:
    """``label``, or ``label (2)`` etc. if already used: tables and legends need unique names."""
    n = seen.get(label, 0) + 1
    seen[label] = n
    return label if n == 1 else f"{label} ({n})"


def item_states(
    items: Sequence[Item], saved: Mapping[str, RunState]
) -> list[tuple[int, Item, str, RunState]]:
    """(slot, item, label, state) per compared item, computing no metrics (config diff, chips).

    Recipes are shown as new runs of their config; a saved run that is gone is left out;
    slots and labels match ``analyse_items``.
    """
    out: list[tuple[int, Item, str, RunState]] = []
    labels: dict[str, int] = {}
    for slot, item in enumerate(items):
        if item.kind == "saved":
            state = saved.get(item.ref)
            if state is not None:
                out.append((slot, item, _unique(state.name or f"run {item.ref}", labels), state))
            continue
        cfg = preset(item.ref) if item.kind == "preset" else item.config
        assert cfg is not None
        out.append((slot, item, _unique(recipe_label(cfg, item.kind), labels), new_run(cfg)))
    return out
