"""``RunState``: a run as a small, immutable, versioned value, and the functions that move it.

The state is what the browser keeps (docs/architecture.md, "State lives in the browser"):
config, mid-run changes, seed, step, status, a bounded list of events and the step it diverged
at. Never the metric history: ``metrics`` recomputes any range from the state in time
proportional to the range, not the run.

Every transition is a pure function ``state -> state``. A transition that does not make sense
for the run's status raises ``TransitionError`` naming the statuses it is allowed from.
``from_dict`` trusts nothing (the dict comes back from a browser): it checks the schema
version, every type, range and size, and raises ``StateError`` before any work is done.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from types import MappingProxyType
from typing import Any

import numpy as np
from numpy.typing import NDArray

from simulator import dynamics
from simulator.config import MUTABLE_FIELDS, ConfigError, TrainingConfig
from simulator.timeline import Timeline, build_timeline

SCHEMA_VERSION = 1
MAX_CHANGES = 32
MAX_EVENTS = 32
MAX_ADVANCE = 1_000_000  # steps one ``advance`` call may compute (~0.2 s)
MAX_METRICS_RANGE = 2_000_000  # steps one ``metrics`` call may return (~250 MB of arrays)
MAX_STATE_BYTES = 16_384  # a serialised state larger than this is rejected unparsed
STATUSES = ("idle", "running", "paused", "stopped", "finished", "diverged")
EVENT_KINDS = (
    "start",
    "warmup",
    "eval",
    "checkpoint",
    "spike",
    "diverged",
    "change",
    "pause",
    "resume",
    "stop",
    "finished",
    "oom",
)
EVENT_CAPS: Mapping[str, int] = MappingProxyType({"eval": 3, "checkpoint": 3})
"""Frequent kinds: only the newest few are kept (a run evaluates ~200 times; every one is on
the loss chart, so the log lists the latest and the view counts the rest)."""
MILESTONES = frozenset({"start", "warmup", "diverged", "finished", "oom", "stop"})
"""Kinds the log never drops to make room: each happens at most once per run, so they cost at
most six entries, and "Run started" or "Warmup done" is what a user looks for at the end."""
_EVICT_ORDER = (
    frozenset({"eval", "checkpoint", "pause", "resume"}),
    frozenset({"spike", "change"}),
)
"""When the log is full, the oldest entry of the first of these tiers present makes room."""
FINAL_TAIL = 100
"""A run's reported train loss and token accuracy are their means over its last FINAL_TAIL
steps (``final_mean``): one step's loss carries its batch's noise (1.2% of the loss at a
4M-token batch, ``dynamics.NOISE_REL_REF``), which a 100-step mean cuts tenfold. The Training
tab's KPIs, the finished event and the Comparison tab's final figures all report it."""

Event = tuple[int, str, float | str]


class StateError(ValueError):
    """A run state (usually from the browser) is malformed, tampered with or outdated."""


class TransitionError(StateError):
    """A control was used in a status where it does not apply."""


@dataclass(frozen=True)
class RunState:
    """One run. ``step`` counts completed optimizer steps (0 .. total_steps)."""

    config: TrainingConfig
    seed: int
    step: int = 0
    status: str = "idle"
    changes: tuple[tuple[int, Mapping[str, Any]], ...] = ()
    events: tuple[Event, ...] = ()
    diverged_at: int | None = None
    name: str = ""

    @cached_property
    def timeline(self) -> Timeline:
        return build_timeline(self.config, self.changes, seed=self.seed)

    @property
    def total_steps(self) -> int:
        return self.timeline.total_steps

    @property
    def current_config(self) -> TrainingConfig:
        """The config in force now (the base config with every change so far applied)."""
        return self.timeline.segments[-1].cfg

    @property
    def progress(self) -> float:
        return self.step / max(1, self.total_steps)

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        """A small JSON-ready dict (under 4 KB with 32 changes and a full event list)."""
        return {
            "version": SCHEMA_VERSION,
            "config": self.config.to_dict(),
            "seed": self.seed,
            "step": self.step,
            "status": self.status,
            "changes": [[s, dict(c)] for s, c in self.changes],
            "events": [list(e) for e in self.events],
            "diverged_at": self.diverged_at,
            "name": self.name,
        }

    @classmethod
    def from_dict(cls, data: Any) -> RunState:
        """Validate a state dict from an untrusted source.

        Raises:
            StateError: naming what is wrong; nothing expensive runs before the checks pass.
        """
        if not isinstance(data, Mapping):
            raise StateError("run state must be a JSON object")
        expected = {
            "version",
            "config",
            "seed",
            "step",
            "status",
            "changes",
            "events",
            "diverged_at",
            "name",
        }
        keys = set(data)
        if keys != expected:
            extra, missing = sorted(map(str, keys - expected))[:3], sorted(expected - keys)
            raise StateError(f"run state keys wrong: unexpected {extra}, missing {missing}")
        if data["version"] != SCHEMA_VERSION or isinstance(data["version"], bool):
            shown = f"{data['version']!r:.20}"
            raise StateError(
                f"run state version {shown} is not supported; expected {SCHEMA_VERSION}"
            )
        try:
            config = TrainingConfig.from_dict(data["config"])
        except ConfigError as exc:
            raise StateError(f"run state config: {exc}") from exc
        seed = _int(data["seed"], "seed", 0, 2**32 - 1)
        status = data["status"]
        if status not in STATUSES:
            raise StateError(f"status {status!r:.30} is not one of {', '.join(STATUSES)}")
        name = data["name"]
        if not isinstance(name, str) or len(name) > 80:
            raise StateError("name must be a string of at most 80 characters")
        changes = _changes(data["changes"], config.total_steps * 64)
        step = _int(data["step"], "step", 0, 10**9)
        events = _events(data["events"])
        div = data["diverged_at"]
        if div is not None:
            div = _int(div, "diverged_at", 0, step)
        if (status == "diverged") != (div is not None):
            raise StateError("diverged_at must be set exactly when the status is 'diverged'")
        state = cls(config, seed, step, status, changes, events, div, name)
        try:
            total = state.total_steps
        except ConfigError as exc:
            raise StateError(f"run state changes: {exc}") from exc
        if step > total:
            raise StateError(f"step {step} is past the run's last step {total}")
        if changes and changes[-1][0] > step:
            raise StateError("a mid-run change is recorded after the current step")
        if status == "finished" and step != total:
            raise StateError("a finished run must be at its last step")
        if status == "idle" and (step or changes):
            raise StateError("an idle run must be at step 0 with no changes")
        return state


def _evolve(state: RunState, **fields: Any) -> RunState:
    """``replace`` that keeps the cached timeline when config and changes are unchanged.

    The timeline is a pure function of (config, changes) and costs a validation and an
    estimate per segment (~4 ms with 32 changes); a tick only moves step, status and events,
    so it must not rebuild it.
    """
    new = replace(state, **fields)
    cached = state.__dict__.get("timeline")
    if cached is not None and "config" not in fields and "changes" not in fields:
        new.__dict__["timeline"] = cached
    return new


def _int(v: Any, name: str, lo: int, hi: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise StateError(f"{name} must be a whole number between {lo} and {hi}, not {v!r:.30}")
    return v


def _changes(raw: Any, max_step: int) -> tuple[tuple[int, Mapping[str, Any]], ...]:
    if not isinstance(raw, list) or len(raw) > MAX_CHANGES:
        raise StateError(f"changes must be a list of at most {MAX_CHANGES} [step, {{...}}] pairs")
    out: list[tuple[int, Mapping[str, Any]]] = []
    prev = 0
    for item in raw:
        if not isinstance(item, list) or len(item) != 2 or not isinstance(item[1], Mapping):
            raise StateError("each change must be [step, {setting: value}]")
        step = _int(item[0], "change step", 1, max_step)
        if step <= prev and out:
            raise StateError("changes must be in increasing step order")
        prev = step
        if not item[1] or len(item[1]) > len(MUTABLE_FIELDS):
            raise StateError(f"a change must set between 1 and {len(MUTABLE_FIELDS)} settings")
        bad = sorted(str(k)[:40] for k in item[1] if k not in MUTABLE_FIELDS)
        if bad:
            raise StateError(
                f"{bad[0]} cannot change mid-run; allowed: {', '.join(sorted(MUTABLE_FIELDS))}"
            )
        out.append((step, dict(item[1])))
    return tuple(out)


def _events(raw: Any) -> tuple[Event, ...]:
    if not isinstance(raw, list) or len(raw) > MAX_EVENTS:
        raise StateError(f"events must be a list of at most {MAX_EVENTS} entries")
    out: list[Event] = []
    for e in raw:
        if not (isinstance(e, list) and len(e) == 3 and e[1] in EVENT_KINDS):
            raise StateError("each event must be [step, kind, value] with a known kind")
        step = _int(e[0], "event step", 0, 10**9)
        v = e[2]
        if isinstance(v, bool) or not isinstance(v, (int, float, str)):
            raise StateError("event value must be a number or a string")
        if isinstance(v, str) and len(v) > 80:
            raise StateError("event text is limited to 80 characters")
        if isinstance(v, float) and not math.isfinite(v):
            raise StateError("event value must be finite")
        out.append((step, str(e[1]), v))
    return tuple(out)


def _with_event(events: Sequence[Event], event: Event) -> tuple[Event, ...]:
    """``events`` plus ``event``, capped: the newest ``EVENT_CAPS[kind]`` of a frequent kind,
    then at most ``MAX_EVENTS`` in all, making room from the least important kinds first so
    milestones and alerts outlive a flood of evaluations and pauses."""
    kept = [*events, event]
    cap = EVENT_CAPS.get(event[1])
    if cap is not None:
        same = [i for i, e in enumerate(kept) if e[1] == event[1]]
        drop = set(same[: max(0, len(same) - cap)])
        kept = [e for i, e in enumerate(kept) if i not in drop]
    while len(kept) > MAX_EVENTS:
        tier = next((t for t in _EVICT_ORDER if any(e[1] in t for e in kept)), None)
        i = next(i for i, e in enumerate(kept) if tier is None or e[1] in tier)
        del kept[i]
    return tuple(kept)


# --------------------------------------------------------------------------- transitions
def new_run(config: TrainingConfig, seed: int | None = None, name: str = "") -> RunState:
    """An idle run at step 0. The seed comes from the config unless given."""
    return RunState(config, config.seed if seed is None else seed, name=name[:80])


def _require(state: RunState, action: str, allowed: tuple[str, ...]) -> None:
    if state.status not in allowed:
        raise TransitionError(
            f"cannot {action} a run that is {state.status}; allowed when {' or '.join(allowed)}"
        )


def start(state: RunState) -> RunState:
    """Start an idle run. A config that does not fit GPU memory stops at once (OOM event)."""
    _require(state, "start", ("idle",))
    seg = state.timeline.segments[0]
    if seg.memory_bytes > seg.memory_capacity:
        return _evolve(
            state,
            status="stopped",
            events=_with_event(state.events, (0, "oom", round(seg.memory_bytes / 1e9, 1))),
        )
    return _evolve(
        state, status="running", events=_with_event(state.events, (0, "start", state.total_steps))
    )


def pause(state: RunState) -> RunState:
    _require(state, "pause", ("running",))
    return _evolve(
        state, status="paused", events=_with_event(state.events, (state.step, "pause", ""))
    )


def resume(state: RunState) -> RunState:
    _require(state, "resume", ("paused",))
    return _evolve(
        state, status="running", events=_with_event(state.events, (state.step, "resume", ""))
    )


def stop(state: RunState) -> RunState:
    _require(state, "stop", ("running", "paused"))
    return _evolve(
        state, status="stopped", events=_with_event(state.events, (state.step, "stop", ""))
    )


def reset(state: RunState) -> RunState:
    """Back to step 0 with the base config: changes and events are cleared."""
    return RunState(state.config, state.seed, name=state.name)


def apply_changes(state: RunState, changes: Mapping[str, Any]) -> RunState:
    """Change settings. Idle: any setting; running or paused: those in ``MUTABLE_FIELDS``.

    Mid-run, the change takes effect from the next step and is recorded (at most
    ``MAX_CHANGES`` per run). A change that would not fit GPU memory is refused.

    Raises:
        ConfigError: a setting is unknown, immutable mid-run, out of range or does not fit.
        TransitionError: the run has ended.
    """
    if state.status == "idle":
        return _evolve(
            state,
            config=state.config.with_changes(changes),
            seed=int(changes.get("seed", state.seed)),
        )
    _require(state, "change", ("running", "paused"))
    if not isinstance(changes, Mapping):
        raise ConfigError("changes", changes, "an object of setting: value")
    for key in changes:
        if key not in MUTABLE_FIELDS:
            raise ConfigError(
                str(key)[:40],
                changes[key],
                f"cannot change mid-run; allowed: {', '.join(sorted(MUTABLE_FIELDS))}",
            )
    current = state.current_config
    new_cfg = current.with_changes(changes)
    delta = {
        k: v for k, v in new_cfg.to_dict().items() if k in changes and current.to_dict()[k] != v
    }
    if not delta:
        return state
    if state.step >= state.total_steps:
        raise TransitionError("the run is at its last step; nothing left to change")
    merged = list(state.changes)
    if merged and merged[-1][0] == state.step:
        delta = {**merged[-1][1], **delta}
        merged.pop()
    elif state.step == 0:
        raise ConfigError("changes", delta, "apply before the first step by editing the config")
    if len(merged) >= MAX_CHANGES:
        raise ConfigError("changes", len(merged), f"at most {MAX_CHANGES} mid-run changes per run")
    merged.append((state.step, delta))
    candidate = _evolve(state, changes=tuple(merged))
    seg = candidate.timeline.segments[-1]
    if seg.memory_bytes > seg.memory_capacity:
        raise ConfigError(
            "memory",
            f"{seg.memory_bytes / 1e9:.1f} GB",
            f"must fit the GPU's {seg.memory_capacity / 1e9:.0f} GB",
        )
    text = ", ".join(f"{k}={_short(v)}" for k, v in delta.items())[:80]
    return _evolve(candidate, events=_with_event(state.events, (state.step, "change", text)))


def _short(v: Any) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def advance(state: RunState, steps: int = 1) -> RunState:
    """Move a running run forward by up to ``steps``: it ends at its last step, or at the
    first step whose loss is NaN after a divergence (up to ``DIVERGE_RAMP`` + 2 steps past
    ``steps``, so where a run diverges does not depend on how it was stepped)."""
    return advance_with_metrics(state, steps)[0]


def advance_with_metrics(
    state: RunState, steps: int = 1, since: int | None = None
) -> tuple[RunState, dict[str, NDArray[np.generic]]]:
    """``advance``, also returning the metrics of the steps it moved (computed once).

    ``since`` (at most the run's step) makes the metrics start there instead: a tick whose
    charts still lack the steps of an open bucket gets them in the same computation.
    """
    new, m, _ = advance_for_charts(state, steps, since)
    return new, m


def advance_for_charts(
    state: RunState, steps: int = 1, since: int | None = None
) -> tuple[RunState, dict[str, NDArray[np.generic]], dynamics.Events | None]:
    """``advance_with_metrics``, also returning the spikes and divergence it found (from
    ``since`` - LOOKBACK on), which the charts' buckets read again (``simulator.buckets``)."""
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"steps must be a non-negative whole number, not {steps!r}")
    if state.status != "running" or steps == 0 or state.step >= state.total_steps:
        return state, _empty(), None
    tl = state.timeline
    begin = state.step
    end = min(tl.total_steps, begin + int(min(steps, MAX_ADVANCE)))
    # A divergence in this stretch ends the run where its loss is NaN, even past the steps
    # asked for (at most DIVERGE_RAMP + 2 more): a run that stopped mid-ramp would read
    # "diverged" with a finite loss, at a step that depended on the tick size.
    ramp_end = min(tl.total_steps, end + dynamics.DIVERGE_RAMP + 2)
    lo = begin if since is None else max(0, min(int(since), begin))
    comp = dynamics.compute(
        tl, state.seed, lo, ramp_end, diverged_at=state.diverged_at, scan_from=begin
    )
    # This stretch's events, put in step order before they join the log: the log then reads
    # the same whatever the tick size (a spike before the end of warmup came after it when
    # both fell in one tick, before it when they fell in two).
    found: list[Event] = []
    status = "running"
    div = comp.diverged_at
    if div is not None and div < end:
        end = min(ramp_end, div + dynamics.DIVERGE_RAMP + 2)
        status = "diverged"
    m = {k: v[begin - lo : end - lo] for k, v in comp.metrics.items()}
    warm = _warmup_end(tl, begin, m["tokens"])
    if warm is not None:
        found.append((warm, "warmup", float(m["lr"][warm - begin - 1])))
    for spike in comp.spikes:
        if begin <= spike.step < end:
            found.append((spike.step + 1, "spike", round(spike.size, 4)))
    evals = np.flatnonzero(m["is_eval"])
    if evals.size:
        i = int(evals[-1])
        val = float(m["val_loss"][i])
        found.append((int(m["step"][i]), "eval", round(val, 4) if math.isfinite(val) else "nan"))
    k = state.current_config.resolved_checkpoint_interval
    if end // k > begin // k:
        found.append((end // k * k, "checkpoint", ""))
    if status == "diverged":
        # Logged where the run ends: the first step whose loss is NaN (the ramp's end), or
        # the last step if the run got there first. Until then the loss only climbs.
        found.append((end, "diverged", float(state.current_config.lr_peak)))
    elif end >= tl.total_steps:
        status = "finished"
        last = final_mean(_tail_losses(tl, state.seed, begin, end, m["train_loss"]))
        found.append((end, "finished", round(last, 4) if math.isfinite(last) else "nan"))
    events = state.events
    # The run's end stays the last word, even after a spike logged in the ramp to NaN.
    for event in sorted(found, key=lambda e: (e[1] in ("diverged", "finished"), e[0])):
        events = _with_event(events, event)
    new = _evolve(
        state,
        step=end,
        status=status,
        events=events,
        diverged_at=div if status == "diverged" else state.diverged_at,
    )
    if lo < begin:
        return new, {k: v[: end - lo] for k, v in comp.metrics.items()}, comp.events
    return new, m, comp.events


def final_mean(values: NDArray[np.generic], diverged: bool = False) -> float:
    """A run's reported figure from per-step values that end at its current step: the mean
    of the finite ones among the last ``FINAL_TAIL``; NaN for a diverged run (its loss ended
    in NaN) or when there are none."""
    tail = np.asarray(values, dtype=np.float64)[-FINAL_TAIL:]
    tail = tail[np.isfinite(tail)]
    return math.nan if diverged or not tail.size else float(tail.mean())


def _tail_losses(
    tl: Timeline, seed: int, begin: int, end: int, losses: NDArray[np.generic]
) -> NDArray[np.generic]:
    """The train losses of the last ``FINAL_TAIL`` steps before ``end``: from this stretch's
    ``losses`` (steps ``begin`` .. ``end`` - 1) when it is that long, else computed."""
    lo = max(0, end - FINAL_TAIL)
    if lo >= begin:
        return losses[lo - begin :]
    return dynamics.compute(tl, seed, lo, end, diverged_at=None, scan_from=end).metrics[
        "train_loss"
    ]


def _warmup_end(tl: Timeline, begin: int, tokens: NDArray[np.generic]) -> int | None:
    """The step (1-based) that completes warmup, if it is among these, else None.

    Warmup is a share of the planned tokens (``schedules``), so a batch change during warmup
    moves its last step away from the config's ``warmup_steps``.
    """
    w_tokens = tl.warmup_fraction * tl.total_tokens * (1.0 - 1e-12)
    if tokens.size == 0 or tl.warmup_fraction <= 0.0 or float(tokens[-1]) < w_tokens:
        return None
    seg = tl.segments[int(tl.segment_index(np.array([begin], dtype=np.int64))[0])]
    if float(tokens[0]) - seg.cfg.global_batch_tokens >= w_tokens:
        return None  # done before this range
    return begin + int(np.searchsorted(tokens, w_tokens)) + 1


def _empty() -> dict[str, NDArray[np.generic]]:
    return {k: np.empty(0) for k in METRIC_KEYS}


METRIC_KEYS = (
    "step",
    "epoch",
    "tokens",
    "wall_time",
    "train_loss",
    "val_loss",
    "is_eval",
    "perplexity",
    "accuracy",
    "lr",
    "grad_norm",
    "tokens_per_sec",
    "mfu",
    "memory_gb",
    "cost_usd",
)


def metrics(
    state: RunState, start: int = 0, stop: int | None = None
) -> dict[str, NDArray[np.generic]]:
    """Per-step metrics for completed steps ``start`` .. ``stop`` - 1 (0-based indices).

    ``stop`` defaults to the run's current step; it may go past it (up to the last step) to
    predict the rest of the run. Cost is proportional to ``stop - start`` (plus a fixed
    look-back), whatever the step. At most ``MAX_METRICS_RANGE`` steps per call.
    """
    tl = state.timeline
    stop = state.step if stop is None else stop
    start, stop = max(0, int(start)), min(int(stop), tl.total_steps)
    if stop <= start:
        return _empty()
    if stop - start > MAX_METRICS_RANGE:
        raise ValueError(
            f"at most {MAX_METRICS_RANGE:,} steps per call; use iter_metrics for longer ranges"
        )
    comp = dynamics.compute(
        tl,
        state.seed,
        start,
        stop,
        diverged_at=state.diverged_at,
        scan_from=state.step if state.diverged_at is None else stop,
    )
    return comp.metrics


def iter_metrics(
    state: RunState, start: int = 0, stop: int | None = None, chunk: int = 500_000
) -> Iterator[dict[str, NDArray[np.generic]]]:
    """``metrics`` in chunks, for ranges longer than one call allows."""
    stop = state.step if stop is None else min(stop, state.total_steps)
    for a in range(max(0, start), stop, chunk):
        yield metrics(state, a, min(stop, a + chunk))


def predicted_run(config: TrainingConfig) -> RunState:
    """A whole run computed at once: a finished (or diverged) state for what-if comparisons."""
    state = new_run(config)
    tl = state.timeline
    div = dynamics.first_divergence(tl, state.seed, 0, tl.total_steps)
    if div is not None:
        end = min(tl.total_steps, div + dynamics.DIVERGE_RAMP + 2)
        return _evolve(
            state,
            step=end,
            status="diverged",
            diverged_at=div,
            events=((end, "diverged", float(config.lr_peak)),),
        )
    return _evolve(state, step=tl.total_steps, status="finished")


__all__ = [
    "EVENT_CAPS",
    "MAX_ADVANCE",
    "MAX_CHANGES",
    "MAX_EVENTS",
    "METRIC_KEYS",
    "MILESTONES",
    "SCHEMA_VERSION",
    "STATUSES",
    "RunState",
    "StateError",
    "TransitionError",
    "advance",
    "advance_for_charts",
    "advance_with_metrics",
    "apply_changes",
    "iter_metrics",
    "metrics",
    "new_run",
    "pause",
    "predicted_run",
    "reset",
    "resume",
    "start",
    "stop",
]
