"""What the logs call the metrics the dashboard knows, by the last part of the name
(``train/loss`` -> ``loss``; ``tracking.recipe.settings.base_name``).

One vocabulary for every reader of the store: the Training and Comparison tabs put a run's
metrics on their charts with it, and the alert detectors choose what to watch with it; two
lists had drifted (llm.c's ``norm`` was a grad norm to the alerts and an unknown metric to
the charts).
"""

from __future__ import annotations

LOSS = (
    "loss",
    "train_loss",
    "lm_loss",
    "lm loss",
    "training_loss",
    "loss_train",
    "train_loss_step",
    "trl",  # llm.c main.log
)
"""Training loss (HF, Megatron, Lightning, modded-nanogpt, llm.c)."""

VAL = (
    "val_loss",
    "eval_loss",
    "validation_loss",
    "valid_loss",
    "test_loss",
    "val_loss_epoch",
    "tel",  # llm.c main.log
)
"""Validation loss, when the name alone says so (``eval/loss`` is told by its prefix)."""

LR = ("lr", "learning_rate", "learning rate", "learning-rate", "lr-adamw", "lr_0")
"""Learning rate (HF, Lightning's ``lr-AdamW``, param group 0)."""

GRAD = (
    "grad_norm",
    "grad-norm",
    "grad norm",
    "gradient_norm",
    "grad_norm_total",
    "global_grad_norm",
    "total_norm",
    "norm",  # llm.c
)
"""Gradient norm (HF, Megatron, torchtitan, llm.c)."""
