"""Reading the Stores every tab shares, once: the run, the config, the saved runs.

Every Store comes back from the browser and may be stale, edited or hostile
(docs/architecture.md, "Trust nothing from the browser"). These readers check size and schema
before any work is done and never raise: a bad value comes back as None (or is left out)
with a sentence saying what was wrong, for the caller to show as a ``Notice``.
"""

from __future__ import annotations

import json
from typing import Any

import simulator as sim
from simulator import saved as saved_runs
from simulator.run import MAX_STATE_BYTES

DEFAULT_MODEL = "llama-2-7b"
"""The recipe used when no valid config was applied (the Configuration tab's default too)."""


def load_run(raw: Any) -> tuple[sim.RunState | None, str | None]:
    """The run in ``RUN_STORE``: ``(state, None)``, ``(None, None)`` when there is no run,
    or ``(None, why)`` when it could not be used (the caller resets it and says so).
    """
    if raw is None:
        return None, None
    try:
        if len(json.dumps(raw, separators=(",", ":"))) > MAX_STATE_BYTES:
            raise sim.StateError(f"it is larger than {MAX_STATE_BYTES:,} bytes")
        return sim.RunState.from_dict(raw), None
    except (sim.StateError, TypeError, ValueError, RecursionError) as exc:
        return None, (
            f"The run saved in this browser tab could not be used ({str(exc)[:160]}). "
            "It was cleared; press Start for a fresh run."
        )


def read_config(raw: Any) -> tuple[sim.TrainingConfig | None, str | None]:
    """A config Store's value: ``(config, None)``, ``(None, None)`` when nothing is stored, or
    ``(None, why)`` when what is stored cannot be used."""
    if raw is None:
        return None, None
    if not isinstance(raw, dict):
        return None, "it is not a configuration"
    try:
        return sim.TrainingConfig.from_dict(raw), None
    except (sim.ConfigError, TypeError, ValueError, RecursionError) as exc:
        return None, str(exc)[:160]


def load_config(raw: Any) -> sim.TrainingConfig | None:
    """The config in a config Store (``CONFIG_STORE``, the draft), or None if absent or bad."""
    return read_config(raw)[0]


def config_or_default(raw: Any) -> sim.TrainingConfig:
    """The config applied for the next run when valid, else the default recipe."""
    return load_config(raw) or sim.preset(DEFAULT_MODEL)


def applied_config(raw: Any) -> tuple[sim.TrainingConfig, str | None]:
    """The config applied for the next run (``CONFIG_STORE``), or the default recipe and a
    sentence saying why the stored one was not used (None when nothing was stored)."""
    cfg, why = read_config(raw)
    if cfg is not None:
        return cfg, None
    default = sim.preset(DEFAULT_MODEL)
    if why is None:
        return default, None
    return default, (
        f"The configuration applied for the next run could not be used ({why}); the run uses "
        f"the {sim.MODELS[DEFAULT_MODEL].name} recipe instead. Apply a configuration again on "
        "the Configuration tab."
    )


def load_saved(raw: Any) -> tuple[dict[str, sim.RunState], list[str]]:
    """The valid saved runs by id (oldest first) and a sentence per entry left out."""
    good, errors = saved_runs.load_saved(raw)
    return dict(good), errors
