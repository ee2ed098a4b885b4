"""The Training tab's status: everything it shows besides the charts, as the ``TR_VIEW`` Store.

KPI cards, progress, playback estimate, run title, which buttons apply, the divergence banner
and the event log are computed here in one place and sent as one compact Store per tick
(docs/architecture.md, "The tick"). Listing the ~45 props as outputs of the tick would cost
~4 KB of request per tick; one Store costs a few hundred bytes. ``assets/js/training.js``
spreads it over the page: ``props`` maps each prop name to ``{component id: value}`` (grouped
by prop, which keeps a tick's answer small; a prop left out is left as it is); ``events`` is
the event log (the whole list, or only the new events to put on top, with the caps of the
frequent kinds so the browser drops what the run state dropped), and the line counting the
evaluations not listed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
from numpy.typing import NDArray

import simulator as sim
from layouts import ids
from simulator import fmt
from simulator import timeline as tlm
from simulator.catalog import GPUS
from simulator.run import EVENT_CAPS, MAX_EVENTS, final_mean

KPI_WINDOW = 64  # steps averaged for the loss-change KPI
KPI_SPAN = 1000  # the loss change is measured over this many steps
KPI_KEYS = ids.TR_KPIS + ids.TR_KPIS_MORE

FloatArray = NDArray[np.float64]

STATUS_COLORS = {
    "idle": "secondary",
    "running": "primary",
    "paused": "warning",
    "stopped": "dark",
    "finished": "success",
    "diverged": "danger",
}


def controls_enabled(status: str | None) -> dict[str, bool]:
    """Which controls make sense for a run in ``status`` (None: no run yet)."""
    s = status or "idle"
    return {
        "start": s == "idle",
        "pause": s in ("running", "paused"),
        "stop": s in ("running", "paused"),
        "reset": s != "idle",
        "adjust": s in ("running", "paused"),
        "save": s != "idle",
        "export": s != "idle",
    }


def kpis(
    state: sim.RunState, steps_per_tick: int, interval_ms: int, measured: float | None = None
) -> dict[str, str]:
    """Every KPI card's value and sub-line, the progress texts and the badge, as strings.

    ``measured``: the time between ticks the browser measured (ms), for the playback estimate.

    Costs one ``metrics`` call over the last ~``KPI_SPAN`` steps, whatever the run length.
    """
    cfg = state.current_config
    tl = state.timeline
    total = tl.total_steps
    s = state.step
    out: dict[str, str] = {
        "step": f"{s:,}",
        "step_sub": f"of {total:,}",
        "progress": f"{100.0 * s / max(1, total):.1f}%",
    }
    gpu = GPUS[cfg.gpu].name
    seg = tl.segments[-1]
    end_wall = seg.wall0 + float(
        tlm.wall_in_segment(seg, state.seed, np.array([total - 1], dtype=np.int64))[0]
    )
    if s == 0:
        out.update({k: "–" for k in ("epoch", "tokens", "loss", "val", "ppl", "acc", "grad")})
        out.update({k: "–" for k in ("tps", "mfu", "mem", "cost")})
        out.update(
            loss_sub="",
            val_sub="",
            tokens_sub="",
            mem_sub=f"of {seg.memory_capacity / 1e9:.0f} GB",
            lr=f"{cfg.lr_peak:.2e}",
            lr_sub="peak",
            grad_sub=f"clip {cfg.grad_clip:g}" if cfg.grad_clip > 0 else "no clipping",
            tps_sub="",
            mfu_sub="",
            cost_sub="",
            elapsed="0 s",
            remaining=f"{fmt.duration(end_wall)} left on {cfg.num_gpus:,} × {gpu}",
        )
        out["playback"] = _playback(total - s, steps_per_tick, interval_ms, state.status, measured)
        return out
    w = sim.metrics(state, max(0, s - KPI_SPAN - KPI_WINDOW), s)
    loss = np.asarray(w["train_loss"], dtype=np.float64)
    diverged = state.status == "diverged"
    reported = final_mean(loss, diverged)  # the figure Comparison reports (FINAL_TAIL steps)
    now = _finite_mean(loss[-KPI_WINDOW:])
    then = _finite_mean(loss[:KPI_WINDOW])
    span = int(w["step"][-1] - w["step"][min(KPI_WINDOW, loss.size) - 1])
    val = next((e[2] for e in reversed(state.events) if e[1] == "eval"), None)
    val_step = next((e[0] for e in reversed(state.events) if e[1] == "eval"), None)
    mem = float(w["memory_gb"][-1])
    cap = seg.memory_capacity / 1e9
    wall = float(w["wall_time"][-1])
    delta = now - then
    out.update(
        epoch=f"{float(w['epoch'][-1]):.3f}",
        tokens=fmt.si(float(w["tokens"][-1])),
        tokens_sub=f"of {fmt.si(tl.total_tokens)}",
        loss=fmt.number(reported),
        loss_sub=(
            f"{'▼' if delta < 0 else '▲'} {abs(delta):.3f} in {fmt.si(span, 2)}"
            if span > 0 and math.isfinite(delta) and math.isfinite(reported)
            else ""  # a trend beside "NaN" would read as if the loss were still moving
        ),
        val=fmt.number(float(val)) if isinstance(val, (int, float)) else ("NaN" if val else "–"),
        val_sub=f"@ {val_step:,}" if val_step is not None else "no eval yet",
        ppl=_perplexity(val),
        ppl_sub="exp(val loss)",
        acc=fmt.percent(final_mean(w["accuracy"], diverged), 2),
        lr=f"{float(w['lr'][-1]):.2e}",
        lr_sub=f"peak {cfg.lr_peak:.1e}",
        grad=fmt.number(float(w["grad_norm"][-1]), ".3f"),
        grad_sub=f"clip {cfg.grad_clip:g}" if cfg.grad_clip > 0 else "no clipping",
        tps=fmt.si(float(w["tokens_per_sec"][-1])),
        tps_sub=f"{fmt.si(float(w['tokens_per_sec'][-1]) / cfg.num_gpus)}/GPU",
        mfu=f"{100.0 * float(w['mfu'][-1]):.1f}%",
        mfu_sub=f"of {GPUS[cfg.gpu].peak_tflops_bf16 or GPUS[cfg.gpu].peak_tflops_fp16:g} TF peak",
        mem=f"{mem:.1f} GB",
        mem_sub=f"{100.0 * mem / cap:.0f}% of {cap:.0f} GB",
        cost=f"${fmt.si(float(w['cost_usd'][-1]))}",
        cost_sub=f"${seg.price * cfg.num_gpus:,.0f}/h",
        elapsed=fmt.duration(wall),
        remaining=(
            f"{fmt.duration(max(0.0, end_wall - wall))} left on {cfg.num_gpus:,} × {gpu}"
            if s < total
            else f"done on {cfg.num_gpus:,} × {gpu}"
        ),
    )
    out["playback"] = _playback(total - s, steps_per_tick, interval_ms, state.status, measured)
    return out


def _perplexity(val: Any) -> str:
    """exp(validation loss) of the last evaluation, as Comparison's "Val perplexity"."""
    if isinstance(val, (int, float)) and not isinstance(val, bool):
        return fmt.si(math.exp(min(float(val), 700.0)))
    return "NaN" if val else fmt.MISSING


def _finite_mean(a: FloatArray) -> float:
    f = a[np.isfinite(a)]
    return float(f.mean()) if f.size else float("nan")


def _playback(
    left: int, per_tick: int, interval_ms: int, status: str, measured: float | None = None
) -> str:
    """How long the rest of the run takes to play at this speed.

    The tick interval is only the least a tick can take: the timer restarts after each
    answer, so a tick takes the interval plus the round trip, more on a busy server (574-719
    ms for a 500 ms interval in issue 17). With ``measured`` (the browser's running mean of
    the actual gaps) the estimate uses it and says so; without, it is a lower bound.
    """
    if status not in ("running", "paused", "idle") or left <= 0:
        return "playback: –"
    ticks = math.ceil(left / max(1, per_tick))
    if measured is not None:
        secs = ticks * measured / 1000.0
        return (
            f"playback: {fmt.duration(secs)} at {per_tick:,} steps/tick "
            f"(a tick every {measured / 1000:.2f} s, measured)"
        )
    secs = ticks * max(1, interval_ms) / 1000.0
    return f"playback: at least {fmt.duration(secs)} at {per_tick:,} steps/tick"


# ----------------------------------------------------------------------------- events
def event_text(kind: str, value: Any) -> str:
    """One sentence for an event from ``state.events``."""
    if kind == "start":
        return f"Run started: {int(value):,} steps planned" if _is_num(value) else "Run started"
    if kind == "warmup":
        return f"Warmup done, LR at peak {float(value):.2e}" if _is_num(value) else "Warmup done"
    if kind == "eval":
        return f"Evaluation: validation loss {value}"
    if kind == "checkpoint":
        return "Checkpoint saved"
    if kind == "spike":
        return f"Loss spike: +{float(value):.3f} nats" if _is_num(value) else "Loss spike"
    if kind == "diverged":
        at = f" at peak LR {float(value):.1e}" if _is_num(value) else ""
        return f"Diverged: the loss blew up{at}; the run has ended"
    if kind == "change":
        return f"Changed: {value}"
    if kind == "pause":
        return "Paused"
    if kind == "resume":
        return "Resumed"
    if kind == "stop":
        return "Stopped by user"
    if kind == "finished":
        return f"Finished: final train loss {value}"
    if kind == "oom":
        return f"Out of memory: needs {value} GB per GPU; run stopped"
    return str(kind)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def event_rows(events: Iterable[tuple[int, str, Any]]) -> list[list[Any]]:
    """``[step, kind, text]`` for each event, newest first (what the event log shows)."""
    return [[int(s), k, event_text(k, v)] for s, k, v in events][::-1]


def evals_done(state: sim.RunState) -> int:
    """Evaluations the run has made so far: every ``resolved_eval_interval`` steps of the base
    config (as ``dynamics.compute`` marks them), plus one at the last step of a finished run."""
    every = state.config.resolved_eval_interval
    n = state.step // every
    if state.step >= state.total_steps and state.step % every:
        n += 1
    return n


def earlier_note(state: sim.RunState) -> str | None:
    """The log's last line when it lists only some evaluations: how many are not listed.

    The run state keeps the newest ``EVENT_CAPS["eval"]`` evaluations (and one tick logs only
    its last), so the rest are counted here rather than listed; the charts draw every one.
    """
    listed = sum(e[1] == "eval" for e in state.events)
    more = evals_done(state) - listed
    if listed == 0 or more <= 0:
        return None
    every = state.config.resolved_eval_interval
    noun = "evaluation" if more == 1 else "evaluations"
    return (
        f"{more:,} earlier {noun} (every {every:,} steps) not listed; "
        "the validation loss chart shows them all"
    )


# ----------------------------------------------------------------------------- the view
TAB_NOTE = (
    "Runs live in the browser tab that started them: another tab, or a new one, starts "
    "idle. Save a run to see it in Comparison from any tab."
)
"""Shown with no run under way: why a second tab shows Idle while the first one trains (the
run is kept in the tab's session storage, docs/architecture.md)."""


def run_title(cfg: sim.TrainingConfig) -> str:
    """``Llama 2 7B · 6.74B params · 1,024 × A100 80GB``."""
    params = fmt.si(float(sim.param_count(cfg.arch)))
    return (
        f"{fmt.model_name(cfg.model)} · {params} params · {cfg.num_gpus:,} × {GPUS[cfg.gpu].name}"
    )


def diverged_text(state: sim.RunState) -> str | None:
    """The banner of a diverged run, in the chart's terms; None for any other run.

    Where the loss starts to climb (the step after the one whose hazard fired) and the first
    step it is not finite, read from the metrics the chart draws (at most ~27 steps), and
    what the user can do: a diverged run has ended (the simulator keeps no weights to roll
    back to), so Reset is the way on, and the banner says what Reset starts from.
    """
    if state.status != "diverged" or state.diverged_at is None:
        return None
    climb = state.diverged_at + 2  # 1-based: the first step whose loss is raised
    m = sim.metrics(state, state.diverged_at, state.step)
    bad = np.flatnonzero(~np.isfinite(np.asarray(m["train_loss"], dtype=np.float64)))
    lr = f"peak LR {state.current_config.lr_peak:.1e}"
    if bad.size:
        what = (
            f"Training diverged: the loss climbed from step {climb:,} and was NaN at step "
            f"{int(m['step'][bad[0]]):,} ({lr})."
        )
    else:
        what = (
            f"Training diverged: the loss climbed from step {climb:,} until the run's last "
            f"step, {state.step:,} ({lr})."
        )
    kept = " (without this run's live changes)" if state.changes else ""
    return (
        f"{what} The run has ended and cannot be resumed. Reset starts a new run from step 0 "
        f"with the recipe applied on Configuration{kept}: lower the learning rate there, or "
        "raise gradient clipping."
    )


def _prop(component: str, prop: str) -> tuple[str, str]:
    return component, prop


# Every prop the status view may set, in a fixed order (the fan-out's outputs).
STATUS_PROPS = (
    *[_prop(ids.tr_kpi(k), "children") for k in KPI_KEYS],
    *[_prop(ids.tr_kpi_sub(k), "children") for k in KPI_KEYS],
    _prop(ids.TR_PROGRESS, "value"),
    _prop(ids.TR_PROGRESS, "color"),
    _prop(ids.TR_PROGRESS_TEXT, "children"),
    _prop(ids.TR_ELAPSED, "children"),
    _prop(ids.TR_REMAINING, "children"),
    _prop(ids.TR_PLAYBACK, "children"),
    _prop(ids.TR_RUN_TITLE, "children"),
    _prop(ids.TR_TAB_NOTE, "children"),
    *[
        _prop(i, "disabled")
        for i in (
            ids.TR_START,
            ids.TR_PAUSE,
            ids.TR_STOP,
            ids.TR_RESET,
            ids.TR_SAVE,
            ids.TR_EXPORT,
            ids.TR_ADJ_APPLY,
        )
    ],
    _prop(ids.TR_PAUSE, "children"),
    _prop(ids.TR_DIVERGED, "is_open"),
    _prop(ids.TR_DIVERGED, "children"),
)
# Props that change only with the run's status or config, not from one step to the next.
STATIC_PROPS = frozenset(
    [_prop(ids.tr_kpi_sub(k), "children") for k in ("step", "tokens", "lr", "grad", "mfu", "cost")]
    + [p for p in STATUS_PROPS if p[1] == "disabled"]
    # KPIs with no sub-line: their empty sub never changes.
    + [_prop(ids.tr_kpi_sub(k), "children") for k in ("epoch", "ppl", "acc")]
    + [_prop(ids.TR_RUN_TITLE, "children"), _prop(ids.TR_PAUSE, "children")]
    + [_prop(ids.TR_TAB_NOTE, "children")]
    + [_prop(ids.TR_PROGRESS, "color"), _prop(ids.TR_DIVERGED, "is_open")]
    + [_prop(ids.TR_DIVERGED, "children")]
)


def status_view(
    state: sim.RunState,
    speed: int,
    interval: int,
    *,
    events: bool | list[tuple[int, str, Any]] = True,
    static: bool = True,
    preview: bool = False,
    measured: float | None = None,
) -> dict[str, Any]:
    """The ``TR_VIEW`` Store for ``state``: ``{"props": {...}, "events": ...}``.

    ``preview`` marks an idle run that exists only on screen (no run in the store yet);
    ``measured`` is the time between ticks the browser measured (ms), if it has.
    ``events``: True sends the whole log, False leaves it, a list sends only those events, to
    put on top of the shown log (the browser then keeps the newest ``EVENT_CAPS[kind]`` of a
    frequent kind, as the state does; a tick whose state dropped any other entry sends it all).
    ``static=False`` leaves out the props that change only with the status or the config
    (``STATIC_PROPS``): a plain tick sends only what moved.
    """
    k = kpis(state, speed, interval, measured)
    status = state.status
    enabled = controls_enabled(None if preview else status)
    banner = diverged_text(state)
    props: dict[tuple[str, str], Any] = {}
    for key in KPI_KEYS:
        props[_prop(ids.tr_kpi(key), "children")] = k.get(key, fmt.MISSING)
        props[_prop(ids.tr_kpi_sub(key), "children")] = k.get(f"{key}_sub", "")
    props.update(
        {
            _prop(ids.TR_PROGRESS, "value"): round(100.0 * state.progress, 2),
            _prop(ids.TR_PROGRESS, "color"): STATUS_COLORS.get(status, "secondary"),
            _prop(ids.TR_PROGRESS_TEXT, "children"): k["progress"],
            _prop(ids.TR_ELAPSED, "children"): k["elapsed"],
            _prop(ids.TR_REMAINING, "children"): k["remaining"],
            _prop(ids.TR_PLAYBACK, "children"): k["playback"],
            _prop(ids.TR_RUN_TITLE, "children"): run_title(state.current_config),
            _prop(ids.TR_TAB_NOTE, "children"): TAB_NOTE if status == "idle" else "",
            _prop(ids.TR_START, "disabled"): not enabled["start"],
            _prop(ids.TR_PAUSE, "disabled"): not enabled["pause"],
            _prop(ids.TR_PAUSE, "children"): "Resume" if status == "paused" else "Pause",
            _prop(ids.TR_STOP, "disabled"): not enabled["stop"],
            _prop(ids.TR_RESET, "disabled"): not enabled["reset"],
            _prop(ids.TR_SAVE, "disabled"): not enabled["save"],
            _prop(ids.TR_EXPORT, "disabled"): not enabled["export"],
            _prop(ids.TR_ADJ_APPLY, "disabled"): not enabled["adjust"],
            _prop(ids.TR_DIVERGED, "is_open"): banner is not None,
        }
    )
    if banner is not None:
        props[_prop(ids.TR_DIVERGED, "children")] = banner
    grouped: dict[str, dict[str, Any]] = {}
    for (component, prop), value in props.items():
        if static or (component, prop) not in STATIC_PROPS:
            grouped.setdefault(prop, {})[component] = value
    view: dict[str, Any] = {"props": grouped}
    more = earlier_note(state)
    if events is True:
        view["events"] = {"rows": event_rows(state.events), "more": more}
    elif events:
        view["events"] = {
            "add": event_rows(events),
            "keep": MAX_EVENTS,
            "caps": dict(EVENT_CAPS),
            "more": more,
        }
    return view


def prop_of(view: dict[str, Any], component: str, prop: str) -> Any:
    """What ``view`` sets ``component.prop`` to (``None`` when it leaves it as it is)."""
    return view["props"].get(prop, {}).get(component)
