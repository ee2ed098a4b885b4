"""The Training tab's real-run parts: the run picker, and a real run's head, charts and side
panel (shown instead of the simulator's when a stored run is chosen; views/real_tab.py).

The places later features fill are here and hidden until they do: the forecast panel
(``TR_REAL_FORECAST``) and the Pause/Resume/Stop area (``TR_REAL_CONTROL``).
"""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import dcc, html

from layouts import ids
from layouts.figures import real as fig
from views import real_run as rr

RUNS_REFRESH_MS = 15_000  # the picker's rows (status, "2 min ago") refresh this often
FOLLOW_MS = 1_000  # a followed real run asks the store for new points this often
CHART_HEIGHT = 220
# As the simulated charts' (layouts/training.py ``_chart``): zoom, pan, reset, image.
GRAPH_CONFIG = {
    "displaylogo": False,
    "responsive": True,
    "displayModeBar": "hover",
    "modeBarButtonsToRemove": [
        "select2d",
        "lasso2d",
        "autoScale2d",
        "zoomIn2d",
        "zoomOut2d",
        "toggleSpikelines",
        "hoverClosestCartesian",
        "hoverCompareCartesian",
    ],
}


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
                    html.Div(id=ids.TR_REAL_CONTROL, hidden=True, className="tr-real-control"),
                ],
                className="tr-card tr-real-titlebar",
            ),
            html.Div([_kpi(k) for k in ids.TR_REAL_KPIS], className="tr-kpis"),
        ],
        id=ids.TR_REAL_HEAD,
        hidden=True,
        className="tr-part",
    )


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
                config=GRAPH_CONFIG,
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
    """The events panel for a real run (its alerts) and the forecast hook."""
    return html.Div(
        [
            html.Div(id=ids.TR_REAL_FORECAST, hidden=True, className="tr-panel"),
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
