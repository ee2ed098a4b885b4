"""Training-tab callbacks: one tick = one request, whose cost does not grow with the run.

How the pieces fit (DESIGN.md):

- ``tick`` (the ``dcc.Interval``) uploads the compact run state and the small chart meta,
  advances the simulator by the chosen steps and answers with the new state, ``Patch``
  appends of only the new points (bucketed when a tick covers many steps) and one compact
  "view" (KPI texts, progress, status) that a clientside callback spreads over the page.
  Listing ~45 KPI/control props as outputs would cost ~4 KB of request per tick; one store
  costs ~60 bytes. When the browser would pass ``ft.BOUND`` points per trace, or its charts do
  not continue this run, the tick sends full downsampled figures instead (a rebase).
- Ticks never pile up: ``running=`` disables the Interval while a tick is in flight, and the
  tick's own ``disabled`` output (applied after the ``running`` reset, see dash-renderer's
  ``handleServerside``) leaves it off once the run is no longer running. The Interval
  restarts its timer when re-enabled, so a slow tick delays the next one instead of queueing.
- Anything else that changes the run state (controls, live adjustments, the Configuration
  tab's "Apply now", a reload that restores session storage) is noticed in the browser by a
  clientside gate comparing the state with what the charts were drawn for; only then does it
  ask ``render`` for a full redraw. Ticks themselves never trigger a second request.
- Every store comes back from the browser: a state that fails ``RunState.from_dict`` becomes
  a clear message and a fresh state, never a 500; nothing here keeps module-level state.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import dash_bootstrap_components as dbc
from dash import Input, Output, Patch, State, callback, clientside_callback, ctx, dcc, no_update

import simulator as sim
from layouts import ids
from layouts import training as lt
from layouts.figures import training as ft
from simulator import saved as saved_runs
from simulator.run import MAX_EVENTS, MAX_STATE_BYTES

DEFAULT_MODEL = "llama-2-7b"
CHARTS = ids.TR_CHARTS
KPI_KEYS = ids.TR_KPIS + ids.TR_KPIS_MORE

# ----------------------------------------------------------------------------- parsing


def load_state(raw: Any) -> tuple[sim.RunState | None, str | None]:
    """The run state from the store, or None and a message saying why it was dropped."""
    if raw is None:
        return None, None
    try:
        if len(json.dumps(raw, separators=(",", ":"))) > MAX_STATE_BYTES:
            raise sim.StateError(f"it is larger than {MAX_STATE_BYTES:,} bytes")
        return sim.RunState.from_dict(raw), None
    except (sim.StateError, TypeError, ValueError, RecursionError) as exc:
        return None, (
            f"The run saved in this browser tab could not be used ({str(exc)[:160]}). "
            "It was cleared; press Start for a fresh run."
        )


def load_config(raw: Any) -> sim.TrainingConfig:
    """The Configuration tab's config when valid, else the default preset."""
    if raw is not None:
        try:
            return sim.TrainingConfig.from_dict(raw)
        except (sim.ConfigError, TypeError, ValueError):
            pass
    return sim.preset(DEFAULT_MODEL)


def clamp_speed(raw: Any) -> int:
    """Steps per tick from the browser, bounded by ``lt.MAX_SPEED`` and ``sim.MAX_ADVANCE``."""
    try:
        v = int(float(raw))
    except (TypeError, ValueError, OverflowError):
        return lt.DEFAULT_SPEED
    return max(1, min(v, lt.MAX_SPEED, sim.MAX_ADVANCE))


def clamp_interval(raw: Any) -> int:
    try:
        v = int(float(raw))
    except (TypeError, ValueError, OverflowError):
        return lt.DEFAULT_INTERVAL
    return max(100, min(v, 60_000))


def alert(message: str, color: str = "warning") -> dbc.Alert:
    return dbc.Alert(message, color=color, dismissable=True, className="tr-notice mb-2")


# ----------------------------------------------------------------------------- the view
# Targets the clientside fan-out writes, in the order of ``view()``'s list.
VIEW_TARGETS: list[tuple[str, str]] = [
    *[(ids.tr_kpi(k), "children") for k in KPI_KEYS],
    *[(ids.tr_kpi_sub(k), "children") for k in KPI_KEYS],
    (ids.TR_PROGRESS, "value"),
    (ids.TR_PROGRESS, "color"),
    (ids.TR_PROGRESS_TEXT, "children"),
    (ids.TR_ELAPSED, "children"),
    (ids.TR_REMAINING, "children"),
    (ids.TR_PLAYBACK, "children"),
    (ids.TR_RUN_TITLE, "children"),
    (ids.TR_START, "disabled"),
    (ids.TR_PAUSE, "disabled"),
    (ids.TR_PAUSE, "children"),
    (ids.TR_STOP, "disabled"),
    (ids.TR_RESET, "disabled"),
    (ids.TR_SAVE, "disabled"),
    (ids.TR_EXPORT, "disabled"),
    (ids.TR_ADJ_APPLY, "disabled"),
    (ids.TR_DIVERGED, "is_open"),
    (ids.TR_DIVERGED, "children"),
    (ids.TR_EVENTS, "children"),  # compact [[step, kind, text], ...]; the JS builds the list
]
EVENTS_SLOT = len(VIEW_TARGETS) - 1
# Props that change only with the run's status or config, not from one step to the next.
STATIC_TARGETS = frozenset(
    [(ids.tr_kpi_sub(k), "children") for k in ("step", "tokens", "lr", "grad", "mfu", "cost")]
    + [t for t in VIEW_TARGETS if t[1] == "disabled"]
    + [(ids.TR_RUN_TITLE, "children"), (ids.TR_PAUSE, "children"), (ids.TR_PROGRESS, "color")]
    + [(ids.TR_DIVERGED, "is_open"), (ids.TR_DIVERGED, "children")]
)


def _events_value(state: sim.RunState, which: bool | list[Any]) -> Any:
    if which is True:
        return [list(r[:3]) for r in ft.event_rows(state.events)]
    if not which:
        return None
    return {"add": [list(r[:3]) for r in ft.event_rows(which)], "keep": MAX_EVENTS}


def run_title(cfg: sim.TrainingConfig) -> str:
    spec = sim.MODELS.get(cfg.model)
    name = spec.name if spec is not None else "Custom model"
    params = ft.fmt_si(float(sim.param_count(cfg.arch)))
    return f"{name} · {params} params · {cfg.num_gpus:,} × {sim.GPUS[cfg.gpu].name}"


def view(
    state: sim.RunState,
    speed: int,
    interval: int,
    *,
    with_events: bool | list[Any] = True,
    with_static: bool = True,
    preview: bool = False,
) -> list[Any]:
    """Everything the page shows besides the charts, as one list in ``VIEW_TARGETS`` order.

    ``preview`` marks an idle run that exists only on screen (no run in the store yet).
    ``with_events``: True sends the whole events list, False leaves it, a list of events
    sends only those, to put on top of the shown list. ``with_static=False`` leaves the texts
    that change only with the status or the config (run title, "of 476,838", button states).
    None in the list means "no update": a plain tick sends only what moved.
    """
    k = ft.kpis(state, speed, interval)
    status = state.status
    enabled = ft.controls_enabled(None if preview else status)
    pause_label = "Resume" if status == "paused" else "Pause"
    diverged = status == "diverged"
    div_text = None
    if diverged:
        div_step = next((e[0] for e in reversed(state.events) if e[1] == "diverged"), state.step)
        div_text = (
            f"Training diverged at step {div_step:,}: the loss went to NaN "
            f"(peak LR {state.current_config.lr_peak:.1e}). The run was paused. "
            "Reset and lower the learning rate, or raise gradient clipping."
        )
    # None in this list means "leave the prop as it is" (the fan-out maps it to no_update).
    values: list[Any] = [k.get(key, "–") for key in KPI_KEYS]
    values += [k.get(f"{key}_sub", "") for key in KPI_KEYS]
    values += [
        round(100.0 * state.progress, 2),
        ft.STATUS_COLORS.get(status, "secondary"),
        k["progress"],
        k["elapsed"],
        k["remaining"],
        k["playback"],
        run_title(state.current_config),
        not enabled["start"],
        not enabled["pause"],
        pause_label,
        not enabled["stop"],
        not enabled["reset"],
        not enabled["save"],
        not enabled["export"],
        not enabled["adjust"],
        diverged,
        div_text,
        _events_value(state, with_events),
    ]
    if not with_static:
        for i, target in enumerate(VIEW_TARGETS):
            if target in STATIC_TARGETS:
                values[i] = None
    return values


# ----------------------------------------------------------------------------- chart options
def chart_options(xaxis: Any, smoothing: Any, log: Any) -> ft.ChartOptions:
    return ft.ChartOptions.parse(xaxis, smoothing, log)


def full_outputs(
    state: sim.RunState, opts: ft.ChartOptions
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Six full figures and the meta the browser keeps with them."""
    r = ft.full_render(state, opts)
    return [r.figures[c] for c in CHARTS], r.meta.to_dict()


def append_patches(appends: ft.Appends) -> list[Any]:
    """One ``Patch`` per chart extending only the traces that got points (or no_update)."""
    out: list[Any] = []
    for chart in CHARTS:
        items = appends.traces.get(chart)
        if not items:
            out.append(no_update)
            continue
        p = Patch()
        for index, xs, ys in items:
            p["data"][index]["x"].extend(xs)
            p["data"][index]["y"].extend(ys)
        out.append(p)
    return out


# ----------------------------------------------------------------------------- tick
def state_patch(old: dict[str, Any], new: dict[str, Any]) -> Any:
    """A ``Patch`` assigning only the top-level fields a tick changed (step, status, events).

    The config is most of the state's bytes and never changes in a tick, so sending it back
    every tick would double the response.
    """
    p = Patch()
    for key, value in new.items():
        if old.get(key) != value:
            p[key] = value
    return p


@dataclass
class TickResult:
    """What one tick sends back (see ``tick``); a plain value so tests can read it."""

    state: Any
    interval_disabled: bool
    figures: list[Any]
    meta: Any
    view: Any
    autosave: Any
    alert: Any
    rebased: bool = False


def do_tick(
    raw: Any, meta_raw: Any, speed: Any, interval: Any, opts: ft.ChartOptions
) -> TickResult:
    """Advance the run one tick and build the response (pure apart from no_update/Patch)."""
    nothing = [no_update] * len(CHARTS)
    state, problem = load_state(raw)
    if problem is not None or state is None:
        return TickResult(
            None if problem else no_update,
            True,
            nothing,
            no_update,
            no_update,
            no_update,
            alert(problem) if problem else no_update,
        )
    steps, every = clamp_speed(speed), clamp_interval(interval)
    if state.status != "running":
        # A stale tick (the run was paused or ended meanwhile): stop ticking, show the truth.
        return TickResult(
            no_update, True, nothing, no_update, view(state, steps, every), no_update, no_update
        )
    new, m = sim.advance_with_metrics(state, steps)
    meta = ft.ChartMeta.from_dict(meta_raw)
    appends = ft.tick_appends(state, new, m, meta, opts) if meta is not None else None
    rebased = appends is None
    if appends is None:
        figures, meta_out = full_outputs(new, opts)
    else:
        figures, meta_out = append_patches(appends), appends.meta.to_dict()
    seen = set(state.events)
    added = [e for e in new.events if e not in seen]
    finished = new.status != "running"
    return TickResult(
        state_patch(raw, new.to_dict()),
        new.status != "running",
        figures,
        meta_out,
        view(
            new,
            steps,
            every,
            with_events=True if rebased else added,
            with_static=rebased or new.status != state.status,
        ),
        new.to_dict() if finished and new.status in ("finished", "diverged") else no_update,
        no_update,
        rebased,
    )


# The tick is the one writer of these props without ``allow_duplicate``: a duplicate output's
# id carries a 64-hex-digit suffix in every request, and this request runs twice a second.
@callback(
    Output(ids.RUN_STORE, "data"),
    Output(ids.TICK, "disabled"),
    *[Output(ids.tr_graph(c), "figure") for c in CHARTS],
    Output(ids.TR_META, "data"),
    Output(ids.TR_VIEW, "data"),
    Output(ids.TR_AUTOSAVE, "data"),
    Output(ids.ALERT_AREA, "children", allow_duplicate=True),
    Input(ids.TICK, "n_intervals"),
    State(ids.RUN_STORE, "data"),
    State(ids.TR_META, "data"),
    State(ids.TR_SPEED, "value"),
    State(ids.TICK, "interval"),
    State(ids.TR_XAXIS, "value"),
    State(ids.TR_SMOOTHING, "value"),
    State(ids.TR_LOG, "value"),
    running=[
        (Output(ids.TICK, "disabled"), True, False),
        # Controls ignore clicks while a tick is in flight (no visual change: CSS only turns
        # off pointer events), so a Pause never races a tick that is about to write the state.
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
    xaxis: Any,
    smoothing: Any,
    log: Any,
) -> tuple[Any, ...]:
    """One Interval tick: advance, append the new points, refresh the view."""
    r = do_tick(raw, meta, speed, interval, chart_options(xaxis, smoothing, log))
    return (r.state, r.interval_disabled, *r.figures, r.meta, r.view, r.autosave, r.alert)


# ----------------------------------------------------------------------------- controls
@dataclass
class ControlResult:
    state: Any
    interval_disabled: Any
    view: Any
    autosave: Any
    alert: Any


def do_control(
    button: str | None, raw: Any, config_raw: Any, speed: Any, interval: Any
) -> ControlResult:
    """Start / Pause-Resume / Stop / Reset. A control that does not apply says so."""
    state, problem = load_state(raw)
    cfg = load_config(config_raw)
    steps, every = clamp_speed(speed), clamp_interval(interval)
    messages = [problem] if problem else []
    autosave: Any = no_update
    try:
        if button == ids.TR_START:
            if state is None or state.status == "idle":
                state = sim.start(sim.new_run(cfg))
            else:
                state = sim.start(state)  # raises: says why (e.g. press Reset first)
            if state.status == "stopped":  # out of memory at step 0
                messages.append(ft.event_text("oom", state.events[-1][2]))
        elif button == ids.TR_PAUSE:
            if state is None:
                raise sim.TransitionError("there is no run to pause; press Start")
            state = sim.resume(state) if state.status == "paused" else sim.pause(state)
        elif button == ids.TR_STOP:
            if state is None:
                raise sim.TransitionError("there is no run to stop")
            state = sim.stop(state)
            autosave = state.to_dict()
        elif button == ids.TR_RESET:
            state = sim.new_run(cfg)
        else:
            return ControlResult(no_update, no_update, no_update, no_update, no_update)
    except sim.TransitionError as exc:
        messages.append(f"{str(exc)[:1].upper()}{str(exc)[1:]}.")
    if state is None:
        preview = sim.new_run(cfg)
        return ControlResult(
            None,
            True,
            view(preview, steps, every, preview=True),
            no_update,
            alert(" ".join(messages)) if messages else no_update,
        )
    return ControlResult(
        state.to_dict(),
        state.status != "running",
        view(state, steps, every),
        autosave,
        alert(" ".join(messages)) if messages else no_update,
    )


@callback(
    Output(ids.RUN_STORE, "data", allow_duplicate=True),
    Output(ids.TICK, "disabled", allow_duplicate=True),
    Output(ids.TR_VIEW, "data", allow_duplicate=True),
    Output(ids.TR_AUTOSAVE, "data", allow_duplicate=True),
    Output(ids.ALERT_AREA, "children", allow_duplicate=True),
    Input(ids.TR_START, "n_clicks"),
    Input(ids.TR_PAUSE, "n_clicks"),
    Input(ids.TR_STOP, "n_clicks"),
    Input(ids.TR_RESET, "n_clicks"),
    State(ids.RUN_STORE, "data"),
    State(ids.CONFIG_STORE, "data"),
    State(ids.TR_SPEED, "value"),
    State(ids.TICK, "interval"),
    prevent_initial_call=True,
)
def control(
    _s: int, _p: int, _t: int, _r: int, raw: Any, config: Any, speed: Any, interval: Any
) -> tuple[Any, ...]:
    """The run's buttons."""
    r = do_control(ctx.triggered_id, raw, config, speed, interval)
    return (r.state, r.interval_disabled, r.view, r.autosave, r.alert)


# ----------------------------------------------------------------------------- full render
def do_render(
    trigger: str | None,
    raw: Any,
    config_raw: Any,
    opts: ft.ChartOptions,
    speed: Any,
    interval: Any,
) -> tuple[Any, ...]:
    """Full figures for the run (or a preview of the next one), meta and view.

    Returns (figures..., meta, view, run state, alert, interval disabled). A log-scale toggle
    only patches the y axes: it needs no data.
    """
    state, problem = load_state(raw)
    shown = state if state is not None else sim.new_run(load_config(config_raw))
    if trigger == ids.TR_LOG and problem is None:
        patches: list[Any] = []
        for chart in CHARTS:
            if chart in ft.LINEAR_ONLY:
                patches.append(no_update)
                continue
            p = Patch()
            p["layout"]["yaxis"]["type"] = "log" if opts.log else "linear"
            p["layout"]["yaxis"]["uirevision"] = ft.y_uirevision(shown, opts)
            patches.append(p)
        return (*patches, no_update, no_update, no_update, no_update, no_update)
    steps, every = clamp_speed(speed), clamp_interval(interval)
    figures, meta = full_outputs(shown, opts)
    return (
        *figures,
        meta,
        view(shown, steps, every, preview=state is None),
        None if problem else no_update,
        alert(problem) if problem else no_update,
        # A reload restores a running run from session storage: keep it ticking. With no run
        # the timer is left alone: a page load may render before the session store is read,
        # and if that answer comes last, the next tick (finding its meta stale) redraws all.
        no_update if state is None else state.status != "running",
    )


@callback(
    *[Output(ids.tr_graph(c), "figure", allow_duplicate=True) for c in CHARTS],
    Output(ids.TR_META, "data", allow_duplicate=True),
    Output(ids.TR_VIEW, "data", allow_duplicate=True),
    Output(ids.RUN_STORE, "data", allow_duplicate=True),
    Output(ids.ALERT_AREA, "children", allow_duplicate=True),
    Output(ids.TICK, "disabled", allow_duplicate=True),
    Input(ids.TR_RENDER_REQ, "data"),
    Input(ids.TR_XAXIS, "value"),
    Input(ids.TR_SMOOTHING, "value"),
    Input(ids.TR_LOG, "value"),
    State(ids.RUN_STORE, "data"),
    State(ids.CONFIG_STORE, "data"),
    State(ids.TR_SPEED, "value"),
    State(ids.TICK, "interval"),
    prevent_initial_call=True,
)
def render(
    _req: Any,
    xaxis: Any,
    smoothing: Any,
    log: Any,
    raw: Any,
    config: Any,
    speed: Any,
    interval: Any,
) -> tuple[Any, ...]:
    """Redraw every chart from the run state (page load, reload, new run, option change)."""
    return do_render(
        ctx.triggered_id, raw, config, chart_options(xaxis, smoothing, log), speed, interval
    )


# The gate: runs in the browser whenever the run state changes and asks for a full redraw
# only when the charts were drawn for another run, step or set of changes. A tick's own
# response updates the meta with the state, so the gate stays silent during playback.
clientside_callback(
    """
    function(state, meta, rendered) {
        const key = state
            ? JSON.stringify([state.seed, state.config, state.changes.length, state.step === 0])
            : "none";
        const step = state ? state.step : 0;
        if (meta && rendered === key && meta.step === step) {
            return [window.dash_clientside.no_update, window.dash_clientside.no_update];
        }
        return [Date.now(), key];
    }
    """,
    Output(ids.TR_RENDER_REQ, "data"),
    Output(ids.TR_RENDERED, "data"),
    Input(ids.RUN_STORE, "data"),
    State(ids.TR_META, "data"),
    State(ids.TR_RENDERED, "data"),
)

# The fan-out: one compact list from the server -> every KPI, control and status prop.
clientside_callback(
    f"""
    function(v, shown) {{
        const nu = window.dash_clientside.no_update;
        const n = {len(VIEW_TARGETS)};
        if (!Array.isArray(v) || v.length !== n) {{ return Array(n).fill(nu); }}
        const out = v.map(x => (x === null ? nu : x));
        const H = "dash_html_components";
        const li = e => ({{type: "Li", namespace: H, props: {{
            className: "tr-event tr-ev-" + e[1],
            children: [
                {{type: "Span", namespace: H, props: {{className: "tr-ev-step num",
                    children: Number(e[0]).toLocaleString("en-US")}}}},
                {{type: "Span", namespace: H, props: {{className: "tr-ev-text",
                    children: e[2]}}}}
            ]}}}});
        const ev = v[{EVENTS_SLOT}];
        if (Array.isArray(ev)) {{
            out[{EVENTS_SLOT}] = ev.length === 0
                ? [{{type: "Li", namespace: H, props: {{className: "tr-event-empty",
                    children: "No events yet."}}}}]
                : ev.map(li);
        }} else if (ev && Array.isArray(ev.add)) {{
            // Only the new events came: put them on top of what is shown (a log).
            const old = (Array.isArray(shown) ? shown : [shown]).filter(
                c => c && c.props && c.props.className !== "tr-event-empty");
            out[{EVENTS_SLOT}] = ev.add.map(li).concat(old).slice(0, ev.keep || 32);
        }}
        return out;
    }}
    """,
    *[Output(i, p, allow_duplicate=True) for i, p in VIEW_TARGETS],
    Input(ids.TR_VIEW, "data"),
    State(ids.TR_EVENTS, "children"),
    prevent_initial_call=True,
)

clientside_callback(
    """
    function(v) { const n = Number(v); return n >= 100 && n <= 60000 ? n : 500; }
    """,
    Output(ids.TICK, "interval"),
    Input(ids.TR_INTERVAL, "value"),
)


# ----------------------------------------------------------------------------- adjustments
def do_adjust(raw: Any, lr_mult: Any, batch: Any, clip: Any) -> tuple[Any, Any, Any]:
    """Apply the quick changes at the current step: (new state, notice, LR field value)."""
    state, problem = load_state(raw)
    if state is None:
        return no_update, alert(problem or "There is no run to change; press Start."), no_update
    cur = state.current_config
    changes: dict[str, Any] = {}
    try:
        if lr_mult not in (None, ""):
            mult = float(lr_mult)
            if not (math.isfinite(mult) and 0.05 <= mult <= 20.0):
                raise sim.ConfigError("LR multiplier", lr_mult, "a number from 0.05 to 20")
            if mult != 1.0:
                changes["lr_peak"] = cur.lr_peak * mult
                changes["lr_min"] = cur.lr_min * mult
        if batch not in (None, ""):
            b = int(float(batch))
            if b != cur.global_batch_tokens:
                changes["global_batch_tokens"] = b
        if clip not in (None, ""):
            c = float(clip)
            if c != cur.grad_clip:
                changes["grad_clip"] = c
        if not changes:
            return no_update, alert("Nothing to change: every value equals the current one."), 1.0
        new = sim.apply_changes(state, changes)
    except (sim.ConfigError, sim.TransitionError, ValueError, TypeError, OverflowError) as exc:
        return no_update, alert(f"Not applied: {str(exc)[:200]}"), no_update
    text = ", ".join(f"{k} = {v:.3g}" for k, v in changes.items() if k != "lr_min")
    return new.to_dict(), alert(f"Applied at step {new.step:,}: {text}.", "info"), 1.0


@callback(
    Output(ids.RUN_STORE, "data", allow_duplicate=True),
    Output(ids.TR_NOTICE, "children", allow_duplicate=True),
    Output(ids.TR_ADJ_LR, "value"),
    Input(ids.TR_ADJ_APPLY, "n_clicks"),
    State(ids.RUN_STORE, "data"),
    State(ids.TR_ADJ_LR, "value"),
    State(ids.TR_ADJ_BATCH, "value"),
    State(ids.TR_ADJ_CLIP, "value"),
    prevent_initial_call=True,
)
def adjust(_n: int, raw: Any, lr_mult: Any, batch: Any, clip: Any) -> tuple[Any, Any, Any]:
    """Live LR multiplier, batch and clipping changes."""
    return do_adjust(raw, lr_mult, batch, clip)


# ----------------------------------------------------------------------------- save, export
def do_save(trigger: str | None, raw: Any, autosave: Any, saved: Any) -> tuple[Any, Any]:
    """Append the run (or the auto-saved finished/stopped one) to the saved runs."""
    source = autosave if trigger == ids.TR_AUTOSAVE else raw
    state, problem = load_state(source)
    if state is None:
        if trigger == ids.TR_AUTOSAVE:
            return no_update, no_update
        return no_update, alert(problem or "There is no run to save yet.")
    if state.status == "idle":
        return no_update, alert("Nothing to save: the run has not started.")
    good = saved if isinstance(saved, list) else []
    new_list, dropped = saved_runs.add_run(good, state)
    how = "Auto-saved" if trigger == ids.TR_AUTOSAVE else "Saved"
    msg = f"{how} the run at step {state.step:,} ({state.status}) to Saved runs."
    if dropped:
        msg += f" {dropped}."
    return new_list, alert(msg, "warning" if dropped else "success")


@callback(
    Output(ids.SAVED_RUNS_STORE, "data", allow_duplicate=True),
    Output(ids.TR_NOTICE, "children", allow_duplicate=True),
    Input(ids.TR_SAVE, "n_clicks"),
    Input(ids.TR_AUTOSAVE, "data"),
    State(ids.RUN_STORE, "data"),
    State(ids.SAVED_RUNS_STORE, "data"),
    prevent_initial_call=True,
)
def save(_n: int, autosave: Any, raw: Any, saved: Any) -> tuple[Any, Any]:
    """ "Save run" and the auto-save when a run finishes, diverges or is stopped."""
    return do_save(ctx.triggered_id, raw, autosave, saved)


def do_export(raw: Any) -> tuple[Any, Any]:
    """The full-resolution metrics CSV, or a message saying why not."""
    state, problem = load_state(raw)
    if state is None or state.step == 0:
        return no_update, alert(problem or "Nothing to export yet: start the run first.")
    try:
        text = ft.metrics_csv(state)
    except ValueError as exc:
        return no_update, alert(f"Export refused: {exc}.")
    name = f"{state.config.model}-seed{state.seed}-step{state.step}.csv"
    return dcc.send_string(text, name, type="text/csv"), no_update


@callback(
    Output(ids.TR_DOWNLOAD, "data"),
    Output(ids.TR_NOTICE, "children", allow_duplicate=True),
    Input(ids.TR_EXPORT, "n_clicks"),
    State(ids.RUN_STORE, "data"),
    prevent_initial_call=True,
)
def export(_n: int, raw: Any) -> tuple[Any, Any]:
    """Export the run's metrics as CSV (recomputed at full resolution)."""
    return do_export(raw)
