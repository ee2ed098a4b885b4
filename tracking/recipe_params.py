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
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from tracking.recipe import guess
from tracking.records import Series

RECIPE = "recipe."
PROVENANCE = "recipe_provenance."
RESERVED = (RECIPE, PROVENANCE)


def settings_only(params: Mapping[str, str]) -> dict[str, str]:
    """``params`` without the recipe keys: what the run's sources recorded."""
    return {k: v for k, v in params.items() if not k.startswith(RESERVED)}


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
