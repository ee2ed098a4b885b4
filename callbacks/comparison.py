"""Callbacks of the Model Comparison tab: each a decorator and one call into ``views.comparison``.

The view validates every Store and control value, does the work and returns a named result
whose fields are the outputs below (``adapt.outputs``). What stays here is Dash's part:
which component fired (``ctx``), read once and passed to the view as a plain value.

Why the callbacks are split the way they are (see docs/architecture.md):

- ``update_views`` computes each compared run once (one pass per run) and fills the loss
  curves, the final-metrics table and the compute-efficiency chart from that pass.
- The log-axis switches recompute the view too. A ``Patch`` of the axis types alone would be
  cheaper, but a slower full redraw still in flight (say, after an x-axis change) would land
  after it and undo it; one callback owning the whole figure cannot race with itself.
- ``edit_selection`` appends a run added to drawn views itself (an ``Edit`` per chart), or
  redraws them when it cannot (a new frontier line), so the redraw the new list fires has
  nothing left to do and an add waits for one request, not two.
- The config diff needs configs only, so it is its own cheap callback.
- The CSV is built from the table's rows as shown (validated), so exporting costs nothing.
"""

from __future__ import annotations

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
)

from callbacks import adapt, limits
from layouts import comparison as layout
from layouts import ids
from tracking.api import store_of
from tracking.store import Store
from views import comparison as vc

_CONTROLS = dict(
    x=ids.CMP_X_AXIS, kind=ids.CMP_CURVE_KIND, smoothing=ids.CMP_SMOOTHING, logs=ids.CMP_LOG_AXES
)
_CONTROL_PROPS = dict(x="value", kind="value", smoothing="value", logs="value")
# What fills the tab waits for ids.CMP_OPENED (layouts/shell.py _opened_stores: after the
# Training charts are drawn, or when this tab is shown first), not the page load, where these
# views delayed the Training charts (issue 17).
_OPENED = Input(ids.CMP_OPENED, "data")
# The shared Stores these views read are set as the page loads (a local dcc.Store reads its
# value when it mounts), so they are States; the views listen to when they changed after the
# tab was opened (assets/js/shell.js sinceOpened).
_SAVED = State(ids.SAVED_RUNS_STORE, "data")
_SAVED_CHANGED = Input(ids.CMP_SAVED_CHANGED, "data")
_SELECTION = State(ids.CMP_SELECTION, "data")
_SELECTION_CHANGED = Input(ids.CMP_SELECTION_CHANGED, "data")

for _changed, _shared in (
    (ids.CMP_SAVED_CHANGED, ids.SAVED_RUNS_STORE),
    (ids.CMP_CONFIG_CHANGED, ids.CONFIG_STORE),
    (ids.CMP_SELECTION_CHANGED, ids.CMP_SELECTION),
):
    clientside_callback(
        ClientsideFunction(namespace="shell", function_name="sinceOpened"),
        Output(_changed, "data"),
        Input(_shared, "data"),
        State(ids.CMP_OPENED, "data"),
    )


def _open_store() -> Store:
    """The app's run store (opened on first use; ``StoreUnavailable`` while it cannot be)."""
    return store_of(flask.current_app)


def _controls(c: dict[str, Any]) -> vc.Controls:
    return vc.Controls.from_browser(c["x"], c["kind"], c["smoothing"], c["logs"])


# --------------------------------------------------------------------------- saved runs
@callback(
    output=dict(
        table=Output(ids.CMP_SAVED_TABLE, "data"),
        count=Output(ids.CMP_SAVED_COUNT, "children"),
        problem_hidden=Output(ids.CMP_SAVED_PROBLEM, "hidden"),
        problem_text=Output(ids.CMP_SAVED_PROBLEM_TEXT, "children"),
    ),
    inputs=dict(_opened=_OPENED, _changed=_SAVED_CHANGED),
    state=dict(saved=_SAVED),
    prevent_initial_call=True,
)
def show_saved(_opened: Any, _changed: Any, saved: Any) -> dict[str, Any]:
    """The tab was opened or the saved runs changed: redraw their table, and say what could
    not be read."""
    return adapt.outputs(vc.saved_table(saved))


_SAVED_ACTIONS: dict[Any, vc.SavedAction] = {
    ids.CMP_RENAME_BUTTON: "rename",
    ids.CMP_DELETE_BUTTON: "delete",
    ids.CMP_IMPORT_UPLOAD: "import",
}


@callback(
    output=dict(
        saved=Output(ids.SAVED_RUNS_STORE, "data", allow_duplicate=True),
        selection=Output(ids.CMP_SELECTION, "data", allow_duplicate=True),
        message=Output(ids.CMP_MESSAGE, "children", allow_duplicate=True),
        upload=Output(ids.CMP_IMPORT_UPLOAD, "contents"),
        undo=Output(ids.CMP_UNDO_STORE, "data", allow_duplicate=True),
        undo_text=Output(ids.CMP_UNDO_TEXT, "children"),
        undo_open=Output(ids.CMP_UNDO_ALERT, "is_open", allow_duplicate=True),
    ),
    inputs=dict(
        rename=Input(ids.CMP_RENAME_BUTTON, "n_clicks"),
        delete=Input(ids.CMP_DELETE_BUTTON, "n_clicks"),
        upload=Input(ids.CMP_IMPORT_UPLOAD, "contents"),
    ),
    state=dict(
        selected=State(ids.CMP_SAVED_TABLE, "selected_row_ids"),
        name=State(ids.CMP_RENAME_INPUT, "value"),
        saved=State(ids.SAVED_RUNS_STORE, "data"),
        selection=State(ids.CMP_SELECTION, "data"),
    ),
    prevent_initial_call=True,
)
def manage_saved(
    rename: Any, delete: Any, upload: Any, selected: Any, name: Any, saved: Any, selection: Any
) -> dict[str, Any]:
    """Rename, Delete or an import of saved runs."""
    return adapt.outputs(
        vc.manage_saved(
            _SAVED_ACTIONS.get(ctx.triggered_id),
            upload=upload,
            selected=selected,
            name=name,
            saved=saved,
            selection=selection,
        )
    )


# After manage_saved: tests/renderer.py finds a prop's first allow_duplicate writer.
@callback(
    output=dict(
        saved=Output(ids.SAVED_RUNS_STORE, "data", allow_duplicate=True),
        selection=Output(ids.CMP_SELECTION, "data", allow_duplicate=True),
        message=Output(ids.CMP_MESSAGE, "children", allow_duplicate=True),
        undo=Output(ids.CMP_UNDO_STORE, "data", allow_duplicate=True),
        undo_open=Output(ids.CMP_UNDO_ALERT, "is_open", allow_duplicate=True),
    ),
    inputs=dict(_n=Input(ids.CMP_UNDO_BUTTON, "n_clicks")),
    state=dict(
        undo=State(ids.CMP_UNDO_STORE, "data"),
        saved=State(ids.SAVED_RUNS_STORE, "data"),
        selection=State(ids.CMP_SELECTION, "data"),
    ),
    prevent_initial_call=True,
)
def undo_delete(_n: Any, undo: Any, saved: Any, selection: Any) -> dict[str, Any]:
    """Undo in the bar a delete shows: the deleted runs come back where they were."""
    return adapt.outputs(vc.undo_delete(undo, saved, selection))


@callback(
    output=dict(saved=Output(ids.SAVED_RUNS_STORE, "data", allow_duplicate=True)),
    inputs=dict(_ts=Input(ids.CMP_SAVED_TABLE, "data_timestamp")),
    state=dict(rows=State(ids.CMP_SAVED_TABLE, "data"), saved=State(ids.SAVED_RUNS_STORE, "data")),
    prevent_initial_call=True,
)
def edit_saved_cells(_ts: Any, rows: Any, saved: Any) -> dict[str, Any]:
    """A name, tags or notes cell of the saved-runs table was edited: store it."""
    return adapt.outputs(vc.edit_cells(rows, saved))


@callback(
    output=dict(download=Output(ids.CMP_EXPORT_DOWNLOAD, "data")),
    inputs=dict(_n=Input(ids.CMP_EXPORT_BUTTON, "n_clicks")),
    state=dict(saved=State(ids.SAVED_RUNS_STORE, "data")),
    prevent_initial_call=True,
)
def export_saved(_n: Any, saved: Any) -> dict[str, Any]:
    """Export: every valid saved run as one JSON file."""
    return adapt.outputs(vc.export_saved(saved))


# After manage_saved: tests/renderer.py finds a prop's first allow_duplicate writer.
@callback(
    output=dict(
        saved=Output(ids.SAVED_RUNS_STORE, "data", allow_duplicate=True),
        message=Output(ids.CMP_MESSAGE, "children", allow_duplicate=True),
    ),
    inputs=dict(_n=Input(ids.CMP_SAVED_PURGE, "n_clicks")),
    state=dict(saved=State(ids.SAVED_RUNS_STORE, "data")),
    prevent_initial_call=True,
)
def purge_saved(_n: Any, saved: Any) -> dict[str, Any]:
    """ "Clear the unreadable entries": keep the saved runs that can be read."""
    return adapt.outputs(vc.purge_saved(saved))


# "Download them (JSON)": the stored list as it is, from local storage (assets/js/stores.js),
# so it works whatever the list holds. The output is a placeholder (always no_update).
clientside_callback(
    ClientsideFunction(namespace="stores", function_name="downloadSaved"),
    Output(ids.CMP_SAVED_BACKUP, "title"),
    Input(ids.CMP_SAVED_BACKUP, "n_clicks"),
    prevent_initial_call=True,
)


# ------------------------------------------------------------------------- selection
@callback(
    output=dict(options=Output(ids.CMP_ADD_CHOICE, "options")),
    inputs=dict(_opened=_OPENED, _changed=Input(ids.CMP_CONFIG_CHANGED, "data")),
    state=dict(config=State(ids.CONFIG_STORE, "data")),
    prevent_initial_call=True,
)
def add_options(_opened: Any, _changed: Any, config: Any) -> dict[str, Any]:
    """The tab was opened or the applied config changed: the recipes that can be added."""
    return adapt.outputs(vc.add_options(config))


def _selection_action() -> tuple[vc.SelectionAction | None, Any]:
    """Which button of ``edit_selection`` was clicked, and the key of a removed run."""
    if not ctx.triggered or not ctx.triggered[0].get("value"):
        return None, None  # a remove button was (re)drawn, not clicked
    trigger = ctx.triggered_id
    if isinstance(trigger, dict):
        kind = "predict" if trigger.get("type") == ids.CMP_PREDICT else "remove"
        return kind, trigger.get("index")
    actions: dict[Any, vc.SelectionAction] = {
        ids.CMP_ADD_BUTTON: "add",
        ids.CMP_CLEAR_BUTTON: "clear",
        ids.CMP_COMPARE_SAVED_BUTTON: "compare",
        ids.CMP_REAL_ADD: "real",
    }
    return actions.get(trigger), None


@callback(
    output=dict(
        selection=Output(ids.CMP_SELECTION, "data"),
        message=Output(ids.CMP_MESSAGE, "children"),
        curves=Output(ids.CMP_CURVES_GRAPH, "figure", allow_duplicate=True),
        table=Output(ids.CMP_METRICS_TABLE, "data", allow_duplicate=True),
        efficiency=Output(ids.CMP_EFFICIENCY_GRAPH, "figure", allow_duplicate=True),
        view=Output(ids.CMP_VIEW_STATE, "data", allow_duplicate=True),
        notes=Output(ids.CMP_VIEW_NOTES, "children", allow_duplicate=True),
    ),
    inputs=dict(
        add=Input(ids.CMP_ADD_BUTTON, "n_clicks"),
        clear=Input(ids.CMP_CLEAR_BUTTON, "n_clicks"),
        compare=Input(ids.CMP_COMPARE_SAVED_BUTTON, "n_clicks"),
        removes=Input({"type": ids.CMP_REMOVE, "index": ALL}, "n_clicks"),
        real=Input(ids.CMP_REAL_ADD, "n_clicks"),
        predicts=Input({"type": ids.CMP_PREDICT, "index": ALL}, "n_clicks"),
    ),
    state=dict(
        real_selected=State(ids.CMP_REAL_TABLE, "selected_row_ids"),
        choice=State(ids.CMP_ADD_CHOICE, "value"),
        config=State(ids.CONFIG_STORE, "data"),
        selected=State(ids.CMP_SAVED_TABLE, "selected_row_ids"),
        selection=State(ids.CMP_SELECTION, "data"),
        saved=State(ids.SAVED_RUNS_STORE, "data"),
        controls={k: State(cid, _CONTROL_PROPS[k]) for k, cid in _CONTROLS.items()},
        view=State(ids.CMP_VIEW_STATE, "data"),
    ),
    prevent_initial_call=True,
)
def edit_selection(**kw: Any) -> dict[str, Any]:
    """Add to, remove from or clear the comparison."""
    action, key = _selection_action()
    return adapt.outputs(
        vc.edit_selection(
            action,
            remove=key,
            choice=kw["choice"],
            config=kw["config"],
            selected=kw["selected"],
            selection=kw["selection"],
            saved=kw["saved"],
            controls=_controls(kw["controls"]),
            view=kw["view"],
            admit=limits.heavy,
            real_selected=kw["real_selected"],
            open_store=_open_store,
        )
    )


# One plain output (a component tree built by the layout from the view's data): the one
# callback whose output dash-renderer sends as an object, not a list (request_guard handles both).
@callback(
    Output(ids.CMP_CHIPS, "children"),
    _OPENED,
    _SELECTION_CHANGED,
    _SAVED_CHANGED,
    _SELECTION,
    _SAVED,
    prevent_initial_call=True,
)
def show_chips(_opened: Any, _listed: Any, _changed: Any, selection: Any, saved: Any) -> Any:
    """The comparison list or saved runs changed: one removable badge per compared run."""
    return layout.chips(vc.chips(selection, saved, _open_store).chips)


# ----------------------------------------------------------------------------- views
@callback(
    output=dict(
        curves=Output(ids.CMP_CURVES_GRAPH, "figure"),
        table=Output(ids.CMP_METRICS_TABLE, "data"),
        efficiency=Output(ids.CMP_EFFICIENCY_GRAPH, "figure"),
        notes=Output(ids.CMP_VIEW_NOTES, "children"),
        view=Output(ids.CMP_VIEW_STATE, "data"),
    ),
    inputs=dict(
        controls={k: Input(cid, _CONTROL_PROPS[k]) for k, cid in _CONTROLS.items()},
        _opened=_OPENED,
        _listed=_SELECTION_CHANGED,
        _changed=_SAVED_CHANGED,
    ),
    state=dict(selection=_SELECTION, saved=_SAVED, view=State(ids.CMP_VIEW_STATE, "data")),
    prevent_initial_call=True,
)
def update_views(
    controls: dict[str, Any],
    _opened: Any,
    _listed: Any,
    _changed: Any,
    selection: Any,
    saved: Any,
    view: Any,
) -> dict[str, Any]:
    """The tab was opened, or the list, saved runs or a view control changed: redraw curves,
    table and efficiency."""
    return adapt.outputs(
        vc.update_views(
            selection,
            saved,
            _controls(controls),
            view,
            list_changed=ctx.triggered_id == ids.CMP_SELECTION_CHANGED,
            admit=limits.heavy,
            open_store=_open_store,
        )
    )


@callback(
    output=dict(
        columns=Output(ids.CMP_DIFF_TABLE, "columns"),
        rows=Output(ids.CMP_DIFF_TABLE, "data"),
        style=Output(ids.CMP_DIFF_TABLE, "style_data_conditional"),
        tooltips=Output(ids.CMP_DIFF_TABLE, "tooltip_data"),
    ),
    inputs=dict(
        hide=Input(ids.CMP_DIFF_HIDE, "value"),
        _opened=_OPENED,
        _listed=_SELECTION_CHANGED,
        _changed=_SAVED_CHANGED,
    ),
    state=dict(selection=_SELECTION, saved=_SAVED),
    prevent_initial_call=True,
)
def show_diff(
    hide: Any, _opened: Any, _listed: Any, _changed: Any, selection: Any, saved: Any
) -> dict[str, Any]:
    """The tab was opened, or the list, saved runs or "hide identical" changed: the config
    diff."""
    return adapt.outputs(vc.config_diff(selection, saved, hide, _open_store))


@callback(
    output=dict(
        rows=Output(ids.CMP_REAL_TABLE, "data"),
        caption=Output(ids.CMP_REAL_COUNT, "children"),
    ),
    inputs=dict(
        search=Input(ids.CMP_REAL_SEARCH, "value"),
        _n=Input(ids.CMP_REAL_REFRESH, "n_clicks"),
        tab=Input(ids.TABS, "value"),
    ),
    prevent_initial_call=True,  # a page load opens on this tab by changing ids.TABS
)
def real_table(search: Any, _n: Any, tab: Any) -> dict[str, Any]:
    """The tab was opened, the search changed or Refresh was clicked: the store's runs,
    newest first. Not while another tab is shown: a page load on Training read every run
    for a table no one saw."""
    if tab != ids.TAB_COMPARISON:
        return {"rows": no_update, "caption": no_update}
    return adapt.outputs(vc.real_table(_open_store, search))


@callback(
    output=dict(download=Output(ids.CMP_CSV_DOWNLOAD, "data")),
    inputs=dict(_n=Input(ids.CMP_CSV_BUTTON, "n_clicks")),
    state=dict(rows=State(ids.CMP_METRICS_TABLE, "data")),
    prevent_initial_call=True,
)
def export_csv(_n: Any, rows: Any) -> dict[str, Any]:
    """Export CSV: the final-metrics table as shown."""
    return adapt.outputs(vc.export_csv(rows))


# ------------------------------------------------------------------- published scores
@callback(
    output=dict(
        model_options=Output(ids.CMP_BENCH_MODELS, "options"),
        models=Output(ids.CMP_BENCH_MODELS, "value"),
        benchmark_options=Output(ids.CMP_BENCH_BENCHMARKS, "options"),
        benchmarks=Output(ids.CMP_BENCH_BENCHMARKS, "value"),
    ),
    inputs=dict(source=Input(ids.CMP_BENCH_SOURCE, "value")),
    prevent_initial_call=True,  # the layout holds the default source's (layouts/comparison.py)
)
def bench_choices(source: Any) -> dict[str, Any]:
    """A source was chosen: its models and benchmarks, all selected."""
    return adapt.outputs(vc.bench_choices(source))


@callback(
    output=dict(
        bars=Output(ids.CMP_BENCH_BARS, "figure"),
        radar=Output(ids.CMP_BENCH_RADAR, "figure"),
        table=Output(ids.CMP_BENCH_TABLE, "data"),
    ),
    inputs=dict(
        source=Input(ids.CMP_BENCH_SOURCE, "value"),
        models=Input(ids.CMP_BENCH_MODELS, "value"),
        benches=Input(ids.CMP_BENCH_BENCHMARKS, "value"),
    ),
    prevent_initial_call=True,  # the layout holds the default source's (layouts/comparison.py)
)
def bench_views(source: Any, models: Any, benches: Any) -> dict[str, Any]:
    """The source, models or benchmarks changed: bars, radar and the table of numbers."""
    return adapt.outputs(vc.bench_views(source, models, benches))
