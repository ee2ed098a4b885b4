"""Training-tab callbacks for a real run's side parts: an edit of an assumed field, the
slow forecast refresh, and Pause / Resume / Stop. Each is a decorator and one call into
``views`` (``real_predict``, ``real_forecast``, ``real_control``).
"""

from __future__ import annotations

from typing import Any

import flask
from dash import ALL, Input, Output, Patch, State, callback, ctx, no_update

from callbacks import adapt
from callbacks.real_tab import event_item
from layouts import ids
from layouts import real_run as lr
from tracking.api import store_of
from tracking.control import trust_from_env, who_from_headers
from tracking.store.errors import StoreError
from views import real_control as rctl
from views import real_events as rev
from views import real_forecast as rfc
from views import real_predict as rp
from views.contract import KEEP, Notice
from views.real_charts import RealMeta


def _run(meta: Any) -> str | None:
    m = RealMeta.from_dict(meta)
    return None if m is None else m.run


@callback(
    Output(ids.TR_REAL_PRED_EDITS, "data"),
    Output({"type": ids.TR_REAL_ASSUMED, "field": ALL}, "invalid"),
    Output({"type": ids.TR_REAL_ASSUMED_MSG, "field": ALL}, "children"),
    Input({"type": ids.TR_REAL_ASSUMED, "field": ALL}, "value"),
    State({"type": ids.TR_REAL_ASSUMED, "field": ALL}, "id"),
    State(ids.TR_REAL_PRED_EDITS, "data"),
    State(ids.TR_REAL_META, "data"),
    prevent_initial_call=True,
)
def edit_assumed(values: list, boxes: list, held: Any, meta: Any) -> Any:
    """An assumed field changed: a valid form becomes the edits (which redraws the band),
    a refused value gets its message under the field and the band stays."""
    run = _run(meta)
    names = [b.get("field", "") if isinstance(b, dict) else "" for b in boxes]
    if run is None or not names:
        return no_update, [no_update] * len(names), [no_update] * len(names)
    try:
        checked = rp.check(store_of(flask.current_app), run, dict(zip(names, values, strict=True)))
    except StoreError as exc:
        return no_update, [False] * len(names), [f"Not checked: {exc}"] + [""] * (len(names) - 1)
    errors = [checked.errors.get(n, "") for n in names]
    invalid = [bool(e) for e in errors]
    unchanged = held if isinstance(held, dict) else {"run": run, "edits": {}}
    if checked.store is None or checked.store == unchanged:
        return no_update, invalid, errors
    return checked.store, invalid, errors


@callback(
    Output(ids.TR_REAL_FORECAST, "children"),
    Output(ids.TR_REAL_FC_AT, "data"),
    Input(ids.TR_REAL_FC_POLL, "n_intervals"),
    Input(ids.TR_REAL_FC_AT, "data"),
    State(ids.TR_REAL_META, "data"),
    prevent_initial_call=True,
)
def forecast(_n: Any, held: Any, meta: Any) -> Any:
    """The forecast panel, when due (``views.real_forecast.due``); else nothing is sent."""
    m = RealMeta.from_dict(meta)
    if m is None:
        return no_update, no_update
    if ctx.triggered_id == ids.TR_REAL_FC_AT and held is not None:
        return no_update, no_update  # our own write below
    try:
        panel = rfc.refresh(store_of(flask.current_app), m.run, m.last, held)
    except StoreError:
        return no_update, no_update
    if panel is KEEP:
        return no_update, no_update
    if panel is None:
        return lr.forecast_children(None), no_update
    return lr.forecast_children(panel), panel.held


@callback(
    output={
        "notice": Output(ids.TR_REAL_NOTICE, "children", allow_duplicate=True),
        "buttons": {a: Output(ids.TR_REAL_CTL[a], "disabled") for a in rctl.ACTIONS},
        "why": Output(ids.TR_REAL_CTL_HELP, "children"),
        "events": Output(ids.TR_REAL_EVENTS, "children", allow_duplicate=True),
        "held": Output(ids.TR_REAL_EV_AT, "data", allow_duplicate=True),
        "badge": Output(ids.TR_REAL_BADGE, "data", allow_duplicate=True),
        "title": Output(ids.TR_REAL_TITLE, "children", allow_duplicate=True),
    },
    inputs={a: Input(ids.TR_REAL_CTL[a], "n_clicks") for a in rctl.ACTIONS},
    state={"meta": State(ids.TR_REAL_META, "data"), "held": State(ids.TR_REAL_EV_AT, "data")},
    prevent_initial_call=True,
)
def press(pause: Any, resume: Any, stop: Any, meta: Any, held: Any) -> dict[str, Any]:
    """Pause / Resume / Stop: set the run's control state as the user nginx names (when
    the operator trusts it), and say what that does."""
    action = next((a for a, i in ids.TR_REAL_CTL.items() if i == ctx.triggered_id), None)
    run = _run(meta)
    keep = {
        "buttons": dict.fromkeys(rctl.ACTIONS, no_update),
        "why": no_update,
        "events": no_update,
        "held": no_update,
        "badge": no_update,
        "title": no_update,
    }
    if action is None or run is None or not ctx.triggered[0].get("value"):
        return {"notice": no_update, **keep}
    who = who_from_headers(flask.request.headers, trust_from_env())
    try:
        pressed = rctl.press(store_of(flask.current_app), run, action, who)
    except StoreError as exc:
        return {"notice": adapt.dash_value(Notice.of(f"Not changed: {exc}", "danger")), **keep}
    out = {"notice": adapt.dash_value(pressed.notice), **keep}
    if pressed.buttons is not None:
        out["buttons"] = dict(pressed.buttons.disabled)
        out["why"] = pressed.buttons.why
    if pressed.events is not None:
        alerts = held.get("alerts", -1) if isinstance(held, dict) else -1
        out["events"] = [event_item(r) for r in pressed.events]
        alerts = alerts if isinstance(alerts, int) else -1
        out["held"] = rev.held(run, pressed.seq, alerts, pressed.status)
        out["badge"] = {"name": pressed.name, "status": pressed.status}
        out["title"] = pressed.title
    return out


@callback(
    Output(ids.TR_REAL_EVENTS, "children", allow_duplicate=True),
    Output(ids.TR_REAL_BANNER, "children", allow_duplicate=True),
    Output(ids.TR_REAL_EV_AT, "data", allow_duplicate=True),
    Output(ids.TR_REAL_TITLE, "children", allow_duplicate=True),
    Output(ids.TR_REAL_BADGE, "data", allow_duplicate=True),
    Input(ids.TR_REAL_FC_POLL, "n_intervals"),
    State(ids.TR_REAL_EV_AT, "data"),
    prevent_initial_call=True,
)
def events(_n: Any, held: Any) -> Any:
    """New events (appended: only they travel), the banner when the open alerts moved, the
    title and top-bar badge when the status moved (a run going quiet reads "stalled")."""
    none = (no_update,) * 5
    try:
        polled = rev.poll(store_of(flask.current_app), held)
    except StoreError:
        return none
    if polled is None or polled.held is KEEP:
        return none
    patch = Patch()
    for r in polled.add:
        patch.append(event_item(r))
    return (
        patch if polled.add else no_update,
        adapt.dash_value(polled.banner),
        polled.held,
        adapt.dash_value(polled.title),
        adapt.dash_value(polled.badge),
    )
