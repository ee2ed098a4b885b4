"""The Model Comparison tab's actions: one function per user action or Store change.

Each returns a named result whose fields are the callback's outputs (``callbacks.adapt``):
the saved-runs table and its rename/delete/import/export, the add/remove/clear of the
comparison list (appending a run to drawn views as ``Edit``s when it can), the curves, table
and efficiency views, the config diff, the CSV of the final-metrics table (``TABLE_COLUMNS``:
its columns and headings) and the published-scores views.

The Stores it reads and writes (the comparison list, what the views hold) and the controls
are defined in ``views.comparison_list``. Every value from the browser may be stale, edited or
hostile (docs/architecture.md, "Trust nothing from the browser"): each is validated, and no
input can make a request do unbounded work (``MAX_COMPARED`` runs, ``MAX_VIEW_STEPS`` steps
per view, ``simulator.saved.MAX_IMPORT_BYTES`` per import). Nothing is cached between
requests (any worker answers any request): every view is recomputed from the list and the
saved runs. The computation itself (curves, final figures, config diff, frontier) is
``simulator.compare``; the figure dicts are ``layouts.figures.comparison``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

from layouts.figures import comparison as figs
from simulator import benchmarks_data as bd
from simulator import compare, fmt
from simulator import saved as saved_runs
from simulator.presets import PRESETS, assumed_settings, provenance
from views import comparison_real as real
from views import csv_cells, stores
from views.comparison_list import (
    MAX_COMPARED,
    MAX_REF,
    MAX_VIEW_STEPS,
    REAL_KINDS,
    Controls,
    Item,
    SelectionError,
    ViewState,
    analyse_appended,
    analyse_items,
    item_states,
    parse_selection,
    real_refs,
    recipe_label,
    saved_name,
    steps_drawn,
    view_cost,
)
from views.contract import KEEP, Admit, Edit, Notice, admit_all, download

MAX_CELL = 200  # characters of a text cell accepted back from the browser for the CSV

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


# ---------------------------------------------------------------------------- results
@dataclass(frozen=True)
class SavedTable:
    """The saved-runs table, its caption, and what could not be read (shown above two
    buttons: download the stored list as it is, keep only what can be read)."""

    table: list[dict[str, Any]]
    count: str
    problem_hidden: bool = True
    problem_text: str = ""


@dataclass(frozen=True)
class SavedPurge:
    """After "Clear the unreadable entries": the readable saved runs and a message."""

    saved: Any
    message: Any


@dataclass(frozen=True)
class SavedEdit:
    """After a rename, delete or import: the saved runs, the comparison list, a message, the
    upload cleared (so the same file can be imported again), and for a delete what Undo
    puts back (``undo``: ``{"runs": [[index, entry]], "items": [[index, item]]}``) with the
    undo bar's text and whether it shows."""

    saved: Any
    selection: Any
    message: Any
    upload: Any
    undo: Any = KEEP
    undo_text: Any = KEEP
    undo_open: Any = KEEP


@dataclass(frozen=True)
class SavedUndo:
    """After Undo: the saved runs and comparison list as before the delete, a message, and
    the undo bar closed with nothing left to undo."""

    saved: Any
    selection: Any
    message: Any
    undo: Any = None
    undo_open: bool = False


UNDO_MS = 10_000
"""How long the undo bar stays after a delete (W&B and Gmail keep theirs ~5-10 s)."""


@dataclass(frozen=True)
class SavedExport:
    download: dict[str, Any]


@dataclass(frozen=True)
class AddOptions:
    options: list[dict[str, Any]]


@dataclass(frozen=True)
class SelectionEdit:
    """After an add, remove or clear: the list, a message, and after an add the views with
    the new runs: appended to the charts and table when they already show the rest, else
    redrawn whole (with their notes), and the new view state."""

    selection: Any
    message: Any
    curves: Any = KEEP
    table: Any = KEEP
    efficiency: Any = KEEP
    view: Any = KEEP
    notes: Any = KEEP


@dataclass(frozen=True)
class Chip:
    """One compared run's badge: its label, chart colour, and whether its saved run is gone."""

    key: str
    label: str
    color: str
    gone: bool
    predict: bool = False  # a real run whose prediction is not compared yet: offer it


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
    """The config-diff table: columns, rows, cell styles and per-cell tooltips (a real
    run's recipe fields: where each value came from)."""

    columns: list[dict[str, str]]
    rows: list[dict[str, Any]]
    style: list[dict[str, Any]]
    tooltips: list[dict[str, Any]] = dataclasses.field(default_factory=list)


@dataclass(frozen=True)
class RealTable:
    """The real-run picker: rows (newest first, bounded) and its caption."""

    rows: list[dict[str, Any]]
    caption: str


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
    """The saved-runs table, newest first; entries that cannot be read are not shown, and the
    caption says what was wrong with them and offers to download the list and clear them."""
    good, errors = stores.load_saved(saved)
    metas = {
        e["id"]: saved_runs.entry_meta(e)
        for e in (saved if isinstance(saved, list) else [])
        if isinstance(e, dict) and isinstance(e.get("id"), str)
    }
    rows = []
    for rid, s in reversed(good.items()):
        m = metas.get(rid, saved_runs.Meta())
        rows.append(
            {
                "id": rid,
                "name": saved_name(s),
                "model": fmt.model_name(s.config.model),
                "hardware": saved_runs.hardware(s),
                "status": s.status,
                "steps": s.step,
                "progress": s.progress,
                "saved": m.saved_at.replace("T", " ")[:16] + " UTC" if m.saved_at else "",
                "tags": ", ".join(m.tags),
                "notes": m.notes,
            }
        )
    count = f"{len(good)} of at most {saved_runs.MAX_SAVED}, newest first"
    if not errors:
        return SavedTable(rows, count)
    n = len(errors)
    if isinstance(saved, list):
        what = f"{n} entr{'y' if n == 1 else 'ies'} could not be read ({errors[0]})"
    else:
        what = f"the stored value is not a list ({type(saved).__name__})"
    problem = (
        f"Saved runs could not all be read: {what}. They are left out. Download the stored "
        "list as it is to keep them, then clear what cannot be read."
    )
    count += f"; {n} invalid entr{'y' if n == 1 else 'ies'} ignored"
    return SavedTable(rows, count, False, problem)


def purge_saved(saved: Any) -> SavedPurge:
    """Keep only the saved runs that can be read (each as it was stored, id included)."""
    good, errors = stores.load_saved(saved)
    if not errors:
        return SavedPurge(KEEP, Notice.of("Every saved run can be read: nothing to clear.", "info"))
    kept = [{"id": rid, "state": s.to_dict()} for rid, s in good.items()]
    n = len(errors)
    msg = (
        f"Cleared {n} unreadable saved-run entr{'y' if n == 1 else 'ies'}; "
        f"kept {len(kept)} saved run{'' if len(kept) == 1 else 's'}."
    )
    return SavedPurge(kept, Notice.of(msg, "info"))


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
    out, taken = saved_runs.take_runs(saved, chosen)
    if not taken:
        return SavedEdit(KEEP, KEEP, Notice.of("The selected runs are no longer saved."), KEEP)
    items, _ = parse_selection(selection)
    gone = {e["id"] for _, e in taken}
    kept = [i.to_dict() for i in items if not (i.kind == "saved" and i.ref in gone)]
    removed = [[k, i.to_dict()] for k, i in enumerate(items) if i.kind == "saved" and i.ref in gone]
    names = [saved_runs.entry_label(e) if e["state"].get("name") else "" for _, e in taken]
    n = len(taken)
    what = f"{n} saved runs" if n > 1 else (repr(names[0]) if names[0] else "1 saved run")
    undo = {"runs": taken, "items": removed}
    return SavedEdit(out, kept, None, KEEP, undo, f"Deleted {what}.", True)


def undo_delete(undo: Any, saved: Any, selection: Any) -> SavedUndo:
    """Undo: the deleted runs back in their places, and back in the comparison they left.

    ``undo`` comes from the browser (a memory store): malformed parts are ignored, runs saved
    again meanwhile are not doubled, and the lists stay within their bounds.
    """
    if not isinstance(undo, dict):
        return SavedUndo(KEEP, KEEP, Notice.of("Nothing to undo.", "info"))
    runs, n = saved_runs.restore_runs(saved, undo.get("runs"))
    items, _ = parse_selection(selection)
    back = undo.get("items") if isinstance(undo.get("items"), list) else []
    out = [i.to_dict() for i in items]
    have = {i.key for i in items}
    for pair in back[:MAX_COMPARED]:
        if isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], int):
            try:
                item = Item.from_dict(pair[1])
            except SelectionError:
                continue
            if item.key not in have and len(out) < MAX_COMPARED:
                out.insert(max(0, min(pair[0], len(out))), item.to_dict())
                have.add(item.key)
    msg = f"Restored {n} saved run{'s' if n != 1 else ''}." if n else "Nothing to undo."
    return SavedUndo(runs if n else KEEP, out if n else KEEP, Notice.of(msg, "info"))


@dataclass(frozen=True)
class SavedCells:
    """After a name, tags or notes cell of the saved-runs table was edited: the saved runs."""

    saved: Any


EDITABLE = ("name", "tags", "notes")
"""Saved-runs table columns the user edits in place (``edit_cells``)."""


def edit_cells(rows: Any, saved: Any) -> SavedCells:
    """Apply the table's edited name, tags and notes to the saved runs (by row id).

    A name cell left as the shown default (the model's name) or emptied keeps the run
    unnamed; tags are comma-separated (``saved.parse_tags``). Nothing changed: KEEP.
    """
    if not isinstance(rows, list):
        return SavedCells(KEEP)
    good, _ = stores.load_saved(saved)
    metas = {
        e["id"]: saved_runs.entry_meta(e)
        for e in (saved if isinstance(saved, list) else [])
        if isinstance(e, dict) and isinstance(e.get("id"), str)
    }
    out = saved
    changed = False
    for row in rows[: saved_runs.MAX_SAVED * 2]:
        if not isinstance(row, dict) or row.get("id") not in good:
            continue
        rid = row["id"]
        state, m = good[rid], metas.get(rid, saved_runs.Meta())
        cells = {k: row.get(k) if isinstance(row.get(k), str) else "" for k in EDITABLE}
        name = cells["name"].strip()[: saved_runs.MAX_NAME]
        if name == fmt.model_name(state.config.model) and not state.name:
            name = ""
        tags = saved_runs.parse_tags(cells["tags"])
        notes = cells["notes"].strip()[: saved_runs.MAX_NOTES]
        if (name, tags, notes) != (state.name, m.tags, m.notes):
            out = saved_runs.edit_run(out, rid, name=name, notes=notes, tags=list(tags))
            changed = True
    return SavedCells(out if changed else KEEP)


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
    options += [{"label": preset_option_label(p), "value": f"preset:{p}"} for p in PRESETS]
    return AddOptions(options)


def preset_option_label(slug: str) -> str:
    """A preset as the add list names it: published, or how many of its settings are assumed
    (``simulator.presets.provenance``; the config diff marks which)."""
    prov = provenance(slug)
    name = fmt.model_name(slug)
    n = len(prov.assumed)
    if not prov.published:
        return f"{name} — recipe not published: every setting assumed"
    if n == 0:
        return f"{name} — published recipe"
    return f"{name} — published recipe, {n} setting{'s' if n != 1 else ''} assumed"


SelectionAction = Literal["add", "clear", "remove", "compare", "real", "predict"]


def real_table(
    open_store: real.OpenStore | None, search: Any, now: float | None = None
) -> RealTable:
    """The real-run picker's rows: the store's runs newest first (name, source, status, last
    step, last update, open alerts), at most ``PICKER_LIMIT``, filtered by ``search``."""
    import time

    if open_store is None:
        return RealTable([], "This dashboard has no run store.")
    try:
        runs = open_store().runs()
    except real.StoreUnavailable as exc:
        return RealTable([], f"The run store is unavailable: {exc}")
    if not runs:
        return RealTable([], "No runs in the store yet (python -m tracking watch FOLDER).")
    rows, caption = real.picker_rows(runs, search, time.time() if now is None else now)
    return RealTable(rows, caption)


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
    admit: Admit = admit_all,
    real_selected: Any = None,
    open_store: real.OpenStore | None = None,
) -> SelectionEdit:
    """Add a recipe (``choice``), saved runs (``selected``) or store runs (``real_selected``,
    action "real") to the comparison, add the prediction of the real run keyed ``remove``
    (action "predict"), remove the one keyed ``remove``, or clear it; ``None``: nothing was
    clicked (a button was drawn).

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
    elif action in ("real", "predict"):
        if action == "predict":
            ref = str(remove).removeprefix("real:")
            raw = [{"kind": "prediction", "ref": ref}] if str(remove).startswith("real:") else []
        else:
            chosen = real_selected if isinstance(real_selected, list) else []
            raw = [{"kind": "real", "ref": r} for r in chosen[:MAX_COMPARED]]
        for r in raw:
            try:
                new.append(Item.from_dict(r))
            except SelectionError as exc:
                return SelectionEdit(KEEP, Notice.of(f"Not added: {exc}.", "danger"))
        if not new:
            msg = "Select runs in the real-runs table first." if action == "real" else None
            return SelectionEdit(KEEP, Notice.of(msg) if msg else KEEP)
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
    reals = real.NONE
    controls = controls or Controls()
    if added and any(i.kind in REAL_KINDS for i in added):
        # Only the added runs: with store runs already compared, or no view drawn, the
        # redraw (update_views) reads and draws them all, so no curve is read here.
        drawn_only_sim = view is not None and not any(i.kind in REAL_KINDS for i in items)
        reals = real.read_items(
            open_store, real_refs(added), controls.smoothing, curves=drawn_only_sim
        )
        lost = [i for i in added if i.key in reals.gone]
        if lost:  # a run deleted meanwhile, or no store: say so, add nothing
            return SelectionEdit(KEEP, Notice.of(list(reals.notes), "warning"))
    result = [i.to_dict() for i in items + added]
    appended = _append(items, added, saved, controls, view, admit, reals)
    if added and appended.view is KEEP:
        # Not appendable (a new frontier line, store runs drawn, no view yet): redrawn here,
        # in this answer, so the redraw the new list fires finds nothing left to do. Left to
        # that redraw, the add waited for a second request (issue 17: 277 -> ~240 ms).
        full = update_views(
            result, saved, controls, view, list_changed=False, admit=admit, open_store=open_store
        )
        appended = SelectionEdit(
            KEEP,
            KEEP,
            curves=full.curves,
            table=full.table,
            efficiency=full.efficiency,
            view=full.view,
            notes=full.notes,
        )
    return dataclasses.replace(appended, selection=result, message=Notice.of(errors))


def _append(
    items: list[Item],
    added: list[Item],
    saved: Any,
    controls: Controls,
    view: Any,
    admit: Admit = admit_all,
    reals: real.Reals = real.NONE,
) -> SelectionEdit:
    """Edits appending ``added`` to views that show exactly ``items``; else all ``KEEP``.

    A real run that cannot be drawn on the chosen x-axis needs the chart's note, so its add
    is left to the redraw (``update_views``), as is anything the efficiency chart lacks."""
    keep = SelectionEdit(KEEP, KEEP)
    drawn = ViewState.from_dict(view)
    old = [i.key for i in items]
    if drawn is None or not added or not drawn.shows(old, controls):
        return keep
    if any(i.kind in REAL_KINDS for i in items):
        return keep  # the drawn store runs may have changed since: redraw them all
    states, _ = stores.load_saved(saved)
    new_states = [
        st for slot, _, _, st in item_states(items + added, states, reals) if slot >= len(items)
    ]
    if not drawn.has_frontiers_for(new_states):
        return keep  # a new frontier line: the redraw computes the runs, once
    budget = MAX_VIEW_STEPS - drawn.steps
    w = controls.smoothing
    new = admit(
        min(view_cost(added, states), budget),
        "comparison",
        partial(
            analyse_appended,
            items + added,
            len(items),
            states,
            smoothing=w,
            budget=budget,
            reals=reals,
        ),
    )
    if new is None or not drawn.fits(new) or any(a.missing for a in new):
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


def chips(selection: Any, saved: Any, open_store: real.OpenStore | None = None) -> Chips:
    """One removable badge per compared run, in its chart colour; a real run's offers "vs
    prediction" (one click adds its recipe's prediction) until that is compared.

    A saved run deleted elsewhere (another browser tab, an import) or a real run deleted
    from the store keeps a chip, so it can be removed from the comparison; it is drawn
    nowhere.
    """
    items, _ = parse_selection(selection)
    states, _ = stores.load_saved(saved)
    reals = real.read_items(open_store, real_refs(items), curves=False)
    labels = {slot: label for slot, _, label, _ in item_states(items, states, reals)}
    hues = figs.palette_slots([i.key for i in items])
    keys = {i.key for i in items}

    def gone_label(item: Item) -> str:
        if item.kind in REAL_KINDS:
            return f"{item.ref}: no longer in the run store"
        return f"deleted saved run {item.ref}"

    return Chips(
        tuple(
            Chip(
                key=item.key,
                label=labels.get(slot, gone_label(item)),
                color=figs.color(hues[slot]),
                gone=slot not in labels,
                predict=item.kind == "real"
                and slot in labels
                and f"prediction:{item.ref}" not in keys,
            )
            for slot, item in enumerate(items)
        )
    )


# ----------------------------------------------------------------------------- views
def update_views(
    selection: Any,
    saved: Any,
    controls: Controls,
    view: Any,
    *,
    list_changed: bool,
    admit: Admit = admit_all,
    open_store: real.OpenStore | None = None,
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
    reals = real.read_items(open_store, real_refs(items), controls.smoothing)
    analyses, notes = admit(
        view_cost(items, states),
        "comparison",
        partial(analyse_items, items, states, smoothing=controls.smoothing, reals=reals),
    )
    notes = list(reals.notes) + notes
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


def config_diff(
    selection: Any, saved: Any, hide: Any, open_store: real.OpenStore | None = None
) -> Diff:
    """Settings side by side: differing rows tinted, values unlike the first run's in bold.

    A real run's (and its prediction's) column is its guessed recipe: each recipe field
    carries its provenance as a mark (found, derived, assumed, corrected) and a tooltip
    naming where the value came from."""
    items, _ = parse_selection(selection)
    states, _ = stores.load_saved(saved)
    reals = real.read_items(open_store, real_refs(items), curves=False)
    shown = item_states(items, states, reals)
    runs = [(label, st) for _, _, label, st in shown]
    columns = [{"id": "field", "name": "Setting"}] + [
        {"id": f"c{k}", "name": label} for k, (label, _) in enumerate(runs)
    ]
    if len(runs) < 2:
        note = "Compare two or more runs to see how their settings differ."
        return Diff(columns, [{"field": note}], [])
    flat = [(f"c{k}", compare.flatten_config(s)) for k, (_, s) in enumerate(runs)]
    rows = compare.config_diff(flat, hide_identical=bool(hide))
    # A published recipe's settings that its source does not state read "(assumed)"; after
    # the diff, so the mark never makes two equal values look different.
    assumed = {
        f"c{k}": assumed_settings(st.config)
        for k, (_, item, _, st) in enumerate(shown)
        if item.kind == "preset"
    }
    provs = {
        f"c{k}": reals.runs[item.ref].provenance
        for k, (_, item, _, _) in enumerate(shown)
        if item.kind in REAL_KINDS and item.ref in reals.runs
    }
    tips: list[dict[str, Any]] = []
    for r in rows:
        r["differs"] = "yes" if r["differs"] else ""
        for col, fields in assumed.items():
            if r["field"] in fields and col in r:
                r[col] = f"{r[col]} (assumed)"
        tip: dict[str, Any] = {}
        for col, prov in provs.items():
            field = r["field"].split(".")[0]
            if col in r and field in prov:
                kind, source = prov[field]
                r[col] = f"{r[col]} {PROVENANCE_MARKS[kind]}"
                tip[col] = {"value": f"{kind}: {source}"[:400], "type": "text"}
            elif col in r and r["field"] == "seed":
                r[col] = "not known"
        tips.append(tip)
    if not rows:
        rows = [{"field": "All settings are identical.", "differs": ""}]
    style = figs.diff_styles(rows, len(runs)) + _provenance_styles(rows, list(provs))
    return Diff(columns, rows, style, tips if provs else [])


PROVENANCE_MARKS = {
    "found": "(found)",
    "derived": "(derived)",
    "assumed": "(assumed)",
    "corrected": "(corrected)",
}
"""The mark a real run's recipe value carries in the config diff (its tooltip says from
where: ``tracking.recipe``'s source text)."""


def _provenance_styles(rows: Sequence[Mapping[str, Any]], cols: Sequence[str]) -> list[dict]:
    """Assumed values of a real run's recipe in italics and muted: a guess, not the run's."""
    return [
        {
            "if": {"column_id": col, "filter_query": f'{{{col}}} contains "(assumed)"'},
            "fontStyle": "italic",
            "color": "var(--bs-secondary-color)",
        }
        for col in cols
    ]


# ------------------------------------------------------------------------- CSV export
def _cell(v: Any) -> Any:
    """A table cell from the browser, for the CSV: a finite number or a bounded string."""
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, (int, float)):
        return v if math.isfinite(v) else None
    return str(v)[:MAX_CELL] if isinstance(v, str) else None


def rows_to_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    """The final-metrics table as CSV with the on-screen headings (full precision); a text cell
    a spreadsheet would evaluate (a run named ``=HYPERLINK(...)``) is written as text
    (``views.csv_cells``)."""
    heading = [title for _, title in TABLE_COLUMNS]
    return csv_cells.write_rows([heading, *([r.get(c) for c, _ in TABLE_COLUMNS] for r in rows)])


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
