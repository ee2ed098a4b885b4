"""Recipe fields a user corrected in the dashboard, kept in the run's params.

The logs rarely say everything (the GPU type, ZeRO, the precision): the guess assumes those.
A user who knows better corrects them on the Configuration tab ("Save corrections to the
run", ``tracking.corrections.save``), and the correction is stored with the run's settings
so every reader of the run (the Training tab's prediction, the Comparison tab, the
watcher's stored ``recipe.*``) uses it:

- ``dashboard.recipe.<field>``: the value, written as ``recipe.*`` writes it (strings bare,
  everything else JSON: ``h100-80gb``, ``8``, ``true``, a custom model as a JSON object);
- ``dashboard.recipe_by.<field>``: who saved it (the login nginx checked, else
  ``dashboard``).

``apply`` puts them over the guess as ``found: corrected by <who> in the dashboard``; they
then pass the same bounds and cross-field rules as any found value (``fit.validated``), so a
correction that no longer fits is clamped or refused with the reason in its source. A value
that cannot be read at all (not JSON where JSON is due) is skipped, and the field keeps its
guess. Pure: no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from simulator.config import TrainingConfig
from tracking.recipe.settings import Field

VALUE = "dashboard.recipe."
BY = "dashboard.recipe_by."
FIELDS = frozenset(f.name for f in fields(TrainingConfig))
TEXT_FIELDS = frozenset(("model", "gpu", "precision", "optimizer", "schedule"))
"""Fields whose value is stored as bare text (the others are JSON)."""


def source(who: str) -> str:
    """The ``Guess.source`` of a corrected field."""
    return f"corrected by {who} in the dashboard"


def encode(field: str, value: Any) -> str:
    """A field's value as the params keep it (strings bare, else JSON)."""
    return value if isinstance(value, str) and field in TEXT_FIELDS else json.dumps(value)


def decode(field: str, text: str) -> Any:
    """The value of a stored correction; ``ValueError`` if it is not readable."""
    if field in TEXT_FIELDS:
        return text
    return json.loads(text)


def saved(params: Mapping[str, str]) -> dict[str, tuple[Any, str]]:
    """The corrections in ``params``: field -> (value, who); unreadable ones left out."""
    out: dict[str, tuple[Any, str]] = {}
    for key, text in params.items():
        if not key.startswith(VALUE):
            continue
        name = key[len(VALUE) :]
        if name not in FIELDS or not isinstance(text, str):
            continue
        try:
            value = decode(name, text)
        except ValueError:
            continue
        out[name] = (value, params.get(BY + name) or "someone")
    return out


def apply(params: Mapping[str, str], out: dict[str, Field]) -> None:
    """Put the saved corrections over the guessed fields in ``out``."""
    for name, (value, who) in saved(params).items():
        out[name] = Field(value, "found", source(who))
        if name == "model" and value != "custom" and "custom_model" not in saved(params):
            out["custom_model"] = Field(None, "found", source(who))
