"""Training-tab callbacks for real runs: each is a decorator and one call into
``views.real_tab`` (what each computes and why a tick is cheap is there and in
``views/real_charts.py``).

The store is the app's own (``tracking.api.store_of``: opened on first use, shared by the
worker's threads); nothing is kept here. The follow tick is its own Interval: the simulator's
tick advances the simulated run, this one only asks the store what is new, and answers
"nothing new" with no output at all (Dash's 204).
"""

from __future__ import annotations

from typing import Any

import flask
from dash import Input, Output, Patch, State, callback, ctx, html, no_update

from callbacks import adapt
from layouts import ids
from layouts import real_run as lr
from layouts.figures.real import CHARTS
from layouts.figures.training import ChartOptions
from tracking.api import store_of
from tracking.store.errors import StoreError
from views import real_control as rctl
from views import real_predict as rp
from views import real_tab as vr
from views.contract import KEEP


def _outs(dup: bool) -> dict[str, Any]:
    """The real run's charts, boxes and KPIs. The follow tick is their plain writer: an
    ``allow_duplicate`` output's id carries a 64-hex-digit suffix in every request, which
    would triple the tick's request; choosing a run, which is rare, takes the duplicates."""
    return {
        "charts": {c: Output(ids.tr_real_graph(c), "figure", allow_duplicate=dup) for c in CHARTS},
        "boxes": {c: Output(ids.tr_real_box(c), "hidden", allow_duplicate=dup) for c in CHARTS},
        "kpis": {
            k: Output(ids.tr_real_kpi(k), "children", allow_duplicate=dup) for k in ids.TR_REAL_KPIS
        },
        "meta": Output(ids.TR_REAL_META, "data", allow_duplicate=dup),
        "notice": Output(ids.TR_REAL_NOTICE, "children", allow_duplicate=dup),
        "tick_disabled": Output(ids.TR_REAL_TICK, "disabled", allow_duplicate=dup),
    }


CTL = rctl.ACTIONS


def _store() -> Any:
    return store_of(flask.current_app)


@callback(
    Output(ids.TR_RUN_PICKER, "options"),
    Input(ids.TR_RUNS_REFRESH, "n_intervals"),
    Input(ids.TR_RUN_PICKER, "search_value"),
    Input(ids.TR_REAL_EV_AT, "data"),
    State(ids.TR_RUN_PICKER, "value"),
)
def run_options(_n: Any, search: Any, _moved: Any, value: Any) -> Any:
    """The picker's rows: on load, every ``RUNS_REFRESH_MS``, as the user types, and when
    the shown run's alerts or status moved (so its row agrees with the banner and badge)."""
    try:
        store = _store()
    except StoreError:
        return adapt.dash_value(KEEP)
    return adapt.dash_value(vr.run_options(store, search, value))


def _xaxis_options(options: Any) -> Any:
    """Disabled x-axis choices carry their reason as the label's tooltip."""
    return [
        {**o, "label": html.Span(o["label"], title=o["title"])} if o.get("title") else o
        for o in options
    ]


@callback(
    output={
        "picked": Output(ids.TR_RUN_PICKER, "value"),
        "search": Output(ids.URL, "search", allow_duplicate=True),
        "sim_hidden": {p: Output(p, "hidden") for p in ids.TR_SIM_PARTS},
        "real_hidden": {
            p: Output(p, "hidden") for p in (ids.TR_REAL_HEAD, ids.TR_REAL_CHARTS, ids.TR_REAL_SIDE)
        },
        **_outs(dup=True),
        "title": Output(ids.TR_REAL_TITLE, "children"),
        "xaxis_options": Output(ids.TR_XAXIS, "options"),
        "xaxis": Output(ids.TR_XAXIS, "value"),
        "other_options": Output(ids.TR_REAL_OTHER, "options"),
        "other": Output(ids.TR_REAL_OTHER, "value"),
        "forecast": Output(ids.TR_REAL_FC_AT, "data", allow_duplicate=True),
        "forecast_hidden": Output(ids.TR_REAL_FC_POLL, "disabled"),
        "control_hidden": Output(ids.TR_REAL_CONTROL, "hidden"),
        "pred": {
            "note": Output(ids.TR_REAL_PRED_NOTE, "children"),
            "form": Output(ids.TR_REAL_PRED_FORM, "children"),
        },
        "buttons": {
            **{a: Output(ids.TR_REAL_CTL[a], "disabled", allow_duplicate=True) for a in CTL},
            "why": Output(ids.TR_REAL_CTL_HELP, "children", allow_duplicate=True),
        },
        "badge": Output(ids.TR_REAL_BADGE, "data"),
        "events": Output(ids.TR_REAL_EVENTS, "children"),
        "banner": Output(ids.TR_REAL_BANNER, "children"),
        "events_at": Output(ids.TR_REAL_EV_AT, "data"),
        "sim_paused": Output(ids.TICK, "max_intervals"),
    },
    inputs={
        "search": Input(ids.URL, "search"),
        "picked": Input(ids.TR_RUN_PICKER, "value"),
        "xaxis": Input(ids.TR_XAXIS, "value"),
        "smoothing": Input(ids.TR_SMOOTHING, "value"),
        "log": Input(ids.TR_LOG, "value"),
        "other": Input(ids.TR_REAL_OTHER, "value"),
        "mode": Input(ids.TR_REAL_PRED_MODE, "value"),
        "edits": Input(ids.TR_REAL_PRED_EDITS, "data"),
    },
    state={"meta": State(ids.TR_REAL_META, "data")},
    prevent_initial_call="initial_duplicate",
)
def choose(
    search: Any,
    picked: Any,
    xaxis: Any,
    smoothing: Any,
    log: Any,
    other: Any,
    mode: Any,
    edits: Any,
    meta: Any,
) -> dict[str, Any]:
    """Show the simulated run or open a stored one (page load, link, Back/Forward, picker,
    chart options)."""
    trigger = {ids.URL: "url", ids.TR_RUN_PICKER: "picker"}.get(ctx.triggered_id, "option")
    if not ctx.triggered_id:
        trigger = "url"
    opts = ChartOptions.parse(xaxis, smoothing, log)
    try:
        store = _store()
    except StoreError as exc:
        store = _Down(exc)
    result = vr.choose(store, trigger, search, picked, opts, other, meta, mode=mode, edits=edits)
    out = adapt.outputs(result)
    out["sim_hidden"] = dict.fromkeys(ids.TR_SIM_PARTS, result.sim_hidden)
    out["real_hidden"] = dict.fromkeys(
        (ids.TR_REAL_HEAD, ids.TR_REAL_CHARTS, ids.TR_REAL_SIDE), result.real_hidden
    )
    out["xaxis_options"] = _xaxis_options(result.xaxis_options)
    out["events"] = _events(result.events)
    out["banner"] = adapt.dash_value(result.banner)
    pred = result.pred
    if isinstance(pred, rp.Prediction):
        out["pred"] = {"note": pred.note, "form": lr.prediction_form(pred.fields)}
    else:
        out["pred"] = {"note": no_update, "form": no_update}
    b = result.buttons
    if isinstance(b, rctl.Buttons):
        out["buttons"] = {**b.disabled, "why": b.why}
    else:
        out["buttons"] = {**dict.fromkeys(CTL, no_update), "why": no_update}
    out["forecast_hidden"] = result.real_hidden
    out["sim_paused"] = 0 if result.sim_paused else -1  # 0: the Interval fires no more
    return out


def event_item(r: dict[str, Any]) -> Any:
    return html.Li(
        [
            html.Span(f"{r['step']:,}", className="tr-ev-step num")
            if r["step"] is not None
            else None,
            html.Span(r["text"], className="tr-ev-text"),
        ],
        className="tr-event-empty"
        if r["kind"] == "empty"
        else f"tr-ev tr-ev-{r['kind']} tr-sev-{r.get('sev', 'info')}",
    )


def _events(rows: Any) -> Any:
    """Full rows (a list, or ``{"rows": [...]}``) replace the panel; ``{"add": [...]}``
    appends (a Patch: only the new rows travel)."""
    if isinstance(rows, dict) and "rows" in rows:
        rows = rows["rows"]
    if isinstance(rows, dict) and "add" in rows:
        patch = Patch()
        for r in rows["add"]:
            patch.append(event_item(r))
        return patch
    if not isinstance(rows, list):
        return adapt.dash_value(rows)
    return [event_item(r) for r in rows]


class _Down:
    """A store that cannot be opened: every read raises the reason (the view says it)."""

    def __init__(self, exc: StoreError) -> None:
        self._exc = exc

    def __getattr__(self, _name: str) -> Any:
        def fail(*_a: Any, **_k: Any) -> Any:
            raise self._exc

        return fail


@callback(
    output=_outs(dup=False),
    inputs={"_n": Input(ids.TR_REAL_TICK, "n_intervals")},
    state={
        "meta": State(ids.TR_REAL_META, "data"),
        "xaxis": State(ids.TR_XAXIS, "value"),
        "smoothing": State(ids.TR_SMOOTHING, "value"),
        "log": State(ids.TR_LOG, "value"),
        "other": State(ids.TR_REAL_OTHER, "value"),
    },
    running=[(Output(ids.TR_REAL_TICK, "disabled", allow_duplicate=True), True, False)],
    prevent_initial_call=True,
)
def follow(_n: Any, meta: Any, xaxis: Any, smoothing: Any, log: Any, other: Any) -> Any:
    """One tick of a followed real run: the new points, or nothing at all."""
    opts = ChartOptions.parse(xaxis, smoothing, log)
    try:
        store = _store()
    except StoreError:
        none = dict.fromkeys(CHARTS, KEEP)
        keep = vr.Followed(none, KEEP, dict.fromkeys(ids.TR_REAL_KPIS, KEEP), KEEP, KEEP, none)
        return adapt.outputs(keep)
    return adapt.outputs(vr.follow(store, meta, opts, other))
