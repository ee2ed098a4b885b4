"""The predicted band behind a real run's loss curve, and the form of its assumed fields.

Why here and not in the tick: the band covers the recipe's whole planned length (the
simulator knows the run's future), so it is computed once when the run is opened and again
when the user switches Raw / Anchored or edits an assumed field; a tick only appends the
run's own points after it (``views.real_charts``: the band's traces are the ``lead`` traces
of the loss chart, whose indices the tick skips).

What is read, bounded at any run length: the run's params, its metric list, at most
``OBSERVED_POINTS`` of the train (and validation) loss and ``CURVE_POINTS`` of each of at
most ``MAX_CURVES`` recipe curves (LR, token and step counters), the same inputs as
``tracking.forecast`` reads (whose planned length, ``planned_steps``, sets the recipe's
``dataset_tokens`` here too, so the band ends where the forecast aims).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from simulator.config import FIELD_BOUNDS, MAX_STEPS, ConfigError, TrainingConfig
from simulator.timeline import build_timeline
from tracking import prediction
from tracking.forecast import planned_steps
from tracking.recipe import guess
from tracking.recipe.settings import base_name
from tracking.recipe_params import CURVES, settings_only
from tracking.records import Guess, Series
from tracking.store import Store
from views.real_run import map_metrics

MODES = prediction.MODES
BAND_POINTS = 400  # grid points over the planned length (half even, half geometric)
OBSERVED_POINTS = 2000
CURVE_POINTS = 250
MAX_CURVES = 8
# Slate, semi-transparent: muted behind the run's own colours on white and on the dark card.
FILL = "rgba(100, 116, 139, 0.22)"
LINE = "rgba(100, 116, 139, 0.9)"
VAL_FILL = "rgba(100, 116, 139, 0.12)"
# The numeric fields that move the simulator's clean loss (checked by perturbing each on the
# default recipe: the hardware, parallelism, seed, price, MFU and interval fields do not, so
# a box for them would be a control that changes nothing; they are listed, not editable).
SHAPING = frozenset(
    (
        "seq_len",
        "global_batch_tokens",
        "dataset_tokens",
        "epochs",
        "lr_peak",
        "lr_min",
        "warmup_steps",
        "decay_fraction",
        "weight_decay",
        "base_tokens",
    )
)
WHAT = (
    "simulator prediction for the matched recipe, averaged over the logging interval "
    "({window}); band: \u00b12\u03c3 of the averaged step noise"
)


@dataclass(frozen=True)
class FieldRow:
    """One assumed field as the form shows it: its value now and what is allowed."""

    name: str
    value: Any
    low: float | None  # None for a field with no numeric bounds (shown read-only)
    high: float | None
    whole: bool
    source: str
    error: str = ""


@dataclass(frozen=True)
class Prediction:
    """The band's traces for the loss chart (empty when no recipe could be matched), the
    assumed fields, a line on what the band is (or why there is none) and the refused
    edit, if any (``error`` names its field; the band then is the last good one's)."""

    traces: list[dict[str, Any]]
    fields: list[FieldRow]
    note: str
    mode: str
    error: prediction.EditError | None = None
    edits: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Inputs:
    params: dict[str, str]
    curves: list[Series]
    train: Series | None
    val: Series | None
    window: int
    epoch: Series | None
    total: Series | None


def _read(store: Store, run_id: str) -> _Inputs | None:
    info = store.run(run_id)
    if info is None:
        return None
    infos = store.metrics(run_id)
    mapped = map_metrics(info.metrics)

    def series(name: str | None, points: int) -> Series | None:
        if not name or name not in info.metrics:
            return None
        c = store.series(run_id, name, points=points)
        return Series(name, c.step, c.value, np.full(len(c), math.nan))

    curves = [
        s
        for m in infos
        if base_name(m.metric) in CURVES
        for s in [series(m.metric, CURVE_POINTS)]
        if s is not None and len(s)
    ][:MAX_CURVES]
    train_name = mapped.slots.get("train_loss")
    window = 1
    for m in infos:  # the logging interval from the count, not from a bucketed read
        if m.metric == train_name and m.points > 1 and m.first_step is not None:
            window = max(1, round(((m.last_step or 0) - m.first_step) / (m.points - 1)))
    epoch = next((series(m.metric, 400) for m in infos if base_name(m.metric) == "epoch"), None)
    total = next((c for c in curves if base_name(c.metric) == "total_steps"), None)
    return _Inputs(
        store.params(run_id),
        curves,
        series(train_name, OBSERVED_POINTS),
        series(mapped.slots.get("val_loss"), OBSERVED_POINTS // 4),
        window,
        epoch,
        total,
    )


def _recipe(run: _Inputs) -> tuple[TrainingConfig, list[Guess], str]:
    """The matched recipe with its planned length, its guesses and where the length came
    from ("" when the recipe's own default length stands)."""
    config, guesses = guess(settings_only(run.params), run.curves)
    plan = planned_steps(run.params, run.epoch, run.total)
    if plan is None or plan[0] > MAX_STEPS or plan[0] < 1:
        return config, guesses, ""
    try:
        tokens = plan[0] * config.global_batch_tokens / config.epochs
        return config.with_changes({"dataset_tokens": tokens}), guesses, plan[1]
    except ConfigError:
        return config, guesses, ""


def field_rows(guesses: Sequence[Guess], config: TrainingConfig) -> list[FieldRow]:
    """The assumed fields, with their value in ``config`` and their allowed range."""
    rows = []
    for g in guesses:
        if g.provenance != "assumed":
            continue
        bounds = FIELD_BOUNDS.get(g.field) if g.field in SHAPING else None
        value = getattr(config, g.field, g.value)
        if bounds is None:
            rows.append(FieldRow(g.field, value, None, None, False, g.source))
        else:
            kind, lo, hi = bounds
            rows.append(FieldRow(g.field, value, lo, hi, kind.endswith("int"), g.source))
    return rows


def parse_edits(raw: Any, run_id: str) -> dict[str, Any]:
    """The edits Store (``{"run": id, "edits": {field: value}}``) for ``run_id``; anything
    else (another run's, a hostile value) is no edits."""
    if not isinstance(raw, dict) or raw.get("run") != run_id:
        return {}
    edits = raw.get("edits")
    if not isinstance(edits, dict) or len(edits) > prediction.MAX_EDITS:
        return {}
    return {str(k)[:64]: v for k, v in edits.items() if isinstance(v, (int, float, str))}


def predict(
    store: Store,
    run_id: str,
    mode: Any = "raw",
    edits: Mapping[str, Any] | None = None,
    xaxis: str = "step",
    tokens_per_step: float | None = None,
) -> Prediction:
    """The band traces for the loss chart and the assumed-field form of ``run_id``.

    An edit the recipe refuses (``prediction.EditError``) keeps the band drawn without the
    edits and returns the error naming its field."""
    mode = mode if mode in MODES else "raw"
    run = _read(store, run_id)
    if run is None or run.train is None or not len(run.train):
        return Prediction([], [], "No prediction: the run has no train loss yet.", mode)
    config, guesses, plan_from = _recipe(run)
    error = None
    good = dict(edits or {})
    try:
        used = prediction.edited(config, guesses, good) if good else config
    except prediction.EditError as exc:
        error, used, good = exc, config, {}
    rows = field_rows(guesses, used)
    if error is not None:
        rows = [r if r.name != error.field else _with_error(r, str(error)) for r in rows]
    total = build_timeline(used).total_steps
    at = prediction.grid(None, total, BAND_POINTS)
    traces: list[dict[str, Any]] = []
    fitted = ""
    bands = [("train", run.train, run.window)]
    if run.val is not None and len(run.val):
        bands.append(("val", run.val, 1))
    for metric, observed, window in bands:
        b = prediction.band(
            used,
            at,
            mode=mode,
            observed=observed,
            window=window,
            metric=metric,  # type: ignore[arg-type]
        )
        traces += band_traces(b, xaxis, tokens_per_step)
        if metric == "train" and mode == "anchored":
            fitted = (
                f" Anchored: loss = {b.offset:.3g} + {b.scale:.3g} \u00d7 raw, fitted on steps "
                f"{b.fit_steps[0]:,}\u2013{b.fit_steps[1]:,} (just after warmup)."
                if b.fit_steps
                else " Anchored: no point after warmup to fit yet, so this is the raw band."
            )
    length = f"planned length {total:,} steps" + (
        f" ({plan_from})"
        if plan_from
        else " (assumed: the run states none, so the band ends there; reopen to extend it)"
    )
    note = f"{WHAT.format(window=_steps(run.window))}; {length}.{fitted}"
    return Prediction(traces, rows, note, mode, error, good)


def _steps(n: int) -> str:
    return f"{n:,} step{'s' if n != 1 else ''}"


def _with_error(row: FieldRow, message: str) -> FieldRow:
    return FieldRow(row.name, row.value, row.low, row.high, row.whole, row.source, message)


def band_traces(
    b: prediction.Band, xaxis: str = "step", tokens_per_step: float | None = None
) -> list[dict[str, Any]]:
    """Three traces: the band's low edge (no line), its high edge filled down to it, and a
    thin dashed centre. Named by metric and mode; the hover says what the band is."""
    step = b.step.astype(np.float64)
    x = step * tokens_per_step if xaxis == "tokens" and tokens_per_step else step
    xs = [float(f"{v:.8g}") for v in x.tolist()]

    def vals(a: Any) -> list[float | None]:
        return [float(f"{v:.5g}") if math.isfinite(v) else None for v in a.tolist()]

    what = "train" if b.metric == "train" else "val"
    label = f"predicted {what} ({b.mode})"
    tip = WHAT.format(window=_steps(b.window))
    fill = FILL if b.metric == "train" else VAL_FILL
    edge = {"color": "rgba(0,0,0,0)", "width": 0}
    return [
        {
            "type": "scatter",
            "mode": "lines",
            "name": f"{label} low",
            "x": xs,
            "y": vals(b.low),
            "line": edge,
            "hoverinfo": "skip",
            "showlegend": False,
            "legendgroup": label,
        },
        {
            "type": "scatter",
            "mode": "lines",
            "name": f"{label} band",
            "x": xs,
            "y": vals(b.high),
            "line": edge,
            "fill": "tonexty",
            "fillcolor": fill,
            "hoverinfo": "skip",
            "showlegend": False,
            "legendgroup": label,
        },
        {
            "type": "scatter",
            "mode": "lines",
            "name": label,
            "x": xs,
            "y": vals(b.centre),
            "customdata": [[lo, hi] for lo, hi in zip(vals(b.low), vals(b.high), strict=True)],
            "line": {"color": LINE, "width": 1, "dash": "dash" if b.metric == "train" else "dot"},
            "legendgroup": label,
            "hovertemplate": "%{y:.4g} (%{customdata[0]:.4g}\u2013%{customdata[1]:.4g})"
            f"<extra>{tip}</extra>",
        },
    ]


@dataclass(frozen=True)
class Checked:
    """An edit of the form: the edits Store's new value (``None``: keep the last good one,
    an edit was refused) and each field's message ("" when fine)."""

    store: dict[str, Any] | None
    errors: dict[str, str]


def check(store: Store, run_id: str, values: Mapping[str, Any]) -> Checked:
    """Validate the form's values (field -> number, None for an empty box) against the
    run's recipe: all valid gives the new edits (only the values that differ from the
    recipe's); else the first refused field's message (``prediction.EditError``) and the
    band stays the last good one."""
    errors = dict.fromkeys(values, "")
    run = _read(store, run_id)
    if run is None:
        return Checked(None, errors)
    config, guesses, _ = _recipe(run)
    edits: dict[str, Any] = {}
    for name, value in list(values.items())[: prediction.MAX_EDITS]:
        if value is None or value == "":
            if getattr(config, name, 0) is None:
                continue  # left unset, as the recipe has it
            errors[name] = f"{name}: enter a value (the box is empty or not a number)"
            return Checked(None, errors)
        edits[name] = value
        try:
            prediction.edited(config, guesses, {name: value})
        except prediction.EditError as exc:
            errors[exc.field if exc.field in errors else name] = str(exc)
            return Checked(None, errors)
    try:
        prediction.edited(config, guesses, edits)
    except prediction.EditError as exc:  # a combination refused (e.g. warmup > the run)
        errors[exc.field if exc.field in errors else next(iter(errors), "")] = str(exc)
        return Checked(None, errors)
    changed = {k: v for k, v in edits.items() if getattr(config, k, None) != v}
    return Checked({"run": run_id, "edits": changed}, errors)
