"""The Configuration tab's "Plan from a run": a real run's recipe in the form (Dash-free).

The user picks a run from the store (``run_options``: newest first, at most ``MAX_RUNS``,
each with its name, source and last step), and its recipe guess
(``tracking.corrections.current``: ``tracking.recipe.guess`` on the run's settings and a
few thousand points of the curves it reads) fills the form (``load_plan``). Each field
then carries a mark (``marks``): where the value came from (``found: args.learning_rate``,
``derived: ...``) or, when the logs did not say, ``assumed`` with the default's reason,
drawn as a badge with a tooltip and an outline. A field edited since is marked ``edited``.

The user plans the next run as with any config (the estimate, fit advice, Apply and Save
work unchanged). "Save corrections to the run" (``save_corrections``) writes the assumed
fields the user changed back to the run (``tracking.corrections.save``); the next guess
reads them as ``found: corrected by <who> in the dashboard``.

What was loaded lives in the browser (``CFG_PLAN_STORE``, memory): the run id, the guessed
config, the form's values for it and each field's provenance. It is read back with
``parse_plan``, which refuses anything it did not write (docs/architecture.md, "Trust
nothing from the browser"). Nothing here changes the form on failure: a run deleted
meanwhile, a correction out of range or the store unavailable is a notice saying which.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

import simulator as sim
from tracking import corrections as tc
from tracking.records import Guess
from tracking.store import BadInput, RunInfo, Store, StoreUnavailable, UnknownRun
from tracking.store.names import check_run_id
from views import config_form as cf
from views.contract import KEEP, Notice

MAX_RUNS = 50
"""Runs the picker lists (the newest; the store may hold thousands)."""
MODEL = "model"
"""The mark beside the preset picker (the guess's ``model`` field)."""
MARK_NAMES: tuple[str, ...] = (MODEL, *cf.FIELDS)
"""Every mark on the page, in layout order."""
PLAN_VERSION = 1
KINDS = ("found", "derived", "assumed")
OpenStore = Callable[[], Store]


def no_store() -> Store:
    """The ``OpenStore`` of a caller that has no run store."""
    raise StoreUnavailable("this dashboard has no run store configured")


# ---------------------------------------------------------------------------- the picker


def _where(info: RunInfo) -> str:
    """The run's source as the picker shows it: the last two parts of a watched folder's
    path (with its reader), or ``pushed`` for a script pushing over HTTP."""
    if info.kind == "push" or info.source == "push":
        return "pushed"
    parts = PurePath(info.source).parts[-2:] if info.source else ()
    where = "/".join(parts) or "unknown source"
    return f"{info.kind} · {where}" if info.kind else where


def run_label(info: RunInfo) -> str:
    """``metamath-sft · trainer_state · real-runs/metamath-sft · step 128``."""
    step = "no points yet" if info.last_step is None else f"step {info.last_step:,}"
    return f"{info.name[:80]} · {_where(info)} · {step}"


@dataclass(frozen=True)
class RunList:
    """The picker's options (newest first) and why there are none, if so."""

    options: list[dict[str, str]]
    placeholder: str


def run_options(open_store: OpenStore) -> RunList:
    """The newest ``MAX_RUNS`` runs in the store, for the picker."""
    try:
        runs = open_store().runs()
    except StoreUnavailable as exc:
        return RunList([], f"The run store is unavailable: {exc}")
    if not runs:
        return RunList([], "No runs in the store yet (python -m tracking watch FOLDER)")
    shown = runs[:MAX_RUNS]
    more = f" (the newest {MAX_RUNS} of {len(runs):,})" if len(runs) > MAX_RUNS else ""
    return RunList(
        [{"label": run_label(r), "value": r.run_id} for r in shown],
        f"Choose a run from the store{more}",
    )


# ------------------------------------------------------------------------------ the plan


def _provenance(guesses: Sequence[Guess]) -> dict[str, list[str]]:
    return {g.field: [g.provenance, g.source[:400]] for g in guesses}


def make_plan(run_id: str, name: str, cfg: sim.TrainingConfig, guesses: Sequence[Guess]) -> dict:
    """What ``CFG_PLAN_STORE`` holds for a loaded run."""
    _, values = cf.config_to_form(cfg)
    return {
        "version": PLAN_VERSION,
        "run": run_id,
        "name": name[:200],
        "config": cfg.to_dict(),
        "values": values,
        "prov": _provenance(guesses),
    }


@dataclass(frozen=True)
class Plan:
    """A loaded run, read back from the browser."""

    run: str
    name: str
    config: sim.TrainingConfig
    values: dict[str, Any]
    prov: dict[str, tuple[str, str]]


def parse_plan(raw: Any) -> Plan | None:
    """``CFG_PLAN_STORE``'s value, or None if there is none or it is not what we wrote."""
    if not isinstance(raw, dict) or raw.get("version") != PLAN_VERSION:
        return None
    run, name, values, prov = (raw.get(k) for k in ("run", "name", "values", "prov"))
    if not isinstance(run, str) or not isinstance(name, str) or len(name) > 200:
        return None
    if not isinstance(values, dict) or not isinstance(prov, dict) or len(prov) > 64:
        return None
    try:
        check_run_id(run)
        config = sim.TrainingConfig.from_dict(raw.get("config"))
    except (BadInput, sim.ConfigError, TypeError, ValueError, AttributeError):
        return None
    marks: dict[str, tuple[str, str]] = {}
    for key, item in prov.items():
        if (
            not isinstance(item, list)
            or len(item) != 2
            or item[0] not in KINDS
            or not isinstance(item[1], str)
            or len(item[1]) > 400
        ):
            return None
        marks[str(key)] = (item[0], item[1])
    shown = {k: v for k, v in values.items() if k in cf.FIELDS and isinstance(v, str)}
    return Plan(run, name, config, shown, marks)


def _guess_field(name: str) -> str:
    """The guess's field behind a form field (the custom shape is ``custom_model``)."""
    if name == MODEL:
        return MODEL
    key = cf.FIELDS[name].key
    return key[0]


def _is_correction(source: str) -> bool:
    return source.startswith("corrected by ")


def tooltip(kind: str, source: str) -> str:
    """What the mark's tooltip says: ``found: args.learning_rate``, or for an assumed field
    ``assumed: not in the run's logs; <the default's reason>``."""
    if kind == "assumed":
        why = source.removeprefix("not recorded; ")
        return f"assumed: not in the run's logs; {why}"
    return f"{kind}: {source}"


def recipe_note(plan: Plan) -> str:
    """Under the preset picker while a run's recipe is loaded (in place of the preset's)."""
    return (
        f"The recipe of the run {plan.name!r}, as its logs state it: each setting's mark "
        "says whether it was found, derived or assumed (hover it for the source)."
    )


# ------------------------------------------------------------------------------- loading


@dataclass(frozen=True)
class Loaded:
    """A run's recipe for the form, or why not (``config`` None: leave the form as it is)."""

    config: sim.TrainingConfig | None
    plan: Any  # CFG_PLAN_STORE's new value, or None when nothing was loaded
    message: Notice


def load_plan(open_store: OpenStore, run_id: Any) -> Loaded:
    """The recipe guess of ``run_id`` for the form, with a notice saying what was loaded."""
    if not isinstance(run_id, str) or not run_id:
        return Loaded(None, None, Notice.of("Choose a run first, then load its recipe.", "warning"))
    try:
        check_run_id(run_id)
        store = open_store()
        info = store.run(run_id)
        if info is None:
            raise UnknownRun(run_id)
        cfg, guesses = tc.current(store, run_id)
    except UnknownRun:
        text = (
            f"Run {run_id[:128]!r} is no longer in the store (deleted meanwhile): nothing "
            "was loaded; the form keeps your settings."
        )
        return Loaded(None, None, Notice.of(text, "danger"))
    except StoreUnavailable as exc:
        text = f"Could not load the run: {exc}. The form keeps your settings; try again."
        return Loaded(None, None, Notice.of(text, "danger"))
    except BadInput as exc:
        return Loaded(None, None, Notice.of(f"Could not load the run: {exc}.", "danger"))
    counts = {k: sum(g.provenance == k for g in guesses) for k in KINDS}
    corrected = sum(_is_correction(g.source) for g in guesses)
    extra = f", {corrected} of them corrected in the dashboard" if corrected else ""
    text = (
        f"Loaded the recipe of {info.name[:80]!r}: {counts['found']} settings found in its "
        f"logs{extra}, {counts['derived']} derived, {counts['assumed']} assumed (marked; "
        "hover a mark for where it came from). Correct what you know and save it to the "
        "run, or plan the next run from here."
    )
    return Loaded(cfg, make_plan(run_id, info.name, cfg, guesses), Notice.of(text, "info"))


# --------------------------------------------------------------------------------- marks


@dataclass(frozen=True)
class Mark:
    """One field's badge: its text, class and tooltip (text "" hides it)."""

    text: str
    kind: str
    tip: str

    @property
    def class_name(self) -> str:
        return f"cfg-prov cfg-prov-{self.kind}" if self.text else "cfg-prov d-none"


HIDDEN = Mark("", "", "")


def _same(name: str, current: Any, loaded: Any) -> bool:
    """Whether the form's value is still the loaded one (compared as parsed values)."""
    f = cf.FIELDS[name]
    try:
        return bool(cf.parse_field(f, current) == cf.parse_field(f, loaded))
    except cf.FormError:
        return False


def mark(plan: Plan, name: str, model: Any, values: Mapping[str, Any]) -> Mark:
    """The badge of one form field (or ``MODEL``) for the loaded plan."""
    field = _guess_field(name)
    if field not in plan.prov or (name != MODEL and name not in cf.FIELDS):
        return HIDDEN  # (an id no form has: only a hand-made request names one)
    if name != MODEL and cf.FIELDS[name].group == "custom" and plan.config.model != cf.CUSTOM:
        return HIDDEN  # a catalogue model's shape: shown only as the preset
    kind, source = plan.prov[field]
    if name == MODEL:
        same = model == plan.config.model
    else:
        same = _same(name, values.get(name), plan.values.get(name))
    if not same:
        if kind == "assumed" or _is_correction(source):
            tip = (
                f"edited here; the run's value was {tooltip(kind, source)}. Save corrections "
                "to the run to record it"
            )
        else:
            tip = f"edited here for the next run; the run's value was {tooltip(kind, source)}"
        return Mark("edited", "edited", tip)
    if _is_correction(source):
        return Mark("corrected", "corrected", tooltip(kind, source))
    return Mark(kind, kind, tooltip(kind, source))


@dataclass(frozen=True)
class MarksResult:
    """Every badge (lists in the request's order) and the plan card's state."""

    text: list[str]
    class_name: list[str]
    tip: list[str]
    save_disabled: bool
    note: str


def marks(
    raw_plan: Any, model: Any, values: Mapping[str, Any], names: Sequence[str]
) -> MarksResult:
    """The badges for the loaded run (hidden when none is loaded) and what Save would do."""
    plan = parse_plan(raw_plan)
    if plan is None:
        n = len(names)
        return MarksResult(
            [""] * n,
            [HIDDEN.class_name] * n,
            [""] * n,
            True,
            "Load a real run's recipe to plan the next one from it; fields its logs do not "
            "state are marked assumed.",
        )
    shown = [mark(plan, n, model, values) for n in names]
    pending = corrections_in_form(plan, model, values)
    fields = ", ".join(_label(f) for f in sorted(pending)) if isinstance(pending, dict) else ""
    if isinstance(pending, str):
        note = f"Planning from {plan.name!r}. {pending}"
    elif pending:
        note = f"Planning from {plan.name!r}. Save corrections to the run: {fields}."
    else:
        note = (
            f"Planning from {plan.name!r}. Change an assumed field to correct it, then save "
            "the correction to the run."
        )
    return MarksResult(
        [m.text for m in shown],
        [m.class_name for m in shown],
        [m.tip for m in shown],
        not (isinstance(pending, dict) and pending),
        note,
    )


# ---------------------------------------------------------------------------- corrections


def corrections_in_form(plan: Plan, model: Any, values: Mapping[str, Any]) -> dict[str, Any] | str:
    """The assumed (or already corrected) settings the form changed, in config units; or
    why there are none to take (the form is invalid)."""
    cfg = cf.form_to_config(model, values).config
    if cfg is None:
        return "Fix the marked fields to save corrections."
    new, old = cfg.to_dict(), plan.config.to_dict()
    out: dict[str, Any] = {}
    for field, (kind, source) in plan.prov.items():
        if field not in new or (kind != "assumed" and not _is_correction(source)):
            continue
        if new[field] != old.get(field):
            out[field] = new[field]
    return out


@dataclass(frozen=True)
class SaveCorrections:
    """The plan after the save (marks now ``corrected``) or KEEP, and the notice."""

    plan: Any
    message: Notice


def save_corrections(
    open_store: OpenStore, raw_plan: Any, model: Any, values: Mapping[str, Any], who: str
) -> SaveCorrections:
    """Write the corrected assumed fields to the loaded run (the form is left as it is)."""
    plan = parse_plan(raw_plan)
    if plan is None:
        text = "Load a run's recipe first: there is no run to save corrections to."
        return SaveCorrections(KEEP, Notice.of(text, "warning"))
    pending = corrections_in_form(plan, model, values)
    if isinstance(pending, str):
        return SaveCorrections(KEEP, Notice.of(f"Not saved: {pending}", "danger"))
    if not pending:
        text = (
            "Nothing to save: no assumed field was changed (found and derived ones are the "
            "run's own)."
        )
        return SaveCorrections(KEEP, Notice.of(text, "secondary"))
    try:
        store = open_store()
    except StoreUnavailable as exc:
        text = f"Not saved: {exc}. The form keeps your settings; try again."
        return SaveCorrections(KEEP, Notice.of(text, "danger"))
    saved = tc.save(store, plan.run, pending, who)
    if not saved.ok or saved.config is None:
        return SaveCorrections(
            KEEP, Notice.of(f"{saved.message} The form keeps your settings.", "danger")
        )
    labels = ", ".join(_label(f) for f in sorted(pending))
    text = (
        f"Saved to run {plan.name!r}: {labels}, corrected by {who}. The run's recipe now "
        f"reads {'it' if len(pending) == 1 else 'them'} as found (the Training tab's "
        "prediction and the Comparison tab use the run's recipe)."
    )
    # The plan now holds the corrected config: the fields read as corrected.
    return SaveCorrections(
        make_plan(plan.run, plan.name, saved.config, saved.guesses), Notice.of(text, "success")
    )


def _label(field: str) -> str:
    if field == MODEL:
        return "Model"
    f = cf.FIELDS.get(field)
    return f.label if f is not None else field
