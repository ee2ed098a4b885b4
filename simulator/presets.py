"""The catalogue models' training recipes, and which of their settings were published.

A preset is a ``TrainingConfig`` built from the published recipe of its model. Papers rarely
publish every setting a simulator needs (GPU count, ZeRO stage, micro-batch ...), so each
recipe names the settings its source states (``Recipe.published``); every other recipe setting
(``RECIPE_FIELDS``) is assumed, with the reason where there is one (``Recipe.notes``). The
Configuration tab marks assumed settings under their fields, the Comparison tab in its list
and its config diff, the CLI in ``presets`` (docs/sources.md, "Training recipes").

One number from one place: a preset's tokens are its model's ``ModelSpec.pretrain_tokens``
and a fine-tune's base tokens ``catalog.BASE_TOKENS``, so the catalogue and the preset cannot
disagree (Vicuna's did: 3.7e8 against 7.68e8 before issue 13).

Sources (docs/sources.md, "Models" and "Training recipes"): LLaMA and Llama 2 use AdamW
(0.9, 0.95), weight decay 0.1, clipping 1.0, cosine to 10% of peak, 2000 warmup steps,
4M-token batches; Code Llama cosine to peak/30 with 1000 warmup steps; Vicuna (FastChat)
batch 128 x 2048 tokens, LR 2e-5, 3 epochs, no weight decay, warmup ratio 0.03; Llama 3.1
405B AdamW, peak 8e-5 with 8,000 warmup steps, cosine to 8e-7, 16M-token batches of 8,192
tokens at the end of its ramp, 16,384 H100 with TP 8 (Dubey et al. 2024, sections 3.3-3.4,
Table 4).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from simulator.catalog import BASE_TOKENS, GPUS, MODELS
from simulator.config import ConfigError, TrainingConfig
from simulator.estimate import flops_per_token

RECIPE_FIELDS: tuple[str, ...] = (
    "gpu",
    "num_gpus",
    "tensor_parallel",
    "precision",
    "zero_stage",
    "activation_checkpointing",
    "seq_len",
    "global_batch_tokens",
    "micro_batch_size",
    "dataset_tokens",
    "epochs",
    "optimizer",
    "lr_peak",
    "lr_min",
    "warmup_steps",
    "schedule",
    "weight_decay",
    "grad_clip",
    "base_tokens",
)
"""The settings a published training recipe states or leaves out. The others (seed, price,
evaluation and checkpoint intervals) are the simulator's, not claims about the run; ``mfu``
joins these when a preset sets it."""

NOT_PUBLISHED = "not published: the simulator's assumption"

_M16 = 16 * 2**20  # Llama 3 405B's final batch: 2,048 sequences of 8,192 tokens

# Settings a paper states for every model of a family.
_OPTIMISATION = frozenset(
    {"optimizer", "lr_peak", "lr_min", "warmup_steps", "schedule", "weight_decay", "grad_clip"}
)
_DATA = frozenset({"seq_len", "global_batch_tokens", "dataset_tokens", "epochs", "base_tokens"})
_TOKENS_AND_SEQ = frozenset({"seq_len", "dataset_tokens", "epochs", "base_tokens"})


@dataclass(frozen=True)
class Recipe:
    """A model's published recipe: the settings it changes from ``TrainingConfig``'s
    defaults, where the published ones come from, and why the others have their value."""

    values: Mapping[str, Any]
    source: str
    published: frozenset[str]
    notes: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Provenance:
    """What a preset's recipe rests on: its source, and each setting published or assumed."""

    slug: str
    source: str
    published: tuple[str, ...]
    assumed: Mapping[str, str]  # setting -> why it has its value
    derived: Mapping[str, str]  # setting -> the published figures it is derived from


# ------------------------------------------------------------------------------ recipes
_LLAMA1_SRC = (
    "Touvron et al. 2023a (LLaMA), sections 2.2-2.4, Table 2; A100-80GB (Table 15); 65B on "
    "2,048 GPUs (section 2.4)"
)
_LLAMA2_SRC = "Touvron et al. 2023b (Llama 2), section 2.2, Tables 1-2 (A100-80GB)"
# LLaMA (section 2.4) checkpoints selectively: it keeps the costly activations (the linear
# layers' outputs) and recomputes the rest. Their GPU-hours include that cost.
_META: dict[str, Any] = dict(activation_checkpointing=True)
_META_PUBLISHED = _DATA | _OPTIMISATION | {"gpu", "activation_checkpointing"}
_META_NOTES = {
    "num_gpus": "not published (LLaMA 65B used 2,048): assumed",
    "precision": "not stated: BF16 assumed",
}
_LLAMA2_NOTES = {
    **_META_NOTES,
    "activation_checkpointing": "as LLaMA's (Llama 2 adopts most of its pretraining setting)",
}


def _llama(values: dict[str, Any], *, gpus_published: bool = False) -> Recipe:
    published = _META_PUBLISHED | ({"num_gpus"} if gpus_published else set())
    return Recipe({**_META, **values}, _LLAMA1_SRC, published, _META_NOTES)


def _llama2(values: dict[str, Any]) -> Recipe:
    published = _META_PUBLISHED - {"activation_checkpointing"}
    return Recipe({**_META, **values}, _LLAMA2_SRC, published, _LLAMA2_NOTES)


# Code Llama: Llama 2 continued on 500B tokens of code, cosine to peak/30, 1000 warmup steps,
# 4M-token batches of 4,096 tokens (Roziere et al. 2023, section 2.5); A100-80GB.
_CODE_SRC = "Roziere et al. 2023 (Code Llama), section 2.5"
_CODE_PUBLISHED = _DATA | (_OPTIMISATION - {"weight_decay", "grad_clip"}) | {"gpu"}
_CODE_NOTES = {
    "weight_decay": "not stated: Llama 2's 0.1 assumed",
    "grad_clip": "not stated: Llama 2's 1.0 assumed",
    "precision": "not stated: BF16 assumed",
}


def _code(values: dict[str, Any]) -> Recipe:
    return Recipe(dict(warmup_steps=1000, **values), _CODE_SRC, _CODE_PUBLISHED, _CODE_NOTES)


# Vicuna v1.5 (FastChat's train command): batch 128 x 2048 tokens (2 per GPU x 16 accumulation
# x 4 GPUs), LR 2e-5, 3 epochs, cosine to 0, warmup ratio 0.03, no weight decay, bf16, FSDP
# (ZeRO-3) with gradient checkpointing; 7B on 4 x A100-40GB.
_VICUNA_SRC = (
    "LMSYS FastChat README, Vicuna-7B train command; 370M tokens: LMSYS-Chat-1M (Zheng et al. "
    "2023), Vicuna-7B v1.5 row"
)
_FASTCHAT_BATCH = 128 * 2048
_FASTCHAT_STEPS = math.ceil(MODELS["vicuna-7b"].pretrain_tokens * 3.0 / _FASTCHAT_BATCH)
_FASTCHAT: dict[str, Any] = dict(
    zero_stage=3,
    activation_checkpointing=True,
    seq_len=2048,
    global_batch_tokens=_FASTCHAT_BATCH,
    micro_batch_size=2,
    epochs=3.0,
    lr_peak=2e-5,
    lr_min=0.0,
    warmup_steps=round(0.03 * _FASTCHAT_STEPS),  # warmup ratio 0.03: 127 of 4,235 steps
    weight_decay=0.0,
)
_VICUNA_PUBLISHED = frozenset(set(RECIPE_FIELDS))
_VICUNA_NOTES = {
    "dataset_tokens": "370M tokens (LMSYS-Chat-1M paper); FastChat pads each conversation to "
    "2,048 tokens instead of packing them, which the simulator does not model",
}

# Llama 3.1 (Dubey et al. 2024): 405B's recipe is published; 8B's and 70B's are not beyond
# their tokens, sequence length, H100s and GPU-hours (model card). Their GPU-hours imply a far
# lower MFU than the throughput tables give (the model would make them 2.2 and 1.3 times
# faster), so their presets carry that MFU, derived from the published GPU-hours.
_LLAMA3_SRC = (
    "Dubey et al. 2024 (The Llama 3 Herd of Models), sections 3.3-3.4, Table 4; Llama 3.1 "
    "model card (tokens, H100-80GB GPU-hours)"
)
_LLAMA3_PUBLISHED = frozenset({"gpu", "seq_len", "dataset_tokens", "epochs", "base_tokens"})
_LLAMA3_NOTES = {
    "global_batch_tokens": "not published for 8B and 70B: 405B's final 16M assumed",
    "lr_peak": "not published: Llama 2's for its size assumed",
    "lr_min": "not published: 1% of the peak, as 405B's, assumed",
    "warmup_steps": "not published: 405B's 8,000 assumed",
    "schedule": "not published: 405B's cosine assumed",
    "optimizer": "not published for 8B and 70B: 405B's AdamW assumed",
}
MODEL_CARD_GPU_HOURS = {"llama-3.1-8b": 1.46e6, "llama-3.1-70b": 7.0e6, "llama-3.1-405b": 30.84e6}
"""H100-80GB GPU-hours of the Llama 3.1 models (model card, "Training Energy Use")."""
# 405B's batch grows 4M -> 8M -> 16M tokens (section 3.4.1); the preset runs the final 16M
# throughout (the simulator has one batch per segment).
_LLAMA3_405B_NOTES = {
    "zero_stage": "Meta shards with FSDP and pipelines over 16 stages, which the simulator "
    "lacks: ZeRO-3 assumed",
    "activation_checkpointing": "not stated: none assumed (Table 4's MFU is reproduced without)",
    "micro_batch_size": "one sequence per GPU per micro-step (16M / 8,192 over 2,048 replicas)",
    "weight_decay": "not stated: 0.1 assumed",
    "grad_clip": "not stated: 1.0 assumed",
}

_QWEN_SRC = (
    "Qwen Team 2024 (Qwen2.5 Technical Report), section 3: 18T tokens, sequences of 4,096 "
    "tokens (a 32,768-token stage follows)"
)
_QWEN_NOTES = {
    "global_batch_tokens": "not published: 16M assumed",
    "gpu": "not published: H100 assumed",
}
_GEMMA_SRC = (
    "Gemma Team 2024 (Gemma 2), sections 2-3, Tables 1-3 (2B and 9B learn by distillation from "
    "a larger model, modelled as ordinary next-token training)"
)
_GEMMA_NOTES = {
    "gpu": "trained on TPU (27B: 6,144 TPUv5p, 9B: 4,096 TPUv4, 2B: 512 TPUv5e), which the "
    "simulator does not model: shown on H100 (assumed)",
    "num_gpus": "as many H100s as the published TPU chips (assumed)",
    "global_batch_tokens": "not published: 16M assumed",
}
_ASSUMED_RECIPE = "not published (architecture only): every setting assumed"


def _qwen(gpus: int, tp: int, lr_peak: float, lr_min: float) -> Recipe:
    """A Qwen2.5 recipe: the report's tokens and context, the rest assumed alike (H100, 16M
    batch) but for the cluster size, tensor parallelism and learning rates."""
    settings: dict[str, Any] = dict(
        gpu="h100-sxm", num_gpus=gpus, global_batch_tokens=_M16, lr_peak=lr_peak, lr_min=lr_min
    )
    if tp > 1:
        settings["tensor_parallel"] = tp
    return Recipe(settings, _QWEN_SRC, _TOKENS_AND_SEQ, _QWEN_NOTES)


_RECIPES: dict[str, Recipe] = {
    "llama-7b": _llama(dict(num_gpus=2048, seq_len=2048, lr_peak=3e-4, lr_min=3e-5)),
    "llama-13b": _llama(
        dict(num_gpus=2048, seq_len=2048, lr_peak=3e-4, lr_min=3e-5, tensor_parallel=2)
    ),
    "llama-33b": _llama(
        dict(num_gpus=2048, seq_len=2048, lr_peak=1.5e-4, lr_min=1.5e-5, tensor_parallel=4)
    ),
    "llama-65b": _llama(
        dict(num_gpus=2048, seq_len=2048, lr_peak=1.5e-4, lr_min=1.5e-5, tensor_parallel=8),
        gpus_published=True,  # 2,048 A100-80GB (section 2.4)
    ),
    "llama-2-7b": _llama2(dict(num_gpus=1024, lr_peak=3e-4, lr_min=3e-5)),
    "llama-2-13b": _llama2(dict(num_gpus=1024, lr_peak=3e-4, lr_min=3e-5, tensor_parallel=2)),
    "llama-2-70b": _llama2(dict(num_gpus=2048, lr_peak=1.5e-4, lr_min=1.5e-5, tensor_parallel=8)),
    "llama-3.1-8b": Recipe(
        dict(
            gpu="h100-sxm",
            num_gpus=1024,
            seq_len=8192,
            global_batch_tokens=_M16,
            lr_peak=3e-4,
            lr_min=3e-6,
            warmup_steps=8000,
        ),
        _LLAMA3_SRC,
        _LLAMA3_PUBLISHED,
        _LLAMA3_NOTES,
    ),
    "llama-3.1-70b": Recipe(
        dict(
            gpu="h100-sxm",
            num_gpus=2048,
            tensor_parallel=8,
            seq_len=8192,
            global_batch_tokens=_M16,
            lr_peak=1.5e-4,
            lr_min=1.5e-6,
            warmup_steps=8000,
        ),
        _LLAMA3_SRC,
        _LLAMA3_PUBLISHED,
        _LLAMA3_NOTES,
    ),
    "llama-3.1-405b": Recipe(
        dict(
            gpu="h100-sxm",
            num_gpus=16_384,
            tensor_parallel=8,
            zero_stage=3,
            seq_len=8192,
            global_batch_tokens=_M16,
            lr_peak=8e-5,
            lr_min=8e-7,
            warmup_steps=8000,
        ),
        _LLAMA3_SRC,
        _LLAMA3_PUBLISHED
        | {"num_gpus", "tensor_parallel", "precision", "global_batch_tokens", "optimizer"}
        | {"lr_peak", "lr_min", "warmup_steps", "schedule"},
        _LLAMA3_405B_NOTES,
    ),
    # Mistral 7B: only the architecture is published; a Llama-2-like recipe on H100 with its
    # 8,192-token context is assumed.
    "mistral-7b": Recipe(
        dict(gpu="h100-sxm", num_gpus=512, seq_len=8192, lr_peak=3e-4, lr_min=3e-5),
        "Jiang et al. 2023 (Mistral 7B): " + _ASSUMED_RECIPE,
        frozenset(),
        {"dataset_tokens": "not published: Llama 2's 2T assumed"},
    ),
    "qwen2.5-7b": _qwen(1024, 1, 3e-4, 3e-5),
    "qwen2.5-14b": _qwen(2048, 2, 3e-4, 3e-5),
    "qwen2.5-32b": _qwen(2048, 4, 1.5e-4, 1.5e-5),
    "qwen2.5-72b": _qwen(4096, 8, 1.5e-4, 1.5e-5),
    "gemma-2-2b": Recipe(
        dict(gpu="h100-sxm", num_gpus=512, seq_len=8192, global_batch_tokens=_M16),
        _GEMMA_SRC,
        _TOKENS_AND_SEQ,
        _GEMMA_NOTES,
    ),
    "gemma-2-9b": Recipe(
        dict(
            gpu="h100-sxm",
            num_gpus=4096,
            tensor_parallel=2,
            seq_len=8192,
            global_batch_tokens=_M16,
        ),
        _GEMMA_SRC,
        _TOKENS_AND_SEQ,
        _GEMMA_NOTES,
    ),
    "gemma-2-27b": Recipe(
        dict(
            gpu="h100-sxm",
            num_gpus=6144,
            tensor_parallel=4,
            seq_len=8192,
            global_batch_tokens=1536 * 8192,
            lr_peak=1.5e-4,
            lr_min=1.5e-5,
        ),
        _GEMMA_SRC,
        _TOKENS_AND_SEQ,
        {
            **_GEMMA_NOTES,
            "global_batch_tokens": "not published: 12M assumed (one sequence for each of the "
            "1,536 data-parallel replicas of 6,144 chips at TP 4)",
        },
    ),
    "codellama-7b": _code(dict(num_gpus=512, lr_peak=3e-4, lr_min=1e-5)),
    "codellama-13b": _code(dict(num_gpus=512, lr_peak=3e-4, lr_min=1e-5, tensor_parallel=2)),
    "codellama-34b": _code(dict(num_gpus=1024, lr_peak=1.5e-4, lr_min=5e-6, tensor_parallel=8)),
    "vicuna-7b": Recipe(
        dict(_FASTCHAT, gpu="a100-40gb", num_gpus=4),
        _VICUNA_SRC,
        _VICUNA_PUBLISHED,
        _VICUNA_NOTES,
    ),
    # FastChat's README gives the 7B command; 13B's hardware is assumed (8 x A100-80GB).
    "vicuna-13b": Recipe(
        dict(_FASTCHAT, gpu="a100-80gb", num_gpus=8),
        _VICUNA_SRC,
        _VICUNA_PUBLISHED - {"gpu", "num_gpus", "micro_batch_size"},
        {**_VICUNA_NOTES, "gpu": "FastChat gives 7B's hardware only: 8 x A100-80GB assumed"},
    ),
}

RECIPES: Mapping[str, Recipe] = MappingProxyType(_RECIPES)
PRESETS: tuple[str, ...] = tuple(_RECIPES)


def _values(slug: str) -> dict[str, Any]:
    """The recipe's settings with the catalogue's tokens (one number, one place)."""
    spec = MODELS[slug]
    values = dict(_RECIPES[slug].values)
    values["dataset_tokens"] = spec.pretrain_tokens
    values["base_tokens"] = BASE_TOKENS.get(spec.family, 0.0)
    return values


def preset(slug: str, **overrides: Any) -> TrainingConfig:
    """The published recipe for a catalogue model, optionally with fields overridden.

    Raises:
        ConfigError: if ``slug`` is not a catalogue model or an override is invalid.
    """
    if slug not in _RECIPES:
        raise ConfigError("model", slug, f"one of {', '.join(_RECIPES)}")
    cfg = replace(TrainingConfig(), model=slug, **_values(slug))
    if slug in MODEL_CARD_GPU_HOURS and slug != "llama-3.1-405b":
        # A percentage with two decimals, divided as the Configuration form divides it, so
        # the preset reads back from the form unchanged.
        pct = round(100.0 * _mfu_from_gpu_hours(cfg, MODEL_CARD_GPU_HOURS[slug]), 2)
        cfg = replace(cfg, mfu=pct / 100.0)
    if overrides:
        return cfg.with_changes(overrides)
    cfg.validate()
    return cfg


def _mfu_from_gpu_hours(cfg: TrainingConfig, gpu_hours: float) -> float:
    """The MFU (against the BF16 peak) at which ``cfg``'s tokens take ``gpu_hours``."""
    peak = GPUS[cfg.gpu].peak_tflops_bf16 * 1e12
    return cfg.total_tokens * flops_per_token(cfg) / (gpu_hours * 3600.0 * peak)


def provenance(slug: str) -> Provenance:
    """Which of the preset's recipe settings are published, derived or assumed, and why.

    Raises:
        KeyError: if ``slug`` is not a preset.
    """
    recipe = _RECIPES[slug]
    spec = MODELS[slug]
    fields = list(RECIPE_FIELDS)
    published = set(recipe.published)
    if "pretrain_tokens" in spec.assumed:
        published.discard("dataset_tokens")
    derived: dict[str, str] = {}
    if slug in MODEL_CARD_GPU_HOURS and slug != "llama-3.1-405b":
        hours = MODEL_CARD_GPU_HOURS[slug]
        derived["mfu"] = (
            f"derived from the model card's {hours / 1e6:g}M H100 GPU-hours for these tokens "
            "(the throughput model would give more)"
        )
    assumed = {
        f: recipe.notes.get(f, NOT_PUBLISHED) for f in fields if f not in published | set(derived)
    }
    shown = tuple(f for f in fields if f in published)
    return Provenance(slug, recipe.source, shown, assumed, derived)


def assumed_settings(cfg: TrainingConfig) -> dict[str, str]:
    """The settings of ``cfg`` that still hold its preset's assumed (or derived) values, with
    why: what a reader of this recipe should not take for published. Empty for a custom model
    or a setting the user has changed."""
    if cfg.model not in _RECIPES:
        return {}
    prov = provenance(cfg.model)
    base = preset(cfg.model)
    notes = {**prov.assumed, **prov.derived}
    return {f: why for f, why in notes.items() if getattr(cfg, f) == getattr(base, f)}
