"""How the recipe guess finds a setting: the names frameworks give each one (``ALIASES``),
looked up by the last part of a param's key, and the ``Field`` each guess fills."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from simulator.config import TrainingConfig
from tracking.records import Provenance

ALIASES: dict[str, tuple[str, ...]] = {
    # architecture (HF config.json, GPT-2, DistilBERT, Megatron, llm.c, nanoGPT, Lightning)
    "d_model": (
        "hidden_size",
        "d_model",
        "n_embd",
        "dim",
        "model_dim",
        "emb_dim",
        "embed_dim",
        "embedding_dim",
        "n_embed",
        "channels c",
    ),
    "n_layers": ("num_hidden_layers", "num_layers", "n_layer", "n_layers", "num_layers l"),
    "n_heads": ("num_attention_heads", "n_head", "n_heads", "num_heads", "num_heads nh", "nhead"),
    "n_kv_heads": (
        "num_key_value_heads",
        "n_kv_heads",
        "n_kv_head",
        "num_kv_heads",
        "num_query_groups",
    ),
    "ffn_dim": (
        "intermediate_size",
        "ffn_hidden_size",
        "n_inner",
        "ffn_dim",
        "d_ff",
        "ff_hidden",
        "hidden_dim",
        "dim_feedforward",
        "mlp_dim",
    ),
    "vocab_size": ("vocab_size", "vocab_size v", "padded_vocab_size", "n_vocab"),
    "context_len": (
        "max_position_embeddings",
        "n_positions",
        "n_ctx",
        "max_sequence_length t",
        "block_size",
        "max_seq_len",
        "seq_length",
        "max_seq_length",
        "context_length",
    ),
    "model_name": (
        "base_model_name_or_path",
        "_name_or_path",
        "model_name_or_path",
        "pretrained_model_name_or_path",
        "name_or_path",
        "model_name",
    ),
    # training
    "seq_len": (
        "max_seq_length",
        "cutoff_len",
        "seq_length",
        "sequence length t",
        "seq_len",
        "block_size",
        "max_seq_len",
        "sequence_length",
    ),
    "micro_batch": (
        "per_device_train_batch_size",
        "micro_batch_size",
        "micro batch size b",
        "train_micro_batch_size_per_gpu",
        "batch_size",
        "train_batch_size",
    ),
    "grad_accum": (
        "gradient_accumulation_steps",
        "accumulate_grad_batches",
        "grad_accum_steps",
        "gradient_accumulation_iters",
    ),
    "world_size": (
        "world_size",
        "num_processes",
        "num_gpus",
        "n_gpu",
        "nproc_per_node",
        "num_devices",
        "devices",
        "gpu_count",
    ),
    "global_batch_seqs": ("global_batch_size",),
    "global_batch_tokens": (
        "total batch size",
        "total_batch_size",
        "tokens_per_step",
        "global_batch_tokens",
        "tokens_per_iter",
    ),
    "lr": ("learning_rate", "lr", "learning rate (lr)", "max_lr", "peak_lr", "lr_peak", "base_lr"),
    "lr_min": ("min_lr", "lr_min", "min_learning_rate", "final_lr"),
    "lr_min_ratio": ("final lr fraction", "min_lr_ratio", "lr_min_ratio", "min_lr_rate"),
    "schedule": (
        "lr_scheduler_type",
        "lr_decay_style",
        "lr scheduler",
        "lr_scheduler",
        "lr_schedule",
        "decay_style",
        "scheduler",
    ),
    "warmup_steps": (
        "warmup_steps",
        "lr_warmup_iters",
        "warmup iterations",
        "warmup_iters",
        "num_warmup_steps",
        "lr_warmup_steps",
    ),
    "warmup_ratio": ("warmup_ratio", "lr_warmup_fraction"),
    "total_steps": (
        "max_steps",
        "train_iters",
        "max_iters",
        "num_iterations",
        "total_steps",
        "train_num_batches",
        "num_training_steps",
    ),
    "epochs": ("num_train_epochs", "max_epochs", "num_epochs", "epochs", "n_epochs"),
    "weight_decay": ("weight_decay", "weight decay", "wd"),
    "grad_clip": ("max_grad_norm", "clip_grad", "grad_clip", "gradient_clip_val", "clip_grad_norm"),
    "seed": ("seed",),
    "bf16": ("bf16",),
    "fp16": ("fp16",),
    "precision": ("precision", "mixed_precision", "dtype", "torch_dtype"),
    "optimizer": ("optim", "optimizer", "optimizer_type", "optimizer_name"),
    "tensor_parallel": (
        "tensor_model_parallel_size",
        "tensor_parallel",
        "tensor_parallel_size",
        "tp_size",
    ),
    "zero_stage": ("zero_stage",),
    "checkpointing": ("gradient_checkpointing", "activation_checkpointing", "recompute"),
    "eval_interval": ("eval_steps", "eval_interval", "val_loss_every"),
    "checkpoint_interval": (
        "save_steps",
        "save_interval",
        "checkpoint_every",
        "checkpoint_interval",
    ),
    "gpu": ("gpu", "device", "gpu_name", "gpu_nvidia"),
}
"""Names each setting goes by, most specific first (HF, Megatron, Lightning, llm.c, nanoGPT)."""
IGNORED_PREFIXES = ("tags.", "mlflow.", "dashboard.")
"""MLflow's tags and run fields say nothing about the recipe; ``dashboard.`` keys are the
corrections a user saved (``tracking.recipe.corrections``), applied on their own: read by
their last part, ``dashboard.recipe_by.gpu`` (a name) would be taken for a stated GPU."""
DEFAULTS = TrainingConfig()


@dataclass
class Field:
    """One field's value and where it came from (a ``Guess`` in the making)."""

    value: Any
    provenance: Provenance
    source: str


class Settings:
    """Params looked up by the last part of their key (case-insensitive), in alias order."""

    def __init__(self, params: Mapping[str, str]) -> None:
        self.by_name: dict[str, list[tuple[str, str]]] = {}
        for key in sorted(params, key=lambda k: (k.count("."), k)):
            if key.startswith(IGNORED_PREFIXES):
                continue
            name = key.rsplit(".", 1)[-1].strip().lower()
            self.by_name.setdefault(name, []).append((key, params[key]))
        self.keys = [k.lower() for k in params]

    def text(self, concept: str) -> tuple[str, str] | None:
        for alias in ALIASES[concept]:
            for key, value in self.by_name.get(alias, ()):
                if value.strip() not in ("", "null", "None"):
                    return key, value.strip()
        return None

    def all(self, concept: str) -> list[tuple[str, str]]:
        return [kv for alias in ALIASES[concept] for kv in self.by_name.get(alias, ())]

    def number(self, concept: str, *, positive: bool = True) -> tuple[str, float] | None:
        for alias in ALIASES[concept]:
            for key, value in self.by_name.get(alias, ()):
                x = parse_float(value)
                if x is not None and (not positive or x > 0):
                    return key, x
        return None

    def whole(self, concept: str) -> tuple[str, int] | None:
        """A positive whole number, at most 2**53 (no count in a recipe is larger; bigger
        ones would only overflow the arithmetic below)."""
        found = self.number(concept)
        if found is None or found[1] > 2**53 or found[1] != int(found[1]):
            return None
        return found[0], int(found[1])

    def flag(self, concept: str) -> tuple[str, bool] | None:
        found = self.text(concept)
        if found is None:
            return None
        b = parse_bool(found[1])
        return None if b is None else (found[0], b)

    def has_prefix(self, prefix: str) -> bool:
        return any(k.startswith(prefix) for k in self.keys)


def base_name(metric: str) -> str:
    return re.split(r"[/.]", metric)[-1].lower()


def parse_float(text: str) -> float | None:
    try:
        x = float(text.strip())
    except ValueError:
        return None
    return x if math.isfinite(x) else None


def parse_bool(text: str) -> bool | None:
    t = text.strip().lower()
    if t in ("true", "1", "yes", "enabled", "on"):
        return True
    if t in ("false", "0", "no", "disabled", "off", "none", "null", ""):
        return False
    return None


def largest_divisor(n: int, at_most: int) -> int:
    return next(d for d in range(min(at_most, n), 0, -1) if n % d == 0)
