"""Real runs from the run store on the Model Comparison tab, and their predictions.

Two kinds of comparison item read the store (``tracking.store``):

- ``real``: a run as it happened. Its train and validation loss are read bounded
  (``Store.series``: at most ``MAX_POINTS`` points per trace, each bucket's extremes kept,
  so a 1M-step run costs what a 40k-step one does) and its final figures follow the one
  definition of "final" (``layouts/definitions.py``): train loss = the mean of the finite
  points in the run's last ``FINAL_TAIL`` steps (NaN when its last point is not finite: it
  diverged), validation loss = its last finite evaluation, perplexity = exp of that.
- ``prediction``: the simulator's prediction for the run's own recipe
  (``tracking.prediction.band_for_run``, raw mode), drawn as a dashed centre line in a
  shaded band, a what-if item beside the run.

The recipe is ``tracking.recipe.guess`` with the corrections users saved, read as the
Configuration tab reads it (``tracking.corrections.current``'s inputs). A real run is drawn
on an x-axis only when what that axis needs is the run's own (found, derived or
corrected), never assumed: tokens need the batch in tokens; FLOPs also the model; GPU-hours,
cost also the GPU type and count (the time is the recipe's estimated step time,
``simulator.estimate``). Wall time is the run's own: each point's stored wall time, in hours
since its first timed point; a run whose logs carry no times (an HF ``trainer_state.json``,
an llm.c ``main.log``) gets the recipe's estimate there too, needing what GPU-hours need,
and the chart's note says it is estimated (``Analysis.estimated``). Otherwise the run's
``Analysis.missing`` says why, and the chart's note names it: never left out silently.

Nothing is cached between requests and no module keeps state: each view reads the store
again (one bounded pass per run). Item ids come from the browser and are checked with
``tracking.store.names.check_run_id`` before any read (``views.comparison_list.Item``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from simulator import series as sseries
from simulator.compare import MAX_POINTS, Analysis, Curve, Final
from simulator.config import TrainingConfig
from simulator.estimate import estimate, flops_per_token, param_count
from simulator.run import FINAL_TAIL, final_mean, new_run
from tracking import prediction
from tracking import status as run_status
from tracking.recipe import guess
from tracking.recipe_params import settings_only, stored_curves
from tracking.records import Guess
from tracking.store import Store
from tracking.store.errors import BadInput, StoreUnavailable
from tracking.store.rows import RunInfo
from views.real_run import map_metrics

OpenStore = Callable[[], Store]
KINDS = ("real", "prediction")
PROVENANCE_KINDS = ("found", "derived", "assumed", "corrected")
PICKER_LIMIT = 200  # rows the real-run picker lists (newest first; search finds the rest)
FloatArray = np.ndarray


def provenance_kind(g: Guess) -> str:
    """found / derived / assumed, or corrected when a user saved the value from the
    Configuration tab (``tracking.recipe.corrections``: read as "found: corrected by ...")."""
    return "corrected" if g.source.startswith("corrected by ") else g.provenance


# ----------------------------------------------------------------------------- the picker
def picker_rows(runs: Sequence[RunInfo], search: Any, now: float) -> tuple[list[dict], str]:
    """The real-run table's rows: newest first (``Store.runs`` order), at most
    ``PICKER_LIMIT``, filtered by ``search`` (id, name or source); and its caption."""
    from views.real_run import ago

    needle = search.strip().lower()[:200] if isinstance(search, str) else ""
    rows = []
    matched = 0
    for info in runs:
        hay = f"{info.run_id} {info.name} {info.source} {info.kind}".lower()
        if needle and needle not in hay:
            continue
        matched += 1
        if len(rows) >= PICKER_LIMIT:
            continue
        rows.append(
            {
                "id": info.run_id,
                "name": info.name or info.run_id,
                "source": _where(info),
                "status": run_status.status(info, now),
                "last_step": info.last_step,
                "updated": ago(now - info.updated),
                "alerts": info.open_alerts,
            }
        )
    what = f"matching {needle!r}" if needle else "in the store"
    caption = f"{matched:,} run{'s' if matched != 1 else ''} {what}, newest first"
    if matched > len(rows):
        caption += f"; the newest {len(rows)} listed (search to find the others)"
    return rows, caption


def _where(info: RunInfo) -> str:
    if info.kind in ("push", "") and info.source in ("push", ""):
        return "pushed"
    tail = "/".join(info.source.replace("\\", "/").rstrip("/").split("/")[-2:])
    return f"{info.kind} · {tail}" if info.kind else tail


# ----------------------------------------------------------------------------- reading
@dataclass(frozen=True)
class RealRun:
    """What one store run contributes: its info, recipe guess and the band's inputs."""

    info: RunInfo
    config: TrainingConfig
    guesses: tuple[Guess, ...]
    params: Mapping[str, str]
    curves: tuple[Any, ...]  # the series the guess read (``stored_curves``)

    @property
    def provenance(self) -> dict[str, tuple[str, str]]:
        """field -> (found/derived/assumed/corrected, the guess's source)."""
        return {g.field: (provenance_kind(g), g.source) for g in self.guesses}


def read_run(store: Store, run_id: str) -> RealRun | None:
    """The run's info and recipe guess (with saved corrections), or None when it is gone."""
    info = store.run(run_id)
    if info is None:
        return None
    params = settings_only(store.params(run_id))
    curves = tuple(stored_curves(store, run_id))
    config, guesses = guess(params, curves)
    return RealRun(info, config, tuple(guesses), params, curves)


def run_label(info: RunInfo) -> str:
    """A real run in legends, chips and tables: its name and "(real)"."""
    return f"{(info.name or info.run_id)[:60]} (real)"


def prediction_label(info: RunInfo) -> str:
    return f"{(info.name or info.run_id)[:60]}: prediction"


WALL_ESTIMATED = (
    "its logs carry no wall time per step, so its wall time is the recipe's estimated step "
    "time x steps"
)


def _axes(
    run: RealRun, steps: FloatArray, strict: bool, hours: FloatArray | None = None
) -> tuple[dict[str, FloatArray], dict[str, str]]:
    """Every x-axis at ``steps`` that the recipe supports, and why the others are left out.

    ``strict``: only from what the run itself says (a real run); a prediction is the recipe
    as guessed, assumed fields included, so all its axes are drawn. ``hours``: the run's
    own wall time at each step (hours since its first timed point), which the wall-time axis
    then uses instead of the recipe's estimate."""
    cfg, prov = run.config, run.provenance

    def why(fields: Sequence[str]) -> str:
        assumed = [f for f in fields if prov.get(f, ("assumed", ""))[0] == "assumed"]
        if not strict or not assumed:
            return ""
        names = ", ".join(FIELD_WORDS.get(f, f) for f in assumed)
        return f"its {names} {'is' if len(assumed) == 1 else 'are'} assumed, not in its logs"

    xs: dict[str, FloatArray] = {"step": steps}
    missing: dict[str, str] = {}
    tokens_why = why(["global_batch_tokens"])
    flops_why = why(["global_batch_tokens", "model"])
    time_why = why(["global_batch_tokens", "model", "gpu", "num_gpus"])
    tokens = steps * float(cfg.global_batch_tokens)
    est = estimate(cfg)
    wall_h = steps * est.step_seconds / 3600.0
    for key, reason, value in (
        ("tokens", tokens_why, tokens),
        ("flops", flops_why, tokens * flops_per_token(cfg)),
        ("gpu_hours", time_why, wall_h * cfg.num_gpus),
        ("cost", time_why, wall_h * cfg.num_gpus * est.price_per_gpu_hour),
        ("wall_time", "" if hours is not None else time_why, wall_h if hours is None else hours),
    ):
        if reason:
            missing[key] = reason + " (correct it on the Configuration tab, Plan from a run)"
        else:
            xs[key] = value
    return xs, missing


FIELD_WORDS = {
    "global_batch_tokens": "batch in tokens",
    "model": "model",
    "gpu": "GPU type",
    "num_gpus": "GPU count",
}


def _slots(info: RunInfo) -> dict[str, str]:
    return dict(map_metrics(info.metrics).slots)


def _last_finite(values: FloatArray) -> float:
    ok = np.flatnonzero(np.isfinite(values))
    return float(values[ok[-1]]) if ok.size else math.nan


def real_analysis(store: Store, key: str, run: RealRun, smoothing: float, now: float) -> Analysis:
    """The run's curve (bounded reads) and final figures from the store."""
    info = run.info
    slots = _slots(info)
    lasts = {m.metric: m.last_step for m in store.metrics(info.run_id)}
    nan = math.nan
    train_metric, val_metric = slots.get("train_loss"), slots.get("val_loss")
    steps = np.empty(0)
    values = np.empty(0)
    times = np.empty(0)
    train_final = nan
    last_step = info.last_step or 0
    last = lasts.get(train_metric) if train_metric is not None else None
    if train_metric is not None and last is not None:
        # The final definition: the points of the last FINAL_TAIL steps, every one; the
        # chart draws them too (so it ends at the run's last point), after the bucketed
        # rest: at most MAX_POINTS in all.
        start = max(0, last - FINAL_TAIL + 1)
        tail = store.series(info.run_id, train_metric, start, None, 2 * FINAL_TAIL)
        tv = np.asarray(tail.value, np.float64)
        train_final = final_mean(tv, diverged=bool(tv.size) and not math.isfinite(tv[-1]))
        head = (
            store.series(info.run_id, train_metric, 0, start - 1, MAX_POINTS - 2 * FINAL_TAIL)
            if start > 0
            else None
        )
        steps = np.concatenate(
            [np.asarray(head.step if head else [], np.float64), np.asarray(tail.step, np.float64)]
        )
        values = np.concatenate([np.asarray(head.value if head else [], np.float64), tv])
        times = np.concatenate([head.time if head else np.empty(0), tail.time])
    vsteps = np.empty(0)
    vvalues = np.empty(0)
    vtimes = np.empty(0)
    val_final = nan
    if val_metric is not None:
        vlast = lasts.get(val_metric)
        c = store.series(info.run_id, val_metric, None, vlast, MAX_POINTS - 2)
        vsteps, vvalues = np.asarray(c.step, np.float64), np.asarray(c.value, np.float64)
        vtimes = c.time
        if vlast is not None and (not vsteps.size or vsteps[-1] != vlast):
            end = store.series(info.run_id, val_metric, vlast, None, 2)  # the last evaluation
            kept = vsteps < vlast
            vsteps = np.append(vsteps[kept], np.asarray(end.step, np.float64))
            vvalues = np.append(vvalues[kept], end.value)
            vtimes = np.append(vtimes[kept], end.time)
        val_final = _last_finite(vvalues)
    t0 = _first_time(store, info, train_metric or val_metric, [times, vtimes])
    hours = None if t0 is None else (times - t0) / 3600.0
    vhours = None if t0 is None else (vtimes - t0) / 3600.0
    x, missing = _axes(run, steps, strict=True, hours=hours)
    vx, _ = _axes(run, vsteps, strict=True, hours=vhours)
    estimated = {}
    if t0 is None and "wall_time" in x:
        estimated["wall_time"] = WALL_ESTIMATED
    curve: Curve | None = None
    if steps.size:
        if smoothing > 0.0:
            line, _ = sseries.ema_smooth(values, smoothing)
            curve = Curve(x, line, vx, vvalues, dict(x), values)
        else:
            curve = Curve(x, values, vx, vvalues)
    end_x, _ = _axes(run, np.array([float(last_step)]), strict=True)
    cfg = run.config
    model_known = run.provenance.get("model", ("assumed", ""))[0] != "assumed"
    params = param_count(cfg.arch) if model_known else 0

    def at_end(k: str) -> float:
        if k == "wall_time" and hours is not None:  # the run's own: its last timed point
            timed = np.concatenate([hours, vhours if vhours is not None else np.empty(0)])
            timed = timed[np.isfinite(timed)]
            return float(timed.max()) if timed.size else nan
        return float(end_x[k][0]) if k in end_x else nan

    tokens = at_end("tokens")
    final = Final(
        steps=last_step,
        status=run_status.status(info, now),
        train_loss=train_final,
        val_loss=val_final,
        perplexity=math.exp(min(val_final, 700.0)) if math.isfinite(val_final) else nan,
        accuracy=nan,
        tokens=tokens,
        flops=at_end("flops"),  # NaN when unknown: no point on the efficiency chart
        gpu_hours=at_end("gpu_hours"),
        wall_hours=at_end("wall_time"),
        cost_usd=at_end("cost"),
        params=params,
        tokens_per_param=tokens / params if params and math.isfinite(tokens) else nan,
        diverged_at=None,
    )
    if train_metric is None:
        missing["step"] = "no train loss metric in the store for it"
    return Analysis(
        key, run_label(info), "real", new_run(cfg), final, curve, "", 0, missing, estimated
    )


def _first_time(
    store: Store, info: RunInfo, metric: str | None, read: Sequence[FloatArray]
) -> float | None:
    """The run's first timed point (Unix s): the earliest time among the points ``read``
    and the metric's first 64 steps (a bucketed read need not hold the very first point);
    None when none of them has a time (the source records none)."""
    parts = [np.asarray(t, np.float64) for t in read]
    if not any(bool(np.isfinite(p).any()) for p in parts):
        return None
    if metric is not None and info.first_step is not None:
        parts.append(store.series(info.run_id, metric, None, info.first_step + 63, 64).time)
    every = np.concatenate(parts)
    return float(np.nanmin(every[np.isfinite(every)]))


def prediction_analysis(store: Store, key: str, run: RealRun) -> Analysis:
    """The simulator's raw prediction for the run's own recipe, to its planned end."""
    info = run.info
    slots = _slots(info)
    window = 1
    metric = slots.get("train_loss")
    if metric is not None and info.last_step is not None:
        tail = store.series(info.run_id, metric, max(0, info.last_step - FINAL_TAIL), None, 256)
        if len(tail.step) > 1:
            window = prediction.logging_window(np.asarray(tail.step, np.int64))
    b, cfg, _ = prediction.band_for_run(run.params, run.curves, mode="raw", window=window)
    total = b.total_steps
    tail_steps = np.arange(max(1, total - FINAL_TAIL + 1), total + 1, dtype=np.int64)
    train_final = float(prediction.band(cfg, tail_steps, window=window).centre.mean())
    val = prediction.band(cfg, np.array([total], np.int64), metric="val")
    val_final = float(val.centre[-1])
    steps = b.step.astype(np.float64)
    x, _ = _axes(run, steps, strict=False)
    curve = Curve(x, b.centre, {k: np.empty(0) for k in x}, np.empty(0), band=(b.low, b.high))
    est = estimate(cfg)
    final = Final(
        steps=total,
        status="predicted",
        train_loss=train_final,
        val_loss=val_final,
        perplexity=math.exp(min(val_final, 700.0)) if math.isfinite(val_final) else math.nan,
        accuracy=math.nan,
        tokens=est.tokens,
        flops=est.total_flops,
        gpu_hours=est.gpu_hours,
        wall_hours=est.wall_seconds / 3600.0,
        cost_usd=est.cost_usd,
        params=est.params,
        tokens_per_param=est.tokens_per_param,
        diverged_at=None,
    )
    label = prediction_label(info)
    assumed = [g.field for g in run.guesses if provenance_kind(g) == "assumed"]
    key_fields = [FIELD_WORDS[f] for f in FIELD_WORDS if f in assumed]
    note = (
        f"the recipe guessed from the run's logs, {len(assumed)} of its settings assumed"
        + (f" (among them its {', '.join(key_fields)})" if key_fields else "")
        + "; the config diff marks them, Plan from a run corrects them"
        if assumed
        else ""
    )
    return Analysis(key, label, "prediction", new_run(cfg), final, curve, note)


# ----------------------------------------------------------------------------- all at once
@dataclass(frozen=True)
class Reals:
    """The store-backed items of one view: analyses by item key, runs by id, notes, and the
    keys of items whose run is gone from the store."""

    analyses: Mapping[str, Analysis]
    runs: Mapping[str, RealRun]
    notes: tuple[str, ...] = ()
    gone: frozenset[str] = frozenset()


NONE = Reals({}, {})


def read_items(
    open_store: OpenStore | None,
    refs: Sequence[tuple[str, str, str]],
    smoothing: float = 0.0,
    *,
    curves: bool = True,
    now: float | None = None,
) -> Reals:
    """Read every ``(key, kind, run_id)`` item from the store (each run once).

    ``curves`` False: only the recipes and labels (the config diff and chips). A run gone
    from the store is a note and its key in ``gone``; the store unavailable is one note and
    every such item left out; the rest of the comparison is untouched.
    """
    if not refs:
        return NONE
    if open_store is None:
        return Reals({}, {}, ("real runs are not shown: this dashboard has no run store",))
    now = time.time() if now is None else now
    analyses: dict[str, Analysis] = {}
    runs: dict[str, RealRun] = {}
    notes: list[str] = []
    gone: set[str] = set()
    try:
        store = open_store()
        for key, kind, run_id in refs:
            if run_id not in runs:
                got = read_run(store, run_id)
                if got is None:
                    gone.add(key)
                    what = "its prediction" if kind == "prediction" else "it"
                    notes.append(
                        f"run {run_id!r} is no longer in the run store (deleted meanwhile); "
                        f"{what} is left out of the view: remove it from the comparison"
                    )
                    continue
                runs[run_id] = got
            if curves:
                run = runs[run_id]
                analyses[key] = (
                    real_analysis(store, key, run, smoothing, now)
                    if kind == "real"
                    else prediction_analysis(store, key, run)
                )
    except StoreUnavailable as exc:
        notes.append(f"real runs are not shown: the run store is unavailable ({exc})")
        gone.update(k for k, _, _ in refs if k not in analyses)
    except BadInput as exc:
        notes.append(f"real runs are not shown: {exc}")
        gone.update(k for k, _, _ in refs if k not in analyses)
    return Reals(analyses, runs, tuple(dict.fromkeys(notes)), frozenset(gone))
