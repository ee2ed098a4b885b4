"""Configuration-tab callbacks: each a decorator and one call into ``views.configuration``.

What each action computes, and why, is documented there (``estimate``, ``load``,
``apply_next``, ``apply_now``, ``save``). The adapters here only read what Dash alone knows:
which input fired (``ctx.triggered_id``) and the names of the pattern-matching fields a
request lists (``ctx.args_grouping`` for inputs and states, ``ctx.outputs_grouping`` for
outputs), which the view needs to answer its lists in the same order. ``estimate``'s tiles
and fit warning come back as data and are drawn by ``layouts.configuration``.

Apply now is enabled in the browser (``assets/js/configuration.js``) from the run's status:
``RUN_STORE`` changes on every tick, and a server round trip per tick for one button's
``disabled`` would be waste. The server checks again when it is pressed. See
docs/architecture.md.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flask
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
    set_props,
)

from callbacks import adapt
from layouts import configuration as lc
from layouts import ids
from tracking.api import store_of
from tracking.control import trust_from_env, who_from_headers
from tracking.store import Store
from views import config_plan as cp
from views import configuration as vc
from views.contract import KEEP

FIELDS = {"type": ids.CFG_FIELD, "name": ALL}
# The form is filled and estimated once ids.CFG_OPENED is set (layouts/shell.py
# _opened_stores: after the Training charts are drawn, or when this tab is shown first), not
# at page load, where these requests and their ~200 outputs delayed the Training charts
# (issue 17). A ``?config=`` link opened on another tab is then read (reported if bad, taken
# out of the address) just after the Training charts.
_OPENED = Input(ids.CFG_OPENED, "data")


def _names(group: Any) -> tuple[str, ...]:
    """The ``name`` of each id in a pattern-matching group, in the request's order."""
    if not isinstance(group, list):
        return ()
    return tuple(str(item["id"]["name"]) for item in group)


def _open_store() -> Store:
    """The app's run store (opened on first use, ``tracking.api.StoreSlot``)."""
    return store_of(flask.current_app)


def _form(values: Any, key: str = "fields") -> dict[str, Any]:
    """The form's field values by name (the ``ALL`` group ``key`` of the arguments)."""
    names = _names(ctx.args_grouping[key])
    return dict(zip(names, values if isinstance(values, list) else [], strict=False))


@callback(
    output=dict(
        invalid=Output(FIELDS, "invalid"),
        feedback=Output({"type": ids.CFG_FEEDBACK, "name": ALL}, "children"),
        hints=Output({"type": ids.CFG_HINT, "name": ALL}, "children"),
        groups=Output({"type": ids.CFG_GROUP, "name": ALL}, "style"),
        form_error=Output(ids.CFG_FORM_ERROR, "children"),
        stats=Output(ids.CFG_ESTIMATE, "children"),
        memory=Output(ids.CFG_MEMORY, "figure"),
        memory_text=Output(ids.CFG_MEMORY_TEXT, "children"),
        fit=Output(ids.CFG_FIT, "children"),
        advice=Output(ids.CFG_ADVICE_STORE, "data"),
        lr=Output(ids.CFG_LR, "figure"),
        apply_disabled=Output(ids.CFG_APPLY_NEXT, "disabled"),
        save_disabled=Output(ids.CFG_SAVE, "disabled"),
        summary=Output(ids.CFG_SUMMARY, "children"),
        summary_class=Output(ids.CFG_SUMMARY, "className"),
        link=Output(ids.CFG_LINK, "value"),
        draft=Output(ids.CFG_DRAFT, "data"),
        recipe=Output(ids.CFG_RECIPE, "children"),
        message=Output(ids.CFG_MESSAGE, "children", allow_duplicate=True),
    ),
    inputs=dict(
        model=Input(ids.CFG_PRESET, "value"), fields=Input(FIELDS, "value"), _opened=_OPENED
    ),
    state=dict(
        applied=State(ids.CONFIG_STORE, "data"),
        href=State(ids.URL, "href"),
        run=State(ids.RUN_STORE, "data"),
        plan=State(ids.CFG_PLAN_STORE, "data"),
    ),
    prevent_initial_call=True,
)
def estimate(
    model: Any, fields: Any, _opened: Any, applied: Any, href: Any, run: Any, plan: Any
) -> dict[str, Any]:
    """Validate the whole form and show what the run would cost (one request per change)."""
    out = ctx.outputs_grouping
    slots = vc.Slots(*(_names(out[k]) for k in ("invalid", "feedback", "hints", "groups")))
    view = vc.estimate(model, _form(fields), applied, href, slots, run, plan)
    return {**adapt.outputs(view), **lc.estimate_children(view)}


# The fields are filled with ``set_props`` rather than declared as outputs. While a callback is
# pending, dash-renderer walks every output downstream of it, anew each time any callback
# changes state, and copies the set it has visited at each step; 45 declared field outputs
# each led to ``estimate`` and its 156 outputs, so the walk from ``load`` (pending from the
# start of every page load) took about 1.4 s of the page's main thread, more than all else
# before the first chart (benchmarks/bench_page.py, issue 17). ``estimate`` still waits for
# ``load`` (the preset is a declared output and one of its inputs), and the fields changed by
# ``set_props`` fire it as an edit would.
@callback(
    output=dict(
        preset=Output(ids.CFG_PRESET, "value"),
        message=Output(ids.CFG_MESSAGE, "children"),
        search=Output(ids.URL, "search"),
        alert=Output(ids.ALERT_AREA, "children", allow_duplicate=True),
        plan=Output(ids.CFG_PLAN_STORE, "data", allow_duplicate=True),
    ),
    inputs=dict(
        _opened=_OPENED,
        model=Input(ids.CFG_PRESET, "value"),
        reset=Input(ids.CFG_RESET, "n_clicks"),
        upload=Input(ids.CFG_UPLOAD, "contents"),
        advice_clicks=Input({"type": ids.CFG_ADVICE, "index": ALL}, "n_clicks"),
        plan_load=Input(ids.CFG_PLAN_LOAD, "n_clicks"),
    ),
    state=dict(
        search=State(ids.URL, "search"),
        fields=State(FIELDS, "value"),
        plan_run=State(ids.CFG_PLAN_RUN, "value"),
        plan=State(ids.CFG_PLAN_STORE, "data"),
        filename=State(ids.CFG_UPLOAD, "filename"),
        draft=State(ids.CFG_DRAFT, "data"),
        applied=State(ids.CONFIG_STORE, "data"),
        advice=State(ids.CFG_ADVICE_STORE, "data"),
        tab=State(ids.TABS, "value"),
    ),
    prevent_initial_call=True,
)
def load(**kw: Any) -> dict[str, Any]:
    """Put a config into the form: its first fill (``ids.CFG_OPENED``: the link, draft or
    applied config, as a page load did), preset pick, Reset, suggestion, uploaded file."""
    names = _names(ctx.args_grouping["fields"])  # every field on the page, in its order
    result = vc.load(
        ctx.triggered_id,
        ctx.triggered[0].get("value") if ctx.triggered else None,
        model=kw["model"],
        values=_form(kw["fields"]),
        search=kw["search"],
        draft=kw["draft"],
        applied=kw["applied"],
        upload=kw["upload"],
        filename=kw["filename"],
        advice=kw["advice"],
        # The page load runs on any tab; off Configuration, a bad link's reason goes to
        # the app-wide alert, where it can be seen.
        on_configuration=kw["tab"] == ids.TAB_CONFIGURATION,
        names=names,
        plan_run=kw["plan_run"],
        plan=kw["plan"],
        open_store=_open_store,
    )
    for name, value in zip(names, result.values, strict=True):
        if value is not KEEP:
            set_props(ids.cfg_field(name), {"value": value})
    shown = ("preset", "message", "search", "alert", "plan")
    return {k: adapt.dash_value(getattr(result, k)) for k in shown}


@callback(
    output=dict(
        config=Output(ids.CONFIG_STORE, "data"),
        message=Output(ids.CFG_MESSAGE, "children", allow_duplicate=True),
        summary=Output(ids.CFG_SUMMARY, "children", allow_duplicate=True),
        summary_class=Output(ids.CFG_SUMMARY, "className", allow_duplicate=True),
    ),
    inputs=dict(clicks=Input(ids.CFG_APPLY_NEXT, "n_clicks")),
    state=dict(model=State(ids.CFG_PRESET, "value"), fields=State(FIELDS, "value")),
    prevent_initial_call=True,
)
def apply_next(clicks: Any, model: Any, fields: Any) -> dict[str, Any]:
    """Store the config for the Training tab's next run (local storage)."""
    return adapt.outputs(vc.apply_next(model, _form(fields)))


@callback(
    output=dict(
        run=Output(ids.RUN_STORE, "data", allow_duplicate=True),
        message=Output(ids.CFG_MESSAGE, "children", allow_duplicate=True),
        summary=Output(ids.CFG_SUMMARY, "children", allow_duplicate=True),
        summary_class=Output(ids.CFG_SUMMARY, "className", allow_duplicate=True),
    ),
    inputs=dict(clicks=Input(ids.CFG_APPLY_NOW, "n_clicks")),
    state=dict(
        model=State(ids.CFG_PRESET, "value"),
        fields=State(FIELDS, "value"),
        run=State(ids.RUN_STORE, "data"),
    ),
    prevent_initial_call=True,
)
def apply_now(clicks: Any, model: Any, fields: Any, run: Any) -> dict[str, Any]:
    """Change the running or paused run from its next step (``sim.apply_changes``)."""
    return adapt.outputs(vc.apply_now(model, _form(fields), run))


@callback(
    output=dict(
        download=Output(ids.CFG_DOWNLOAD, "data"),
        message=Output(ids.CFG_MESSAGE, "children", allow_duplicate=True),
    ),
    inputs=dict(clicks=Input(ids.CFG_SAVE, "n_clicks")),
    state=dict(model=State(ids.CFG_PRESET, "value"), fields=State(FIELDS, "value")),
    prevent_initial_call=True,
)
def save(clicks: Any, model: Any, fields: Any) -> dict[str, Any]:
    """Download the config as JSON (the format Load JSON reads)."""
    return adapt.outputs(vc.save(model, _form(fields)))


@callback(
    output=dict(
        options=Output(ids.CFG_PLAN_RUN, "options"),
        placeholder=Output(ids.CFG_PLAN_RUN, "placeholder"),
    ),
    inputs=dict(tab=Input(ids.TABS, "value")),
    prevent_initial_call=True,  # a page load opens on this tab by changing ids.TABS
)
def plan_runs(tab: Any) -> dict[str, Any]:
    """The run picker's options, read from the store whenever the tab is opened."""
    if tab != ids.TAB_CONFIGURATION:
        return {"options": no_update, "placeholder": no_update}
    runs = cp.run_options(_open_store)
    return {"options": runs.options, "placeholder": runs.placeholder}


@callback(
    output=dict(
        text=Output({"type": ids.CFG_PROV, "name": ALL}, "children"),
        class_name=Output({"type": ids.CFG_PROV, "name": ALL}, "className"),
        tip=Output({"type": ids.CFG_PROV, "name": ALL}, "title"),
        save_disabled=Output(ids.CFG_PLAN_SAVE, "disabled"),
        note=Output(ids.CFG_PLAN_NOTE, "children"),
    ),
    inputs=dict(
        plan=Input(ids.CFG_PLAN_STORE, "data"),
        model=Input(ids.CFG_PRESET, "value"),
        fields=Input(FIELDS, "value"),
        _opened=_OPENED,
    ),
    prevent_initial_call=True,
)
def plan_marks(plan: Any, model: Any, fields: Any, _opened: Any) -> dict[str, Any]:
    """Each field's provenance mark for the loaded run, and what Save would write."""
    # Each of the three groups is sized by its own ids: a request may list them differently
    # (a hostile one did, and a result sized by one group was a 500 for the others).
    form = _form(fields)
    result = cp.marks(plan, model, form, _names(ctx.outputs_grouping["text"]))
    for group in ("class_name", "tip"):
        own = cp.marks(plan, model, form, _names(ctx.outputs_grouping[group]))
        result = dataclasses.replace(result, **{group: getattr(own, group)})
    return adapt.outputs(result)


@callback(
    output=dict(
        plan=Output(ids.CFG_PLAN_STORE, "data", allow_duplicate=True),
        message=Output(ids.CFG_MESSAGE, "children", allow_duplicate=True),
    ),
    inputs=dict(clicks=Input(ids.CFG_PLAN_SAVE, "n_clicks")),
    state=dict(
        model=State(ids.CFG_PRESET, "value"),
        fields=State(FIELDS, "value"),
        plan=State(ids.CFG_PLAN_STORE, "data"),
    ),
    prevent_initial_call=True,
)
def plan_save(clicks: Any, model: Any, fields: Any, plan: Any) -> dict[str, Any]:
    """Save the corrected assumed fields to the run, as the login nginx checked."""
    who = who_from_headers(flask.request.headers, trust_from_env())
    return adapt.outputs(cp.save_corrections(_open_store, plan, model, _form(fields), who))


clientside_callback(
    ClientsideFunction(namespace="configuration", function_name="applyNowDisabled"),
    Output(ids.CFG_APPLY_NOW, "disabled"),
    Input(ids.RUN_STORE, "data"),
    Input(ids.CFG_APPLY_NEXT, "disabled"),
)
