"""The Training tab's real-run parts: the run picker, and a real run's head, charts and side
panel (shown instead of the simulator's when a stored run is chosen; views/real_tab.py).

The head holds the critical-alert banner and Pause/Resume/Stop (``views.real_control``);
the side panel the prediction's mode and assumed fields (``views.real_predict``), the
forecast (``views.real_forecast``) and the events (``views.real_events``).
"""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import dcc, html

from layouts import ids
from layouts.figures import real as fig
from layouts.figures import theme
from simulator import fmt
from views import real_control as rctl
from views import real_forecast as rfc
from views import real_run as rr

RUNS_REFRESH_MS = 15_000  # the picker's rows (status, "2 min ago") refresh this often
FOLLOW_MS = 1_000  # a followed real run asks the store for new points this often
CHART_HEIGHT = 220


def picker() -> html.Div:
    """The run picker: the simulated run (default) or any stored run, newest first."""
    return html.Div(
        [
            dbc.Label("Run", html_for=ids.TR_RUN_PICKER, className="tr-run-picker-label"),
            dcc.Dropdown(
                id=ids.TR_RUN_PICKER,
                options=[{"label": "Simulated run", "value": rr.SIMULATED}],
                value=rr.SIMULATED,
                clearable=False,
                searchable=True,
                placeholder="Search runs by name, id or folder",
                className="tr-run-picker",
                optionHeight=32,
                maxHeight=360,
            ),
            dcc.Interval(id=ids.TR_RUNS_REFRESH, interval=RUNS_REFRESH_MS),
        ],
        className="tr-run-picker-row",
    )


def _kpi(key: str) -> html.Div:
    tip_id = f"{ids.tr_real_kpi(key)}-tip"
    return html.Div(
        [
            html.Div(
                [
                    rr.KPI_LABELS[key],
                    html.Span(
                        "?",
                        id=tip_id,
                        className="tr-tip",
                        tabIndex="0",
                        **{"aria-label": rr.KPI_TIPS[key]},
                    ),
                    dbc.Tooltip(rr.KPI_TIPS[key], target=tip_id, placement="top"),
                ],
                className="tr-kpi-label",
            ),
            html.Div("-", id=ids.tr_real_kpi(key), className="tr-kpi-value num"),
        ],
        className="tr-kpi",
    )


def head() -> html.Div:
    """Title, notices, the control hook and the KPIs of a real run."""
    return html.Div(
        [
            dcc.Store(id=ids.TR_REAL_META, storage_type="memory"),
            dcc.Interval(id=ids.TR_REAL_TICK, interval=FOLLOW_MS, disabled=True),
            html.Div(
                [
                    html.Div(id=ids.TR_REAL_TITLE, className="tr-real-title"),
                    control(),
                ],
                className="tr-card tr-real-titlebar",
            ),
            html.Div(id=ids.TR_REAL_BANNER, role="alert", className="tr-real-banner"),
            html.Div([_kpi(k) for k in ids.TR_REAL_KPIS], className="tr-kpis"),
        ],
        id=ids.TR_REAL_HEAD,
        hidden=True,
        className="tr-part",
    )


def control() -> html.Div:
    """Pause / Resume / Stop; the "?" says that the script decides (and, per run, why a
    button is disabled)."""
    labels = {"pause": "Pause", "resume": "Resume", "stop": "Stop"}
    tip = f"{ids.TR_REAL_CTL_HELP}-tip"
    return html.Div(
        [
            *[
                dbc.Button(
                    labels[a],
                    id=ids.TR_REAL_CTL[a],
                    size="sm",
                    color="danger" if a == "stop" else "secondary",
                    outline=True,
                    disabled=True,
                    n_clicks=0,
                )
                for a in rctl.ACTIONS
            ],
            html.Span("?", id=tip, className="tr-tip", tabIndex="0", **{"aria-label": rctl.HOW}),
            dbc.Tooltip(rctl.HOW, id=ids.TR_REAL_CTL_HELP, target=tip, placement="bottom"),
        ],
        id=ids.TR_REAL_CONTROL,
        hidden=True,
        className="tr-real-control",
        role="group",
        **{"aria-label": "Run control"},
    )


def prediction_panel() -> html.Div:
    """Raw / Anchored, what the band is, and the recipe's assumed fields (editable)."""
    return html.Div(
        [
            html.Div("Prediction", className="tr-panel-title"),
            dbc.RadioItems(
                id=ids.TR_REAL_PRED_MODE,
                options=[
                    {"label": "Raw", "value": "raw"},
                    {"label": "Anchored", "value": "anchored"},
                ],
                value="raw",
                inline=True,
                className="tr-real-pred-mode",
            ),
            html.Div(id=ids.TR_REAL_PRED_NOTE, className="tr-real-pred-note"),
            html.Div(id=ids.TR_REAL_PRED_FORM, className="tr-real-pred-form"),
            dcc.Store(id=ids.TR_REAL_PRED_EDITS, storage_type="memory"),
        ],
        id=ids.TR_REAL_PRED,
        className="tr-panel",
    )


def _bound(v: float) -> str:
    return fmt.si(v) if abs(v) >= 1e4 else f"{v:g}"


SHAPING_WORDS = ("model", "schedule", "optimizer", "custom_model")  # shape the loss, not numbers


def prediction_form(rows: list) -> list:
    """The assumed fields as number boxes with their allowed range (``FieldRow``s); an
    edit is checked on the server (``views.real_predict.check``), whose message shows
    under the field. Fields with no numeric range are listed, not editable."""
    if not rows:
        return [html.Div("No assumed fields: every recipe field was found or derived.")]
    out: list = [html.Div("Assumed (edit to redraw):", className="tr-real-pred-head")]
    fixed = [r for r in rows if r.low is None]
    for r in rows:
        if r.low is None:
            continue
        rng = f"{_bound(r.low)}\u2013{_bound(r.high)}" + (" whole" if r.whole else "")
        box = {"type": ids.TR_REAL_ASSUMED, "field": r.name}
        out.append(
            html.Div(
                [
                    html.Label(  # wrapping: the box is named by the field (no id needed)
                        [
                            html.Span(r.name, className="tr-real-field"),
                            dbc.Input(
                                id=box,
                                type="number",
                                value=r.value,
                                debounce=True,
                                size="sm",
                                invalid=bool(r.error),
                                className="tr-real-field-input num",
                            ),
                        ],
                        className="tr-real-field-label",
                    ),
                    html.Span(
                        rng, className="tr-real-field-range num", title=f"assumed ({r.source})"
                    ),
                    html.Div(
                        r.error,
                        id={"type": ids.TR_REAL_ASSUMED_MSG, "field": r.name},
                        className="tr-real-field-error",
                    ),
                ],
                className="tr-real-field-row",
            )
        )
    shaping = [r for r in fixed if r.name in SHAPING_WORDS and r.value is not None]
    rest = [r.name for r in fixed if r not in shaping]
    if shaping or rest:
        text = ", ".join(f"{r.name} {r.value}" for r in shaping)
        more = (
            f"{'; ' if text else ''}{len(rest)} more with no effect on the predicted loss "
            "(hardware, parallelism, seed, price, intervals)"
            if rest
            else ""
        )
        out.append(
            html.Div(
                f"Also assumed, not editable here: {text}{more}.",
                className="tr-real-pred-fixed",
                title=", ".join(rest),
            )
        )
    return out


def forecast_children(panel: object) -> list:
    """The forecast panel's content from a ``views.real_forecast.Panel``."""
    title = html.Div("Forecast", className="tr-panel-title")
    if panel is None:
        return [title, html.Div("Forecasting\u2026", className="tr-real-fc-reason")]
    p = panel  # a Panel
    if p.reason:  # type: ignore[attr-defined]
        return [title, html.Div(p.reason, className="tr-real-fc-reason")]  # type: ignore[attr-defined]
    rows = [
        html.Div(
            [html.Span(label, className="tr-real-fc-label"), html.Span(value, className="num")],
            className="tr-real-fc-row",
            title=tip,
        )
        for label, value, tip in p.lines  # type: ignore[attr-defined]
    ]
    fig_ = p.figure  # type: ignore[attr-defined]
    chart = (
        [
            html.Div("How the forecast moved", className="tr-real-fc-sub"),
            dcc.Graph(
                figure=fig_,
                config={"displayModeBar": False, "responsive": True},
                style={"height": "120px", "width": "100%"},
                className="tr-real-fc-chart",
            ),
        ]
        if fig_
        else []
    )
    return [title, *rows, *chart]


def _chart(chart: str) -> html.Div:
    title: list = [html.Div(fig.TITLES[chart], className="tr-chart-title")]
    if chart == "other":
        title = [
            html.Div(
                [
                    html.Span("Other metric", className="tr-chart-title"),
                    dcc.Dropdown(
                        id=ids.TR_REAL_OTHER,
                        options=[],
                        clearable=False,
                        searchable=True,
                        placeholder="no other metrics",
                        className="tr-real-other",
                    ),
                ],
                className="tr-real-other-row",
            )
        ]
    return html.Div(
        [
            *title,
            dcc.Graph(
                id=ids.tr_real_graph(chart),
                figure={"data": [], "layout": {}},
                config=theme.GRAPH_CONFIG,
                style={"height": f"{CHART_HEIGHT}px"},
            ),
        ],
        id=ids.tr_real_box(chart),
        className="tr-chart tr-part-chart",
        role="figure",
        **{"aria-label": f"{fig.TITLES[chart]} chart"},
    )


def charts() -> html.Div:
    return html.Div(
        [_chart(c) for c in fig.CHARTS],
        id=ids.TR_REAL_CHARTS,
        hidden=True,
        className="tr-charts tr-part",
    )


def side() -> html.Div:
    """The forecast (where the run ends: first, it is what one looks for), the prediction
    and the events panel of a real run."""
    return html.Div(
        [
            html.Div(forecast_children(None), id=ids.TR_REAL_FORECAST, className="tr-panel"),
            prediction_panel(),
            dcc.Store(id=ids.TR_REAL_FC_AT, storage_type="memory"),
            dcc.Store(id=ids.TR_REAL_EV_AT, storage_type="memory"),
            dcc.Interval(id=ids.TR_REAL_FC_POLL, interval=rfc.POLL_MS),
            html.Div(
                [
                    html.Div("Events", className="tr-panel-title"),
                    html.Ul(id=ids.TR_REAL_EVENTS, className="tr-events"),
                ],
                className="tr-panel tr-panel-events",
            ),
        ],
        id=ids.TR_REAL_SIDE,
        hidden=True,
        className="tr-part",
    )
