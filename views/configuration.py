"""The Configuration tab's browser contract: what each user action computes, by name.

Owns the tab's five server-side actions, each a function of what the browser sent that
returns a frozen dataclass named after its callback's outputs (``callbacks/configuration.py``
maps it with ``adapt.outputs``):

- ``estimate``: the whole form -> every field's mark, message and hint, the estimate tiles,
  both charts, the fit warning and its one-click fixes, the link and the draft, in **one**
  request per change. The form is validated on the server every time
  (``config_form.form_to_config``); nothing else chains off it.
- ``load``: whatever replaces the form's values: the page load (link > unapplied draft > the
  config applied for the next run > the default preset), a preset pick, Reset, a one-click
  fit suggestion, an uploaded file, a real run's recipe ("Plan from a run",
  ``views.config_plan``; while one is loaded a preset pick changes only the model). A bad
  file leaves the form as it was; a bad link falls back to the saved config; both say why.
  The link's ``?config=`` is removed from the address once loaded, so later edits (kept in
  the draft) survive a reload.
- ``apply_next`` (the config for the Training tab's next run), ``apply_now`` (the settings
  edited in the form, against the recipe the run started with, that a running job may take,
  applied with ``sim.apply_changes``; the others are named, not applied; the run's own live
  changes to settings the form leaves alone are kept and named, ``live_plan``), ``save``
  (the JSON file). Each validates the form again: the button being
  enabled in the browser proves nothing (docs/architecture.md, "Trust nothing from the
  browser").

The form's fields are pattern-matching components, so their outputs are lists in the order
the request lists them: ``estimate`` and ``load`` take those names (``Slots``) and return
their lists in that order. The estimate tiles and the fit warning are returned as data
(``Stat``, ``Fit``); ``layouts/configuration.py`` draws them. Numbers read as everywhere else
through ``simulator.fmt``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import simulator as sim
from layouts import ids
from layouts.figures import configuration as fc
from simulator import fmt
from simulator.timeline import decay_exposure
from views import config_form as cf
from views import config_io
from views import config_plan as cp
from views.contract import KEEP, Notice, download
from views.stores import DEFAULT_MODEL, config_or_default, load_config, load_run

SUMMARY_CLASS = "cfg-summary"
HIDDEN = {"display": "none"}


@dataclass(frozen=True)
class Slots:
    """The names of the pattern-matching outputs a request lists, in its order.

    A page lists every field (``cf.FIELDS``) and every group (``cf.GROUPS``); a request is
    answered with exactly as many values as it lists, whatever it lists (Dash answers a 500
    when the counts differ).
    """

    invalid: tuple[str, ...] = tuple(cf.FIELDS)
    feedback: tuple[str, ...] = tuple(cf.FIELDS)
    hints: tuple[str, ...] = tuple(cf.FIELDS)
    groups: tuple[str, ...] = cf.GROUPS


PAGE = Slots()
"""What the page lists: every field and group, in layout order."""


# ----------------------------------------------------------------------------- estimate


@dataclass(frozen=True)
class Stat:
    """One estimate tile: a label, the number, a line under it, an optional tooltip."""

    key: str
    label: str
    value: str
    sub: str = ""
    tip: str = ""


@dataclass(frozen=True)
class Fit:
    """Memory against capacity: one line when it fits, else the warning and its fixes.

    ``fixes`` are (text, offers a one-click button) in the order of the advice store.
    """

    fits: bool
    text: str
    fixes: tuple[tuple[str, bool], ...] = ()


@dataclass(frozen=True)
class EstimateResult:
    """What one form change shows (outputs of ``callbacks.configuration.estimate``)."""

    invalid: list[bool]
    feedback: list[str]
    hints: list[str]
    groups: list[dict[str, str] | None]
    form_error: Notice | None
    stats: tuple[Stat, ...] | str  # the tiles, or why there are none
    memory: dict[str, Any]
    memory_text: str
    fit: Fit | None
    advice: list[dict[str, Any]]
    lr: dict[str, Any]
    apply_disabled: bool
    save_disabled: bool
    summary: str
    summary_class: str
    link: str
    draft: Any  # the config's dict, or KEEP (the last valid draft) while invalid
    recipe: str = ""  # where the chosen preset's recipe comes from, and what it assumes
    message: Any = KEEP  # None while invalid: a confirmation about the form is stale then


TOKENS_PER_PARAM_TIP = (
    "Training tokens per parameter. For a fixed FLOP budget, loss is lowest near a ratio that "
    "grows slowly with compute: about 20 (Hoffmann et al. 2022, Chinchilla, approaches 1 and 2). "
    "The optimum shown is Epoch AI's refit of Hoffmann's approach-3 fit (Besiroglu et al. 2024), "
    "whose printed parameters are mis-estimated and asked 50-100. Models meant for cheap "
    "inference (LLaMA, Llama 2) train past it on purpose. A fine-tune of a pretrained model "
    "gets no verdict: its tokens are not a split of a compute budget."
)
OPTIMAL_TIP = (
    "The model size and token count that reach the lowest loss for this run's compute "
    "(6 × params × tokens), from Epoch AI's refit of Hoffmann et al. 2022's loss fit "
    "(Besiroglu et al. 2024). The simulator's loss curves keep Hoffmann's printed fit, which "
    "they are calibrated to. Chinchilla advice does not apply to a fine-tune of a pretrained "
    "model (Vicuna, Code Llama): the base model's pretraining is where size and data were chosen."
)
FINE_TUNE_ADVICE = "Chinchilla advice does not apply to a fine-tune of a pretrained model"


def _plural(n: float, word: str) -> str:
    return f"{n:g} {word}" + ("" if n == 1 else "s")


def stats(cfg: sim.TrainingConfig, est: sim.Estimate) -> tuple[Stat, ...]:
    """The estimate tiles for a valid config."""
    gpu = sim.GPUS[cfg.gpu]
    ratio = est.tokens_per_param
    opt_ratio = est.optimal_tokens_per_param
    if not est.chinchilla_applies:
        tpp_sub = f"this run's tokens only · {FINE_TUNE_ADVICE}"
        optimal_value = "does not apply"
        optimal_sub = f"fine-tune of a model pretrained on {fmt.si(est.base_tokens)} tokens"
    else:
        if ratio > 2 * opt_ratio:
            verdict = f"{ratio / opt_ratio:.1f}× past it (inference-friendly)"
        elif ratio < opt_ratio / 2:
            verdict = "under-trained for its size"
        else:
            verdict = "near compute-optimal"
        tpp_sub = f"optimal ≈ {opt_ratio:.0f} at this compute (Epoch AI refit) · {verdict}"
        optimal_value = f"{fmt.si(est.optimal_params)} params"
        optimal_sub = f"on {fmt.si(est.optimal_tokens)} tokens for the same compute"
    arch = cfg.arch
    override = " (override)" if cfg.price_per_gpu_hour is not None else ""
    return (
        Stat(
            "params",
            "Parameters",
            fmt.si(est.params),
            f"{arch.n_layers} layers · d {arch.d_model:,}",
        ),
        Stat(
            "tokens",
            "Tokens",
            fmt.si(est.tokens),
            f"{fmt.si(cfg.dataset_tokens)} × {_plural(cfg.epochs, 'epoch')}",
        ),
        Stat(
            "steps",
            "Steps",
            f"{est.steps:,}",
            f"grad accum × {est.grad_accum} · {fmt.seconds(est.step_seconds)}/step",
        ),
        Stat(
            "flops",
            "Compute",
            f"{fmt.flops(est.total_flops)} FLOP",
            f"{fmt.si(est.flops_per_token)} FLOP/token",
        ),
        Stat(
            "tps",
            "Throughput",
            f"{fmt.si(est.tokens_per_second)} tok/s",
            f"{fmt.si(est.tokens_per_second / cfg.num_gpus)} tok/s per GPU",
        ),
        Stat(
            "mfu",
            "MFU",
            fmt.percent(est.mfu),
            "override" if cfg.mfu is not None else f"modelled · {gpu.name}",
            cf.FIELDS["mfu"].tip,
        ),
        Stat(
            "wall", "Wall time", fmt.duration(est.wall_seconds), f"on {cfg.num_gpus:,} × {gpu.name}"
        ),
        Stat("gpuh", "GPU-hours", fmt.si(est.gpu_hours)),
        Stat(
            "cost",
            "Cost",
            fmt.money(est.cost_usd),
            f"at {fmt.money(est.price_per_gpu_hour)}/GPU-h{override}",
        ),
        Stat("energy", "Energy", fmt.energy(est.energy_kwh), "board power × PUE 1.1"),
        Stat("co2", "CO₂e", fmt.mass(est.co2_kg), "at 0.385 kg/kWh"),
        Stat(
            "tpp",
            "Tokens / param",
            fmt.number(ratio, ",.1f"),
            tpp_sub,
            TOKENS_PER_PARAM_TIP,
        ),
        Stat("optimal", "Chinchilla-optimal", optimal_value, optimal_sub, OPTIMAL_TIP),
    )


def memory_text(est: sim.Estimate) -> str:
    """``13.5 / 80 GB``: the memory card's headline."""
    return f"{est.memory_total / 1e9:.1f} / {est.memory_capacity / 1e9:g} GB"


def fit(est: sim.Estimate, advice: Sequence[sim.FitAdvice]) -> Fit:
    """The headroom when it fits; otherwise how far over it is and each suggestion."""
    if est.fits:
        share = fmt.percent(est.memory_total / est.memory_capacity, 0)
        return Fit(True, f"Fits: {share} of each GPU's memory.")
    over = est.memory_total - est.memory_capacity
    text = (
        f"needs {fmt.gigabytes(est.memory_total)} per GPU, {fmt.gigabytes(over)} more than the "
        f"{est.memory_capacity / 1e9:g} GB available. The run would stop with out-of-memory "
        "at step 0."
    )
    fixes = tuple(
        (a.text + (f" → {fmt.gigabytes(a.memory_total)}" if a.changes else ""), bool(a.changes))
        for a in advice
    )
    return Fit(False, text, fixes)


def recipe_note(model: Any) -> str:
    """Under the preset picker: where the chosen model's recipe comes from and which of its
    settings are assumed (each also marked under its field while it keeps the preset's
    value); empty for a custom architecture."""
    if not isinstance(model, str) or model not in sim.PRESETS:
        return ""
    prov = sim.provenance(model)
    name = sim.MODELS[model].name
    if not prov.assumed and not prov.derived:
        return f"{name}: every recipe setting as published ({prov.source})."
    if not prov.published:
        return (
            f"{name}: no training recipe published ({prov.source.split(':')[0]}); every "
            "setting is assumed (marked under each field)."
        )
    text = f"{name}'s recipe: {prov.source}."
    if prov.assumed:
        labels = ", ".join(cf.FIELDS[f].label for f in prov.assumed)
        text += f" Assumed, not published: {labels} (marked under each field)."
    for f, why in prov.derived.items():
        text += f" {cf.FIELDS[f].label}: {why}."
    return text


def hints(
    cfg: sim.TrainingConfig | None, est: sim.Estimate | None, preset_marks: bool = True
) -> dict[str, str]:
    """Each field's line under the input: what it means for this config, then its range. A
    setting that still holds its preset's assumed value says so first
    (``simulator.presets.assumed_settings``), unless ``preset_marks`` is off: a run's recipe
    is loaded, and its own marks say where each value came from."""
    bounds = {name: cf.bound_text(f) for name, f in cf.FIELDS.items()}
    if cfg is None or est is None:
        return bounds
    d: dict[str, str] = {}
    # The exact count: "4Mi" read as "4.19M" beside it looked like another batch.
    d["global_batch_tokens"] = (
        f"= {cfg.sequences_per_batch:,} sequences × {cfg.seq_len:,} "
        f"= {cfg.global_batch_tokens:,} tokens"
    )
    d["micro_batch_size"] = (
        f"grad accumulation × {cfg.grad_accum} over {cfg.data_parallel:,} data-parallel GPUs"
    )
    d["dataset_tokens"] = f"× {_plural(cfg.epochs, 'epoch')} = {fmt.si(est.tokens)} tokens"
    d["seq_len"] = f"the model's context: {cfg.arch.context_len:,}"
    d["warmup_steps"] = f"{cfg.warmup_steps / est.steps * 100:.2g}% of {est.steps:,} steps"
    d["num_gpus"] = f"{cfg.data_parallel:,} data parallel × {cfg.tensor_parallel} tensor"
    if cfg.lr_peak > 0:
        d["lr_min"] = f"{cfg.lr_min / cfg.lr_peak * 100:.3g}% of peak"
    d["lr_peak"] = sim.SCHEDULES[cfg.schedule].name
    if cfg.mfu is None:
        d["mfu"] = f"blank = modelled {fmt.percent(est.mfu)}"
    if cfg.price_per_gpu_hour is None:
        d["price_per_gpu_hour"] = f"blank = list {fmt.money(sim.GPUS[cfg.gpu].price_per_hour)}"
    if cfg.eval_interval is None:
        d["eval_interval"] = f"blank = every {cfg.resolved_eval_interval:,}"
    if cfg.checkpoint_interval is None:
        d["checkpoint_interval"] = f"blank = every {cfg.resolved_checkpoint_interval:,}"
    d["base_tokens"] = "from scratch" if cfg.base_tokens == 0 else "continues a checkpoint"
    d["weight_decay"] = (
        f"{decay_exposure(cfg):.2g} averaging timescales over the run (Llama 2 7B: 8; past 20 "
        "it forgets)"
    )
    d["zero_stage"] = "shards training state over the data-parallel GPUs"
    d["activation_checkpointing"] = "less activation memory for ~13% less throughput"
    out = {}
    for name, bound in bounds.items():
        derived = d.get(name)
        out[name] = f"{derived} · range {bound}" if derived and bound else derived or bound
    for name, why in (sim.assumed_settings(cfg) if preset_marks else {}).items():
        mark = why if "assum" in why or why.startswith("derived") else f"assumed: {why}"
        out[name] = f"{mark} · {out[name]}" if out.get(name) else mark
    return out


def _summary(next_run: bool, plan: LivePlan | None, status: str) -> tuple[str, str]:
    """The badge: applied to the next run, else to the live run (``plan`` done), else not."""
    if next_run:
        return "Applied to the next run", f"{SUMMARY_CLASS} cfg-summary-applied"
    if plan is not None and plan.done:
        return f"Applied to the {status} run", f"{SUMMARY_CLASS} cfg-summary-applied"
    return "Not applied yet", f"{SUMMARY_CLASS} cfg-summary-pending"


def estimate(
    model: Any,
    values: Mapping[str, Any],
    applied: Any,
    href: Any,
    slots: Slots = PAGE,
    run: Any = None,
    plan: Any = None,
) -> EstimateResult:
    """Validate the whole form and say what the run would cost (one request per change).

    Args:
        model: the preset dropdown's value; ``values``: field name -> value as sent.
        applied: ``CONFIG_STORE`` (to say whether this config is the applied one).
        href: the page's address (the base of the shareable link).
        slots: the pattern-matching outputs' names, in the request's order.
        run: ``RUN_STORE`` (to say whether the live run already runs this config).
        plan: ``CFG_PLAN_STORE``: while a run's recipe is loaded, the preset's notes on what
            its paper leaves out give way to the run's own marks (``views.config_plan``).
    """
    result = cf.form_to_config(model, values)
    cfg = result.config
    est = sim.estimate(cfg) if cfg is not None else None
    loaded = cp.parse_plan(plan) if plan is not None else None
    hint = hints(cfg, est, preset_marks=loaded is None)
    note = recipe_note(model) if loaded is None else cp.recipe_note(loaded)
    shown = {"custom": model == cf.CUSTOM, "wsd": values.get("schedule") == "wsd"}
    errors = result.errors
    marks = dict(
        invalid=[n in errors for n in slots.invalid],
        feedback=[errors.get(n, "") for n in slots.feedback],
        hints=[hint.get(n, "") for n in slots.hints],
        groups=[None if shown.get(n) else HIDDEN for n in slots.groups],
        form_error=Notice.of(result.form_error or "", "danger"),
    )
    if cfg is None or est is None:
        n = len(errors) + (1 if result.form_error else 0)
        s = "s" if n > 1 else ""
        return EstimateResult(
            **marks,
            stats=f"Fix the marked field{s} to see the estimate.",
            memory=fc.empty_figure("no estimate while the form is invalid"),
            memory_text="",
            fit=None,
            advice=[],
            lr=fc.empty_figure("", 190),
            apply_disabled=True,
            save_disabled=True,
            summary=f"{n} invalid setting{s}",
            summary_class=f"{SUMMARY_CLASS} cfg-summary-invalid",
            link="",
            draft=KEEP,
            recipe=note,
            # "Applied the suggestion" beside a form that is now invalid read as if all were
            # well; the marked fields say what is wrong.
            message=None,
        )
    advice = sim.fit_advice(cfg) if not est.fits else []
    state, _why = load_run(run) if run is not None else (None, None)
    live = state is not None and state.status in ("running", "paused")
    summary, summary_class = _summary(
        load_config(applied) == cfg,
        live_plan(state, cfg) if live and state is not None else None,
        state.status if state is not None else "",
    )
    return EstimateResult(
        **marks,
        stats=stats(cfg, est),
        memory=fc.memory_figure(est),
        memory_text=memory_text(est),
        fit=fit(est, advice),
        advice=[a.changes for a in advice],
        lr=fc.lr_figure(cfg),
        apply_disabled=False,
        save_disabled=False,
        summary=summary + ("" if est.fits else " · does not fit"),
        summary_class=summary_class,
        link=config_io.link_for(href, cfg),
        draft=cfg.to_dict(),
        recipe=note,
    )


# --------------------------------------------------------------------------------- load


@dataclass(frozen=True)
class LoadResult:
    """A config put into the form, or the form left as it was (outputs of ``load``)."""

    values: list[Any]  # one per field the request lists: its display value, or KEEP
    preset: Any
    message: Any  # a Notice, None (clears it) or KEEP
    search: Any  # "" clears the link's ?config= from the address bar; else KEEP
    alert: Any = KEEP  # the app-wide alert: a bad link's reason when another tab is open
    plan: Any = KEEP  # CFG_PLAN_STORE: a loaded run (views.config_plan), None clears it


@dataclass(frozen=True)
class _Pick:
    config: sim.TrainingConfig | None  # None: leave the form as it is
    message: Any = None  # a Notice, None (clears it) or KEEP
    clear_link: bool = False
    link_error: str | None = None  # why the page's ?config= link could not be used
    plan: Any = KEEP  # CFG_PLAN_STORE's new value (see LoadResult)


def _custom_from(values: Mapping[str, Any]) -> sim.TrainingConfig:
    """The current form as a custom model; if its shape is invalid, the default preset's."""
    current = cf.form_to_config(cf.CUSTOM, values).config
    if current is not None:
        return current
    base = sim.preset(DEFAULT_MODEL)
    return base.with_changes({"model": cf.CUSTOM, "custom_model": sim.custom_shape(base.arch)})


def _reset_config(model: Any, values: Mapping[str, Any]) -> sim.TrainingConfig:
    """The preset of the chosen model; for a custom model, the defaults with its shape."""
    if isinstance(model, str) and model in sim.PRESETS:
        return sim.preset(model)
    current = cf.form_to_config(cf.CUSTOM, values).config
    if current is not None:
        return sim.TrainingConfig().with_changes(
            {"model": cf.CUSTOM, "custom_model": sim.custom_shape(current.arch)}
        )
    return sim.preset(DEFAULT_MODEL)


def _advice_pick(
    index: Any, clicks: Any, model: Any, values: Mapping[str, Any], advice: Any
) -> _Pick:
    if not clicks:  # a fresh button (n_clicks 0) being drawn, not a click
        return _Pick(None, KEEP)
    current = cf.form_to_config(model, values).config
    if (
        current is None
        or not isinstance(advice, list)
        or not isinstance(index, int)
        or not 0 <= index < len(advice)
        or not isinstance(advice[index], dict)
    ):
        return _Pick(None, Notice.of("That suggestion no longer applies.", "warning"))
    try:
        cfg = current.with_changes(advice[index])
    except (sim.ConfigError, TypeError, ValueError) as exc:
        return _Pick(None, Notice.of(f"That suggestion cannot be applied: {exc}", "warning"))
    text = ", ".join(f"{k} = {v}" for k, v in advice[index].items())
    return _Pick(cfg, Notice.of(f"Applied the suggestion: {text}.", "success"))


def _page_load(search: Any, values: Mapping[str, Any], draft: Any, applied: Any) -> _Pick:
    """A link wins, then unapplied edits, then the config applied for the next run."""
    message: Notice | None = None
    error: str | None = None
    try:
        linked = config_io.decode_link(search)
    except cf.FormError as exc:
        linked, error = None, str(exc)
        message = Notice.of(f"The link's configuration was not used: {exc}.", "warning")
    if linked is not None:
        return _Pick(linked, Notice.of("Opened the configuration from the link.", "info"), True)
    if message is None and any(v not in (None, "") for v in values.values()):
        # The address bar changed (or lost its ?config=) after the form was filled: keep it.
        return _Pick(None, KEEP)
    cfg = load_config(draft) or config_or_default(applied)
    return _Pick(cfg, message, message is not None, error)


def _pick(
    trigger: Any,
    triggered_value: Any,
    model: Any,
    values: Mapping[str, Any],
    search: Any,
    draft: Any,
    applied: Any,
    upload: Any,
    filename: Any,
    advice: Any,
    plan_run: Any = None,
    plan: Any = None,
    open_store: cp.OpenStore | None = None,
) -> _Pick:
    trigger_type = trigger.get("type") if isinstance(trigger, dict) else trigger
    if trigger == ids.CFG_PLAN_LOAD:
        if not triggered_value:
            return _Pick(None, KEEP)
        loaded = cp.load_plan(open_store or cp.no_store, plan_run)
        return _Pick(
            loaded.config, loaded.message, plan=KEEP if loaded.config is None else loaded.plan
        )
    if trigger == ids.CFG_PRESET and cp.parse_plan(plan) is not None:
        # Planning from a run: another model keeps the run's recipe (its batch, LR, GPUs).
        cfg = cf.form_to_config(model, values).config
        if cfg is None:
            return _Pick(None, KEEP)
        return _Pick(
            cfg,
            Notice.of(
                f"Model: {fmt.model_name(cfg.model)}; the run's other settings kept.", "secondary"
            ),
        )
    if trigger == ids.CFG_PRESET:
        if model == cf.CUSTOM:
            # The custom fields always hold the last model's shape: keep it.
            return _Pick(_custom_from(values), KEEP)
        if isinstance(model, str) and model in sim.PRESETS:
            return _Pick(sim.preset(model))
        return _Pick(None, Notice.of("Unknown model; choose one from the list.", "warning"))
    if trigger == ids.CFG_RESET:
        cfg = _reset_config(model, values)
        return _Pick(
            cfg,
            Notice.of(f"Reset to the {fmt.model_name(cfg.model)} recipe.", "secondary"),
            plan=None,
        )
    if trigger_type == ids.CFG_ADVICE:
        index = trigger.get("index") if isinstance(trigger, dict) else None
        return _advice_pick(index, triggered_value, model, values, advice)
    if trigger == ids.CFG_UPLOAD:
        name = str(filename)[:80] if isinstance(filename, str) else "the file"
        try:
            cfg = config_io.decode_upload(upload)
        except cf.FormError as exc:
            text = f"Could not load {name}: {exc}. The form was left as it was."
            return _Pick(None, Notice.of(text, "danger"))
        loaded = Notice.of(f"Loaded {name} ({fmt.model_name(cfg.model)}).", "success")
        return _Pick(cfg, loaded, plan=None)
    # The tab was first opened, or the page loaded with a ?config= link (ids.CFG_OPENED).
    return _page_load(search, values, draft, applied)


def load(
    trigger: Any,
    triggered_value: Any = None,
    *,
    model: Any,
    values: Mapping[str, Any],
    search: Any = None,
    draft: Any = None,
    applied: Any = None,
    upload: Any = None,
    filename: Any = None,
    advice: Any = None,
    names: Sequence[str] = tuple(cf.FIELDS),
    on_configuration: bool = True,
    plan_run: Any = None,
    plan: Any = None,
    open_store: cp.OpenStore | None = None,
) -> LoadResult:
    """Put a config into the form: page load, preset pick, Reset, suggestion, uploaded file.

    Args:
        trigger: the id of what fired (``ctx.triggered_id``); ``triggered_value`` its value.
        model: the preset dropdown; ``values``: field name -> value as the form holds them.
        names: the fields the request lists as outputs, in its order.
        on_configuration: whether the Configuration tab is open. The page load runs on any
            tab and takes a shared link's ``?config=`` out of the address; a link cut short
            (its ``#configuration`` lost) opened the Training tab, where the reason, written
            to the Configuration tab's message, was not seen: there it goes to the app-wide
            alert instead.
    """
    pick = _pick(
        trigger,
        triggered_value,
        model,
        values,
        search,
        draft,
        applied,
        upload,
        filename,
        advice,
        plan_run,
        plan,
        open_store,
    )
    message, alert = pick.message, KEEP
    if pick.link_error is not None and not on_configuration:
        alert = Notice.of(
            f"This link's configuration could not be used: {pick.link_error}. Nothing was "
            "changed: the Configuration tab keeps your settings.",
            "warning",
        )
    if pick.config is None:
        return LoadResult(
            [KEEP] * len(names), KEEP, message, "" if pick.clear_link else KEEP, alert, pick.plan
        )
    preset, form = cf.config_to_form(pick.config)
    return LoadResult(
        values=[form.get(n, KEEP) for n in names],
        preset=preset if preset != model else KEEP,
        message=message,
        search="" if pick.clear_link else KEEP,
        alert=alert,
        plan=pick.plan,
    )


# ------------------------------------------------------------------------------ actions

NOT_VALID = "fix the marked fields first."


@dataclass(frozen=True)
class ApplyNextResult:
    """The config stored for the next run (outputs of ``apply_next``)."""

    config: Any  # CONFIG_STORE's data, or KEEP
    message: Notice | None
    summary: Any = KEEP
    summary_class: Any = KEEP


def apply_next(model: Any, values: Mapping[str, Any]) -> ApplyNextResult:
    """Store the form's config for the Training tab's next run, validated again."""
    cfg = cf.form_to_config(model, values).config
    if cfg is None:
        return ApplyNextResult(KEEP, Notice.of(f"Not applied: {NOT_VALID}", "danger"))
    est = sim.estimate(cfg)
    note = "" if est.fits else " It does not fit GPU memory: the run would stop at once."
    message = Notice.of(
        f"Applied to the next run: {fmt.model_name(cfg.model)} on {cfg.num_gpus:,} × "
        f"{sim.GPUS[cfg.gpu].name}. The Training tab uses it when a new run starts "
        f"(Reset, then Start).{note}",
        "success" if est.fits else "warning",
    )
    return ApplyNextResult(
        config=cfg.to_dict(),
        message=message,
        summary="Applied to the next run" + ("" if est.fits else " · does not fit"),
        summary_class=f"{SUMMARY_CLASS} cfg-summary-applied",
    )


@dataclass(frozen=True)
class ApplyNowResult:
    """The live run with the change recorded, or KEEP (outputs of ``apply_now``)."""

    run: Any  # RUN_STORE's data, or KEEP
    message: Notice | None
    summary: Any = KEEP
    summary_class: Any = KEEP


def changed_fields(old: sim.TrainingConfig, new: sim.TrainingConfig) -> dict[str, Any]:
    """Top-level settings whose values differ, with the new values."""
    a, b = old.to_dict(), new.to_dict()
    return {k: b[k] for k in b if a.get(k) != b[k]}


def split_mutable(changes: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The changes a running job may take (``sim.MUTABLE_FIELDS``) and the names it may not."""
    ok = {k: v for k, v in changes.items() if k in sim.MUTABLE_FIELDS}
    refused = sorted(k for k in changes if k not in sim.MUTABLE_FIELDS)
    return ok, refused


def _short(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    return f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else str(v)


@dataclass(frozen=True)
class LivePlan:
    """What Apply now would do to a live run with the form's config.

    ``apply``: the settings the form sets differently from the recipe the run started with
    (what the user edited here) that the run does not already use; ``refused``: edited
    settings a run cannot change mid-run; ``kept``: the run's own changes so far (live
    adjustments, an earlier Apply now) on settings the form leaves at the recipe's value,
    which Apply now keeps. Comparing the form with the run's *current* settings instead made
    Apply now of a GPU count also undo every live change of batch, LR and clipping.
    """

    apply: dict[str, Any]
    refused: list[str]
    kept: dict[str, Any]

    @property
    def done(self) -> bool:
        """Nothing left to apply: the live run already runs what the form says."""
        return not self.apply and not self.refused


def live_plan(state: sim.RunState, cfg: sim.TrainingConfig) -> LivePlan:
    """Apply now's plan for ``state`` and the form's ``cfg`` (see ``LivePlan``)."""
    edited = changed_fields(state.config, cfg)
    mutable, refused = split_mutable(edited)
    current = state.current_config.to_dict()
    apply = {k: v for k, v in mutable.items() if current.get(k) != v}
    kept = {k: v for k, v in changed_fields(state.config, state.current_config).items()}
    return LivePlan(apply, refused, {k: v for k, v in kept.items() if k not in edited})


def _settings(values: Mapping[str, Any]) -> str:
    return ", ".join(f"{k} = {_short(v)}" for k, v in values.items())


def apply_now(model: Any, values: Mapping[str, Any], raw_run: Any) -> ApplyNowResult:
    """Change the running or paused run from its next step (``sim.apply_changes``): the
    settings edited in the form, keeping the run's live changes to the others."""
    cfg = cf.form_to_config(model, values).config
    if cfg is None:
        return ApplyNowResult(KEEP, Notice.of(f"Not applied: {NOT_VALID}", "danger"))
    state, _why = load_run(raw_run)
    if state is None or state.status not in ("running", "paused"):
        return ApplyNowResult(
            KEEP,
            Notice.of(
                "There is no running or paused run to change. Use Apply to next run, then "
                "start it on the Training tab.",
                "warning",
            ),
        )
    plan = live_plan(state, cfg)
    refused_text = (
        " Not changed (a run cannot change these mid-run; use Apply to next run): "
        f"{', '.join(plan.refused)}."
        if plan.refused
        else ""
    )
    kept_text = (
        f" Kept the run's own changes: {_settings(plan.kept)} (edit them here to change them)."
        if plan.kept
        else ""
    )
    if not plan.apply:
        text = "Nothing to change: the run already uses these settings." + kept_text
        if plan.refused:
            text = "Nothing applied." + refused_text
        return ApplyNowResult(KEEP, Notice.of(text, "warning" if plan.refused else "secondary"))
    try:
        new_state = sim.apply_changes(state, plan.apply)
    except (sim.ConfigError, sim.TransitionError) as exc:
        return ApplyNowResult(KEEP, Notice.of(f"The run refused the change: {exc}.", "danger"))
    summary, summary_class = _summary(False, live_plan(new_state, cfg), new_state.status)
    return ApplyNowResult(
        new_state.to_dict(),
        Notice.of(
            f"Applied to the {state.status} run from step {state.step:,}: "
            f"{_settings(plan.apply)}. It shows as a change on the Training tab's charts and "
            f"events.{kept_text}{refused_text}",
            "warning" if plan.refused else "success",
        ),
        summary,
        summary_class,
    )


@dataclass(frozen=True)
class SaveResult:
    """The file to download, or why not (outputs of ``save``)."""

    download: Any  # a dcc.Download value, or KEEP
    message: Notice | None = None


def save(model: Any, values: Mapping[str, Any]) -> SaveResult:
    """The form's config as the JSON file Load JSON reads (``TrainingConfig.to_dict()``)."""
    cfg = cf.form_to_config(model, values).config
    if cfg is None:
        return SaveResult(KEEP, Notice.of(f"Not saved: {NOT_VALID}", "danger"))
    return SaveResult(
        download(config_io.config_file(cfg), config_io.file_name(cfg), "application/json")
    )
