"""What the Model Comparison tab compares and what its views hold: its two Stores.

- The comparison list (``CMP_SELECTION``, local storage): ``Item.to_dict()`` entries, read
  back with ``parse_selection`` (a bad entry is dropped and named, the rest kept, at most
  ``MAX_COMPARED``), labelled uniquely (``recipe_label``) and analysed within a step budget
  (``analyse_items``: ``MAX_VIEW_STEPS`` per view, so no list makes a request unbounded).
- What the drawn views hold (``CMP_VIEW_STATE``, memory): a ``ViewState``, a few numbers that
  say whether a new run can be *appended* to the charts (an ``Edit``) instead of redrawn.
- The view controls (``Controls``), parsed from the browser.

The actions that read and write these are ``views.comparison``; the computation itself
(curves, final figures, frontier) is ``simulator.compare``. See docs/architecture.md,
"Store formats" and "Trust nothing from the browser".
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeGuard

from layouts.figures import comparison as figs
from simulator import compare, fmt, series
from simulator import saved as saved_runs
from simulator.compare import MAX_POINTS, X_AXES, Analysis, frontier_line
from simulator.config import ConfigError, TrainingConfig
from simulator.presets import PRESETS, preset
from simulator.run import RunState, new_run
from tracking.store.errors import BadRunId
from tracking.store.names import check_run_id
from views.comparison_real import NONE, Reals, prediction_label, run_label

MAX_COMPARED = 12
"""Runs and recipes in one comparison: bounds the work of a view and keeps legends legible."""

MAX_VIEW_STEPS = 5_000_000
"""Steps one view may compute (~1 s: the 13 LLaMA, Llama 2, Mistral, Code Llama and Vicuna
presets, 3.4M steps, take 0.6-0.7 s; a Llama 3.1, Qwen2.5 or large Gemma 2 preset alone is
0.9-1.1M); runs past it lose their curve, with a note saying why. Views over
``limits.HEAVY_STEPS`` are admitted one at a time per worker (``callbacks.limits``)."""

MAX_REF = 16  # characters of a saved-run id (they are 10)
REAL_KINDS = ("real", "prediction")  # items read from the run store (views.comparison_real)

CURVE_KINDS: Mapping[str, str] = {"train": "Train", "val": "Validation", "both": "Both"}
"""What the loss chart shows (the radio's values and labels)."""


# ------------------------------------------------------------------- the comparison list
class SelectionError(ValueError):
    """A comparison-list entry that cannot be used; the message says why."""


@dataclass(frozen=True)
class Item:
    """One entry of the comparison list (``CMP_SELECTION``): a published recipe, a saved run
    or a saved config. Stored as ``{"kind": "preset"|"saved", "ref": ...}`` or
    ``{"kind": "config", "config": {...}}``; never curves.
    """

    kind: Literal["preset", "saved", "config", "real", "prediction"]
    ref: str  # preset slug, saved-run id, store run id (real, prediction), or "" for a config
    config: TrainingConfig | None = None

    def to_dict(self) -> dict[str, Any]:
        if self.kind == "config":
            assert self.config is not None
            return {"kind": "config", "config": self.config.to_dict()}
        return {"kind": self.kind, "ref": self.ref}

    @classmethod
    def from_dict(cls, raw: Any) -> Item:
        """An entry from the browser, validated; raises ``SelectionError`` saying why not."""
        kind = raw.get("kind") if isinstance(raw, dict) else None
        if kind == "preset" and raw.get("ref") in PRESETS:
            return cls("preset", str(raw["ref"]))
        ref = raw.get("ref") if isinstance(raw, dict) else None
        if kind == "saved" and isinstance(ref, str) and 0 < len(ref) <= MAX_REF:
            return cls("saved", ref)
        if kind in REAL_KINDS:
            try:
                return cls(kind, check_run_id(ref))
            except BadRunId as exc:
                raise SelectionError(str(exc)) from None
        if kind == "config":
            try:
                return cls("config", "", TrainingConfig.from_dict(raw.get("config")))
            except ConfigError as exc:
                raise SelectionError(str(exc)) from exc
        raise SelectionError("not understood")

    @property
    def key(self) -> str:
        """A stable identity, to refuse duplicates and to address removal."""
        if self.kind == "config":
            assert self.config is not None
            return "config:" + _config_hash(self.config)
        return f"{self.kind}:{self.ref}"

    def recipe(self) -> TrainingConfig | None:
        """The config a recipe item runs (None for a saved run or a store run)."""
        if self.kind in ("saved", *REAL_KINDS):
            return None
        return preset(self.ref) if self.kind == "preset" else self.config


def _config_hash(cfg: TrainingConfig) -> str:
    blob = json.dumps(cfg.to_dict(), sort_keys=True, separators=(",", ":")).encode()
    return hashlib.blake2b(blob, digest_size=5).hexdigest()


def parse_selection(raw: Any) -> tuple[list[Item], list[str]]:
    """The comparison list from the browser, validated; one message per dropped entry.

    Accepts at most ``MAX_COMPARED`` entries; unknown presets, malformed entries and invalid
    configs are dropped (and named), duplicates silently.
    """
    if raw is None:
        return [], []
    if not isinstance(raw, list):
        return [], ["the comparison list was not a list; started a new one"]
    items: list[Item] = []
    errors: list[str] = []
    seen: set[str] = set()
    for i, e in enumerate(raw[: MAX_COMPARED * 2]):
        try:
            item = Item.from_dict(e)
        except SelectionError as exc:
            if isinstance(e, dict) and e.get("kind") == "config":
                errors.append(f"compared config {i + 1} was dropped: {exc}")
            elif isinstance(e, dict) and e.get("kind") in REAL_KINDS:
                errors.append(f"compared real run {i + 1} was dropped: {exc}")
            else:
                errors.append(f"compared entry {i + 1} was not understood and was dropped")
            continue
        if item.key not in seen:
            seen.add(item.key)
            items.append(item)
    if len(items) > MAX_COMPARED:
        errors.append(f"at most {MAX_COMPARED} runs are compared; kept the first {MAX_COMPARED}")
        items = items[:MAX_COMPARED]
    return items, errors


# ---------------------------------------------------------------------------- labels
def recipe_label(cfg: TrainingConfig, kind: str) -> str:
    """A short legend label for a recipe: model and tokens (and 'config' for a saved config)."""
    name = fmt.model_name(cfg.model)
    tokens = cfg.total_tokens
    size = f"{tokens / 1e12:.3g}T" if tokens >= 1e12 else f"{tokens / 1e9:.3g}B"
    return f"{name} recipe" if kind == "preset" else f"Saved config: {name}, {size} tokens"


def _unique(label: str, seen: dict[str, int]) -> str:
    """``label``, or ``label (2)`` etc. if already used: tables and legends need unique names."""
    n = seen.get(label, 0) + 1
    seen[label] = n
    return label if n == 1 else f"{label} ({n})"


def _saved_label(state: RunState, ref: str) -> str:
    """A saved run in legends, chips and tables: its name (else its model) and its GPUs, so
    two saves of one model tell apart ("baseline · 64×H100 SXM")."""
    return f"{saved_name(state)} · {saved_runs.hardware(state)}"


def saved_name(state: RunState) -> str:
    """A saved run's name as shown: the one given, else its model's ("Llama 2 7B")."""
    return state.name or fmt.model_name(state.config.model)


def item_states(
    items: Sequence[Item], saved: Mapping[str, RunState], reals: Reals = NONE
) -> list[tuple[int, Item, str, RunState]]:
    """(slot, item, label, state) per compared item, computing no metrics (config diff, chips).

    Recipes are shown as new runs of their config; a saved run that is gone is left out;
    slots and labels match ``analyse_items``.
    """
    out: list[tuple[int, Item, str, RunState]] = []
    labels: dict[str, int] = {}
    for slot, item in enumerate(items):
        if item.kind in REAL_KINDS:
            run = reals.runs.get(item.ref)
            if run is not None and item.key not in reals.gone:
                base = run_label(run.info) if item.kind == "real" else prediction_label(run.info)
                out.append((slot, item, _unique(base, labels), new_run(run.config)))
            continue
        cfg = item.recipe()
        if cfg is None:
            state = saved.get(item.ref)
            if state is not None:
                out.append((slot, item, _unique(_saved_label(state, item.ref), labels), state))
            continue
        out.append((slot, item, _unique(recipe_label(cfg, item.kind), labels), new_run(cfg)))
    return out


def real_refs(items: Sequence[Item]) -> list[tuple[str, str, str]]:
    """``(key, kind, run_id)`` of the items read from the run store."""
    return [(i.key, i.kind, i.ref) for i in items if i.kind in REAL_KINDS]


# -------------------------------------------------------------------------- analyses
def analyse_items(
    items: Sequence[Item],
    saved: Mapping[str, RunState],
    *,
    smoothing: float = 0.0,
    max_points: int = MAX_POINTS,
    budget: int = MAX_VIEW_STEPS,
    reals: Reals = NONE,
) -> tuple[list[Analysis], list[str]]:
    """Analyse every compared item within a step budget; notes say what was left out.

    A saved run that is gone (deleted, or its entry was invalid) is skipped with a note. A run
    past the remaining budget keeps its final figures if they are cheap (a saved run's last
    steps) and loses its curve; a recipe past the budget is skipped (its end is unknown
    without computing it).
    """
    out: list[Analysis] = []
    notes: list[str] = []
    left = budget
    labels: dict[str, int] = {}
    hues = figs.palette_slots([i.key for i in items])
    for slot, item in enumerate(items):
        if item.kind in REAL_KINDS:
            got = reals.analyses.get(item.key)  # read before (bounded); gone: reals' note
            if got is not None:
                label = _unique(got.label, labels)
                out.append(dataclasses.replace(got, slot=hues[slot], label=label))
                if got.note:
                    notes.append(f"{label}: {got.note}")
            continue
        cfg = item.recipe()
        if cfg is None:
            state = saved.get(item.ref)
            if state is None:
                notes.append(f"saved run {item.ref} is no longer saved; removed from the view")
                continue
            label = _unique(_saved_label(state, item.ref), labels)
            want = state.step <= left
            if not want:
                notes.append(
                    f"{label}: {state.step:,} steps is past this view's budget "
                    f"({budget:,} steps in all); its curve is not drawn"
                )
            left -= state.step if want else 0
            a = compare.analyse_state(
                item.key, label, state, smoothing=smoothing, max_points=max_points, curve=want
            )
            out.append(dataclasses.replace(a, slot=hues[slot]))
            continue
        label = _unique(recipe_label(cfg, item.kind), labels)
        if cfg.total_steps > left:
            notes.append(
                f"{label}: {cfg.total_steps:,} steps is past this view's budget "
                f"({budget:,} steps in all); remove a long run to include it"
            )
            continue
        a = compare.analyse_recipe(item.key, label, cfg, smoothing=smoothing, max_points=max_points)
        left -= cfg.total_steps
        if a.note:
            notes.append(f"{label}: {a.note}")
        out.append(dataclasses.replace(a, slot=hues[slot]))
    return out, notes


def analyse_appended(
    items: Sequence[Item],
    first: int,
    saved: Mapping[str, RunState],
    *,
    smoothing: float = 0.0,
    max_points: int = MAX_POINTS,
    budget: int = MAX_VIEW_STEPS,
    reals: Reals = NONE,
) -> list[Analysis] | None:
    """``items[first:]`` analysed exactly as ``analyse_items`` would (labels, slots, colours),
    so they can be appended to a view already showing ``items[:first]``.

    Returns None when the result would need a note (a saved run that is gone, the step
    budget, a recipe that does not fit memory): the caller then redraws the whole view, which
    says why.
    """
    labels = {slot: label for slot, _, label, _ in item_states(items, saved, reals)}
    hues = figs.palette_slots([i.key for i in items])
    out: list[Analysis] = []
    left = budget
    for slot in range(first, len(items)):
        item = items[slot]
        if slot not in labels:
            return None
        if item.kind in REAL_KINDS:
            got = reals.analyses.get(item.key)
            if got is None or got.note:
                return None
            out.append(dataclasses.replace(got, slot=hues[slot], label=labels[slot]))
            continue
        cfg = item.recipe()
        if cfg is None:
            state = saved[item.ref]
            if state.step > left:
                return None
            left -= state.step
            a = compare.analyse_state(
                item.key, labels[slot], state, smoothing=smoothing, max_points=max_points
            )
        else:
            if cfg.total_steps > left:
                return None
            left -= cfg.total_steps
            a = compare.analyse_recipe(
                item.key, labels[slot], cfg, smoothing=smoothing, max_points=max_points
            )
            if a.note:
                return None
        out.append(dataclasses.replace(a, slot=hues[slot]))
    return out


def view_cost(items: Sequence[Item], saved: Mapping[str, RunState]) -> int:
    """Steps an analysis of ``items`` would compute, within ``MAX_VIEW_STEPS`` (its cost)."""
    total = 0
    for item in items:
        cfg = item.recipe()
        state = saved.get(item.ref) if item.kind == "saved" else None
        total += cfg.total_steps if cfg is not None else (state.step if state else 0)
    return min(total, MAX_VIEW_STEPS)


def steps_drawn(analyses: Sequence[Analysis]) -> int:
    """Steps computed for the curves of a view (what counts against ``MAX_VIEW_STEPS``)."""
    return sum(a.state.step for a in analyses if a.curve is not None)


# -------------------------------------------------------------------------- controls
@dataclass(frozen=True)
class Controls:
    """The view controls as the charts were (or are to be) drawn with them."""

    x: str = "step"  # a key of ``simulator.compare.X_AXES``
    kind: str = "train"  # a key of ``CURVE_KINDS``
    smoothing: float = 0.0
    logs: tuple[str, ...] = ()  # "x", "y": logarithmic axes, sorted

    @classmethod
    def from_browser(cls, x: Any, kind: Any, smoothing: Any, logs: Any) -> Controls:
        """The controls from the browser, each replaced by its default if not understood."""
        return cls(
            x if isinstance(x, str) and x in X_AXES else "step",
            kind if isinstance(kind, str) and kind in CURVE_KINDS else "train",
            series.smoothing_weight(smoothing),
            tuple(sorted(v for v in logs if v in ("x", "y"))) if isinstance(logs, list) else (),
        )


# ------------------------------------------------------------------------ view state
def _pair(v: Any) -> tuple[float, float] | None:
    if (
        isinstance(v, list)
        and len(v) == 2
        and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)
        and all(math.isfinite(x) for x in v)
    ):
        return float(v[0]), float(v[1])
    return None


def _short_strs(v: Any, n: int) -> TypeGuard[list[str]]:
    """Whether ``v`` is a list of at most ``n`` strings of at most 40 characters."""
    return (
        isinstance(v, list) and len(v) <= n and all(isinstance(s, str) and len(s) <= 40 for s in v)
    )


@dataclass(frozen=True)
class ViewState:
    """What the curves, table and efficiency chart hold (``CMP_VIEW_STATE``), so a run can be
    *appended* to them instead of redrawing everything.

    A few numbers, never curves: the compared keys, the controls the view was drawn with, the
    loss range, the frontiers' compute span, the frontier lines drawn (family and context), and
    the steps computed (the view budget). Kept in a memory store; a tampered one only makes the next
    add redraw the whole view.
    """

    keys: tuple[str, ...]
    controls: Controls
    y: tuple[float, float] | None  # the loss chart's y-range
    span: tuple[float, float] | None  # the frontiers' compute range
    frontiers: tuple[str, ...]  # "family@context" of each frontier line drawn
    steps: int
    complete: bool  # no caveat note and every run drawn: only then can runs be appended

    @classmethod
    def of(
        cls,
        analyses: Sequence[Analysis],
        keys: Sequence[str],
        controls: Controls,
        notes: Sequence[str] = (),
    ) -> ViewState:
        """The state of a view just drawn from ``analyses`` (``notes``: its caveats)."""
        on_chart = [a for a in analyses if figs.on_efficiency_chart(a)]
        y = figs.loss_range(analyses, controls.kind)
        span = figs.efficiency_span(analyses)
        return cls(
            keys=tuple(keys),
            controls=controls,
            y=(y[0], y[1]) if y else None,
            span=(span[0], span[1]) if span else None,
            frontiers=tuple(f"{f}@{s}" for f, s in sorted(figs.frontier_lines(analyses).items())),
            steps=steps_drawn(analyses),
            complete=not notes and len(on_chart) == len(analyses) == len(keys),
        )

    def to_dict(self) -> dict[str, Any]:
        c = self.controls
        return {
            "keys": list(self.keys),
            "x": c.x,
            "show": c.kind,
            "w": c.smoothing,
            "logs": list(c.logs),
            "y": list(self.y) if self.y else None,
            "span": list(self.span) if self.span else None,
            "frontiers": list(self.frontiers),
            "steps": self.steps,
            "complete": self.complete,
        }

    @classmethod
    def from_dict(cls, raw: Any) -> ViewState | None:
        """A complete view state from the browser, rebuilt from its validated fields, or None
        (not a view, tampered, or one with a caveat: the next add redraws the whole view).

        Rebuilt, not passed through: the browser writes large floats such as 1.3e20 as integer
        literals (``JSON.stringify``), which Python reads as ints too large to serialise again.
        """
        if not isinstance(raw, dict):
            return None
        keys, frontiers, steps = raw.get("keys"), raw.get("frontiers"), raw.get("steps")
        x, show, w, logs = raw.get("x"), raw.get("show"), raw.get("w"), raw.get("logs")
        span = _pair(raw.get("span"))
        if not (
            _short_strs(keys, 64)
            and keys
            and _short_strs(frontiers, 16)
            and isinstance(steps, int)
            and not isinstance(steps, bool)
            and 0 <= steps <= 10**10
            and span is not None
            and isinstance(x, str)
            and isinstance(show, str)
            and isinstance(w, (int, float))
            and not isinstance(w, bool)
            and _short_strs(logs, 2)
            and raw.get("complete") is True
        ):
            return None
        return cls(
            keys=tuple(keys),
            controls=Controls(x, show, float(w), tuple(logs)),
            y=_pair(raw.get("y")),
            span=span,
            frontiers=tuple(frontiers),
            steps=steps,
            complete=True,
        )

    def shows(self, keys: Sequence[str], controls: Controls) -> bool:
        """Whether this view already shows exactly ``keys`` drawn with ``controls``; only then
        can new runs be appended to it."""
        return self.complete and self.keys == tuple(keys) and self.controls == controls

    def fits(self, added: Sequence[Analysis]) -> bool:
        """Whether appended runs fit the drawn efficiency chart: inside the frontiers' span, with
        a final loss to plot, and (unless a fine-tune, which has none) judged by a frontier line
        already drawn: its family's, at a context at least as long (else: redraw)."""
        if self.span is None:
            return False
        drawn = dict(f.rsplit("@", 1) for f in self.frontiers if "@" in f)
        for a in added:
            if not figs.on_efficiency_chart(a):
                return False
            line = frontier_line(a.state)
            if line is not None and not (
                drawn.get(line[0], "").isdigit() and int(drawn[line[0]]) >= line[1]
            ):
                return False
            if not self.span[0] <= a.final.flops <= self.span[1]:
                return False
        return True

    def has_frontiers_for(self, states: Sequence[RunState]) -> bool:
        """Whether every run in ``states`` is judged by a frontier line already drawn (its
        family's, at a context at least as long), known from configs alone: checked before
        computing appended runs, which would be wasted when the view must be redrawn."""
        drawn = dict(f.rsplit("@", 1) for f in self.frontiers if "@" in f)
        for state in states:
            line = frontier_line(state)
            if line is not None and not (
                drawn.get(line[0], "").isdigit() and int(drawn[line[0]]) >= line[1]
            ):
                return False
        return True

    def merged_range(self, added: Sequence[Analysis]) -> tuple[float, float] | None:
        """The loss range of the drawn runs and the appended ones together."""
        new = figs.loss_range(added, self.controls.kind)
        if self.y is None or new is None:
            return (new[0], new[1]) if new else self.y
        return min(self.y[0], new[0]), max(self.y[1], new[1])
