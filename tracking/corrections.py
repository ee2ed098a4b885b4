"""Save a user's corrections of a run's recipe guess back to the run (Dash-free).

The Configuration tab's "Plan from a run" loads a run's guessed recipe; fields the logs did
not state are assumed, and a user who knows them (the GPU type, the precision) corrects
them there. ``save(store, run_id, changes, who)`` checks the corrections against the
simulator's rules (the run's guessed config with the changes must be a config the
simulator accepts; a ``ConfigError`` names the field and what is allowed) and writes them
to the run's params (``dashboard.recipe.<field>`` and ``dashboard.recipe_by.<field>``,
``tracking.recipe.corrections``) together with the run's ``recipe.*`` guess made again with
them, in one transaction, so the Training and Comparison tabs read the corrected recipe at
once. It never raises for anything a user can cause: the ``Saved`` says what happened.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from simulator.config import ConfigError, TrainingConfig
from tracking.recipe import corrections, guess
from tracking.recipe_params import recipe_params, settings_only, stored_curves
from tracking.records import Guess
from tracking.store import BadInput, Store, StoreUnavailable, UnknownRun

MAX_CORRECTIONS = len(corrections.FIELDS)


@dataclass(frozen=True)
class Saved:
    """``ok``: written; ``message``: one sentence for the page; ``guesses``: the run's recipe
    guess after the save (empty when nothing was written)."""

    ok: bool
    message: str
    config: TrainingConfig | None = None
    guesses: list[Guess] = field(default_factory=list)


def current(store: Store, run_id: str) -> tuple[TrainingConfig, list[Guess]]:
    """The run's recipe guess now, with its saved corrections (``UnknownRun`` if gone)."""
    if store.run(run_id) is None:
        raise UnknownRun(f"no run {run_id!r} in the store")
    params = settings_only(store.params(run_id))
    return guess(params, stored_curves(store, run_id))


def _with_changes(
    cfg: TrainingConfig, guesses: list[Guess], changes: Mapping[str, Any]
) -> dict[str, Any]:
    """The config the guess will make with ``changes``, for checking them: the run's step
    count is what its logs say, so a dataset size the guess derived from the old batch or
    epochs follows a corrected one (correcting the batch alone was refused: "warmup 693 >
    the run's 153 steps", the old dataset split into the new batch)."""
    merged = {**cfg.to_dict(), **dict(changes)}
    derived = {g.field for g in guesses if g.provenance == "derived"}
    if "dataset_tokens" in derived and "dataset_tokens" not in changes:
        steps = cfg.dataset_tokens * cfg.epochs / cfg.global_batch_tokens
        # a bad batch or epochs is left for from_dict to name
        with contextlib.suppress(TypeError, ValueError, ZeroDivisionError):
            merged["dataset_tokens"] = (
                steps * float(merged["global_batch_tokens"]) / float(merged["epochs"])
            )
    return merged


def save(store: Store, run_id: str, changes: Mapping[str, Any], who: str) -> Saved:
    """Check ``changes`` (field -> value in config units) and write them to ``run_id``."""
    if not changes:
        return Saved(False, "Nothing to save: no assumed field was changed.")
    unknown = sorted(k for k in changes if k not in corrections.FIELDS)
    if unknown or len(changes) > MAX_CORRECTIONS:
        return Saved(False, f"Not saved: {', '.join(unknown)[:200]} is not a recipe field.")
    try:
        if store.run(run_id) is None:
            raise UnknownRun(f"no run {run_id!r} in the store")
        params = settings_only(store.params(run_id))
        curves = stored_curves(store, run_id)  # read once: the check, the write, the answer
        cfg, guesses = guess(params, curves)
        try:
            TrainingConfig.from_dict(_with_changes(cfg, guesses, changes))
        except (ConfigError, TypeError, ValueError) as exc:
            return Saved(False, f"Not saved: {exc}.")
        saved = {}
        for name, value in changes.items():
            saved[corrections.VALUE + name] = corrections.encode(name, value)
            saved[corrections.BY + name] = who
        recipe = recipe_params({**params, **saved}, curves)
        store.update_params(run_id, {**saved, **recipe})
        cfg, guesses = guess({**params, **saved}, curves)
    except UnknownRun:
        return Saved(
            False, f"Not saved: run {run_id!r} is no longer in the store (deleted meanwhile)."
        )
    except StoreUnavailable as exc:
        return Saved(False, f"Not saved: {exc}. Try again in a moment.")
    except BadInput as exc:
        return Saved(False, f"Not saved: {exc}.")
    names = ", ".join(sorted(changes))
    return Saved(True, f"Saved to run {run_id!r} as corrected by {who}: {names}.", cfg, guesses)
