"""Callbacks of the Model Comparison tab: thin adapters around ``simulator.compare``.

Every store read here comes back from the browser and is validated before use
(``compare.parse_selection``, ``saved.load_saved``, ``saved.import_runs``): a bad entry is
dropped and named in a message, the rest still works, and no input can make a request do
unbounded work (``compare.MAX_COMPARED`` runs, ``compare.MAX_VIEW_STEPS`` steps per view,
``saved.MAX_IMPORT_BYTES`` per import).

Why the views are split the way they are:

- ``update_views`` computes each compared run once (one pass per run) and fills the loss
  curves, the final-metrics table and the compute-efficiency chart from that pass; nothing is
  cached between requests (any worker answers any request).
- The log-axis switches recompute the view too. A ``Patch`` of the axis types alone would be
  cheaper, but a slower full redraw still in flight (say, after an x-axis change) would land
  after it and undo it; one callback owning the whole figure cannot race with itself.
- The config diff needs configs only, so it is its own cheap callback.
- The CSV is built from the table's rows as shown (validated), so exporting costs nothing.
"""

from __future__ import annotations

import math
from typing import Any

import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, Patch, State, callback, ctx, html, no_update

from layouts import ids
from layouts.figures import comparison as figs
from simulator import benchmarks_data as bd
from simulator import compare
from simulator import saved as saved_runs
from simulator.catalog import MODELS
from simulator.compare import MAX_COMPARED, TABLE_COLUMNS, X_AXES, Item
from simulator.config import PRESETS, ConfigError, TrainingConfig
from simulator.run import RunState

CURVE_KINDS = ("train", "val", "both")
MAX_CELL = 200  # characters of a text cell accepted back from the browser for the CSV


def _alert(lines: list[str], color: str = "warning") -> Any:
    if not lines:
        return None
    body = lines[0] if len(lines) == 1 else html.Ul([html.Li(x) for x in lines], className="mb-0")
    return dbc.Alert(body, color=color, dismissable=True, className="py-2 small mb-2")


def _saved_map(raw: Any) -> tuple[dict[str, RunState], list[str]]:
    good, errors = saved_runs.load_saved(raw)
    return dict(good), errors


# --------------------------------------------------------------------------- saved runs
@callback(
    Output(ids.CMP_SAVED_TABLE, "data"),
    Output(ids.CMP_SAVED_COUNT, "children"),
    Input(ids.SAVED_RUNS_STORE, "data"),
)
def show_saved(saved: Any) -> tuple[list[dict[str, Any]], str]:
    """The saved-runs table; invalid entries are counted, not shown."""
    good, errors = saved_runs.load_saved(saved)
    rows = [
        {
            "id": rid,
            "name": s.name or f"run {rid}",
            "model": MODELS[s.config.model].name if s.config.model in MODELS else "custom",
            "status": s.status,
            "steps": s.step,
            "progress": s.progress,
        }
        for rid, s in reversed(good)
    ]
    count = f"{len(good)} of at most {saved_runs.MAX_SAVED}, newest first"
    if errors:
        count += f"; {len(errors)} invalid entr{'y' if len(errors) == 1 else 'ies'} ignored"
    return rows, count


@callback(
    Output(ids.SAVED_RUNS_STORE, "data", allow_duplicate=True),
    Output(ids.CMP_SELECTION, "data", allow_duplicate=True),
    Output(ids.CMP_MESSAGE, "children", allow_duplicate=True),
    Output(ids.CMP_IMPORT_UPLOAD, "contents"),
    Input(ids.CMP_RENAME_BUTTON, "n_clicks"),
    Input(ids.CMP_DELETE_BUTTON, "n_clicks"),
    Input(ids.CMP_IMPORT_UPLOAD, "contents"),
    State(ids.CMP_SAVED_TABLE, "selected_row_ids"),
    State(ids.CMP_RENAME_INPUT, "value"),
    State(ids.SAVED_RUNS_STORE, "data"),
    State(ids.CMP_SELECTION, "data"),
    prevent_initial_call=True,
)
def manage_saved(
    _rename: Any,
    _delete: Any,
    upload: Any,
    selected: Any,
    name: Any,
    saved: Any,
    selection: Any,
) -> tuple[Any, Any, Any, Any]:
    """Rename, delete or import saved runs. A bad import leaves the saved list untouched."""
    chosen = [s for s in selected if isinstance(s, str)] if isinstance(selected, list) else []
    trigger = ctx.triggered_id
    if trigger == ids.CMP_IMPORT_UPLOAD:
        if upload is None:
            return no_update, no_update, no_update, no_update
        try:
            merged, messages = saved_runs.import_runs(saved, saved_runs.decode_upload(upload))
        except saved_runs.SavedFileError as exc:
            return no_update, no_update, _alert([f"Import failed: {exc}."], "danger"), None
        ok = not any("skipped" in m for m in messages)
        return merged, no_update, _alert(messages, "success" if ok else "warning"), None
    if not chosen:
        return no_update, no_update, _alert(["Select a saved run in the table first."]), no_update
    if trigger == ids.CMP_RENAME_BUTTON:
        new = name.strip() if isinstance(name, str) else ""
        if not new or len(chosen) != 1:
            msg = "Type a new name and select exactly one run to rename."
            return no_update, no_update, _alert([msg]), no_update
        return saved_runs.rename_run(saved, chosen[0], new), no_update, None, no_update
    out = saved
    for rid in chosen:
        out = saved_runs.delete_run(out, rid)
    items, _ = compare.parse_selection(selection)
    kept = [i.to_dict() for i in items if not (i.kind == "saved" and i.ref in chosen)]
    n = len(chosen)
    msg = f"Deleted {n} saved run{'s' if n != 1 else ''}."
    return out, kept, _alert([msg], "info"), no_update


@callback(
    Output(ids.CMP_EXPORT_DOWNLOAD, "data"),
    Input(ids.CMP_EXPORT_BUTTON, "n_clicks"),
    State(ids.SAVED_RUNS_STORE, "data"),
    prevent_initial_call=True,
)
def export_saved(_n: Any, saved: Any) -> dict[str, Any]:
    """Every valid saved run as one JSON file (the format ``import_runs`` reads)."""
    return {
        "content": saved_runs.export_document(saved),
        "filename": "saved-runs.json",
        "type": "application/json",
    }


# ------------------------------------------------------------------------- selection
@callback(
    Output(ids.CMP_ADD_CHOICE, "options"),
    Input(ids.CONFIG_STORE, "data"),
)
def add_options(config: Any) -> list[dict[str, Any]]:
    """Recipes that can be added: the saved config (when valid) and every published preset."""
    options: list[dict[str, Any]] = []
    try:
        cfg = TrainingConfig.from_dict(config) if config is not None else None
    except ConfigError:
        cfg = None
    if cfg is not None:
        options.append(
            {
                "label": f"{compare.recipe_label(cfg, 'config')} (Configuration tab)",
                "value": "config",
            }
        )
    options += [
        {"label": f"{MODELS[p].name} — published recipe", "value": f"preset:{p}"} for p in PRESETS
    ]
    return options


@callback(
    Output(ids.CMP_SELECTION, "data"),
    Output(ids.CMP_MESSAGE, "children"),
    Output(ids.CMP_CURVES_GRAPH, "figure", allow_duplicate=True),
    Output(ids.CMP_METRICS_TABLE, "data", allow_duplicate=True),
    Output(ids.CMP_EFFICIENCY_GRAPH, "figure", allow_duplicate=True),
    Output(ids.CMP_VIEW_STATE, "data", allow_duplicate=True),
    Input(ids.CMP_ADD_BUTTON, "n_clicks"),
    Input(ids.CMP_CLEAR_BUTTON, "n_clicks"),
    Input(ids.CMP_COMPARE_SAVED_BUTTON, "n_clicks"),
    Input({"type": ids.CMP_REMOVE, "index": ALL}, "n_clicks"),
    State(ids.CMP_ADD_CHOICE, "value"),
    State(ids.CONFIG_STORE, "data"),
    State(ids.CMP_SAVED_TABLE, "selected_row_ids"),
    State(ids.CMP_SELECTION, "data"),
    State(ids.SAVED_RUNS_STORE, "data"),
    State(ids.CMP_X_AXIS, "value"),
    State(ids.CMP_CURVE_KIND, "value"),
    State(ids.CMP_SMOOTHING, "value"),
    State(ids.CMP_LOG_AXES, "value"),
    State(ids.CMP_VIEW_STATE, "data"),
    prevent_initial_call=True,
)
def edit_selection(
    _add: Any,
    _clear: Any,
    _compare: Any,
    _removes: Any,
    choice: Any,
    config: Any,
    selected: Any,
    selection: Any,
    saved: Any,
    x_key: Any,
    kind: Any,
    smoothing: Any,
    log_axes: Any,
    view: Any,
) -> tuple[Any, ...]:
    """Add a recipe or saved runs to the comparison, remove one, or clear it.

    Adding to views that already show the rest appends only the new runs (``Patch``): the
    cost of an add is the new run's, whatever is already compared. Anything else (a removal,
    changed controls, a run that needs a note) leaves the redraw to ``update_views``.
    """
    keep = (no_update,) * 4
    trigger = ctx.triggered_id
    if not ctx.triggered or not ctx.triggered[0].get("value"):
        return no_update, no_update, *keep  # a remove button was (re)drawn, not clicked
    items, errors = compare.parse_selection(selection)
    if trigger == ids.CMP_CLEAR_BUTTON:
        return [], None, *keep
    if isinstance(trigger, dict):
        key = trigger.get("index")
        return [i.to_dict() for i in items if i.key != key], _alert(errors), *keep
    new: list[Item] = []
    if trigger == ids.CMP_ADD_BUTTON:
        if choice == "config":
            try:
                new.append(Item("config", "", TrainingConfig.from_dict(config)))
            except ConfigError as exc:
                msg = f"The saved config cannot be compared: {exc}"
                return no_update, _alert([msg], "danger"), *keep
        elif isinstance(choice, str) and choice.removeprefix("preset:") in PRESETS:
            new.append(Item("preset", choice.removeprefix("preset:")))
        else:
            return no_update, _alert(["Choose a recipe to add first."]), *keep
    else:
        chosen = selected if isinstance(selected, list) else []
        new += [Item("saved", s) for s in chosen if isinstance(s, str) and 0 < len(s) <= 16]
        if not new:
            return no_update, _alert(["Select saved runs in the table first."]), *keep
    keys = {i.key for i in items}
    added = [n for n in new if n.key not in keys]
    room = MAX_COMPARED - len(items)
    if len(added) > room:
        errors.append(f"At most {MAX_COMPARED} runs are compared at once; remove one first.")
        added = added[: max(room, 0)]
    if not added and not errors:
        errors.append("Already in the comparison.")
    result = [i.to_dict() for i in items + added]
    return (
        result,
        _alert(errors),
        *_append(items, added, saved, x_key, kind, smoothing, log_axes, view),
    )


def _append(
    items: list[Item],
    added: list[Item],
    saved: Any,
    x_key: Any,
    kind: Any,
    smoothing: Any,
    log_axes: Any,
    view: Any,
) -> tuple[Any, Any, Any, Any]:
    """Patches appending ``added`` to views that show exactly ``items``; else no updates."""
    x_key, kind, w, logs = _controls(x_key, kind, smoothing, log_axes)
    old = [i.key for i in items]
    drawn = figs.clean_view(view)
    if drawn is None or not added or not figs.can_append(drawn, old, x_key, kind, w, logs):
        return no_update, no_update, no_update, no_update
    states, _ = _saved_map(saved)
    budget = compare.MAX_VIEW_STEPS - drawn["steps"]
    new = compare.analyse_appended(items + added, len(items), states, smoothing=w, budget=budget)
    if new is None or not figs.append_fits(drawn, new):
        return no_update, no_update, no_update, no_update
    curves, table, eff = Patch(), Patch(), Patch()
    for a in new:
        for trace in figs.run_traces(a, x_key, kind):
            curves["data"].append(trace)
        eff["data"].append(figs.point_trace(a))
    for row in compare.final_rows(new):
        table.append(row)
    y = figs.merged_range(drawn, new, kind)
    if y is not None and "y" not in logs:
        curves["layout"]["yaxis"]["range"] = y
    state = {
        **drawn,
        "keys": [*old, *(i.key for i in added)],
        "y": y,
        "steps": drawn["steps"] + compare.steps_drawn(new),
    }
    return curves, table, eff, state


@callback(
    Output(ids.CMP_CHIPS, "children"),
    Input(ids.CMP_SELECTION, "data"),
    Input(ids.SAVED_RUNS_STORE, "data"),
)
def show_chips(selection: Any, saved: Any) -> list[Any]:
    """One removable badge per compared run, in its chart colour."""
    items, _ = compare.parse_selection(selection)
    if not items:
        return [html.Small("Nothing compared yet.", className="text-body-secondary")]
    states, _ = _saved_map(saved)
    labels = {slot: label for slot, _, label, _ in compare.item_states(items, states)}
    chips = []
    for slot, item in enumerate(items):
        # A saved run deleted elsewhere (another browser tab, an import) keeps a chip, so it
        # can be removed from the comparison; it is drawn nowhere.
        label = labels.get(slot, f"deleted saved run {item.ref}")
        gone = slot not in labels
        chips.append(
            html.Span(
                [
                    html.Span(
                        style={
                            "background": "transparent" if gone else figs.color(slot),
                            "border": "1px solid var(--bs-border-color)",
                            "width": "0.7rem",
                            "height": "0.7rem",
                            "borderRadius": "50%",
                            "display": "inline-block",
                        }
                    ),
                    html.Span(
                        label,
                        className="ms-2" + (" text-decoration-line-through" if gone else ""),
                    ),
                    html.Button(
                        id=ids.cmp_remove(item.key),
                        className="btn-close ms-2",
                        title=f"Remove {label}",
                        style={"fontSize": "0.55rem"},
                        **{"aria-label": f"Remove {label}"},
                    ),
                ],
                className="badge rounded-pill bg-body-tertiary text-body border d-inline-flex "
                "align-items-center fw-normal",
                style={"fontSize": "0.85rem"},
            )
        )
    return chips


# ----------------------------------------------------------------------------- views
@callback(
    Output(ids.CMP_CURVES_GRAPH, "figure"),
    Output(ids.CMP_METRICS_TABLE, "data"),
    Output(ids.CMP_EFFICIENCY_GRAPH, "figure"),
    Output(ids.CMP_VIEW_NOTES, "children"),
    Output(ids.CMP_VIEW_STATE, "data"),
    Input(ids.CMP_SELECTION, "data"),
    Input(ids.SAVED_RUNS_STORE, "data"),
    Input(ids.CMP_X_AXIS, "value"),
    Input(ids.CMP_CURVE_KIND, "value"),
    Input(ids.CMP_SMOOTHING, "value"),
    Input(ids.CMP_LOG_AXES, "value"),
    State(ids.CMP_VIEW_STATE, "data"),
)
def update_views(
    selection: Any,
    saved: Any,
    x_key: Any,
    kind: Any,
    smoothing: Any,
    log_axes: Any,
    view: Any,
) -> tuple[Any, ...]:
    """Curves, final metrics and compute efficiency from one pass over each compared run.

    When the comparison list changed only because ``edit_selection`` already appended the new
    runs to these views, there is nothing left to do.
    """
    items, errors = compare.parse_selection(selection)
    x_key, kind, w, logs = _controls(x_key, kind, smoothing, log_axes)
    keys = [i.key for i in items]
    drawn = figs.clean_view(view)
    if ctx.triggered_id == ids.CMP_SELECTION and figs.can_append(drawn, keys, x_key, kind, w, logs):
        return no_update, no_update, no_update, no_update, no_update
    states, saved_errors = _saved_map(saved)
    analyses, notes = compare.analyse_items(items, states, smoothing=w)
    curves = figs.curves_figure(
        analyses, x_key, log_x="x" in logs, log_y="y" in logs, show=kind, smoothing=w
    )
    notes = errors + notes + [f"Saved runs: {e}" for e in saved_errors[:3]]
    return (
        curves,
        compare.final_rows(analyses),
        figs.efficiency_figure(analyses),
        _alert(notes, "secondary"),
        figs.view_state(analyses, keys, x_key, kind, w, logs, notes),
    )


def _controls(
    x_key: Any, kind: Any, smoothing: Any, log_axes: Any
) -> tuple[str, str, float, list[str]]:
    """The view controls from the browser, each replaced by its default if not understood."""
    logs = [v for v in log_axes if v in ("x", "y")] if isinstance(log_axes, list) else []
    return (
        x_key if isinstance(x_key, str) and x_key in X_AXES else "step",
        kind if isinstance(kind, str) and kind in CURVE_KINDS else "train",
        _smoothing(smoothing),
        logs,
    )


def _smoothing(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return 0.0
    return min(max(float(value), 0.0), 0.99)


@callback(
    Output(ids.CMP_DIFF_TABLE, "columns"),
    Output(ids.CMP_DIFF_TABLE, "data"),
    Output(ids.CMP_DIFF_TABLE, "style_data_conditional"),
    Input(ids.CMP_SELECTION, "data"),
    Input(ids.SAVED_RUNS_STORE, "data"),
    Input(ids.CMP_DIFF_HIDE, "value"),
)
def show_diff(selection: Any, saved: Any, hide: Any) -> tuple[Any, Any, Any]:
    """Settings side by side: differing rows tinted, values unlike the first run's in bold."""
    items, _ = compare.parse_selection(selection)
    states, _ = _saved_map(saved)
    runs = [(label, st) for _, _, label, st in compare.item_states(items, states)]
    columns = [{"id": "field", "name": "Setting"}] + [
        {"id": f"c{k}", "name": label} for k, (label, _) in enumerate(runs)
    ]
    if len(runs) < 2:
        note = "Compare two or more runs to see how their settings differ."
        return columns, [{"field": note}], []
    flat = [(f"c{k}", compare.flatten_config(s)) for k, (_, s) in enumerate(runs)]
    rows = compare.config_diff(flat, hide_identical=bool(hide))
    for r in rows:
        r["differs"] = "yes" if r["differs"] else ""
    if not rows:
        rows = [{"field": "All settings are identical.", "differs": ""}]
    style = figs.diff_styles(rows, len(runs))
    return columns, rows, style


@callback(
    Output(ids.CMP_CSV_DOWNLOAD, "data"),
    Input(ids.CMP_CSV_BUTTON, "n_clicks"),
    State(ids.CMP_METRICS_TABLE, "data"),
    prevent_initial_call=True,
)
def export_csv(_n: Any, rows: Any) -> dict[str, Any]:
    """The final-metrics table as shown, as CSV (cells validated, sizes bounded)."""
    clean: list[dict[str, Any]] = []
    for r in rows[:MAX_COMPARED] if isinstance(rows, list) else []:
        if isinstance(r, dict):
            clean.append({c: _cell(r.get(c)) for c, _ in TABLE_COLUMNS})
    return {
        "content": compare.rows_to_csv(clean),
        "filename": "run-comparison.csv",
        "type": "text/csv",
    }


def _cell(v: Any) -> Any:
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, (int, float)):
        return v if math.isfinite(v) else None
    return str(v)[:MAX_CELL] if isinstance(v, str) else None


# ------------------------------------------------------------------- published scores
def _source(value: Any) -> str:
    """The benchmark source the browser chose, or the default if it names none."""
    return value if isinstance(value, str) and value in bd.SOURCES else bd.DEFAULT_SOURCE


@callback(
    Output(ids.CMP_BENCH_MODELS, "options"),
    Output(ids.CMP_BENCH_MODELS, "value"),
    Output(ids.CMP_BENCH_BENCHMARKS, "options"),
    Output(ids.CMP_BENCH_BENCHMARKS, "value"),
    Input(ids.CMP_BENCH_SOURCE, "value"),
)
def bench_choices(source: Any) -> tuple[Any, Any, Any, Any]:
    """Models and benchmarks of the chosen source, all selected."""
    src = _source(source)
    models, benches = bd.models(src), bd.benchmarks(src)
    return models, models, benches, benches


@callback(
    Output(ids.CMP_BENCH_BARS, "figure"),
    Output(ids.CMP_BENCH_RADAR, "figure"),
    Output(ids.CMP_BENCH_TABLE, "data"),
    Input(ids.CMP_BENCH_SOURCE, "value"),
    Input(ids.CMP_BENCH_MODELS, "value"),
    Input(ids.CMP_BENCH_BENCHMARKS, "value"),
)
def bench_views(source: Any, models: Any, benches: Any) -> tuple[Any, Any, Any]:
    """Bars, radar and the table of numbers for one source (never two protocols at once)."""
    src = _source(source)
    ms = [m for m in models if isinstance(m, str)] if isinstance(models, list) else None
    bs = [b for b in benches if isinstance(b, str)] if isinstance(benches, list) else None
    return (
        figs.benchmark_bars(src, ms, bs),
        figs.benchmark_radar(src, ms, bs),
        figs.benchmark_rows(src, ms, bs),
    )
