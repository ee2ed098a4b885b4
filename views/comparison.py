"""The Model Comparison tab's browser contract: its Stores, its controls, what each action does.

What lives here and nowhere else:

- The comparison list (``CMP_SELECTION``, local storage): a list of ``Item.to_dict()``
  entries, read back with ``parse_selection`` (a bad entry is dropped and named, the rest
  kept, at most ``MAX_COMPARED``).
- What the drawn views hold (``CMP_VIEW_STATE``, memory): a ``ViewState``, a few numbers that
  say whether a new run can be *appended* to the charts (an ``Edit``) instead of redrawing.
- How a compared run is labelled (``recipe_label``, unique labels per view), the final-metrics
  table's columns and headings (``TABLE_COLUMNS``, also the CSV's), the view controls
  (``Controls``) and the cleaning of table cells sent back for the CSV export.
- One function per user action or Store change, returning a named result whose fields are
  the callback's outputs (``callbacks.adapt.outputs``).

Every value from the browser may be stale, edited or hostile (docs/architecture.md, "Trust
nothing from the browser"): each is validated here, and no input can make a request do
unbounded work (``MAX_COMPARED`` runs, ``MAX_VIEW_STEPS`` steps per view,
``simulator.saved.MAX_IMPORT_BYTES`` per import). Nothing is cached between requests (any
worker answers any request): every view is recomputed from the list and the saved runs.
The computation itself (curves, final figures, config diff, frontier) is
``simulator.compare``; the figure dicts are ``layouts.figures.comparison``.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeGuard

from layouts.figures import comparison as figs
from simulator import benchmarks_data as bd
from simulator import compare, fmt, series
from simulator import saved as saved_runs
from simulator.compare import MAX_POINTS, X_AXES, Analysis
from simulator.config import PRESETS, ConfigError, TrainingConfig, preset
from simulator.run import RunState, new_run
from views import stores
from views.contract import KEEP, Edit, Notice, download

MAX_COMPARED = 12
"""Runs and recipes in one comparison: bounds the work of a view and keeps legends legible."""

MAX_VIEW_STEPS = 30_000_000
"""Steps one view may compute (~5 s); longer runs lose their curve, with a note saying why."""

MAX_REF = 16  # characters of a saved-run id (they are 10)
MAX_CELL = 200  # characters of a text cell accepted back from the browser for the CSV

CURVE_KINDS: Mapping[str, str] = {"train": "Train", "val": "Validation", "both": "Both"}
"""What the loss chart shows (the radio's values and labels)."""

TABLE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("run", "Run"),
    ("kind", "Kind"),
    ("status", "Status"),
    ("steps", "Steps"),
    ("train_loss", "Final train loss"),
    ("val_loss", "Final val loss"),
    ("perplexity", "Val perplexity"),
    ("accuracy", "Token accuracy"),
    ("tokens_b", "Tokens (B)"),
    ("params_b", "Params (B)"),
    ("tokens_per_param", "Tokens / param"),
    ("flops", "FLOPs"),
    ("gpu_hours", "GPU-hours"),
    ("wall_hours", "Wall time (h)"),
    ("cost_usd", "Cost (USD)"),
)
"""Column id (a key of ``compare.final_rows``) and heading of the final-metrics table and its
CSV export, in order."""


# ------------------------------------------------------------------- the comparison list
class SelectionError(ValueError):
    """A comparison-list entry that cannot be used; the message says why."""


@dataclass(frozen=True)
class Item:
    """One entry of the comparison list (``CMP_SELECTION``): a published recipe, a saved run
    or a saved config. Stored as ``{"kind": "preset"|"saved", "ref": ...}`` or
    ``{"kind": "config", "config": {...}}``; never curves.
    """

    kind: Literal["preset", "saved", "config"]
    ref: str  # preset slug, saved-run id, or "" for a config
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
        """The config a recipe item runs (None for a saved run)."""
        if self.kind == "saved":
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
    return state.name or f"run {ref}"


def item_states(
    items: Sequence[Item], saved: Mapping[str, RunState]
) -> list[tuple[int, Item, str, RunState]]:
    """(slot, item, label, state) per compared item, computing no metrics (config diff, chips).

    Recipes are shown as new runs of their config; a saved run that is gone is left out;
    slots and labels match ``analyse_items``.
    """
    out: list[tuple[int, Item, str, RunState]] = []
    labels: dict[str, int] = {}
    for slot, item in enumerate(items):
        cfg = item.recipe()
        if cfg is None:
            state = saved.get(item.ref)
            if state is not None:
                out.append((slot, item, _unique(_saved_label(state, item.ref), labels), state))
            continue
        out.append((slot, item, _unique(recipe_label(cfg, item.kind), labels), new_run(cfg)))
    return out


# -------------------------------------------------------------------------- analyses
def analyse_items(
    items: Sequence[Item],
    saved: Mapping[str, RunState],
    *,
    smoothing: float = 0.0,
    max_points: int = MAX_POINTS,
    budget: int = MAX_VIEW_STEPS,
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
    for slot, item in enumerate(items):
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
            out.append(dataclasses.replace(a, slot=slot))
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
        out.append(dataclasses.replace(a, slot=slot))
    return out, notes


def analyse_appended(
    items: Sequence[Item],
    first: int,
    saved: Mapping[str, RunState],
    *,
    smoothing: float = 0.0,
    max_points: int = MAX_POINTS,
    budget: int = MAX_VIEW_STEPS,
) -> list[Analysis] | None:
    """``items[first:]`` analysed exactly as ``analyse_items`` would (labels, slots, colours),
    so they can be appended to a view already showing ``items[:first]``.

    Returns None when the result would need a note (a saved run that is gone, the step
    budget, a recipe that does not fit memory): the caller then redraws the whole view, which
    says why.
    """
    labels = {slot: label for slot, _, label, _ in item_states(items, saved)}
    out: list[Analysis] = []
    left = budget
    for slot in range(first, len(items)):
        item = items[slot]
        if slot not in labels:
            return None
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
        out.append(dataclasses.replace(a, slot=slot))
    return out


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
    loss range, the frontier's compute span, the families with an offset line, and the steps
    computed (the view budget). Kept in a memory store; a tampered one only makes the next
    add redraw the whole view.
    """

    keys: tuple[str, ...]
    controls: Controls
    y: tuple[float, float] | None  # the loss chart's y-range
    span: tuple[float, float] | None  # the frontier's compute range
    families: tuple[str, ...]  # families whose offset line is drawn
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
            families=tuple(sorted({a.state.config.family for a in on_chart})),
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
            "families": list(self.families),
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
        keys, families, steps = raw.get("keys"), raw.get("families"), raw.get("steps")
        x, show, w, logs = raw.get("x"), raw.get("show"), raw.get("w"), raw.get("logs")
        span = _pair(raw.get("span"))
        if not (
            _short_strs(keys, 64)
            and keys
            and _short_strs(families, 16)
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
            families=tuple(families),
            steps=steps,
            complete=True,
        )

    def shows(self, keys: Sequence[str], controls: Controls) -> bool:
        """Whether this view already shows exactly ``keys`` drawn with ``controls``; only then
        can new runs be appended to it."""
        return self.complete and self.keys == tuple(keys) and self.controls == controls

    def fits(self, added: Sequence[Analysis]) -> bool:
        """Whether appended runs fit the drawn efficiency chart: inside the frontier's span, of a
        family whose offset line is drawn, and with a final loss to plot (else: redraw)."""
        if self.span is None:
            return False
        for a in added:
            if not figs.on_efficiency_chart(a) or a.state.config.family not in self.families:
                return False
            if not self.span[0] <= a.final.flops <= self.span[1]:
                return False
        return True

    def merged_range(self, added: Sequence[Analysis]) -> tuple[float, float] | None:
        """The loss range of the drawn runs and the appended ones together."""
        new = figs.loss_range(added, self.controls.kind)
        if self.y is None or new is None:
            return (new[0], new[1]) if new else self.y
        return min(self.y[0], new[0]), max(self.y[1], new[1])


# ---------------------------------------------------------------------------- results
@dataclass(frozen=True)
class SavedTable:
    """The saved-runs table and its caption."""

    table: list[dict[str, Any]]
    count: str


@dataclass(frozen=True)
class SavedEdit:
    """After a rename, delete or import: the saved runs, the comparison list, a message, and
    the upload cleared (so the same file can be imported again)."""

    saved: Any
    selection: Any
    message: Any
    upload: Any


@dataclass(frozen=True)
class SavedExport:
    download: dict[str, Any]


@dataclass(frozen=True)
class AddOptions:
    options: list[dict[str, Any]]


@dataclass(frozen=True)
class SelectionEdit:
    """After an add, remove or clear: the list, a message, and (when the views already show
    the rest) the new runs appended to the charts and table, with the new view state."""

    selection: Any
    message: Any
    curves: Any = KEEP
    table: Any = KEEP
    efficiency: Any = KEEP
    view: Any = KEEP


@dataclass(frozen=True)
class Chip:
    """One compared run's badge: its label, chart colour, and whether its saved run is gone."""

    key: str
    label: str
    color: str
    gone: bool


@dataclass(frozen=True)
class Chips:
    chips: tuple[Chip, ...]


@dataclass(frozen=True)
class Views:
    """The loss curves, final-metrics table, efficiency chart, their notes and view state."""

    curves: Any
    table: Any
    efficiency: Any
    notes: Any
    view: Any


@dataclass(frozen=True)
class Diff:
    """The config-diff table: columns, rows and cell styles."""

    columns: list[dict[str, str]]
    rows: list[dict[str, Any]]
    style: list[dict[str, Any]]


@dataclass(frozen=True)
class CsvExport:
    download: dict[str, Any]


@dataclass(frozen=True)
class BenchChoices:
    """Models and benchmarks of the chosen source, all selected."""

    model_options: list[str]
    models: list[str]
    benchmark_options: list[str]
    benchmarks: list[str]


@dataclass(frozen=True)
class BenchViews:
    bars: dict[str, Any]
    radar: dict[str, Any]
    table: list[dict[str, Any]]


# ------------------------------------------------------------------------ saved runs
def saved_table(saved: Any) -> SavedTable:
    """The saved-runs table, newest first; invalid entries are counted, not shown."""
    good, errors = stores.load_saved(saved)
    rows = [
        {
            "id": rid,
            "name": s.name or f"run {rid}",
            "model": fmt.model_name(s.config.model),
            "status": s.status,
            "steps": s.step,
            "progress": s.progress,
        }
        for rid, s in reversed(good.items())
    ]
    count = f"{len(good)} of at most {saved_runs.MAX_SAVED}, newest first"
    if errors:
        count += f"; {len(errors)} invalid entr{'y' if len(errors) == 1 else 'ies'} ignored"
    return SavedTable(rows, count)


SavedAction = Literal["rename", "delete", "import"]


def manage_saved(
    action: SavedAction | None,
    *,
    upload: Any,
    selected: Any,
    name: Any,
    saved: Any,
    selection: Any,
) -> SavedEdit:
    """Rename, delete or import saved runs. A bad import leaves the saved list untouched."""
    if action is None:
        return SavedEdit(KEEP, KEEP, KEEP, KEEP)
    if action == "import":
        if upload is None:
            return SavedEdit(KEEP, KEEP, KEEP, KEEP)
        try:
            merged, messages = saved_runs.import_runs(saved, saved_runs.decode_upload(upload))
        except saved_runs.SavedFileError as exc:
            return SavedEdit(KEEP, KEEP, Notice.of(f"Import failed: {exc}.", "danger"), None)
        ok = not any("skipped" in m for m in messages)
        return SavedEdit(merged, KEEP, Notice.of(messages, "success" if ok else "warning"), None)
    chosen = [s for s in selected if isinstance(s, str)] if isinstance(selected, list) else []
    if not chosen:
        return SavedEdit(KEEP, KEEP, Notice.of("Select a saved run in the table first."), KEEP)
    if action == "rename":
        new = name.strip() if isinstance(name, str) else ""
        if not new or len(chosen) != 1:
            msg = "Type a new name and select exactly one run to rename."
            return SavedEdit(KEEP, KEEP, Notice.of(msg), KEEP)
        return SavedEdit(saved_runs.rename_run(saved, chosen[0], new), KEEP, None, KEEP)
    out = saved
    for rid in chosen:
        out = saved_runs.delete_run(out, rid)
    items, _ = parse_selection(selection)
    kept = [i.to_dict() for i in items if not (i.kind == "saved" and i.ref in chosen)]
    n = len(chosen)
    msg = f"Deleted {n} saved run{'s' if n != 1 else ''}."
    return SavedEdit(out, kept, Notice.of(msg, "info"), KEEP)


def export_saved(saved: Any) -> SavedExport:
    """Every valid saved run as one JSON file (the format ``saved.import_runs`` reads)."""
    doc = saved_runs.export_document(saved)
    return SavedExport(download(doc, "saved-runs.json", "application/json"))


# ------------------------------------------------------------------------- selection
def add_options(config: Any) -> AddOptions:
    """Recipes that can be added: the saved config (when valid) and every published preset."""
    options: list[dict[str, Any]] = []
    cfg = stores.load_config(config)
    if cfg is not None:
        label = f"{recipe_label(cfg, 'config')} (Configuration tab)"
        options.append({"label": label, "value": "config"})
    options += [
        {"label": f"{fmt.model_name(p)} — published recipe", "value": f"preset:{p}"}
        for p in PRESETS
    ]
    return AddOptions(options)


SelectionAction = Literal["add", "clear", "remove", "compare"]


def edit_selection(
    action: SelectionAction | None,
    *,
    remove: Any = None,
    choice: Any = None,
    config: Any = None,
    selected: Any = None,
    selection: Any = None,
    saved: Any = None,
    controls: Controls | None = None,
    view: Any = None,
) -> SelectionEdit:
    """Add a recipe (``choice``) or saved runs (``selected``) to the comparison, remove the
    one keyed ``remove``, or clear it; ``None``: nothing was clicked (a button was drawn).

    Adding to views that already show the rest appends only the new runs (``Edit``s): the
    cost of an add is the new run's, whatever is already compared. Anything else (a removal,
    changed controls, a run that needs a note) leaves the redraw to ``update_views``.
    """
    if action is None:
        return SelectionEdit(KEEP, KEEP)
    if action == "clear":
        return SelectionEdit([], None)
    items, errors = parse_selection(selection)
    if action == "remove":
        return SelectionEdit([i.to_dict() for i in items if i.key != remove], Notice.of(errors))
    new: list[Item] = []
    if action == "add":
        if choice == "config":
            try:
                new.append(Item.from_dict({"kind": "config", "config": config}))
            except SelectionError as exc:
                msg = f"The saved config cannot be compared: {exc}"
                return SelectionEdit(KEEP, Notice.of(msg, "danger"))
        elif isinstance(choice, str) and choice.removeprefix("preset:") in PRESETS:
            new.append(Item("preset", choice.removeprefix("preset:")))
        else:
            return SelectionEdit(KEEP, Notice.of("Choose a recipe to add first."))
    else:
        chosen = selected if isinstance(selected, list) else []
        new += [Item("saved", s) for s in chosen if isinstance(s, str) and 0 < len(s) <= MAX_REF]
        if not new:
            return SelectionEdit(KEEP, Notice.of("Select saved runs in the table first."))
    keys = {i.key for i in items}
    added = [n for n in new if n.key not in keys]
    room = MAX_COMPARED - len(items)
    if len(added) > room:
        errors.append(f"At most {MAX_COMPARED} runs are compared at once; remove one first.")
        added = added[: max(room, 0)]
    if not added and not errors:
        errors.append("Already in the comparison.")
    result = [i.to_dict() for i in items + added]
    appended = _append(items, added, saved, controls or Controls(), view)
    return dataclasses.replace(appended, selection=result, message=Notice.of(errors))


def _append(
    items: list[Item], added: list[Item], saved: Any, controls: Controls, view: Any
) -> SelectionEdit:
    """Edits appending ``added`` to views that show exactly ``items``; else all ``KEEP``."""
    keep = SelectionEdit(KEEP, KEEP)
    drawn = ViewState.from_dict(view)
    old = [i.key for i in items]
    if drawn is None or not added or not drawn.shows(old, controls):
        return keep
    states, _ = stores.load_saved(saved)
    budget = MAX_VIEW_STEPS - drawn.steps
    w = controls.smoothing
    new = analyse_appended(items + added, len(items), states, smoothing=w, budget=budget)
    if new is None or not drawn.fits(new):
        return keep
    traces = [t for a in new for t in figs.run_traces(a, controls.x, controls.kind)]
    curves = Edit().extend(("data",), traces)
    y = drawn.merged_range(new)
    if y is not None and "y" not in controls.logs:
        curves = curves.assign(("layout", "yaxis", "range"), list(y))
    state = dataclasses.replace(
        drawn,
        keys=(*drawn.keys, *(i.key for i in added)),
        y=y,
        steps=drawn.steps + steps_drawn(new),
    )
    return SelectionEdit(
        KEEP,
        KEEP,
        curves=curves,
        table=Edit().extend((), compare.final_rows(new)),
        efficiency=Edit().extend(("data",), [figs.point_trace(a) for a in new]),
        view=state.to_dict(),
    )


def chips(selection: Any, saved: Any) -> Chips:
    """One removable badge per compared run, in its chart colour.

    A saved run deleted elsewhere (another browser tab, an import) keeps a chip, so it can be
    removed from the comparison; it is drawn nowhere.
    """
    items, _ = parse_selection(selection)
    states, _ = stores.load_saved(saved)
    labels = {slot: label for slot, _, label, _ in item_states(items, states)}
    return Chips(
        tuple(
            Chip(
                key=item.key,
                label=labels.get(slot, f"deleted saved run {item.ref}"),
                color=figs.color(slot),
                gone=slot not in labels,
            )
            for slot, item in enumerate(items)
        )
    )


# ----------------------------------------------------------------------------- views
def update_views(
    selection: Any, saved: Any, controls: Controls, view: Any, *, list_changed: bool
) -> Views:
    """Curves, final metrics and compute efficiency from one pass over each compared run.

    When only the comparison list changed (``list_changed``) and ``edit_selection`` already
    appended the new runs to these views, there is nothing left to do.
    """
    items, errors = parse_selection(selection)
    keys = [i.key for i in items]
    drawn = ViewState.from_dict(view)
    if list_changed and drawn is not None and drawn.shows(keys, controls):
        return Views(KEEP, KEEP, KEEP, KEEP, KEEP)
    states, saved_errors = stores.load_saved(saved)
    analyses, notes = analyse_items(items, states, smoothing=controls.smoothing)
    curves = figs.curves_figure(
        analyses,
        controls.x,
        log_x="x" in controls.logs,
        log_y="y" in controls.logs,
        show=controls.kind,
        smoothing=controls.smoothing,
    )
    notes = errors + notes + [f"Saved runs: {e}" for e in saved_errors[:3]]
    return Views(
        curves=curves,
        table=compare.final_rows(analyses),
        efficiency=figs.efficiency_figure(analyses),
        notes=Notice.of(notes, "secondary"),
        view=ViewState.of(analyses, keys, controls, notes).to_dict(),
    )


def config_diff(selection: Any, saved: Any, hide: Any) -> Diff:
    """Settings side by side: differing rows tinted, values unlike the first run's in bold."""
    items, _ = parse_selection(selection)
    states, _ = stores.load_saved(saved)
    runs = [(label, st) for _, _, label, st in item_states(items, states)]
    columns = [{"id": "field", "name": "Setting"}] + [
        {"id": f"c{k}", "name": label} for k, (label, _) in enumerate(runs)
    ]
    if len(runs) < 2:
        note = "Compare two or more runs to see how their settings differ."
        return Diff(columns, [{"field": note}], [])
    flat = [(f"c{k}", compare.flatten_config(s)) for k, (_, s) in enumerate(runs)]
    rows = compare.config_diff(flat, hide_identical=bool(hide))
    for r in rows:
        r["differs"] = "yes" if r["differs"] else ""
    if not rows:
        rows = [{"field": "All settings are identical.", "differs": ""}]
    return Diff(columns, rows, figs.diff_styles(rows, len(runs)))


# ------------------------------------------------------------------------- CSV export
def _cell(v: Any) -> Any:
    """A table cell from the browser, for the CSV: a finite number or a bounded string."""
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, (int, float)):
        return v if math.isfinite(v) else None
    return str(v)[:MAX_CELL] if isinstance(v, str) else None


def rows_to_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    """The final-metrics table as CSV with the on-screen headings (full precision)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([title for _, title in TABLE_COLUMNS])
    for r in rows:
        w.writerow(["" if r.get(c) is None else r.get(c) for c, _ in TABLE_COLUMNS])
    return buf.getvalue()


def export_csv(rows: Any) -> CsvExport:
    """The final-metrics table as shown, as CSV (cells validated, sizes bounded): built from
    the rows the browser holds, so exporting costs no recomputation."""
    clean = [
        {c: _cell(r.get(c)) for c, _ in TABLE_COLUMNS}
        for r in (rows[:MAX_COMPARED] if isinstance(rows, list) else [])
        if isinstance(r, dict)
    ]
    return CsvExport(download(rows_to_csv(clean), "run-comparison.csv", "text/csv"))


# ------------------------------------------------------------------- published scores
def benchmark_source(value: Any) -> str:
    """The benchmark source the browser chose, or the default if it names none."""
    return value if isinstance(value, str) and value in bd.SOURCES else bd.DEFAULT_SOURCE


def bench_choices(source: Any) -> BenchChoices:
    """Models and benchmarks of the chosen source, all selected."""
    src = benchmark_source(source)
    models, benches = bd.models(src), bd.benchmarks(src)
    return BenchChoices(models, models, benches, benches)


def bench_views(source: Any, models: Any, benches: Any) -> BenchViews:
    """Bars, radar and the table of numbers for one source (never two protocols at once)."""
    src = benchmark_source(source)
    ms = [m for m in models if isinstance(m, str)] if isinstance(models, list) else None
    bs = [b for b in benches if isinstance(b, str)] if isinstance(benches, list) else None
    return BenchViews(
        figs.benchmark_bars(src, ms, bs),
        figs.benchmark_radar(src, ms, bs),
        figs.benchmark_rows(src, ms, bs),
    )
