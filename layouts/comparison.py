"""The Model Comparison tab: saved runs, what-if recipes and published models side by side.

Answers "which recipe, which model, at what cost?". The tab keeps one small store of its own,
``CMP_SELECTION`` (which runs are compared: preset slugs, saved-run ids, saved configs; never
curves), in local storage so an analysis survives a reload. Everything drawn is recomputed
from that list and the saved runs (``SAVED_RUNS_STORE``) on the server. The Stores' formats,
the table's columns and what each control accepts are ``views.comparison``'s.

Sections, top to bottom, in the order a review goes: what is compared (and the saved-runs
manager), loss curves, final metrics, config diff, compute efficiency, published scores.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dash_bootstrap_components as dbc
from dash import dash_table, dcc, html

from layouts import definitions, ids
from layouts.figures.comparison import DEFAULT_SMOOTHING
from simulator import benchmarks_data as bd
from simulator.compare import X_AXES
from simulator.saved import MAX_IMPORT_BYTES, MAX_SAVED
from views.comparison import TABLE_COLUMNS, UNDO_MS, Chip, bench_choices, bench_views
from views.comparison_list import CURVE_KINDS

# DataTable draws its own cells; Bootstrap's CSS variables make it follow light/dark mode.
TABLE_STYLE: dict[str, Any] = {
    "style_table": {"overflowX": "auto"},
    "style_cell": {
        "backgroundColor": "var(--bs-body-bg)",
        "color": "var(--bs-body-color)",
        "border": "1px solid var(--bs-border-color)",
        "fontFamily": "var(--bs-body-font-family)",
        "fontVariantNumeric": "tabular-nums",
        "fontSize": "0.85rem",
        "padding": "4px 8px",
        "textAlign": "right",
        "whiteSpace": "normal",
        "height": "auto",
    },
    "style_header": {
        "backgroundColor": "var(--bs-tertiary-bg)",
        "fontWeight": "600",
        "textAlign": "center",
    },
}
_NUM = {"type": "numeric"}
_FMT: dict[str, dict[str, Any]] = {
    "steps": {"specifier": ",d"},
    "train_loss": {"specifier": ".4f"},
    "val_loss": {"specifier": ".4f"},
    "perplexity": {"specifier": ".3f"},
    "accuracy": {"specifier": ".2%"},
    "tokens_b": {"specifier": ",.1f"},
    "params_b": {"specifier": ".2f"},
    "tokens_per_param": {"specifier": ",.1f"},
    "flops": {"specifier": ".2e"},
    "gpu_hours": {"specifier": ",.0f"},
    "wall_hours": {"specifier": ",.1f"},
    "cost_usd": {"specifier": "$,.0f"},
}


def _metrics_columns() -> list[dict[str, Any]]:
    cols = []
    for cid, title in TABLE_COLUMNS:
        col: dict[str, Any] = {"id": cid, "name": title}
        if cid in _FMT:
            col.update(_NUM, format=_FMT[cid])
        cols.append(col)
    return cols


def chips(chips: Sequence[Chip]) -> list[Any]:
    """The compared runs as removable badges, each in its chart colour; a run whose saved run
    is gone is struck through (it is drawn nowhere, but can still be removed)."""
    if not chips:
        return [html.Small("Nothing compared yet.", className="text-body-secondary")]
    return [
        html.Span(
            [
                html.Span(
                    style={
                        "background": "transparent" if c.gone else c.color,
                        "border": "1px solid var(--bs-border-color)",
                        "width": "0.7rem",
                        "height": "0.7rem",
                        "borderRadius": "50%",
                        "display": "inline-block",
                    }
                ),
                html.Span(
                    c.label, className="ms-2" + (" text-decoration-line-through" if c.gone else "")
                ),
                *(
                    [
                        html.Button(
                            "vs prediction",
                            id=ids.cmp_predict(c.key),
                            className="btn btn-outline-primary btn-sm ms-2 py-0 px-1",
                            title=f"Compare {c.label} with the simulator's prediction for its "
                            "own recipe (raw: what the recipe alone says)",
                            style={"fontSize": "0.75rem"},
                        )
                    ]
                    if c.predict
                    else []
                ),
                html.Button(
                    id=ids.cmp_remove(c.key),
                    className="btn-close ms-2",
                    title=f"Remove {c.label}",
                    style={"fontSize": "0.55rem"},
                    **{"aria-label": f"Remove {c.label}"},
                ),
            ],
            className="badge rounded-pill bg-body-tertiary text-body border d-inline-flex "
            "align-items-center fw-normal",
            style={"fontSize": "0.85rem"},
        )
        for c in chips
    ]


def _card(title: str, body: list[Any], subtitle: str | None = None) -> dbc.Card:
    header = [html.H5(title, className="mb-0")]
    if subtitle:
        header.append(html.Small(subtitle, className="text-body-secondary"))
    return dbc.Card([dbc.CardHeader(header), dbc.CardBody(body)], className="mb-3 shadow-sm")


def _graph(gid: str, height: int, name: str, figure: dict[str, Any] | None = None) -> html.Div:
    """A chart, named ``name`` for assistive technology (dcc.Graph takes no aria-label)."""
    graph = dcc.Graph(
        id=gid,
        config={"displaylogo": False, "responsive": True},
        style={"height": f"{height}px"},
        **({"figure": figure} if figure is not None else {}),
    )
    return html.Div(graph, role="figure", **{"aria-label": name})


def _selection_card() -> dbc.Card:
    add_row = dbc.Row(
        [
            dbc.Col(
                dcc.Dropdown(
                    id=ids.CMP_ADD_CHOICE,
                    placeholder="Add a what-if recipe: a published preset or your saved config…",
                    clearable=False,
                ),
                md=7,
            ),
            dbc.Col(
                dbc.Button("Add to comparison", id=ids.CMP_ADD_BUTTON, color="primary"), md="auto"
            ),
            dbc.Col(
                dbc.Button("Clear", id=ids.CMP_CLEAR_BUTTON, color="secondary", outline=True),
                md="auto",
            ),
        ],
        className="g-2 align-items-center mb-2",
    )
    return _card(
        "Compared runs",
        [
            add_row,
            html.Div(id=ids.CMP_CHIPS, className="d-flex flex-wrap gap-2 mb-2"),
            html.Div(id=ids.CMP_MESSAGE),
            html.Hr(),
            html.Div(
                [
                    html.H6("Saved runs", className="mb-0 me-2"),
                    html.Small(id=ids.CMP_SAVED_COUNT, className="text-body-secondary"),
                ],
                className="d-flex align-items-baseline mb-2",
            ),
            _saved_problem(),
            html.Small(
                "Click a name, tags (comma-separated) or notes cell to edit it; Enter keeps it.",
                className="text-body-secondary d-block mb-1",
            ),
            dash_table.DataTable(
                id=ids.CMP_SAVED_TABLE,
                columns=[
                    {"id": "name", "name": "Name", "editable": True},
                    {"id": "model", "name": "Model"},
                    {"id": "hardware", "name": "GPUs"},
                    {"id": "status", "name": "Status"},
                    {"id": "steps", "name": "Steps", **_NUM, "format": {"specifier": ",d"}},
                    {"id": "progress", "name": "Done", **_NUM, "format": {"specifier": ".0%"}},
                    {"id": "saved", "name": "Saved"},
                    {"id": "tags", "name": "Tags", "editable": True},
                    {"id": "notes", "name": "Notes", "editable": True},
                    {"id": "id", "name": "Id"},
                ],
                data=[],
                editable=False,
                row_selectable="multi",
                selected_row_ids=[],
                page_size=MAX_SAVED,
                **TABLE_STYLE,
                style_cell_conditional=[
                    {"if": {"column_id": c}, "textAlign": "left"}
                    for c in ("name", "model", "hardware", "saved", "tags", "notes", "id")
                ]
                + [
                    {
                        "if": {"column_id": "notes"},
                        "minWidth": "12rem",
                        "maxWidth": "24rem",
                        "whiteSpace": "normal",
                    }
                ],
            ),
            _undo_bar(),
            dcc.Store(id=ids.CMP_UNDO_STORE, storage_type="memory"),
            dbc.Row(
                [
                    dbc.Col(
                        dbc.Button("Compare selected", id=ids.CMP_COMPARE_SAVED_BUTTON, size="sm"),
                        width="auto",
                    ),
                    dbc.Col(
                        dbc.InputGroup(
                            [
                                dbc.Input(
                                    id=ids.CMP_RENAME_INPUT,
                                    placeholder="New name for the selected run",
                                    maxLength=80,
                                    size="sm",
                                ),
                                dbc.Button(
                                    "Rename",
                                    id=ids.CMP_RENAME_BUTTON,
                                    size="sm",
                                    color="secondary",
                                ),
                            ],
                            size="sm",
                        ),
                        md=4,
                    ),
                    dbc.Col(
                        dbc.Button(
                            "Delete selected",
                            id=ids.CMP_DELETE_BUTTON,
                            size="sm",
                            color="danger",
                            outline=True,
                        ),
                        width="auto",
                    ),
                    dbc.Col(
                        dbc.Button(
                            "Export all (JSON)",
                            id=ids.CMP_EXPORT_BUTTON,
                            size="sm",
                            color="secondary",
                            outline=True,
                        ),
                        width="auto",
                    ),
                    dbc.Col(
                        html.Div(
                            dcc.Upload(
                                id=ids.CMP_IMPORT_UPLOAD,
                                children=dbc.Button(
                                    "Import JSON…", size="sm", color="secondary", outline=True
                                ),
                                accept=".json,application/json",
                                max_size=MAX_IMPORT_BYTES,
                                multiple=False,
                            ),
                            # assets/js/a11y.js gives the upload's file input this name
                            **{"data-a11y-name": "Import saved runs from a JSON file"},
                        ),
                        width="auto",
                    ),
                ],
                className="g-2 align-items-center mt-2",
            ),
            dcc.Download(id=ids.CMP_EXPORT_DOWNLOAD),
            html.Hr(),
            *_real_runs(),
        ],
        subtitle="Saved runs (from the Training tab or an import), real runs from the run "
        "store, and what-if recipes, predicted to the end at once.",
    )


def _real_runs() -> list[Any]:
    """The run store's runs (``views.comparison.real_table``): newest first, bounded, with a
    search box; the selected ones are added as real-run items."""
    return [
        html.Div(
            [
                html.H6("Real runs", className="mb-0 me-2"),
                html.Small(id=ids.CMP_REAL_COUNT, className="text-body-secondary"),
            ],
            className="d-flex align-items-baseline mb-2",
        ),
        dbc.Row(
            [
                dbc.Col(
                    dbc.Input(
                        id=ids.CMP_REAL_SEARCH,
                        type="search",
                        placeholder="Search runs by name, id or source…",
                        debounce=True,
                        maxLength=200,
                        size="sm",
                    ),
                    md=5,
                ),
                dbc.Col(
                    dbc.Button(
                        "Refresh",
                        id=ids.CMP_REAL_REFRESH,
                        size="sm",
                        outline=True,
                        color="secondary",
                    ),
                    md="auto",
                ),
            ],
            className="g-2 align-items-center mb-2",
        ),
        dash_table.DataTable(
            id=ids.CMP_REAL_TABLE,
            columns=[
                {"id": "name", "name": "Name"},
                {"id": "source", "name": "Source"},
                {"id": "status", "name": "Status"},
                {"id": "last_step", "name": "Last step", **_NUM, "format": {"specifier": ",d"}},
                {"id": "updated", "name": "Updated"},
                {"id": "alerts", "name": "Open alerts", **_NUM},
            ],
            data=[],
            row_selectable="multi",
            selected_row_ids=[],
            page_size=10,
            **TABLE_STYLE,
            style_cell_conditional=[
                {"if": {"column_id": c}, "textAlign": "left"}
                for c in ("name", "source", "status", "updated")
            ],
        ),
        dbc.Button("Compare selected real runs", id=ids.CMP_REAL_ADD, size="sm", className="mt-2"),
    ]


def _undo_bar() -> dbc.Alert:
    """After a delete: what was deleted and an Undo button, for ``UNDO_MS`` (then it closes and
    the delete stands). In the page's flow under the table, never over a control."""
    return dbc.Alert(
        [
            html.Span(id=ids.CMP_UNDO_TEXT, className="me-2"),
            dbc.Button("Undo", id=ids.CMP_UNDO_BUTTON, size="sm", color="primary"),
        ],
        id=ids.CMP_UNDO_ALERT,
        is_open=False,
        duration=UNDO_MS,
        dismissable=True,
        color="info",
        className="notice d-flex align-items-center py-2 mt-2 mb-0",
    )


def _saved_problem() -> html.Div:
    """Shown when stored saved runs cannot all be read (callbacks/comparison.py show_saved):
    what was wrong, a download of the list as stored (done in the browser, so it works
    whatever the list holds), and a reset that keeps every run that can be read."""
    return html.Div(
        [
            html.Span(id=ids.CMP_SAVED_PROBLEM_TEXT, className="me-2"),
            dbc.Button(
                "Download them (JSON)",
                id=ids.CMP_SAVED_BACKUP,
                size="sm",
                color="secondary",
                outline=True,
                className="me-2",
            ),
            dbc.Button(
                "Clear the unreadable entries",
                id=ids.CMP_SAVED_PURGE,
                size="sm",
                color="danger",
                outline=True,
            ),
        ],
        id=ids.CMP_SAVED_PROBLEM,
        className="alert alert-warning py-2 small",
        role="alert",
        hidden=True,
    )


def _curves_card() -> dbc.Card:
    controls = dbc.Row(
        [
            dbc.Col(
                [
                    dbc.Label("x-axis", className="small mb-0"),
                    dbc.RadioItems(
                        id=ids.CMP_X_AXIS,
                        options=[{"label": v, "value": k} for k, v in X_AXES.items()],
                        value="step",
                        inline=True,
                        className="small",
                    ),
                ],
                lg=6,
            ),
            dbc.Col(
                [
                    dbc.Label("Curve", className="small mb-0"),
                    dbc.RadioItems(
                        id=ids.CMP_CURVE_KIND,
                        options=[{"label": v, "value": k} for k, v in CURVE_KINDS.items()],
                        value="train",
                        inline=True,
                        className="small",
                    ),
                ],
                lg=2,
            ),
            dbc.Col(
                [
                    dbc.Label("Log axes", className="small mb-0"),
                    dbc.Checklist(
                        id=ids.CMP_LOG_AXES,
                        options=[{"label": "x", "value": "x"}, {"label": "y", "value": "y"}],
                        value=[],
                        inline=True,
                        switch=True,
                        className="small",
                    ),
                ],
                lg=1,
            ),
            dbc.Col(
                [
                    dbc.Label("Smoothing (EMA)", className="small mb-0"),
                    html.Div(
                        dcc.Slider(
                            id=ids.CMP_SMOOTHING,
                            min=0,
                            max=0.99,
                            step=0.01,
                            value=DEFAULT_SMOOTHING,
                            # 0.99 beside 0.9 printed "0.90.99"; the box shows the value
                            marks={0: "0", 0.6: "0.6", 0.9: "0.9"},
                            tooltip={"placement": "bottom"},
                            updatemode="mouseup",
                        ),
                        className="app-slider-value",  # keeps the value box (app.css)
                        **{"data-a11y-name": "Smoothing (EMA)"},  # assets/js/a11y.js
                    ),
                ],
                lg=3,
            ),
        ],
        className="g-2 mb-2",
    )
    return _card(
        "Loss curves",
        [
            controls,
            _graph(ids.CMP_CURVES_GRAPH, 520, "Training curves of the compared runs"),
            html.Div(id=ids.CMP_VIEW_NOTES),
        ],
        subtitle="Tokens, FLOPs, GPU-hours, cost or wall time put recipes of different sizes "
        "on one axis.",
    )


def _metrics_card() -> dbc.Card:
    return _card(
        "Final metrics",
        [
            dash_table.DataTable(
                id=ids.CMP_METRICS_TABLE,
                columns=_metrics_columns(),
                data=[],
                # The same definitions as the Training tab's KPI cards (layouts/definitions).
                tooltip_header={
                    "train_loss": definitions.TRAIN_LOSS,
                    "val_loss": definitions.VAL_LOSS,
                    "perplexity": definitions.PERPLEXITY,
                    "accuracy": definitions.ACCURACY,
                },
                tooltip_delay=300,
                tooltip_duration=None,
                sort_action="native",
                sort_mode="multi",
                **TABLE_STYLE,
                style_cell_conditional=[
                    {"if": {"column_id": c}, "textAlign": "left"} for c in ("run", "kind", "status")
                ]
                + [{"if": {"column_id": "run"}, "minWidth": "11rem"}],
            ),
            html.Div(
                [
                    dbc.Button(
                        "Export CSV",
                        id=ids.CMP_CSV_BUTTON,
                        size="sm",
                        color="secondary",
                        outline=True,
                    ),
                    html.Small(
                        "Final train loss and accuracy: mean of the last 100 steps; val loss: the "
                        "last evaluation; perplexity = exp(val loss). Click a heading to sort.",
                        className="text-body-secondary ms-2",
                    ),
                ],
                className="mt-2 d-flex align-items-center",
            ),
            dcc.Download(id=ids.CMP_CSV_DOWNLOAD),
        ],
    )


def _diff_card() -> dbc.Card:
    return _card(
        "Config diff",
        [
            dbc.Switch(
                id=ids.CMP_DIFF_HIDE,
                label="Hide identical settings",
                value=True,
                className="small mb-2",
            ),
            dash_table.DataTable(
                id=ids.CMP_DIFF_TABLE,
                columns=[{"id": "field", "name": "Setting"}],
                data=[],
                tooltip_data=[],
                tooltip_delay=300,
                tooltip_duration=None,
                **TABLE_STYLE,
            ),
        ],
        subtitle="Settings that differ between the compared runs are tinted; values that differ "
        "from the first run's are in bold. A real run's recipe is guessed from its logs: each "
        "value says whether it was found, derived, assumed or corrected (hover for where from).",
    )


def _efficiency_card() -> dbc.Card:
    return _card(
        "Compute efficiency",
        [_graph(ids.CMP_EFFICIENCY_GRAPH, 520, "Efficiency of the compared runs")],
        subtitle="Final loss against training compute, with each family's compute-optimal "
        "frontier under the simulator's loss law: a run sits on or above its line.",
    )


def _bench_card() -> dbc.Card:
    # The default source's choices, charts and table are in the page as it loads, made by the
    # view functions the callbacks call, so neither callback runs on a first load (two
    # requests fewer; prevent_initial_call in callbacks/comparison.py, issue 17).
    choices = bench_choices(bd.DEFAULT_SOURCE)
    views = bench_views(bd.DEFAULT_SOURCE, choices.models, choices.benchmarks)
    return _card(
        "Published benchmarks",
        [
            dbc.Row(
                [
                    dbc.Col(
                        [
                            dbc.Label(
                                "Source (one evaluation protocol per chart)", className="small mb-0"
                            ),
                            dcc.Dropdown(
                                id=ids.CMP_BENCH_SOURCE,
                                options=[
                                    {"label": s.title, "value": k} for k, s in bd.SOURCES.items()
                                ],
                                value=bd.DEFAULT_SOURCE,
                                clearable=False,
                            ),
                        ],
                        md=4,
                    ),
                    dbc.Col(
                        [
                            dbc.Label("Models", className="small mb-0"),
                            dcc.Dropdown(
                                id=ids.CMP_BENCH_MODELS,
                                options=choices.model_options,
                                value=choices.models,
                                multi=True,
                            ),
                        ],
                        md=4,
                    ),
                    dbc.Col(
                        [
                            dbc.Label("Benchmarks", className="small mb-0"),
                            dcc.Dropdown(
                                id=ids.CMP_BENCH_BENCHMARKS,
                                options=choices.benchmark_options,
                                value=choices.benchmarks,
                                multi=True,
                            ),
                        ],
                        md=4,
                    ),
                ],
                className="g-2 mb-2",
            ),
            dbc.Row(
                [
                    dbc.Col(
                        _graph(ids.CMP_BENCH_BARS, 480, "Benchmark scores, bars", views.bars), lg=7
                    ),
                    dbc.Col(
                        _graph(ids.CMP_BENCH_RADAR, 480, "Benchmark scores, radar", views.radar),
                        lg=5,
                    ),
                ],
                className="g-2",
            ),
            dash_table.DataTable(
                id=ids.CMP_BENCH_TABLE,
                columns=[
                    {"id": "model", "name": "Model"},
                    {"id": "benchmark", "name": "Benchmark"},
                    {"id": "score", "name": "Score", **_NUM},
                    {"id": "unit", "name": "Unit"},
                    {"id": "table", "name": "Printed in"},
                ],
                data=views.table,
                sort_action="native",
                page_size=12,
                **TABLE_STYLE,
                style_cell_conditional=[
                    {"if": {"column_id": c}, "textAlign": "left"}
                    for c in ("model", "benchmark", "unit", "table")
                ],
            ),
        ],
        subtitle="Scores as printed in the papers. Protocols differ between sources, so each "
        "chart shows one source and names it.",
    )


def layout() -> html.Div:
    """The tab's content (the shared stores live in the shell)."""
    return html.Div(
        [
            dcc.Store(id=ids.CMP_VIEW_STATE, storage_type="memory"),
            dcc.Store(id=ids.CMP_SAVED_CHANGED, storage_type="memory"),
            dcc.Store(id=ids.CMP_CONFIG_CHANGED, storage_type="memory"),
            dcc.Store(id=ids.CMP_SELECTION_CHANGED, storage_type="memory"),
            _selection_card(),
            _curves_card(),
            _metrics_card(),
            _efficiency_card(),
            _diff_card(),
            _bench_card(),
        ],
        className="p-3",
    )
