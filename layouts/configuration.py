"""The Configuration tab: plan a run and see its cost before spending a GPU-hour.

Left: the recipe in grouped cards (model, data and batch, optimizer, schedule, hardware,
run). Right, sticky: the estimate (compute, time, money, carbon, tokens per parameter against
Chinchilla), memory per GPU against capacity with one-click fixes when it does not fit, and
the shareable link. The form's fields come from ``views.config_form.FIELDS``; each input
has a pattern-matching id, so one callback reads the whole form in one request and marks
every field at once.

Numbers are text inputs on purpose: the server parses "2T", "4Mi" or "3e-4" and says what is
wrong with "2 trillion", where an ``<input type=number>`` would send nothing at all.
What the estimate says is computed in ``views.configuration`` (tiles as ``Stat``, the fit
warning as ``Fit``); ``estimate_children`` below draws that data, because the look (classes,
tooltips, the advice buttons' pattern-matching ids) belongs with the rest of the layout and a
view never imports Dash. See docs/architecture.md.
"""

from __future__ import annotations

import json
from typing import Any

import dash_bootstrap_components as dbc
from dash import dcc, html

import simulator as sim
from layouts import ids
from layouts.figures import configuration as fc
from views import config_form as cf
from views import config_io
from views import config_plan as cp
from views.configuration import SUMMARY_CLASS, EstimateResult, Fit, Stat
from views.stores import DEFAULT_MODEL

DEBOUNCE_MS = 350  # one request when typing pauses, not one per key
SECTION_ICONS = {
    "plan": "↺",
    "model": "◆",
    "data": "▤",
    "optimizer": "∇",
    "schedule": "↘",
    "hardware": "▣",
    "run": "⚙",
}
SWITCH = (("false", "Off"), ("true", "On · recompute in backward"))


# ------------------------------------------------------------------------------ inputs


def _tip(name: str, text: str) -> list[Any]:
    if not text:
        return []
    target = f"cfg-tip-{name.replace('.', '-')}"
    return [
        html.Span(
            "?",
            id=target,
            className="cfg-tip",
            tabIndex="0",
            **{"aria-label": text},
        ),
        dbc.Tooltip(text, target=target, placement="top"),
    ]


def _input(f: cf.Field) -> Any:
    fid = ids.cfg_field(f.name)
    if f.kind == "select":
        return dbc.Select(id=fid, options=[{"label": lab, "value": v} for v, lab in f.options])
    if f.kind == "switch":
        # A select, not a switch: dbc.Switch has no ``invalid`` prop, and every field takes
        # the same pattern-matching outputs.
        return dbc.Select(id=fid, options=[{"label": lab, "value": v} for v, lab in SWITCH])
    control = dbc.Input(
        id=fid,
        type="text",
        debounce=DEBOUNCE_MS,
        inputmode="decimal" if f.kind != "tokens" else "text",
        autocomplete="off",
        placeholder="auto" if f.optional else "",
        class_name="num",
    )
    if f.unit:
        return dbc.InputGroup([control, dbc.InputGroupText(f.unit)], size="sm")
    return control


def _prov(name: str) -> html.Span:
    """Where the field's value came from while a run's recipe is loaded (found, derived,
    assumed, corrected, edited; ``views.config_plan.marks``), the source in its tooltip."""
    return html.Span("", id=ids.cfg_prov(name), className="cfg-prov d-none", title="", tabIndex="0")


def _field(f: cf.Field) -> html.Div:
    # Dash renders a dict id as compact JSON with sorted keys: the label can point at it, so
    # screen readers name the input and a click on the label focuses it.
    dom_id = json.dumps(ids.cfg_field(f.name), separators=(",", ":"), sort_keys=True)
    label = html.Label(
        [f.label, *_tip(f.name, f.tip), _prov(f.name)], className="cfg-label", htmlFor=dom_id
    )
    return html.Div(
        [
            label,
            _input(f),
            dbc.FormFeedback(
                "", id=ids.cfg_feedback(f.name), type="invalid", className="cfg-feedback"
            ),
            html.Div(cf.bound_text(f), id=ids.cfg_hint(f.name), className="cfg-hint"),
        ],
        className="cfg-field",
    )


def _grid(fields: list[cf.Field] | tuple[cf.Field, ...]) -> html.Div:
    return html.Div([_field(f) for f in fields], className="cfg-grid")


def _card(key: str, title: str, body: list[Any], extra: Any = None) -> dbc.Card:
    header = html.Div(
        [
            html.Span(SECTION_ICONS.get(key, ""), className="cfg-icon", **{"aria-hidden": "true"}),
            html.H3(title, className="cfg-card-title"),
            extra,
        ],
        className="cfg-card-header",
    )
    return dbc.Card(dbc.CardBody([header, *body]), class_name="cfg-card", id=f"cfg-card-{key}")


def _group(name: str, children: list[Any], shown: bool = False) -> html.Div:
    return html.Div(children, id=ids.cfg_group(name), style=None if shown else {"display": "none"})


def _model_card() -> dbc.Card:
    preset = dcc.Dropdown(
        id=ids.CFG_PRESET,
        options=cf.preset_options(),
        value=DEFAULT_MODEL,
        clearable=False,
        searchable=True,
        className="cfg-preset",
        maxHeight=360,
    )
    return _card(
        "model",
        "Model",
        [
            html.Div(
                [
                    html.Label(["Preset", _prov(cp.MODEL)], className="cfg-label"),
                    preset,
                    html.Div(
                        "Choosing a model loads its published recipe (batch, LR, hardware); "
                        "settings its source does not publish are marked assumed.",
                        className="cfg-hint",
                    ),
                    html.Div("", id=ids.CFG_RECIPE, className="cfg-hint cfg-recipe"),
                ],
                className="cfg-field cfg-field-wide",
            ),
            _group(
                "custom",
                [
                    html.Div("Custom architecture (LLaMA layout)", className="cfg-subhead"),
                    _grid(cf.MODEL_FIELDS),
                ],
            ),
        ],
    )


def _plan_card() -> dbc.Card:
    """Plan from a run: a real run's recipe into the form, corrections back to the run."""
    picker = dcc.Dropdown(
        id=ids.CFG_PLAN_RUN,
        options=[],
        placeholder="Choose a run from the store",
        clearable=False,
        searchable=True,
        className="cfg-plan-run",
        maxHeight=320,
    )
    return _card(
        "plan",
        "Plan from a run",
        [
            html.Div(
                [
                    html.Div(
                        picker, className="a11y-name", **{"data-a11y-name": "Run to plan from"}
                    ),
                    dbc.Button(
                        "Load its recipe",
                        id=ids.CFG_PLAN_LOAD,
                        color="outline-primary",
                        size="sm",
                        n_clicks=0,
                        title="Fill the form with the run's recipe as its logs state it; "
                        "what they do not state is assumed and marked",
                    ),
                    dbc.Button(
                        "Save corrections to the run",
                        id=ids.CFG_PLAN_SAVE,
                        color="outline-secondary",
                        size="sm",
                        n_clicks=0,
                        disabled=True,
                        title="Write the assumed settings you changed back to the run, so its "
                        "prediction and comparisons use them",
                    ),
                ],
                className="cfg-plan-row",
            ),
            html.Div("", id=ids.CFG_PLAN_NOTE, className="cfg-hint cfg-plan-note"),
        ],
    )


def _optimizer_card() -> dbc.Card:
    return _card("optimizer", "Optimizer", [_grid(cf.OPTIMIZER_FIELDS)])


def _schedule_card() -> dbc.Card:
    fields = [f for f in cf.SCHEDULE_FIELDS if f.group is None]
    decay = [f for f in cf.SCHEDULE_FIELDS if f.group == "wsd"]
    return _card(
        "schedule",
        "Learning-rate schedule",
        [
            _grid(fields),
            _group("wsd", [_grid(decay)]),
            html.Div(
                dcc.Graph(
                    id=ids.CFG_LR,
                    figure=fc.empty_figure("", 190),
                    config={"displayModeBar": False, "responsive": True},
                    className="cfg-lr-graph",
                    style={"height": "190px"},  # responsive graphs fill their box: give it one
                ),
                role="figure",
                **{"aria-label": "Learning-rate schedule chart"},
            ),
        ],
    )


def _actions() -> html.Div:
    upload = dcc.Upload(
        id=ids.CFG_UPLOAD,
        children=html.Span(["⤒ ", "Load JSON"], title="A saved config file (JSON, at most 64 KB)"),
        accept=".json,application/json",
        # The browser drops anything over 1 MB without reading it (bounded upload); between
        # 64 KB and 1 MB the server answers with the size limit.
        max_size=16 * config_io.MAX_UPLOAD_BYTES,
        multiple=False,
        className="btn btn-sm btn-outline-secondary cfg-upload",
        className_active="cfg-upload-active",
    )
    return html.Div(
        [
            html.Div(
                [
                    html.H2("Plan a run", className="cfg-title"),
                    html.Span("", id=ids.CFG_SUMMARY, className=SUMMARY_CLASS),
                ],
                className="cfg-title-row",
            ),
            html.Div(
                [
                    dbc.Button(
                        "Apply to next run",
                        id=ids.CFG_APPLY_NEXT,
                        color="primary",
                        size="sm",
                        n_clicks=0,
                        title="Use this config when the Training tab starts a new run",
                    ),
                    dbc.Button(
                        "Apply now",
                        id=ids.CFG_APPLY_NOW,
                        color="outline-primary",
                        size="sm",
                        n_clicks=0,
                        disabled=True,
                        title="Change the running or paused run from its next step (only "
                        "settings a real trainer can change on resume: "
                        + ", ".join(sorted(sim.MUTABLE_FIELDS))
                        + ")",
                    ),
                    dbc.Button(
                        "Reset to preset",
                        id=ids.CFG_RESET,
                        color="outline-secondary",
                        size="sm",
                        n_clicks=0,
                    ),
                    html.Span(className="cfg-sep", **{"aria-hidden": "true"}),
                    dbc.Button(
                        "⤓ Save JSON",
                        id=ids.CFG_SAVE,
                        color="outline-secondary",
                        size="sm",
                        n_clicks=0,
                    ),
                    html.Div(  # no box of its own: assets/js/a11y.js names the file input
                        upload,
                        className="a11y-name",
                        **{"data-a11y-name": "Load a saved config (JSON file)"},
                    ),
                    dcc.Download(id=ids.CFG_DOWNLOAD),
                ],
                className="cfg-actions",
            ),
        ],
        className="cfg-toolbar",
    )


def _estimate_card() -> dbc.Card:
    return dbc.Card(
        dbc.CardBody(
            [
                html.Div(
                    html.H3("Estimate", className="cfg-card-title"), className="cfg-card-header"
                ),
                html.Div(id=ids.CFG_FORM_ERROR),
                html.Div(id=ids.CFG_ESTIMATE, className="cfg-stats"),
            ]
        ),
        class_name="cfg-card",
    )


def _memory_card() -> dbc.Card:
    return dbc.Card(
        dbc.CardBody(
            [
                html.Div(
                    [
                        html.H3("Memory per GPU", className="cfg-card-title"),
                        html.Span("", id=ids.CFG_MEMORY_TEXT, className="cfg-memory-text num"),
                    ],
                    className="cfg-card-header",
                ),
                html.Div(
                    dcc.Graph(
                        id=ids.CFG_MEMORY,
                        figure=fc.empty_figure(""),
                        config={"displayModeBar": False, "responsive": True},
                        style={"height": "150px"},
                    ),
                    role="figure",
                    **{"aria-label": "Memory per GPU chart"},
                ),
                html.Div(id=ids.CFG_FIT),
            ]
        ),
        class_name="cfg-card",
    )


def _share_card() -> dbc.Card:
    return dbc.Card(
        dbc.CardBody(
            [
                html.Div(html.H3("Share", className="cfg-card-title"), className="cfg-card-header"),
                html.Label(
                    "Shareable link to this config",
                    htmlFor=ids.CFG_LINK,
                    className="visually-hidden",
                ),
                dbc.InputGroup(
                    [
                        dbc.Input(
                            id=ids.CFG_LINK,
                            readonly=True,
                            value="",
                            class_name="num cfg-link",
                            name="config-link",
                        ),
                        dbc.InputGroupText(
                            dcc.Clipboard(
                                id=ids.CFG_COPY,
                                target_id=ids.CFG_LINK,
                                title="Copy link",
                                className="cfg-copy",
                            )
                        ),
                    ],
                    size="sm",
                ),
                html.Div(
                    "The link opens this exact configuration (only settings that differ "
                    "from the preset are in it).",
                    className="cfg-hint",
                ),
            ]
        ),
        class_name="cfg-card",
    )


def layout() -> html.Div:
    """The tab's content: the same tree on every call; values come from the callbacks."""
    sections = {key: (title, fields) for key, title, fields in cf.SECTIONS}
    left = [
        _plan_card(),
        _model_card(),
        _card("data", sections["data"][0], [_grid(sections["data"][1])]),
        _optimizer_card(),
        _schedule_card(),
        _card("hardware", sections["hardware"][0], [_grid(sections["hardware"][1])]),
        _card("run", sections["run"][0], [_grid(sections["run"][1])]),
    ]
    right = [_estimate_card(), _memory_card(), _share_card()]
    return html.Div(
        [
            dcc.Store(id=ids.CFG_ADVICE_STORE, storage_type="memory"),
            dcc.Store(id=ids.CFG_PLAN_STORE, storage_type="memory"),
            _actions(),
            html.Div(id=ids.CFG_MESSAGE, className="cfg-message", role="status"),
            dbc.Row(
                [
                    dbc.Col(left, lg=7, className="cfg-col"),
                    dbc.Col(html.Div(right, className="cfg-sticky"), lg=5, className="cfg-col"),
                ],
                class_name="g-3",
            ),
        ],
        className="cfg-tab",
    )


# ---------------------------------------------------------------------------- estimate


def _stat(stat: Stat) -> html.Div:
    return html.Div(
        [
            html.Div([stat.label, *_tip(f"stat-{stat.key}", stat.tip)], className="cfg-stat-label"),
            html.Div(stat.value, className="cfg-stat-value num"),
            html.Div(stat.sub, className="cfg-stat-sub"),
        ],
        className="cfg-stat",
        **{"data-stat": stat.key},
    )


def estimate_tiles(stats: tuple[Stat, ...] | str) -> list[html.Div]:
    """The estimate card's tiles, or the note saying why there are none."""
    if isinstance(stats, str):
        return [html.Div(stats, className="cfg-invalid-note")]
    return [_stat(s) for s in stats]


def fit_view(fit: Fit | None) -> list[Any]:
    """Nothing while the form is invalid; the headroom when it fits; otherwise the warning
    and one Apply button per suggestion that has changes (index = its place in the store)."""
    if fit is None:
        return []
    if fit.fits:
        return [html.Div(fit.text, className="cfg-fits")]
    items = []
    for i, (text, offers) in enumerate(fit.fixes):
        button = (
            dbc.Button(
                "Apply",
                id=ids.cfg_advice(i),
                size="sm",
                color="outline-primary",
                n_clicks=0,
                class_name="cfg-advice-btn",
            )
            if offers
            else None
        )
        items.append(html.Li([html.Span(text), button], className="cfg-advice"))
    return [
        dbc.Alert(
            [
                html.Strong("Does not fit: "),
                fit.text,
                html.Ul(items, className="cfg-advice-list"),
            ],
            color="danger",
            class_name="cfg-nofit mb-0",
        )
    ]


def estimate_children(view: EstimateResult) -> dict[str, Any]:
    """The two outputs of ``estimate`` that are component trees, drawn from the view's data."""
    return {"stats": estimate_tiles(view.stats), "fit": fit_view(view.fit)}
