"""The Training tab: controls, progress, KPI cards, six live charts, events and live changes.

The charts start empty; their content always comes from a callback (a full render on page
load or a Patch per tick), so this module holds no data and builds the same tree on every
call. Numbers are set in JetBrains Mono (``.num``) so digits do not dance as they update.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import dash_bootstrap_components as dbc
from dash import dcc, html

from layouts import definitions, ids, real_run
from layouts.figures import theme
from simulator import series
from simulator.estimate import FLOPS_CONVENTION
from views.config_form import format_tokens
from views.training import (
    CLIP_RANGE,
    DEFAULT_INTERVAL,
    DEFAULT_SPEED,
    INTERVALS,
    LR_MULTIPLIER,
    SPEEDS,
)

CHART_HEIGHT = 220
CONTROLS_CLASS = "tr-btn-group"
ADJUST_CLASS = "tr-panel"
BATCH_CHOICES = tuple(2**k for k in range(17, 25))  # 128k .. 16M tokens

CHART_TITLES = {
    "loss": "Loss",
    "accuracy": "Token accuracy",
    "lr": "Learning rate",
    "grad": "Gradient norm",
    "throughput": "Throughput · MFU",
    "memory": "GPU memory",
}
KPI_LABELS = {
    "step": "Step",
    "epoch": "Epoch",
    "tokens": "Tokens seen",
    "loss": "Train loss",
    "val": "Val loss",
    "ppl": "Val perplexity",
    "acc": "Token acc.",
    "lr": "Learning rate",
    "grad": "Grad norm",
    "tps": "Tokens/s",
    "mfu": "MFU",
    "mem": "GPU memory",
    "cost": "Cost so far",
}

# Shown with a KPI's label: what the number counts, where that is not obvious, and the
# same definition the Comparison tab uses for the same figure (layouts/definitions).
KPI_TIPS = {
    "loss": definitions.TRAIN_LOSS,
    "val": definitions.VAL_LOSS,
    "ppl": definitions.PERPLEXITY,
    "acc": definitions.ACCURACY,
    "mfu": "Model FLOPs utilisation: the share of the GPUs' peak FLOP/s spent on the model's "
    f"{FLOPS_CONVENTION}; recomputed activations do not count.",
}


VIEW_PERSISTENCE: Mapping[str, Any] = MappingProxyType(
    {"persistence": True, "persistence_type": "local"}
)
"""How the Training view's settings (speed, interval, x-axis, log y, smoothing, event filter)
survive a reload, and carry to a new tab: the browser keeps what the user chose (Dash
persistence, in local storage) while the run itself lives in its tab's session storage."""


def _kpi_label(key: str) -> html.Div:
    tip = KPI_TIPS.get(key)
    if tip is None:
        return html.Div(KPI_LABELS[key], className="tr-kpi-label")
    return html.Div(
        [
            KPI_LABELS[key],
            html.Span(
                "?",
                id=ids.tr_kpi_tip(key),
                className="tr-tip",
                tabIndex="0",
                **{"aria-label": tip},
            ),
            dbc.Tooltip(tip, target=ids.tr_kpi_tip(key), placement="top"),
        ],
        className="tr-kpi-label",
    )


def _kpi(key: str) -> html.Div:
    return html.Div(
        [
            _kpi_label(key),
            html.Div("–", id=ids.tr_kpi(key), className="tr-kpi-value num"),
            html.Div("", id=ids.tr_kpi_sub(key), className="tr-kpi-sub num"),
        ],
        className="tr-kpi",
    )


def _button(label: str, id_: str, color: str, icon: str) -> dbc.Button:
    return dbc.Button(
        [html.Span(icon, className="tr-btn-icon", **{"aria-hidden": "true"}), label],
        id=id_,
        color=color,
        size="sm",
        disabled=True,
        n_clicks=0,
        className="tr-btn",
    )


def _controls() -> html.Div:
    speed = dbc.Select(
        id=ids.TR_SPEED,
        options=[{"label": f"{s:,} steps/tick", "value": str(s)} for s in SPEEDS],
        value=str(DEFAULT_SPEED),
        size="sm",
        **VIEW_PERSISTENCE,
        className="tr-select",
    )
    interval = dbc.Select(
        id=ids.TR_INTERVAL,
        options=[{"label": f"every {i / 1000:g} s", "value": str(i)} for i in INTERVALS],
        value=str(DEFAULT_INTERVAL),
        size="sm",
        **VIEW_PERSISTENCE,
        className="tr-select",
    )
    return html.Div(
        [
            html.Div(
                [
                    _button("Start", ids.TR_START, "primary", "▶"),
                    _button("Pause", ids.TR_PAUSE, "secondary", "❚❚"),
                    _button("Stop", ids.TR_STOP, "outline-danger", "■"),
                    _button("Reset", ids.TR_RESET, "outline-secondary", "↺"),
                ],
                id=ids.TR_CONTROLS,
                className=CONTROLS_CLASS,
            ),
            html.Div(
                [
                    html.Label("Steps per tick", htmlFor=ids.TR_SPEED, className="visually-hidden"),
                    speed,
                    html.Label(
                        "Time between ticks", htmlFor=ids.TR_INTERVAL, className="visually-hidden"
                    ),
                    interval,
                ],
                className="tr-btn-group",
            ),
            html.Div(
                [
                    _button("Save run", ids.TR_SAVE, "outline-secondary", "★"),
                    _button("Export CSV", ids.TR_EXPORT, "outline-secondary", "⤓"),
                    html.A(id=ids.TR_EXPORT_LINK, download="", hidden=True),
                ],
                className="tr-btn-group ms-lg-auto",
            ),
        ],
        className="tr-toolbar",
    )


def _progress() -> html.Div:
    return html.Div(
        [
            html.Div(
                [
                    html.Span("", id=ids.TR_RUN_TITLE, className="tr-run-title"),
                    html.Span("0.0%", id=ids.TR_PROGRESS_TEXT, className="num tr-pct"),
                ],
                className="tr-progress-head",
            ),
            dbc.Progress(id=ids.TR_PROGRESS, value=0, className="tr-progress"),
            html.Div(
                [
                    html.Span(["elapsed ", html.Span("–", id=ids.TR_ELAPSED, className="num")]),
                    html.Span("", id=ids.TR_REMAINING, className="num"),
                    html.Span("", id=ids.TR_PLAYBACK, className="num text-body-secondary"),
                ],
                className="tr-progress-foot",
            ),
            html.Div("", id=ids.TR_TAB_NOTE, className="tr-tab-note"),
        ],
        className="tr-progress-block",
        **{"data-a11y-name": "Run progress"},  # assets/js/a11y.js names the progress bar
    )


def _chart(chart: str) -> html.Div:
    return html.Div(
        [
            html.Div(CHART_TITLES[chart], className="tr-chart-title"),
            dcc.Graph(
                id=ids.tr_graph(chart),
                figure={"data": [], "layout": {}},
                config=theme.GRAPH_CONFIG,
                style={"height": f"{CHART_HEIGHT}px"},
            ),
        ],
        className="tr-chart",
        role="figure",  # a chart is named for assistive technology by its title
        **{"aria-label": f"{CHART_TITLES[chart]} chart"},
    )


def _chart_options() -> html.Div:
    return html.Div(
        [
            dbc.RadioItems(
                id=ids.TR_XAXIS,
                options=[
                    {"label": "Step", "value": "step"},
                    {"label": "Tokens", "value": "tokens"},
                    {"label": "Wall time", "value": "wall"},
                ],
                value="step",
                inline=True,
                className="tr-seg",
                **VIEW_PERSISTENCE,
                inputClassName="btn-check",
                labelClassName="btn btn-sm btn-outline-secondary",
                labelCheckedClassName="active",
            ),
            dbc.Switch(
                id=ids.TR_LOG,
                label="log y",
                value=False,
                className="tr-switch",
                **VIEW_PERSISTENCE,
            ),
            html.Div(
                [
                    html.Span("smoothing", className="tr-opt-label"),
                    dcc.Slider(
                        id=ids.TR_SMOOTHING,
                        min=0,
                        max=series.MAX_SMOOTHING,
                        step=0.01,
                        value=0.6,
                        marks=None,
                        updatemode="mouseup",
                        **VIEW_PERSISTENCE,
                        tooltip={"placement": "bottom", "always_visible": False},
                        className="tr-slider",
                    ),
                ],
                className="tr-smooth",
                **{"data-a11y-name": "Chart smoothing"},  # assets/js/a11y.js names the thumb
            ),
        ],
        className="tr-chart-options",
    )


def _adjust() -> html.Div:
    return html.Div(
        [
            html.Div("Live adjustments", className="tr-panel-title"),
            html.Div(
                "Take effect at the current step; shown as a kink in the charts.",
                className="tr-panel-hint",
            ),
            dbc.Label("LR multiplier", html_for=ids.TR_ADJ_LR, className="tr-field-label"),
            # Text, not type=number: a number field sends nothing for an out-of-range entry,
            # so the server could not say what is allowed (views/training.py adjust).
            dbc.Input(
                id=ids.TR_ADJ_LR,
                type="text",
                inputMode="decimal",
                value=1.0,
                size="sm",
                className="num",
            ),
            dbc.FormFeedback(
                f"a number from {LR_MULTIPLIER[0]:g} to {LR_MULTIPLIER[1]:g}", type="invalid"
            ),
            dbc.Label(
                "Global batch (tokens)", html_for=ids.TR_ADJ_BATCH, className="tr-field-label"
            ),
            dbc.Select(
                id=ids.TR_ADJ_BATCH,
                # As the Configuration form writes batches: 4Mi, not 4.19M (2^22 tokens).
                options=[{"label": format_tokens(b), "value": str(b)} for b in BATCH_CHOICES],
                placeholder="unchanged",
                size="sm",
            ),
            dbc.Label(
                "Gradient clip (0 = off)", html_for=ids.TR_ADJ_CLIP, className="tr-field-label"
            ),
            dbc.Input(
                id=ids.TR_ADJ_CLIP,
                type="text",
                inputMode="decimal",
                placeholder="unchanged",
                size="sm",
                className="num",
            ),
            dbc.FormFeedback(
                f"a number from {CLIP_RANGE[0]:g} to {CLIP_RANGE[1]:g}", type="invalid"
            ),
            dbc.Button(
                "Apply now",
                id=ids.TR_ADJ_APPLY,
                color="primary",
                outline=True,
                size="sm",
                disabled=True,
                n_clicks=0,
                className="mt-2 w-100",
            ),
        ],
        id=ids.TR_ADJUST,
        className=ADJUST_CLASS,
    )


EVENT_GROUPS = (
    ("run", "Run", ("start", "warmup", "pause", "resume", "stop", "finished")),
    ("alerts", "Alerts", ("spike", "diverged", "oom")),
    ("changes", "Changes", ("change",)),
    ("evals", "Evals", ("eval", "checkpoint", "more")),
)
"""The event log's filter: (value, label, event kinds). training.css hides each group's kinds
under ``.tr-hide-<value>`` (tests/test_event_log.py checks every kind has a group)."""


def _events() -> html.Div:
    groups = dbc.Checklist(
        id=ids.TR_EVENT_FILTER,
        options=[{"label": label, "value": value} for value, label, _ in EVENT_GROUPS],
        value=[value for value, _, _ in EVENT_GROUPS],
        inline=True,
        className="tr-event-filter",
        **VIEW_PERSISTENCE,
        inputClassName="btn-check",
        labelClassName="btn btn-sm btn-outline-secondary",
        labelCheckedClassName="active",
    )
    return html.Div(
        [
            html.Div("Events", className="tr-panel-title"),
            html.Div(groups, role="group", **{"aria-label": "Show events of these kinds"}),
            html.Ul(
                [html.Li("No events yet.", className="tr-event-empty")],
                id=ids.TR_EVENTS,
                className="tr-events",
            ),
        ],
        className="tr-panel tr-panel-events",
    )


def layout() -> html.Div:
    """The tab's content."""
    return html.Div(
        [
            dcc.Store(id=ids.TR_META, storage_type="memory"),
            dcc.Store(id=ids.TR_RENDER_REQ, storage_type="memory"),
            dcc.Store(id=ids.TR_RENDERED, storage_type="memory"),
            dcc.Store(id=ids.TR_AUTOSAVE, storage_type="memory"),
            dcc.Store(id=ids.TR_VIEW, storage_type="memory"),
            dcc.Store(id=ids.TR_PACE, storage_type="memory"),
            real_run.picker(),
            html.Div(id=ids.TR_REAL_NOTICE),
            html.Div(
                [
                    html.Div([_controls(), _progress()], className="tr-card tr-head"),
                    dbc.Alert(
                        "",
                        id=ids.TR_DIVERGED,
                        color="danger",
                        is_open=False,
                        className="tr-alert",
                    ),
                    html.Div(id=ids.TR_NOTICE),
                ],
                id=ids.TR_SIM_PARTS[0],
                className="tr-part",
            ),
            real_run.head(),
            html.Div(
                [_kpi(k) for k in ids.TR_KPIS + ids.TR_KPIS_MORE],
                id=ids.TR_SIM_PARTS[1],
                className="tr-kpis",
            ),
            html.Div(
                [
                    html.Div(
                        [
                            _chart_options(),
                            html.Div(
                                [_chart(c) for c in ids.TR_CHARTS],
                                id=ids.TR_SIM_PARTS[2],
                                className="tr-charts",
                            ),
                            real_run.charts(),
                        ],
                        className="tr-main",
                    ),
                    html.Div(
                        [
                            html.Div(
                                [_adjust(), _events()], id=ids.TR_SIM_PARTS[3], className="tr-part"
                            ),
                            real_run.side(),
                        ],
                        className="tr-side",
                    ),
                ],
                className="tr-body",
            ),
        ],
        className="tr-tab",
    )
