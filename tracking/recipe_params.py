"""A watched run's recipe guess, kept in the run's params where every reader of runs sees it.

``tracking.recipe.guess`` turns a run's settings and curves into a simulator
``TrainingConfig`` and says, per field, where the value came from. The watcher stores it
beside the run's own settings as flat text, the form params already have:

- ``recipe.<field>``: the value, as the saved-config JSON writes it (``"llama-2-7b"`` as
  ``llama-2-7b``, ``0.0003``, ``true``, ``null``; ``custom_model`` as a JSON object);
- ``recipe_provenance.<field>``: ``found``, ``derived`` or ``assumed``, then ``: `` and the
  source (``found: args.learning_rate``).

So ``TrainingConfig.from_dict({k: json.loads(v) ...})`` of the ``recipe.`` keys (strings
taken as they are) rebuilds the config, and the user sees and can correct each field.

These two prefixes are the watcher's: keys starting with them are dropped from what is
handed to ``guess`` (its lookup goes by the last part of a key, so ``recipe.seq_len`` would
otherwise be read back as a stated ``seq_len``) and rewritten on every update.

The guess is made again whenever a read brings new points or settings, from the stored
curves (``stored_curves``: a few thousand points each, so a 1M-step run costs what a short
one does) merged with the read's (``merged``), so it can be written in the same transaction
as the points.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence

import numpy as np

from tracking.recipe import guess
from tracking.recipe.schedule import LR_SERIES
from tracking.recipe.settings import base_name
from tracking.recipe.training import TOKEN_SERIES, TOTAL_STEP_SERIES
from tracking.records import Series, Values
from tracking.store import Store

RECIPE = "recipe."
PROVENANCE = "recipe_provenance."
RESERVED = (RECIPE, PROVENANCE)
DASHBOARD = "dashboard."
CURVES = frozenset((*LR_SERIES, *TOKEN_SERIES, *TOTAL_STEP_SERIES))
"""Metrics (by the last part of their name) whose curve the guess reads; of the others it
only uses the last step."""
CURVE_POINTS = 4_000


def settings_only(params: Mapping[str, str]) -> dict[str, str]:
    """``params`` without the recipe keys: what the run's sources recorded."""
    return {k: v for k, v in params.items() if not k.startswith(RESERVED)}


def dashboard_params(params: Mapping[str, str]) -> dict[str, str]:
    """The keys users saved on the page (``dashboard.``: recipe corrections,
    ``tracking.recipe.corrections``): the watcher reads them again before each guess, since
    they may have been saved after it loaded the run."""
    return {k: v for k, v in params.items() if k.startswith(DASHBOARD)}


def recipe_only(params: Mapping[str, str]) -> dict[str, str]:
    """Only the recipe keys of ``params``."""
    return {k: v for k, v in params.items() if k.startswith(RESERVED)}


def recipe_params(params: Mapping[str, str], series: Sequence[Series]) -> dict[str, str]:
    """The ``recipe.*`` and ``recipe_provenance.*`` keys for a run with these settings and
    curves (recipe keys already in ``params`` are ignored)."""
    config, guesses = guess(settings_only(params), series)
    values = config.to_dict()
    out: dict[str, str] = {}
    for g in guesses:
        value = values.get(g.field, g.value)
        out[RECIPE + g.field] = value if isinstance(value, str) else json.dumps(value)
        out[PROVENANCE + g.field] = f"{g.provenance}: {g.source}"
    return out


def stored_curves(store: Store, run_id: str) -> list[Series]:
    """What the recipe guess needs of a run's stored points: the curves it reads (learning
    rate, token counters, total steps; at most ``CURVE_POINTS`` each, every bucket's
    extremes kept) and, for every other metric, only its first and last step."""
    out: list[Series] = []
    for m in store.metrics(run_id):
        if m.first_step is None or m.last_step is None:
            continue
        if base_name(m.metric) in CURVES:
            curve = store.series(run_id, m.metric, points=CURVE_POINTS)
            out.append(Series(m.metric, curve.step, curve.value, _nan(len(curve))))
        else:
            out.append(_span(m.metric, m.first_step, m.last_step))
    return out


def merged(stored: Sequence[Series], new: Sequence[Series]) -> list[Series]:
    """``stored`` and a read's ``new`` points as the guess needs them: the curves it reads
    merged in step order (a new point wins at a step both have), the other metrics reduced
    to their first and last step."""
    parts: dict[str, list[Series]] = {}
    for s in (*stored, *new):
        if len(s):
            parts.setdefault(s.metric, []).append(s)
    out = []
    for metric, group in parts.items():
        step = np.concatenate([s.step for s in group])
        if base_name(metric) not in CURVES:
            out.append(_span(metric, int(step.min()), int(step.max())))
            continue
        value = np.concatenate([s.value for s in group])
        order = np.argsort(step, kind="stable")
        step, value = step[order], value[order]
        last = np.append(step[1:] != step[:-1], True)  # the last point at each step
        out.append(Series(metric, step[last], value[last], _nan(int(last.sum()))))
    return out


def _nan(n: int) -> Values:
    return np.full(n, math.nan)


def _span(metric: str, first: int, last: int) -> Series:
    return Series(metric, np.array([first, last], dtype=np.int64), _nan(2), _nan(2))
