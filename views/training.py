"""The Training tab's browser contract: one function per user action or tick, one result each.

Each function takes what the browser sent (untrusted: every Store is read through
``views.stores``) and returns a frozen dataclass whose fields are named after the callback's
outputs (``callbacks/training.py`` declares them; ``callbacks.adapt`` translates ``KEEP``,
``Edit`` and ``Notice``). The Stores this tab writes:

- ``RUN_STORE``: the compact run (``sim.RunState.to_dict()``), session storage;
- ``TR_META``: what the charts hold (``views.training_charts.ChartMeta``), memory;
- ``TR_VIEW``: everything shown besides the charts (``views.training_status.status_view``);
- ``TR_AUTOSAVE``: a run that just ended, for the saved-runs list.

A tick, top to bottom (docs/architecture.md, "The tick"): ``tick`` reads the run and the
chart meta, advances the simulator by the chosen steps (``sim.advance_for_charts``, which
also returns the new steps' metrics), turns those into a few points per trace
(``training_charts.tick_appends``) or, when the browser would pass its bound or its charts are
stale, into full downsampled figures (``full_render``), and sends the new state as an ``Edit``
of only the fields that moved, the KPI/status Store, and the events that are new. Ticks never
trigger a second request: the clientside gate (``assets/js/training.js``) asks ``render`` for
a full redraw only when the run changed some other way (a control, a live change, a reload).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

import simulator as sim
from layouts import ids
from layouts.figures.training import CHARTS, LINEAR_ONLY, ChartOptions, y_uirevision
from simulator import fmt
from simulator import saved as saved_runs
from simulator.run import EVENT_CAPS
from views import stores
from views import training_export as te
from views.config_form import format_tokens
from views.contract import KEEP, Admit, Edit, Notice, admit_all
from views.training_charts import (
    ChartMeta,
    append_edits,
    full_render,
    tick_appends,
)
from views.training_status import event_text, status_view

SPEEDS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)  # steps per tick
DEFAULT_SPEED = 100
INTERVALS = (250, 500, 1000, 2000)  # milliseconds between ticks
DEFAULT_INTERVAL = 500
LR_MULTIPLIER = (0.05, 20.0)  # the live LR change's allowed range

Figures = dict[str, Any]  # chart -> a figure dict, an Edit, or KEEP


def _whole(raw: Any, default: int, lo: int, hi: int) -> int:
    """A whole number from the browser within ``lo .. hi``; ``default`` if it is none."""
    try:
        v = int(float(raw))
    except (TypeError, ValueError, OverflowError):
        return default
    return max(lo, min(v, hi))


MIN_PACE_SAMPLES = 3  # measured tick gaps before the playback estimate uses them


def parse_speed(raw: Any) -> int:
    """Steps per tick from the browser, within ``SPEEDS`` and ``sim.MAX_ADVANCE``."""
    return _whole(raw, DEFAULT_SPEED, 1, min(SPEEDS[-1], sim.MAX_ADVANCE))


def parse_interval(raw: Any) -> int:
    """Milliseconds between ticks from the browser, within ``INTERVALS``' range."""
    return _whole(raw, DEFAULT_INTERVAL, INTERVALS[0], INTERVALS[-1])


def parse_pace(raw: Any) -> float | None:
    """The measured time between ticks (ms) from the browser's pace Store, once it has seen
    ``MIN_PACE_SAMPLES`` ticks (``training.measurePace`` in assets/js/training.js); None when
    it has not, or the Store is not what that function writes."""
    if not isinstance(raw, dict):
        return None
    ms, n = raw.get("ms"), raw.get("n")
    if isinstance(ms, bool) or not isinstance(ms, (int, float)) or not isinstance(n, int):
        return None
    if n < MIN_PACE_SAMPLES or not math.isfinite(ms) or not 1 <= ms <= 600_000:
        return None
    return float(ms)


def _keep_all() -> Figures:
    return dict.fromkeys(CHARTS, KEEP)


def _full(state: sim.RunState, opts: ChartOptions, speed: int) -> tuple[Figures, dict[str, Any]]:
    """Every chart redrawn for ``state``, and the meta the browser keeps with them; ``speed``
    (steps per tick) sets the coarsest buckets the ticks after it continue."""
    r = full_render(state, opts, speed)
    return r.figures, r.meta.to_dict()


def _state_edit(old: dict[str, Any], new: dict[str, Any]) -> Edit:
    """Assign only the top-level fields of the run that changed (step, status, events).

    The config is most of the state's bytes and never changes in a tick, so sending it back
    every tick would double the response.
    """
    edit = Edit()
    for key, value in new.items():
        if old.get(key) != value:
            edit = edit.assign((key,), value)
    return edit


# ----------------------------------------------------------------------------- tick
@dataclass(frozen=True)
class TickResult:
    """What one tick sends back."""

    run: Any  # an Edit of the run's changed fields; None clears a bad run; KEEP
    tick_disabled: bool
    charts: Figures
    meta: Any
    view: Any
    autosave: Any
    alert: Any

    @property
    def rebased(self) -> bool:
        """True when the tick redrew every chart instead of appending to them."""
        return any(isinstance(f, dict) for f in self.charts.values())


def tick(
    raw: Any,
    meta_raw: Any,
    speed: Any,
    interval: Any,
    opts: ChartOptions,
    admit: Admit = admit_all,
    pace: Any = None,
) -> TickResult:
    """Advance the run one tick; append the new points; refresh KPIs, status and events.

    ``admit`` guards a rebase (see ``callbacks.limits``): a redraw of a long run no longer
    costs in proportion to its steps (``simulator.buckets``, ~50-140 ms at 4M), but eight of
    them back to back would still fill a worker's threads, so long ones stay one at a time
    in the low-priority helper.
    """
    state, problem = stores.load_run(raw)
    if state is None:
        return TickResult(
            None if problem else KEEP,
            True,
            _keep_all(),
            KEEP,
            KEEP,
            KEEP,
            Notice.of(problem) if problem else KEEP,
        )
    steps, every = parse_speed(speed), parse_interval(interval)
    measured = parse_pace(pace)
    if state.status != "running":
        # A stale tick (the run was paused or ended meanwhile): stop ticking, show the truth.
        view = status_view(state, steps, every, measured=measured)
        return TickResult(KEEP, True, _keep_all(), KEEP, view, KEEP, KEEP)
    meta = ChartMeta.from_dict(meta_raw)
    # The open bucket's first steps (drawn by no tick yet) come in the same computation.
    since = meta.edge if meta is not None and meta.matches(state, opts) else None
    new, m, found = sim.advance_for_charts(state, steps, since)
    appends = tick_appends(state, new, m, meta, opts, found) if meta is not None else None
    if appends is None:
        charts, meta_out = admit(new.step, "redraw", partial(_full, new, opts, steps))
    else:
        charts, meta_out = append_edits(appends), appends.meta.to_dict()
    seen, kept = set(state.events), set(new.events)
    added = [e for e in new.events if e not in seen]
    # The state made room by dropping an entry the browser cannot drop by itself (not one of
    # the capped frequent kinds): send the whole log so both show the same.
    whole = appends is None or any(e not in kept and e[1] not in EVENT_CAPS for e in seen)
    running = new.status == "running"
    ended = new.status in ("finished", "diverged")
    new_raw = new.to_dict()
    return TickResult(
        run=_state_edit(raw, new_raw),
        tick_disabled=not running,
        charts=charts,
        meta=meta_out,
        view=status_view(
            new,
            steps,
            every,
            measured=measured,
            events=True if whole else added,
            static=appends is None or new.status != state.status,
        ),
        autosave=new_raw if ended else KEEP,
        alert=KEEP,
    )


# ----------------------------------------------------------------------------- controls
@dataclass(frozen=True)
class ControlResult:
    """What Start, Pause/Resume, Stop or Reset sends back (a new run also clears the live
    adjustment panel, which would otherwise show the last run's batch and clipping)."""

    run: Any
    tick_disabled: Any
    view: Any
    autosave: Any
    alert: Any
    config: Any = KEEP  # None clears a stored config that could not be used
    lr_multiplier: Any = KEEP  # the live-adjustment fields: 1, "unchanged", "unchanged"
    batch: Any = KEEP
    clip: Any = KEEP
    notice: Any = KEEP  # None clears the tab's last message (it was about the last run)


def control(
    button: str | None, raw: Any, config_raw: Any, speed: Any, interval: Any, pace: Any = None
) -> ControlResult:
    """Start / Pause-Resume / Stop / Reset. A control that does not apply says why."""
    state, problem = stores.load_run(raw)
    cfg, config_problem = stores.applied_config(config_raw)
    steps, every = parse_speed(speed), parse_interval(interval)
    messages = [problem] if problem else []
    # A bad stored config matters only when a new run is made from it: say so, and clear it.
    new_run_made = button == ids.TR_RESET or (
        button == ids.TR_START and (state is None or state.status == "idle")
    )
    config_out: Any = KEEP
    if config_problem and new_run_made:
        messages.append(config_problem)
        config_out = None
    autosave: Any = KEEP
    try:
        if button == ids.TR_START:
            if state is None or state.status == "idle":
                state = sim.start(sim.new_run(cfg))
            else:
                state = sim.start(state)  # raises: says why (e.g. press Reset first)
            if state.status == "stopped":  # out of memory at step 0
                messages.append(event_text("oom", state.events[-1][2]))
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
            return ControlResult(KEEP, KEEP, KEEP, KEEP, KEEP)
    except sim.TransitionError as exc:
        messages.append(f"{str(exc)[:1].upper()}{str(exc)[1:]}.")
    alert = Notice.of(" ".join(messages)) if messages else KEEP
    # A new run starts from its own recipe: the panel forgets the last run's changes, and
    # the tab's last message ("Auto-saved the run at step 50,300") goes with that run.
    fresh = button in (ids.TR_START, ids.TR_RESET) and state is not None and state.step == 0
    panel = (1.0, None, "", None) if fresh else (KEEP, KEEP, KEEP, KEEP)
    if state is None:
        preview = sim.new_run(cfg)
        view = status_view(preview, steps, every, preview=True)
        return ControlResult(None, True, view, KEEP, alert, config_out, *panel)
    return ControlResult(
        state.to_dict(),
        state.status != "running",
        status_view(state, steps, every, measured=parse_pace(pace)),
        autosave,
        alert,
        config_out,
        *panel,
    )


# ----------------------------------------------------------------------------- full render
@dataclass(frozen=True)
class RenderResult:
    """A full redraw: every chart, the meta, the status view (and a reset of a bad run)."""

    charts: Figures
    meta: Any
    view: Any
    run: Any
    alert: Any
    tick_disabled: Any


def render(
    trigger: str | None,
    raw: Any,
    config_raw: Any,
    opts: ChartOptions,
    speed: Any,
    interval: Any,
    admit: Admit = admit_all,
    pace: Any = None,
) -> RenderResult:
    """Full figures for the run (or a preview of the next one), meta and status view.

    A log-scale toggle only edits the y axes: it needs no data. ``admit`` guards the redraw,
    whose cost is proportional to the run's steps (see ``callbacks.limits``).
    """
    state, problem = stores.load_run(raw)
    shown = state if state is not None else sim.new_run(stores.config_or_default(config_raw))
    if trigger == ids.TR_LOG and problem is None:
        charts: Figures = {}
        for chart in CHARTS:
            charts[chart] = (
                KEEP
                if chart in LINEAR_ONLY
                else Edit()
                .assign(("layout", "yaxis", "type"), "log" if opts.log else "linear")
                .assign(("layout", "yaxis", "uirevision"), y_uirevision(shown, opts))
            )
        return RenderResult(charts, KEEP, KEEP, KEEP, KEEP, KEEP)
    figures, meta = admit(shown.step, "redraw", partial(_full, shown, opts, parse_speed(speed)))
    return RenderResult(
        charts=figures,
        meta=meta,
        view=status_view(
            shown,
            parse_speed(speed),
            parse_interval(interval),
            preview=state is None,
            measured=parse_pace(pace),
        ),
        run=None if problem else KEEP,
        alert=Notice.of(problem) if problem else KEEP,
        # A reload restores a running run from session storage: keep it ticking. With no run
        # the timer is left alone: a page load may render before the session store is read,
        # and if that answer comes last, the next tick (finding its meta stale) redraws all.
        tick_disabled=KEEP if state is None else state.status != "running",
    )


# ----------------------------------------------------------------------------- live changes
CLIP_RANGE = (0.0, 1000.0)  # as the config allows (simulator/config.py FIELD_BOUNDS)


@dataclass(frozen=True)
class AdjustResult:
    """A live change of LR, batch or clipping: the new run, a notice, and the panel's fields
    (the LR multiplier back to 1 once applied; each field marked when its value is refused)."""

    run: Any
    notice: Any
    lr_multiplier: Any
    lr_invalid: bool = False
    clip_invalid: bool = False


def _number(raw: Any, name: str, lo: float, hi: float) -> float | None:
    """A typed number within ``lo .. hi``, None when left blank; raises ``ConfigError``."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    try:
        value = float(raw)
    except (TypeError, ValueError):
        value = math.nan
    if not (math.isfinite(value) and lo <= value <= hi):
        raise sim.ConfigError(name, raw, f"a number from {lo:g} to {hi:g}")
    return value


def adjust(raw: Any, lr_mult: Any, batch: Any, clip: Any) -> AdjustResult:
    """Apply the quick changes at the current step; a refused value is marked and explained.

    The fields are text (the browser sends what was typed: a number field would send nothing
    for 100 or -1, and the refusal would read "nothing to change").
    """
    state, problem = stores.load_run(raw)
    if state is None:
        return AdjustResult(
            KEEP, Notice.of(problem or "There is no run to change; press Start."), KEEP
        )
    bad: list[str] = []
    mult = clip_value = None
    try:
        mult = _number(lr_mult, "LR multiplier", *LR_MULTIPLIER)
    except sim.ConfigError as exc:
        bad.append(str(exc))
    try:
        clip_value = _number(clip, "Gradient clip", *CLIP_RANGE)
    except sim.ConfigError as exc:
        bad.append(str(exc))
    if bad:
        return AdjustResult(
            KEEP,
            Notice.of(f"Not applied: {' '.join(bad)}", "danger"),
            KEEP,
            lr_invalid=any(x.startswith("LR multiplier") for x in bad),
            clip_invalid=any(x.startswith("Gradient clip") for x in bad),
        )
    cur = state.current_config
    changes: dict[str, Any] = {}
    if mult is not None and mult != 1.0:
        changes["lr_peak"] = cur.lr_peak * mult
        changes["lr_min"] = cur.lr_min * mult
    try:
        if batch not in (None, ""):
            b = int(float(batch))
            if b != cur.global_batch_tokens:
                changes["global_batch_tokens"] = b
        if clip_value is not None and clip_value != cur.grad_clip:
            changes["grad_clip"] = clip_value
        if not changes:
            return AdjustResult(
                KEEP, Notice.of("Nothing to change: every value equals the current one."), 1.0
            )
        new = sim.apply_changes(state, changes)
    except (sim.ConfigError, sim.TransitionError, ValueError, TypeError, OverflowError) as exc:
        return AdjustResult(KEEP, Notice.of(f"Not applied: {str(exc)[:200]}"), KEEP)
    text = ", ".join(f"{k} = {_value(k, v)}" for k, v in changes.items() if k != "lr_min")
    return AdjustResult(
        new.to_dict(), Notice.of(f"Applied at step {new.step:,}: {text}.", "info"), 1.0
    )


def _value(key: str, v: Any) -> str:
    """A changed setting as the panel and the form write it: ``8Mi`` tokens, ``0.0006``."""
    if key == "global_batch_tokens":
        return format_tokens(float(v))
    return f"{v:.3g}" if isinstance(v, float) else str(v)


# ----------------------------------------------------------------------------- save, export
@dataclass(frozen=True)
class SaveResult:
    """The saved-runs list with the run added, and what happened."""

    saved: Any
    notice: Any


def save(autosaved: bool, raw: Any, saved: Any) -> SaveResult:
    """Add the run to the saved runs: "Save run", or the auto-save of a run that just ended.

    ``raw`` is the run Store for a click, the ``TR_AUTOSAVE`` Store for an auto-save.
    """
    state, problem = stores.load_run(raw)
    if state is None:
        if autosaved:
            return SaveResult(KEEP, KEEP)
        return SaveResult(KEEP, Notice.of(problem or "There is no run to save yet."))
    if state.status == "idle":
        return SaveResult(KEEP, Notice.of("Nothing to save: the run has not started."))
    good = saved if isinstance(saved, list) else []
    when = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")  # shown in the saved-runs list
    new_list, dropped = saved_runs.add_run(good, state, saved_at=when)
    how = "Auto-saved" if autosaved else "Saved"
    msg = f"{how} the run at step {state.step:,} ({state.status}) to Saved runs."
    if dropped:
        msg += f" {dropped}."
    return SaveResult(new_list, Notice.of(msg, "warning" if dropped else "success"))


@dataclass(frozen=True)
class ExportResult:
    """The export link to download (``callbacks/export.py`` streams it), or why there is none."""

    link: Any
    notice: Any


def export(raw: Any, route: str, nonce: Any = 0) -> ExportResult:
    """A link to the run's metrics at full resolution as CSV, recomputed and streamed.

    ``route`` is the export route's path on this server; ``nonce`` (the click count) makes
    each click a new link, so the same run can be downloaded twice.
    """
    state, problem = stores.load_run(raw)
    if state is None:
        return ExportResult(
            KEEP, Notice.of(problem or "Nothing to export yet: start the run first.")
        )
    why = te.refusal(state)
    if why is not None:
        return ExportResult(KEEP, Notice.of(why))
    token = te.export_token(state)
    if len(token) > te.MAX_TOKEN_CHARS:
        return ExportResult(KEEP, Notice.of("Export refused: this run's state is too large."))
    n = nonce if isinstance(nonce, int) and not isinstance(nonce, bool) else 0
    size = fmt.si(state.step * te.BYTES_PER_ROW)
    return ExportResult(
        f"{route}?run={token}&n={n}",
        Notice.of(
            f"Exporting {state.step:,} steps as CSV (about {size}B): your browser downloads it. "
            "If it says the download failed, the server was busy: try again in a few seconds.",
            "info",
        ),
    )
