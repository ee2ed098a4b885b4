"""A run's recipe, guessed from whatever settings its logs carry, as a simulator config.

``guess(params, series)`` builds a ``simulator.TrainingConfig`` from a run's params (HF
``args`` / ``model_config`` / ``config.json``, Megatron's arguments, Lightning's
``hparams.yaml``, MLflow params, W&B ``config.yaml``, llm.c's configuration table) and its
series, and says for every field where the value came from (``tracking.records.Guess``):

- ``found``: a setting states it (``args.learning_rate``);
- ``derived``: computed from what is stated or logged: the architecture matched to a
  catalogue model, the batch as per-device x accumulation x GPUs x sequence length, tokens
  per step from the growth of a token counter (TRL's ``num_tokens``), the peak learning rate
  and warmup from the logged ``learning_rate`` curve, the steps from the last logged step;
- ``assumed``: nothing says, so a stated default, with the reason in ``source``.

Settings are looked up by the last part of their key, so ``model_config.hidden_size``,
``hparams.model.hidden_size`` and a bare MLflow ``hidden_size`` all answer ``hidden_size``;
each field has a list of the names frameworks use for it (``settings.ALIASES``), tried in order.

The config always validates: values are clamped into the simulator's bounds (the ``source``
says so), and any field the simulator still refuses falls back to its assumed default with
the refusal as the reason. Nothing here reads files; it is pure.

Corrections a user saved from the dashboard (``dashboard.recipe.<field>`` params, see
``corrections``) replace whatever was guessed for their field and read ``found: corrected by
<who> in the dashboard``; they still pass the bounds and cross-field rules below.

Modules: ``settings`` (aliases and lookup), ``architecture``, ``training`` (hardware, batch,
steps, optimizer), ``schedule`` (learning rate), ``corrections`` (saved by users), ``fit``
(bounds and cross-field rules).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from simulator.config import TrainingConfig
from tracking.recipe import architecture, corrections, fit, schedule, training
from tracking.recipe.settings import Field, Settings, base_name
from tracking.records import Guess, Series

__all__ = ["guess"]


def guess(
    params: Mapping[str, str], series: Sequence[Series]
) -> tuple[TrainingConfig, list[Guess]]:
    """The closest ``TrainingConfig`` to the run, and how each field was found.

    Always returns a config the simulator accepts; see the module doc.
    """
    s = Settings(params)
    out: dict[str, Field] = {}
    curves = {base_name(x.metric): x for x in series}

    architecture.architecture(s, out)
    training.hardware(s, out)
    training.sequence(s, out)
    training.batch(s, curves, out)
    training.steps(s, curves, series, out)
    schedule.learning_rate(s, curves, out)
    training.optimizer(s, out)
    training.misc(s, out)
    training.base_tokens(s, out)
    corrections.apply(params, out)
    return fit.validated(out)
