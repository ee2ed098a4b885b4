"""Alerts computed once, where the data arrives: after the watcher stores a read and after
the push API stores a request's points (issue 15, "Alerts").

``evaluate_run(store, run_id, series)`` runs the detectors of ``tracking.alerts`` over the
points just stored, in a transaction of its own right after theirs, holding the run's lock:

- only points past each metric's last evaluated step (kept in the run's ``alert_state``)
  are new: a file re-read whole, a resent request or a watcher restart evaluates nothing
  twice. A restart that rewinds steps is evaluated from the step the run had reached.
  Stored points past that step that another writer has not evaluated yet (two requests
  racing) are found in the trailing window and evaluated too (up to its length).
- the trailing window comes from the store (``Transaction.recent``: at most
  ``alerts.WINDOW`` points of the few metrics the detectors look back on), never the whole
  history, so a pass costs the same on a 1M-step run as on a short one
  (``benchmarks/bench_alerts.py``).
- alerts that open become ``events`` rows with ``state = 'open'``; a close marks its row
  ``closed`` with the step. The detectors' state and the open count are written with them.

``safe_evaluate`` is what ingest and the API call: it never raises. The points are already
committed; a detector that fails (a bug) is logged with its traceback and recorded as an
``alerts_failed`` event on the run, and the store being unavailable is logged (those points
go unevaluated; the next ones are). Transitions are handed to the webhook
(``tracking.webhook.notify``) after the commit, off the caller's path.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from simulator.config import TrainingConfig
from simulator.estimate import tokens_per_second
from tracking import alerts, webhook
from tracking.alerts import Band, Context, Schedule, Transition
from tracking.recipe_params import PROVENANCE, RECIPE
from tracking.records import Series
from tracking.store import Store, StoreUnavailable, Transaction

log = logging.getLogger("tracking.alerts")

MAX_NEW_POINTS = 1_000_000
"""Points of one metric one pass evaluates at most (the newest): a first read of a huge
file is evaluated in seconds, not minutes; older points of that read are skipped."""
HISTORY_NAMES = alerts.LOSS_NAMES + alerts.GRAD_NAMES + alerts.SCALE_NAMES + alerts.RATE_NAMES
"""Metrics whose trailing window the detectors read (the others need none)."""


def _latest(series: Series, after: int) -> Series:
    """The series' points past ``after``, one per step (the last logged wins), in order."""
    keep = series.step > after
    step, value, time = series.step[keep], series.value[keep], series.time[keep]
    if len(step) and np.any(np.diff(step) <= 0):
        order = np.argsort(step, kind="stable")
        step, value, time = step[order], value[order], time[order]
        last = np.append(step[1:] != step[:-1], True)
        step, value, time = step[last], value[last], time[last]
    if len(step) > MAX_NEW_POINTS:
        step, value, time = step[-MAX_NEW_POINTS:], value[-MAX_NEW_POINTS:], time[-MAX_NEW_POINTS:]
    return Series(series.metric, step, value, time)


def _take(s: Series, mask: np.ndarray[Any, np.dtype[np.bool_]]) -> Series:
    return Series(s.metric, s.step[mask], s.value[mask], s.time[mask])


def _cat(a: Series, b: Series) -> Series:
    return Series(
        a.metric,
        np.concatenate([a.step, b.step]),
        np.concatenate([a.value, b.value]),
        np.concatenate([a.time, b.time]),
    )


def recipe_of(params: Mapping[str, str]) -> TrainingConfig | None:
    """The run's guessed recipe from its ``recipe.*`` params, or None (none yet, or one the
    simulator refuses)."""
    fields: dict[str, Any] = {}
    for key, text in params.items():
        if key.startswith(RECIPE):
            try:
                fields[key[len(RECIPE) :]] = json.loads(text)
            except ValueError:
                fields[key[len(RECIPE) :]] = text
    if not fields:
        return None
    try:
        return TrainingConfig.from_dict(fields)
    except Exception:  # a recipe the simulator refuses: nothing to compare with
        return None


def _stated(params: Mapping[str, str], *fields: str) -> bool:
    """Every field was found or derived from the run's own records, none assumed."""
    return all(params.get(PROVENANCE + f, "").startswith(("found", "derived")) for f in fields)


ESTIMATE_FIELDS = ("model", "gpu", "num_gpus", "global_batch_tokens", "seq_len")
"""Fields the step-rate estimate rests on: with any of them assumed (the simulator's default
of 1,024 A100s, say) the estimate says nothing about this run, and ``eta_drift`` compares
with the run's early rate instead."""


def schedule_of(params: Mapping[str, str]) -> Schedule | None:
    """The recipe's LR schedule when the run *states* its peak LR (``recipe_provenance.
    lr_peak`` is ``found``): checking a logged LR against a peak derived from that same log
    would prove nothing."""
    if not params.get(PROVENANCE + "lr_peak", "").startswith("found"):
        return None
    cfg = recipe_of(params)
    if cfg is None:
        return None
    return Schedule(
        cfg.schedule,
        cfg.lr_peak,
        cfg.lr_min,
        cfg.warmup_steps,
        cfg.total_steps,
        cfg.decay_fraction,
    )


def step_rate_of(params: Mapping[str, str]) -> float | None:
    """Steps per second the simulator's estimate gives the recipe, when the fields it rests
    on (``ESTIMATE_FIELDS``) are the run's own."""
    if not _stated(params, *ESTIMATE_FIELDS):
        return None
    cfg = recipe_of(params)
    if cfg is None:
        return None
    try:
        rate = tokens_per_second(cfg) / cfg.global_batch_tokens
    except Exception:  # an estimate the simulator cannot make: no comparison
        return None
    return rate if rate > 0 else None


def context_of(params: Mapping[str, str], band: Band | None = None) -> Context:
    """The detectors' context from the run's params (recipe guess) and a predicted band."""
    warmup = 0
    try:
        warmup = int(json.loads(params.get(RECIPE + "warmup_steps", "0")))
    except (ValueError, TypeError):
        warmup = 0
    return Context(
        band=band,
        schedule=schedule_of(params),
        warmup_steps=warmup,
        expected_step_rate=step_rate_of(params),
    )


def evaluate_in(
    tx: Transaction,
    run_id: str,
    series: Sequence[Series],
    params: Mapping[str, str],
    band: Band | None = None,
) -> list[Transition]:
    """The evaluation inside ``tx`` (which holds the run's lock once this starts)."""
    tx.lock_run(run_id)
    state = tx.alert_state(run_id)
    last: dict[str, int] = dict(state.get("last_step", {}))
    new: dict[str, Series] = {}
    for s in series:
        fresh = _latest(s, last.get(s.metric, -1))
        if len(fresh):
            if s.metric in new:  # two series of one metric in a read: merge, last wins
                fresh = _latest(_cat(new[s.metric], fresh), -1)
            new[s.metric] = fresh
    if not new:
        return []
    history: dict[str, Series] = {}
    for metric, s in list(new.items()):
        if alerts.base(metric) in HISTORY_NAMES or not history:
            h = tx.recent(run_id, metric, before=int(s.step[0]), limit=alerts.WINDOW)
            # Points another writer committed before these but has not evaluated yet (two
            # pushes racing; or a run stored before alerts existed): new too, up to the window.
            pending = h.step > last.get(metric, -1)
            if pending.any():
                new[metric] = _cat(_take(h, pending), s)
                h = _take(h, ~pending)
            history[metric] = h
    transitions, state = alerts.evaluate(new, history, state, context_of(params, band))
    for t in transitions:
        if t.action == "open":
            tx.add_event(
                run_id,
                t.kind,
                t.text,
                step=t.step,
                severity=t.severity,
                state="open",
                key=t.key,
                metric=t.metric,
                value=t.value,
            )
        else:
            tx.close_alert(run_id, t.key, t.step)
    for metric, s in new.items():
        last[metric] = max(last.get(metric, -1), int(s.step[-1]))
    state["last_step"] = last
    ref = alerts.find_metric(list(new), alerts.LOSS_NAMES) or next(iter(new))
    times = np.concatenate([history[ref].time, new[ref].time]) if ref in history else new[ref].time
    interval = alerts.logging_interval(times[-alerts.WINDOW :])
    if interval is None and state.get("log_interval") is not None:
        interval = float(state["log_interval"])
    state["log_interval"] = interval
    tx.set_alert_state(run_id, state, interval)
    return transitions


def evaluate_run(
    store: Store,
    run_id: str,
    series: Sequence[Series],
    *,
    params: Mapping[str, str] | None = None,
    band: Band | None = None,
) -> list[Transition]:
    """Evaluate the run's new points in a transaction of their own; the transitions."""
    params = store.params(run_id) if params is None else params
    with store.transaction() as tx:
        return evaluate_in(tx, run_id, series, params, band)


def safe_evaluate(
    store: Store,
    run_id: str,
    series: Sequence[Series],
    *,
    name: str | None = None,
    params: Mapping[str, str] | None = None,
    band: Band | None = None,
    env: Mapping[str, str] | None = None,
) -> list[Transition]:
    """``evaluate_run`` that never raises (see the module docstring), then the webhook."""
    try:
        transitions = evaluate_run(store, run_id, series, params=params, band=band)
    except StoreUnavailable as exc:
        log.warning("alerts for run %s not evaluated this time: %s", run_id, exc)
        return []
    except Exception as exc:
        log.exception("alert detectors failed on run %s (a bug; its points are stored)", run_id)
        try:
            store.add_event(
                run_id,
                "alerts_failed",
                f"alerts could not be evaluated ({type(exc).__name__}: {exc}); the points "
                "are stored",
                severity="problem",
            )
        except Exception:
            log.exception("could not record the failed alert evaluation on run %s", run_id)
        return []
    if transitions and webhook.url_from(os.environ if env is None else env) is not None:
        if name is None:
            try:
                info = store.run(run_id)
                name = None if info is None else info.name
            except StoreUnavailable:
                name = None
        webhook.notify(run_id, name or run_id, transitions, env)
    return transitions
