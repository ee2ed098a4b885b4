"""Training-tab callbacks: each is a decorator and one call into ``views.training``.

What each computes, and why a tick costs the same at any run length, is in
``views/training.py`` and docs/architecture.md ("The tick"). What is Dash-specific lives here:

- Ticks never pile up: ``running=`` disables the Interval while a tick is in flight, and the
  tick's own ``tick_disabled`` output (applied after the ``running`` reset, see
  dash-renderer's ``handleServerside``) leaves it off once the run is no longer running. The
  Interval restarts its timer when re-enabled, so a slow tick delays the next one instead of
  queueing. The buttons ignore clicks meanwhile (CSS turns off pointer events only), so a
  Pause never races a tick that is about to write the state.
- The tick is the one writer of its props without ``allow_duplicate``: a duplicate output's id
  carries a 64-hex-digit suffix in every request, and this request runs twice a second.
- The clientside half (``assets/js/training.js``): the gate that asks ``render`` for a redraw
  when the run changed other than by a tick, the fan-out of the status Store, the event log.
"""

from __future__ import annotations

from typing import Any

import dash
from dash import ClientsideFunction, Input, Output, State, callback, clientside_callback, ctx

from callbacks import adapt, limits
from callbacks import export as export_route
from layouts import ids
from layouts import training as lt
from layouts.figures.training import CHARTS, ChartOptions
from views import training as vt
from views.training_status import STATUS_PROPS

CHART_OUTPUTS = {c: Output(ids.tr_graph(c), "figure") for c in CHARTS}
CHART_OUTPUTS_DUP = {c: Output(ids.tr_graph(c), "figure", allow_duplicate=True) for c in CHARTS}
CHART_OPTIONS = {
    "xaxis": State(ids.TR_XAXIS, "value"),
    "smoothing": State(ids.TR_SMOOTHING, "value"),
    "log": State(ids.TR_LOG, "value"),
}
PACE = {
    "speed": State(ids.TR_SPEED, "value"),
    "interval": State(ids.TICK, "interval"),
    "pace": State(ids.TR_PACE, "data"),
}


@callback(
    output={
        "run": Output(ids.RUN_STORE, "data"),
        "tick_disabled": Output(ids.TICK, "disabled"),
        "charts": CHART_OUTPUTS,
        "meta": Output(ids.TR_META, "data"),
        "view": Output(ids.TR_VIEW, "data"),
        "autosave": Output(ids.TR_AUTOSAVE, "data"),
        "alert": Output(ids.ALERT_AREA, "children", allow_duplicate=True),
    },
    inputs={"_n": Input(ids.TICK, "n_intervals")},
    state={"raw": State(ids.RUN_STORE, "data"), "meta": State(ids.TR_META, "data")}
    | PACE
    | CHART_OPTIONS,
    running=[
        (Output(ids.TICK, "disabled"), True, False),
        (Output(ids.TR_CONTROLS, "className"), lt.CONTROLS_CLASS + " tr-busy", lt.CONTROLS_CLASS),
        (Output(ids.TR_ADJUST, "className"), lt.ADJUST_CLASS + " tr-busy", lt.ADJUST_CLASS),
    ],
    prevent_initial_call=True,
)
def tick(
    _n: int,
    raw: Any,
    meta: Any,
    speed: Any,
    interval: Any,
    pace: Any,
    xaxis: Any,
    smoothing: Any,
    log: Any,
) -> dict[str, Any]:
    """One Interval tick: advance, append the new points, refresh the status."""
    opts = ChartOptions.parse(xaxis, smoothing, log)
    return adapt.outputs(vt.tick(raw, meta, speed, interval, opts, limits.heavy, pace))


@callback(
    output={
        "run": Output(ids.RUN_STORE, "data", allow_duplicate=True),
        "tick_disabled": Output(ids.TICK, "disabled", allow_duplicate=True),
        "view": Output(ids.TR_VIEW, "data", allow_duplicate=True),
        "autosave": Output(ids.TR_AUTOSAVE, "data", allow_duplicate=True),
        "alert": Output(ids.ALERT_AREA, "children", allow_duplicate=True),
        "config": Output(ids.CONFIG_STORE, "data", allow_duplicate=True),
        "lr_multiplier": Output(ids.TR_ADJ_LR, "value", allow_duplicate=True),
        "batch": Output(ids.TR_ADJ_BATCH, "value"),
        "clip": Output(ids.TR_ADJ_CLIP, "value"),
        "notice": Output(ids.TR_NOTICE, "children", allow_duplicate=True),
    },
    inputs={
        "_start": Input(ids.TR_START, "n_clicks"),
        "_pause": Input(ids.TR_PAUSE, "n_clicks"),
        "_stop": Input(ids.TR_STOP, "n_clicks"),
        "_reset": Input(ids.TR_RESET, "n_clicks"),
    },
    state={"raw": State(ids.RUN_STORE, "data"), "config": State(ids.CONFIG_STORE, "data")} | PACE,
    prevent_initial_call=True,
)
def control(
    raw: Any, config: Any, speed: Any, interval: Any, pace: Any, **_clicks: Any
) -> dict[str, Any]:
    """Start, Pause/Resume, Stop, Reset."""
    return adapt.outputs(vt.control(ctx.triggered_id, raw, config, speed, interval, pace))


@callback(
    output={
        "charts": CHART_OUTPUTS_DUP,
        "meta": Output(ids.TR_META, "data", allow_duplicate=True),
        "view": Output(ids.TR_VIEW, "data", allow_duplicate=True),
        "run": Output(ids.RUN_STORE, "data", allow_duplicate=True),
        "alert": Output(ids.ALERT_AREA, "children", allow_duplicate=True),
        "tick_disabled": Output(ids.TICK, "disabled", allow_duplicate=True),
    },
    inputs={
        "_request": Input(ids.TR_RENDER_REQ, "data"),
        "xaxis": Input(ids.TR_XAXIS, "value"),
        "smoothing": Input(ids.TR_SMOOTHING, "value"),
        "log": Input(ids.TR_LOG, "value"),
    },
    state={"raw": State(ids.RUN_STORE, "data"), "config": State(ids.CONFIG_STORE, "data")} | PACE,
    prevent_initial_call=True,
)
def render(
    _request: Any,
    xaxis: Any,
    smoothing: Any,
    log: Any,
    raw: Any,
    config: Any,
    speed: Any,
    interval: Any,
    pace: Any,
) -> dict[str, Any]:
    """Redraw every chart from the run state (page load, reload, new run, option change)."""
    opts = ChartOptions.parse(xaxis, smoothing, log)
    return adapt.outputs(
        vt.render(ctx.triggered_id, raw, config, opts, speed, interval, limits.heavy, pace)
    )


@callback(
    output={
        "run": Output(ids.RUN_STORE, "data", allow_duplicate=True),
        "notice": Output(ids.TR_NOTICE, "children", allow_duplicate=True),
        "lr_multiplier": Output(ids.TR_ADJ_LR, "value"),
        "lr_invalid": Output(ids.TR_ADJ_LR, "invalid"),
        "clip_invalid": Output(ids.TR_ADJ_CLIP, "invalid"),
    },
    inputs={"_n": Input(ids.TR_ADJ_APPLY, "n_clicks")},
    state={
        "raw": State(ids.RUN_STORE, "data"),
        "lr_mult": State(ids.TR_ADJ_LR, "value"),
        "batch": State(ids.TR_ADJ_BATCH, "value"),
        "clip": State(ids.TR_ADJ_CLIP, "value"),
    },
    prevent_initial_call=True,
)
def adjust(_n: int, raw: Any, lr_mult: Any, batch: Any, clip: Any) -> dict[str, Any]:
    """Live LR multiplier, batch and clipping changes."""
    return adapt.outputs(vt.adjust(raw, lr_mult, batch, clip))


@callback(
    output={
        "saved": Output(ids.SAVED_RUNS_STORE, "data", allow_duplicate=True),
        "notice": Output(ids.TR_NOTICE, "children", allow_duplicate=True),
    },
    inputs={"_n": Input(ids.TR_SAVE, "n_clicks"), "autosave": Input(ids.TR_AUTOSAVE, "data")},
    state={"raw": State(ids.RUN_STORE, "data"), "saved": State(ids.SAVED_RUNS_STORE, "data")},
    prevent_initial_call=True,
)
def save(_n: int, autosave: Any, raw: Any, saved: Any) -> dict[str, Any]:
    """ "Save run", and the auto-save when a run finishes, diverges or is stopped."""
    auto = ctx.triggered_id == ids.TR_AUTOSAVE
    return adapt.outputs(vt.save(auto, autosave if auto else raw, saved))


@callback(
    output={
        "link": Output(ids.TR_EXPORT_LINK, "href"),
        "notice": Output(ids.TR_NOTICE, "children", allow_duplicate=True),
    },
    inputs={"clicks": Input(ids.TR_EXPORT, "n_clicks")},
    state={"raw": State(ids.RUN_STORE, "data")},
    prevent_initial_call=True,
)
def export(clicks: Any, raw: Any) -> dict[str, Any]:
    """Export CSV: a link to the streamed file (``callbacks/export.py``), which the browser
    then downloads (``training.download`` in assets/js/training.js)."""
    route = dash.get_relative_path("/" + export_route.ROUTE)
    return adapt.outputs(vt.export(raw, route, clicks))


# The clientside half (assets/js/training.js): gate, status fan-out, event log, interval.
clientside_callback(
    ClientsideFunction(namespace="training", function_name="renderGate"),
    Output(ids.TR_RENDER_REQ, "data"),
    Output(ids.TR_RENDERED, "data"),
    Input(ids.RUN_STORE, "data"),
    State(ids.TR_META, "data"),
    State(ids.TR_RENDERED, "data"),
)

clientside_callback(
    ClientsideFunction(namespace="training", function_name="showStatus"),
    *[Output(component, prop, allow_duplicate=True) for component, prop in STATUS_PROPS],
    Input(ids.TR_VIEW, "data"),
    prevent_initial_call=True,
)

clientside_callback(
    ClientsideFunction(namespace="training", function_name="showEvents"),
    Output(ids.TR_EVENTS, "children", allow_duplicate=True),
    Input(ids.TR_VIEW, "data"),
    State(ids.TR_EVENTS, "children"),
    prevent_initial_call=True,
)

clientside_callback(
    ClientsideFunction(namespace="training", function_name="measurePace"),
    Output(ids.TR_PACE, "data"),
    Input(ids.TICK, "n_intervals"),
    State(ids.TR_PACE, "data"),
    State(ids.TICK, "interval"),
    prevent_initial_call=True,
)

clientside_callback(
    ClientsideFunction(namespace="training", function_name="eventFilter"),
    Output(ids.TR_EVENTS, "className"),
    Input(ids.TR_EVENT_FILTER, "value"),
    State(ids.TR_EVENT_FILTER, "options"),
)

clientside_callback(
    ClientsideFunction(namespace="training", function_name="download"),
    Output(ids.TR_EXPORT_LINK, "title"),
    Input(ids.TR_EXPORT_LINK, "href"),
    prevent_initial_call=True,
)

clientside_callback(
    ClientsideFunction(namespace="training", function_name="tickInterval"),
    Output(ids.TICK, "interval"),
    Input(ids.TR_INTERVAL, "value"),
    State(ids.TR_INTERVAL, "options"),
)
