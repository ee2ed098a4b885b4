"""Configuration-tab callbacks: the live estimate, loading configs into the form, actions.

- ``estimate``: the whole form -> every field's mark and message, the estimate tiles, both
  charts, the fit warning, the link and the draft, in **one** request per change. Fields are
  pattern-matching inputs (``ALL``), so the request carries the whole form and the server
  validates all of it each time (``config_form.form_to_config``); nothing else chains off it.
- ``load``: whatever replaces the form's values: the page load (link > unapplied draft >
  the config applied for the next run > the default preset), a preset pick, Reset, a one-click
  fit suggestion, an uploaded file. A bad file leaves the form as it was; a bad link falls
  back to the saved config; both say why.
  The link's ``?config=`` is removed from the address bar once loaded, so later edits (kept in
  the draft) survive a reload instead of being replaced by the link again. ``dcc.Location``
  reports its search on mount, which is how the page load shows up here; a later search
  change only fills a form that is still empty. Filling the form costs a second request
  (the estimate of the new values); a field edit costs one.
- ``apply_next`` writes ``CONFIG_STORE`` (local storage); ``apply_now`` calls
  ``sim.apply_changes`` on the live run (``RUN_STORE``, ``allow_duplicate``) with the changed
  settings a running job may take, and names those it may not; ``save`` downloads the JSON.
  Each validates the form again on the server: the Apply button being enabled proves nothing.
- Apply now is enabled in the browser (``assets/js/configuration.js``) from the run's status:
  ``RUN_STORE`` changes on every tick, and a server round trip per tick for one button's
  ``disabled`` would be waste.
"""

from __future__ import annotations

import json
from typing import Any

import dash_bootstrap_components as dbc
from dash import (
    ALL,
    ClientsideFunction,
    Input,
    Output,
    State,
    callback,
    clientside_callback,
    ctx,
    no_update,
)

import simulator as sim
from layouts import config_form as cf
from layouts import configuration as lc
from layouts import ids
from layouts.figures import configuration as fc
from simulator.run import MAX_STATE_BYTES

FIELD_ALL = {"type": ids.CFG_FIELD, "name": ALL}
MAX_HREF = 2048


def _names(specs: Any) -> list[str]:
    """Field names in the order Dash lists a pattern-matching input/output group."""
    return [str(s["id"]["name"]) for s in specs]


def _message(text: str, color: str = "info") -> dbc.Alert:
    return dbc.Alert(text, color=color, dismissable=True, class_name="cfg-alert mb-2")


def link_for(href: Any, cfg: sim.TrainingConfig) -> str:
    """The shareable URL of ``cfg`` on this page (relative when the page URL is unusable)."""
    base = "/"
    if isinstance(href, str) and len(href) < MAX_HREF and href.startswith(("http://", "https://")):
        base = href.split("#", 1)[0].split("?", 1)[0]
    return f"{base}?config={cf.encode_link(cfg)}#configuration"


# ----------------------------------------------------------------------------- estimate


def do_estimate(model: Any, values: dict[str, Any], applied: Any, href: Any) -> dict[str, Any]:
    """Everything the estimate callback shows, keyed by role (see ``estimate`` for order)."""
    result = cf.form_to_config(model, values)
    cfg = result.config
    est = sim.estimate(cfg) if cfg is not None else None
    hint = lc.hints(cfg, est)
    optimizer = values.get("optimizer")
    shown = {
        "custom": model == cf.CUSTOM,
        "wsd": values.get("schedule") == "wsd",
        **{f"opt-{s}": optimizer == s for s in sim.OPTIMIZERS},
    }
    out: dict[str, Any] = {
        "errors": result.errors,
        "hints": hint,
        "groups": shown,
        "form_error": (
            dbc.Alert(result.form_error, color="danger", class_name="mb-2")
            if result.form_error
            else None
        ),
    }
    if cfg is None or est is None:
        n = len(result.errors) + (1 if result.form_error else 0)
        note = "Fix the marked field" + ("s" if n > 1 else "") + " to see the estimate."
        out.update(
            stats=[lc.html.Div(note, className="cfg-invalid-note")],
            memory=fc.empty_figure("no estimate while the form is invalid"),
            memory_text="",
            fit=[],
            advice=[],
            lr=fc.empty_figure("", 190),
            disabled=True,
            summary=f"{n} invalid setting" + ("s" if n > 1 else ""),
            summary_class=f"{lc.SUMMARY_CLASS} cfg-summary-invalid",
            link="",
            draft=no_update,
        )
        return out
    advice = sim.fit_advice(cfg) if not est.fits else []
    applied_same = False
    if isinstance(applied, dict):
        try:
            applied_same = sim.TrainingConfig.from_dict(applied) == cfg
        except (sim.ConfigError, TypeError, ValueError):
            applied_same = False
    summary = "Applied to the next run" if applied_same else "Not applied yet"
    if not est.fits:
        summary += " · does not fit"
    out.update(
        stats=lc.estimate_view(cfg, est),
        memory=fc.memory_figure(est),
        memory_text=lc.memory_text(est),
        fit=lc.fit_view(est, advice),
        advice=[a.changes for a in advice],
        lr=fc.lr_figure(cfg),
        disabled=False,
        summary=summary,
        summary_class=f"{lc.SUMMARY_CLASS} "
        + ("cfg-summary-applied" if applied_same else "cfg-summary-pending"),
        link=link_for(href, cfg),
        draft=cfg.to_dict(),
    )
    return out


@callback(
    Output(FIELD_ALL, "invalid"),
    Output({"type": ids.CFG_FEEDBACK, "name": ALL}, "children"),
    Output({"type": ids.CFG_HINT, "name": ALL}, "children"),
    Output({"type": ids.CFG_GROUP, "name": ALL}, "style"),
    Output(ids.CFG_FORM_ERROR, "children"),
    Output(ids.CFG_ESTIMATE, "children"),
    Output(ids.CFG_MEMORY, "figure"),
    Output(ids.CFG_MEMORY_TEXT, "children"),
    Output(ids.CFG_FIT, "children"),
    Output(ids.CFG_ADVICE_STORE, "data"),
    Output(ids.CFG_LR, "figure"),
    Output(ids.CFG_APPLY_NEXT, "disabled"),
    Output(ids.CFG_SAVE, "disabled"),
    Output(ids.CFG_SUMMARY, "children"),
    Output(ids.CFG_SUMMARY, "className"),
    Output(ids.CFG_LINK, "value"),
    Output(ids.CFG_DRAFT, "data"),
    Input(ids.CFG_PRESET, "value"),
    Input(FIELD_ALL, "value"),
    State(ids.CONFIG_STORE, "data"),
    State(ids.URL, "href"),
)
def estimate(model: Any, field_values: list[Any], applied: Any, href: Any) -> tuple[Any, ...]:
    """Validate the whole form and show what the run would cost (one request per change)."""
    values = dict(zip(_names(ctx.inputs_list[1]), field_values, strict=False))
    r = do_estimate(model, values, applied, href)
    errors, hint = r["errors"], r["hints"]
    invalid = [n in errors for n in _names(ctx.outputs_list[0])]
    feedback = [errors.get(n, "") for n in _names(ctx.outputs_list[1])]
    hints = [hint.get(n, "") for n in _names(ctx.outputs_list[2])]
    styles = [
        None if r["groups"].get(n) else {"display": "none"} for n in _names(ctx.outputs_list[3])
    ]
    return (
        invalid,
        feedback,
        hints,
        styles,
        r["form_error"],
        r["stats"],
        r["memory"],
        r["memory_text"],
        r["fit"],
        r["advice"],
        r["lr"],
        r["disabled"],
        r["disabled"],
        r["summary"],
        r["summary_class"],
        r["link"],
        r["draft"],
    )


# --------------------------------------------------------------------------------- load


def _stored(raw: Any) -> sim.TrainingConfig | None:
    if not isinstance(raw, dict):
        return None
    try:
        return sim.TrainingConfig.from_dict(raw)
    except (sim.ConfigError, TypeError, ValueError, RecursionError):
        return None


def _reset_config(model: Any, values: dict[str, Any]) -> sim.TrainingConfig:
    """The preset of the chosen model; for a custom model, the defaults with its shape."""
    if isinstance(model, str) and model in sim.PRESETS:
        return sim.preset(model)
    current = cf.form_to_config(cf.CUSTOM, values).config
    if current is not None:
        return sim.TrainingConfig().with_changes(
            {"model": cf.CUSTOM, "custom_model": dict(current.arch.__dict__)}
        )
    return sim.preset(cf.DEFAULT_PRESET)


def do_load(
    trigger: Any,
    triggered_value: Any,
    *,
    model: Any,
    values: dict[str, Any],
    search: Any,
    draft: Any,
    applied: Any,
    upload: Any,
    filename: Any,
    advice: Any,
) -> tuple[sim.TrainingConfig | None, Any, bool]:
    """Which config to put in the form, the message to show, and whether to clear ``?config``.

    Returns ``(None, message, clear)`` to leave the form as it is.
    """
    trigger_type = trigger.get("type") if isinstance(trigger, dict) else trigger
    if trigger == ids.CFG_PRESET:
        if model == cf.CUSTOM:
            current = cf.form_to_config(cf.CUSTOM, values).config
            if current is not None:
                return current, no_update, False
            # The custom fields always hold the last model's shape; if they were edited into
            # an invalid state, start over from the default preset's shape.
            base = sim.preset(cf.DEFAULT_PRESET)
            return (
                base.with_changes({"model": cf.CUSTOM, "custom_model": dict(base.arch.__dict__)}),
                no_update,
                False,
            )
        if isinstance(model, str) and model in sim.PRESETS:
            return sim.preset(model), None, False
        return None, _message("Unknown model; choose one from the list.", "warning"), False
    if trigger == ids.CFG_RESET:
        cfg = _reset_config(model, values)
        return cfg, _message(f"Reset to the {_model_name(cfg)} recipe.", "secondary"), False
    if trigger_type == ids.CFG_ADVICE:
        if not triggered_value:
            return None, no_update, False
        index = trigger.get("index") if isinstance(trigger, dict) else None
        current = cf.form_to_config(model, values).config
        if (
            current is None
            or not isinstance(advice, list)
            or not isinstance(index, int)
            or not 0 <= index < len(advice)
            or not isinstance(advice[index], dict)
        ):
            return None, _message("That suggestion no longer applies.", "warning"), False
        try:
            cfg = current.with_changes(advice[index])
        except (sim.ConfigError, TypeError, ValueError) as exc:
            return None, _message(f"That suggestion cannot be applied: {exc}", "warning"), False
        text = ", ".join(f"{k} = {v}" for k, v in advice[index].items())
        return cfg, _message(f"Applied the suggestion: {text}.", "success"), False
    if trigger == ids.CFG_UPLOAD:
        name = str(filename)[:80] if isinstance(filename, str) else "the file"
        try:
            cfg = cf.decode_upload(upload)
        except cf.FormError as exc:
            return (
                None,
                _message(f"Could not load {name}: {exc}. The form was left as it was.", "danger"),
                False,
            )
        return cfg, _message(f"Loaded {name} ({_model_name(cfg)}).", "success"), False
    # The page loaded (dcc.Location reports its search on mount): a link wins, then unapplied
    # edits, then the config applied for the next run, then the default preset.
    message: Any = None
    try:
        linked = cf.decode_link(search)
    except cf.FormError as exc:
        linked = None
        message = _message(f"The link's configuration was not used: {exc}.", "warning")
    if linked is not None:
        return linked, _message("Opened the configuration from the link.", "info"), True
    if message is None and any(v not in (None, "") for v in values.values()):
        # The address bar changed (or lost its ?config=) after the form was filled: keep it.
        return None, no_update, False
    cfg = _stored(draft) or _stored(applied) or sim.preset(cf.DEFAULT_PRESET)
    return cfg, message, message is not None


def _model_name(cfg: sim.TrainingConfig) -> str:
    spec = sim.MODELS.get(cfg.model)
    return spec.name if spec is not None else "custom model"


@callback(
    Output(FIELD_ALL, "value"),
    Output(ids.CFG_PRESET, "value"),
    Output(ids.CFG_MESSAGE, "children"),
    Output(ids.URL, "search"),
    Input(ids.URL, "search"),
    Input(ids.CFG_PRESET, "value"),
    Input(ids.CFG_RESET, "n_clicks"),
    Input(ids.CFG_UPLOAD, "contents"),
    Input({"type": ids.CFG_ADVICE, "index": ALL}, "n_clicks"),
    State(FIELD_ALL, "value"),
    State(ids.CFG_UPLOAD, "filename"),
    State(ids.CFG_DRAFT, "data"),
    State(ids.CONFIG_STORE, "data"),
    State(ids.CFG_ADVICE_STORE, "data"),
)
def load(
    search: Any,
    model: Any,
    _reset: Any,
    upload: Any,
    _advice_clicks: Any,
    field_values: list[Any],
    filename: Any,
    draft: Any,
    applied: Any,
    advice: Any,
) -> tuple[Any, ...]:
    """Put a config into the form: page load, preset pick, Reset, suggestion, uploaded file."""
    values = dict(zip(_names(ctx.states_list[0]), field_values, strict=False))
    # One value per output the request lists: a page lists the same fields as the state, but
    # Dash answers a 500 if the count differs from a (tampered) request's outputs.
    names = _names(ctx.outputs_list[0])
    trigger = ctx.triggered_id
    triggered_value = ctx.triggered[0].get("value") if ctx.triggered else None
    cfg, message, clear = do_load(
        trigger,
        triggered_value,
        model=model,
        values=values,
        search=search,
        draft=draft,
        applied=applied,
        upload=upload,
        filename=filename,
        advice=advice,
    )
    if cfg is None:
        return [no_update] * len(names), no_update, message, no_update
    preset, form = cf.config_to_form(cfg)
    return (
        [form.get(n, no_update) for n in names],
        preset if preset != model else no_update,
        message,
        "" if clear else no_update,
    )


# ------------------------------------------------------------------------------ actions


def do_apply_next(model: Any, values: dict[str, Any]) -> tuple[Any, Any, Any, Any]:
    """(CONFIG_STORE data, message, summary text, summary class), validated again."""
    result = cf.form_to_config(model, values)
    if result.config is None:
        message = _message("Not applied: fix the marked fields first.", "danger")
        return no_update, message, no_update, no_update
    cfg = result.config
    est = sim.estimate(cfg)
    note = "" if est.fits else " It does not fit GPU memory: the run would stop at once."
    message = _message(
        f"Applied to the next run: {_model_name(cfg)} on {cfg.num_gpus:,} × "
        f"{sim.GPUS[cfg.gpu].name}. The Training tab uses it when a new run starts "
        f"(Reset, then Start).{note}",
        "success" if est.fits else "warning",
    )
    summary = "Applied to the next run" + ("" if est.fits else " · does not fit")
    return cfg.to_dict(), message, summary, f"{lc.SUMMARY_CLASS} cfg-summary-applied"


@callback(
    Output(ids.CONFIG_STORE, "data"),
    Output(ids.CFG_MESSAGE, "children", allow_duplicate=True),
    Output(ids.CFG_SUMMARY, "children", allow_duplicate=True),
    Output(ids.CFG_SUMMARY, "className", allow_duplicate=True),
    Input(ids.CFG_APPLY_NEXT, "n_clicks"),
    State(ids.CFG_PRESET, "value"),
    State(FIELD_ALL, "value"),
    prevent_initial_call=True,
)
def apply_next(_n: Any, model: Any, field_values: list[Any]) -> tuple[Any, Any, Any, Any]:
    """Store the config for the Training tab's next run (local storage)."""
    values = dict(zip(_names(ctx.states_list[1]), field_values, strict=False))
    return do_apply_next(model, values)


def _load_run(raw: Any) -> sim.RunState | None:
    if not isinstance(raw, dict):
        return None
    try:
        if len(json.dumps(raw, separators=(",", ":"))) > MAX_STATE_BYTES:
            return None
        return sim.RunState.from_dict(raw)
    except (sim.StateError, TypeError, ValueError, RecursionError):
        return None


def do_apply_now(model: Any, values: dict[str, Any], raw_run: Any) -> tuple[Any, Any]:
    """(RUN_STORE data, message): apply the changed, mutable settings to the live run."""
    result = cf.form_to_config(model, values)
    if result.config is None:
        return no_update, _message("Not applied: fix the marked fields first.", "danger")
    state = _load_run(raw_run)
    if state is None or state.status not in ("running", "paused"):
        return no_update, _message(
            "There is no running or paused run to change. Use Apply to next run, then start "
            "it on the Training tab.",
            "warning",
        )
    changes = cf.changed_fields(state.current_config, result.config)
    mutable, refused = cf.split_mutable(changes)
    refused_text = (
        f" Not changed (a run cannot change these mid-run; use Apply to next run): "
        f"{', '.join(refused)}."
        if refused
        else ""
    )
    if not mutable:
        text = "Nothing to change: the run already uses these settings."
        if refused:
            text = "Nothing applied." + refused_text
        return no_update, _message(text, "warning" if refused else "secondary")
    try:
        new_state = sim.apply_changes(state, mutable)
    except (sim.ConfigError, sim.TransitionError) as exc:
        return no_update, _message(f"The run refused the change: {exc}.", "danger")
    applied = ", ".join(f"{k} = {_short(v)}" for k, v in mutable.items())
    return new_state.to_dict(), _message(
        f"Applied to the {state.status} run from step {state.step:,}: {applied}. It shows as a "
        f"change on the Training tab's charts and events.{refused_text}",
        "warning" if refused else "success",
    )


def _short(v: Any) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


@callback(
    Output(ids.RUN_STORE, "data", allow_duplicate=True),
    Output(ids.CFG_MESSAGE, "children", allow_duplicate=True),
    Input(ids.CFG_APPLY_NOW, "n_clicks"),
    State(ids.CFG_PRESET, "value"),
    State(FIELD_ALL, "value"),
    State(ids.RUN_STORE, "data"),
    prevent_initial_call=True,
)
def apply_now(_n: Any, model: Any, field_values: list[Any], run: Any) -> tuple[Any, Any]:
    """Change the running or paused run from its next step (``sim.apply_changes``)."""
    values = dict(zip(_names(ctx.states_list[1]), field_values, strict=False))
    return do_apply_now(model, values, run)


def do_save(model: Any, values: dict[str, Any]) -> tuple[Any, Any]:
    """(Download data, message) for the form's config as a JSON file."""
    result = cf.form_to_config(model, values)
    if result.config is None:
        return no_update, _message("Not saved: fix the marked fields first.", "danger")
    cfg = result.config
    return {"content": cf.config_file(cfg), "filename": cf.file_name(cfg)}, None


@callback(
    Output(ids.CFG_DOWNLOAD, "data"),
    Output(ids.CFG_MESSAGE, "children", allow_duplicate=True),
    Input(ids.CFG_SAVE, "n_clicks"),
    State(ids.CFG_PRESET, "value"),
    State(FIELD_ALL, "value"),
    prevent_initial_call=True,
)
def save(_n: Any, model: Any, field_values: list[Any]) -> tuple[Any, Any]:
    """Download the config (``TrainingConfig.to_dict()``, the format Load JSON reads)."""
    values = dict(zip(_names(ctx.states_list[1]), field_values, strict=False))
    return do_save(model, values)


clientside_callback(
    ClientsideFunction(namespace="configuration", function_name="applyNowDisabled"),
    Output(ids.CFG_APPLY_NOW, "disabled"),
    Input(ids.RUN_STORE, "data"),
    Input(ids.CFG_APPLY_NEXT, "disabled"),
)
