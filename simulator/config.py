"""``TrainingConfig``: one training recipe, validated, with the published presets.

``to_dict()`` is the saved-config file format and what ``apply_changes`` takes, so its
top-level keys are flat and stable; only a custom architecture (``custom_model``) and the
optimizer's own parameters (``optimizer_params``) nest. ``from_dict`` trusts nothing: it
rejects unknown keys, wrong types (a bool is not a number here), NaN and infinities, and
values out of range, raising ``ConfigError`` that names the field, the value and what is
allowed. Every bound exists so that no config can make a later call run unbounded work.

Preset recipes come from the papers (docs/sources.md, "Models"): LLaMA and Llama 2 use AdamW
(0.9, 0.95, eps 1e-5), weight decay 0.1, clipping 1.0, cosine to 10% of peak, 2000 warmup
steps, 4M-token batches; Code Llama cosine to peak/30 with 1000 warmup steps; Vicuna
(FastChat) batch 128 x 2048 tokens, LR 2e-5, 3 epochs, no weight decay, warmup ratio 0.03.
GPU counts that a paper does not publish are marked ``assumed`` beside the preset.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from types import MappingProxyType
from typing import Any

from simulator.catalog import (
    CUSTOM_MODEL,
    GPUS,
    MODELS,
    OPTIMIZERS,
    PRECISIONS,
    SCHEDULES,
    Architecture,
)

MAX_STEPS = 4_000_000
"""Longest run accepted: bounds every per-run computation, so no request holds a worker long.

A full redraw recomputes every step (~0.12 s per million on an idle core), so 4M steps is about
half a second; at 50M one request held a worker for 15-19 s. 4M covers the recipes people
train: Llama 3 405B took about 1M steps, Llama 2's 2T tokens at a 4M-token batch 477k, and
Llama 3 8B's 15T tokens at a 4M-token batch 3.6M. A longer recipe is refused with a message
saying to raise the batch or lower the tokens."""
MAX_CONFIG_KEYS = 64
MAX_STRING = 64


class ConfigError(ValueError):
    """A config value is wrong. ``field`` names it, ``allowed`` says what would be accepted."""

    def __init__(self, field_name: str, value: Any, allowed: str) -> None:
        self.field = field_name
        self.value = value
        self.allowed = allowed
        shown = repr(value)
        if len(shown) > 60:
            shown = shown[:57] + "..."
        super().__init__(f"{field_name}: {shown} is not allowed; {allowed}")


# name -> (kind, low, high). kind: "int", "float", "bool", "str", "opt_float", "opt_int".
_NUMERIC: dict[str, tuple[str, float, float]] = {
    "num_gpus": ("int", 1, 65_536),
    "tensor_parallel": ("int", 1, 64),
    "zero_stage": ("int", 0, 3),
    "seq_len": ("int", 128, 131_072),
    "global_batch_tokens": ("int", 128, 2**27),
    "micro_batch_size": ("int", 1, 1024),
    "dataset_tokens": ("float", 1e5, 1e14),
    "epochs": ("float", 0.01, 100.0),
    "lr_peak": ("float", 1e-7, 10.0),
    "lr_min": ("float", 0.0, 10.0),
    "warmup_steps": ("int", 0, MAX_STEPS),
    "decay_fraction": ("float", 0.01, 1.0),
    "weight_decay": ("float", 0.0, 1.0),
    "grad_clip": ("float", 0.0, 1000.0),
    "seed": ("int", 0, 2**32 - 1),
    "price_per_gpu_hour": ("opt_float", 0.0, 1000.0),
    "mfu": ("opt_float", 0.01, 0.9),
    "eval_interval": ("opt_int", 1, MAX_STEPS),
    "checkpoint_interval": ("opt_int", 1, MAX_STEPS),
    "base_tokens": ("float", 0.0, 1e14),
}
_ARCH_BOUNDS: dict[str, tuple[int, int]] = {
    "n_layers": (1, 256),
    "d_model": (64, 65_536),
    "n_heads": (1, 512),
    "n_kv_heads": (1, 512),
    "ffn_dim": (64, 262_144),
    "vocab_size": (256, 1_000_000),
    "context_len": (128, 1_048_576),
}

FIELD_BOUNDS: Mapping[str, tuple[str, float, float]] = MappingProxyType(_NUMERIC)
"""Read-only view of each numeric setting's (kind, low, high), for forms that show the bounds."""
ARCH_BOUNDS: Mapping[str, tuple[int, int]] = MappingProxyType(_ARCH_BOUNDS)
"""Read-only view of each custom-architecture field's (low, high)."""

# Settings a running job can change without restarting (what real trainers allow on resume).
MUTABLE_FIELDS = frozenset(
    {
        "lr_peak",
        "lr_min",
        "global_batch_tokens",
        "micro_batch_size",
        "grad_clip",
        "weight_decay",
        "num_gpus",
        "price_per_gpu_hour",
        "mfu",
        "activation_checkpointing",
        "zero_stage",
    }
)


@dataclass(frozen=True)
class TrainingConfig:
    """A complete training recipe. Build with ``preset`` or ``from_dict``; both validate."""

    model: str = "llama-2-7b"
    gpu: str = "a100-80gb"
    num_gpus: int = 1024
    tensor_parallel: int = 1
    precision: str = "bf16"
    zero_stage: int = 1
    activation_checkpointing: bool = False
    seq_len: int = 4096
    global_batch_tokens: int = 4 * 2**20
    micro_batch_size: int = 1
    dataset_tokens: float = 2.0e12
    epochs: float = 1.0
    optimizer: str = "adamw"
    optimizer_params: Mapping[str, float] = field(default_factory=dict)
    lr_peak: float = 3.0e-4
    lr_min: float = 3.0e-5
    warmup_steps: int = 2000
    schedule: str = "cosine"
    decay_fraction: float = 0.1
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    seed: int = 0
    price_per_gpu_hour: float | None = None
    mfu: float | None = None
    eval_interval: int | None = None
    checkpoint_interval: int | None = None
    base_tokens: float = 0.0
    custom_model: Mapping[str, int] | None = None

    # ----------------------------------------------------------------- derived quantities
    @property
    def arch(self) -> Architecture:
        """The architecture: the catalogue's, or the custom one."""
        if self.model == CUSTOM_MODEL:
            assert self.custom_model is not None
            return Architecture(**self.custom_model)
        return MODELS[self.model].arch

    @property
    def family(self) -> str:
        return CUSTOM_MODEL if self.model == CUSTOM_MODEL else MODELS[self.model].family

    @property
    def total_tokens(self) -> float:
        return self.dataset_tokens * self.epochs

    @property
    def sequences_per_batch(self) -> int:
        return self.global_batch_tokens // self.seq_len

    @property
    def data_parallel(self) -> int:
        return self.num_gpus // self.tensor_parallel

    @property
    def grad_accum(self) -> int:
        """Micro-steps per optimizer step (rounded up; the last one may be partial)."""
        per_step = self.data_parallel * self.micro_batch_size
        return max(1, math.ceil(self.sequences_per_batch / per_step))

    @property
    def total_steps(self) -> int:
        return max(1, math.ceil(self.total_tokens / self.global_batch_tokens))

    @property
    def resolved_eval_interval(self) -> int:
        """Eval every ``eval_interval`` steps, or about 200 evals per run when unset."""
        return self.eval_interval or max(1, _nice(self.total_steps / 200))

    @property
    def resolved_checkpoint_interval(self) -> int:
        return self.checkpoint_interval or max(1, _nice(self.total_steps / 20))

    @property
    def resolved_optimizer_params(self) -> dict[str, float]:
        return {**OPTIMIZERS[self.optimizer].params, **self.optimizer_params}

    # -------------------------------------------------------------------- serialisation
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: the saved-config format (flat, stable keys)."""
        d = asdict(self)
        d["optimizer_params"] = dict(self.optimizer_params)
        d["custom_model"] = dict(self.custom_model) if self.custom_model is not None else None
        return d

    @classmethod
    def from_dict(cls, data: Any) -> TrainingConfig:
        """Validate ``data`` and build a config. Missing keys take the defaults.

        Raises:
            ConfigError: naming the first wrong field, its value and what is allowed.
        """
        if not isinstance(data, Mapping):
            raise ConfigError("config", type(data).__name__, "expected a JSON object")
        if len(data) > MAX_CONFIG_KEYS:
            raise ConfigError("config", f"{len(data)} keys", f"at most {MAX_CONFIG_KEYS} keys")
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(str(k)[:MAX_STRING] for k in data if k not in known)
        if unknown:
            raise ConfigError(
                unknown[0],
                data.get(unknown[0]),
                f"unknown setting; allowed: {', '.join(sorted(known))}",
            )
        values: dict[str, Any] = {}
        for name, raw in data.items():
            values[name] = _check_field(name, raw)
        cfg = cls(**values)
        cfg.validate()
        return cfg

    def with_changes(self, changes: Mapping[str, Any]) -> TrainingConfig:
        """A validated copy with ``changes`` applied (same rules as ``from_dict``)."""
        merged = self.to_dict()
        merged.update(changes)
        return TrainingConfig.from_dict(merged)

    # ----------------------------------------------------------------------- validation
    def validate(self) -> None:
        """Cross-field rules; single-field types and ranges are checked in ``from_dict``."""
        if self.model != CUSTOM_MODEL and self.model not in MODELS:
            raise ConfigError("model", self.model, f"one of {', '.join([*MODELS, CUSTOM_MODEL])}")
        if self.model == CUSTOM_MODEL:
            _check_arch(self.custom_model)
        elif self.custom_model is not None:
            raise ConfigError("custom_model", "set", "only allowed when model is 'custom'")
        if self.gpu not in GPUS:
            raise ConfigError("gpu", self.gpu, f"one of {', '.join(GPUS)}")
        if self.precision not in PRECISIONS:
            raise ConfigError("precision", self.precision, f"one of {', '.join(PRECISIONS)}")
        if self.precision == "bf16" and GPUS[self.gpu].peak_tflops_bf16 <= 0:
            raise ConfigError(
                "precision", "bf16", f"{GPUS[self.gpu].name} has no BF16; use fp16 or fp32"
            )
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError("optimizer", self.optimizer, f"one of {', '.join(OPTIMIZERS)}")
        spec = OPTIMIZERS[self.optimizer]
        for key, value in self.optimizer_params.items():
            if key not in spec.bounds:
                raise ConfigError(
                    f"optimizer_params.{key}", value, f"{spec.name} takes {', '.join(spec.bounds)}"
                )
            lo, hi = spec.bounds[key]
            if not lo <= value <= hi:
                raise ConfigError(f"optimizer_params.{key}", value, f"between {lo:g} and {hi:g}")
        if self.schedule not in SCHEDULES:
            raise ConfigError("schedule", self.schedule, f"one of {', '.join(SCHEDULES)}")
        if self.lr_min > self.lr_peak:
            raise ConfigError("lr_min", self.lr_min, f"at most lr_peak ({self.lr_peak:g})")
        arch = self.arch
        if self.global_batch_tokens < self.seq_len:
            raise ConfigError(
                "global_batch_tokens",
                self.global_batch_tokens,
                f"at least one sequence ({self.seq_len} tokens)",
            )
        if self.global_batch_tokens % self.seq_len:
            lo_ok = self.global_batch_tokens // self.seq_len * self.seq_len
            raise ConfigError(
                "global_batch_tokens",
                self.global_batch_tokens,
                f"a multiple of seq_len {self.seq_len}, e.g. {lo_ok} or {lo_ok + self.seq_len}",
            )
        if self.num_gpus % self.tensor_parallel:
            raise ConfigError(
                "tensor_parallel", self.tensor_parallel, f"a divisor of num_gpus ({self.num_gpus})"
            )
        if arch.n_heads % self.tensor_parallel:
            raise ConfigError(
                "tensor_parallel",
                self.tensor_parallel,
                f"a divisor of the model's {arch.n_heads} attention heads",
            )
        need = self.data_parallel * self.micro_batch_size
        if self.sequences_per_batch < need:
            raise ConfigError(
                "micro_batch_size",
                self.micro_batch_size,
                f"the global batch holds {self.sequences_per_batch} sequences, fewer than "
                f"{self.data_parallel} data-parallel GPUs x micro-batch; "
                + (
                    "lower the micro-batch or GPU count, or raise the batch"
                    if self.micro_batch_size > 1
                    else "use fewer GPUs or raise the batch (the micro-batch is at its minimum)"
                ),
            )
        if self.total_tokens / self.global_batch_tokens > MAX_STEPS:
            raise ConfigError(
                "dataset_tokens",
                self.dataset_tokens,
                f"at most {MAX_STEPS:,} steps per run; raise the batch or lower tokens x epochs",
            )
        if self.warmup_steps > self.total_steps:
            raise ConfigError(
                "warmup_steps", self.warmup_steps, f"at most the run's {self.total_steps:,} steps"
            )


def _nice(x: float) -> int:
    """Round up to 1, 2 or 5 times a power of ten, so intervals read well."""
    if x <= 1:
        return 1
    mag = 10 ** math.floor(math.log10(x))
    for m in (1, 2, 5, 10):
        if x <= m * mag:
            return int(m * mag)
    return int(10 * mag)


def _check_field(name: str, raw: Any) -> Any:
    if name in _NUMERIC:
        kind, lo, hi = _NUMERIC[name]
        if raw is None and kind.startswith("opt_"):
            return None
        return _number(name, raw, kind.removeprefix("opt_"), lo, hi)
    if name == "activation_checkpointing":
        if not isinstance(raw, bool):
            raise ConfigError(name, raw, "true or false")
        return raw
    if name in ("model", "gpu", "precision", "optimizer", "schedule"):
        if not isinstance(raw, str) or len(raw) > MAX_STRING:
            raise ConfigError(name, raw, f"a string of at most {MAX_STRING} characters")
        return raw
    if name == "optimizer_params":
        if not isinstance(raw, Mapping) or len(raw) > 8:
            raise ConfigError(name, raw, "an object of at most 8 numbers")
        return {
            str(k)[:MAX_STRING]: _number(f"optimizer_params.{k}", v, "float", -1e9, 1e9)
            for k, v in raw.items()
        }
    if name == "custom_model":
        if raw is None:
            return None
        if not isinstance(raw, Mapping):
            raise ConfigError(name, raw, f"an object with {', '.join(_ARCH_BOUNDS)}")
        return dict(raw)
    raise ConfigError(name, raw, "unknown setting")  # pragma: no cover - guarded by caller


def _number(name: str, raw: Any, kind: str, lo: float, hi: float) -> Any:
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        raise ConfigError(name, raw, f"a number between {lo:g} and {hi:g}")
    if not math.isfinite(raw):
        raise ConfigError(name, raw, f"a finite number between {lo:g} and {hi:g}")
    if kind == "int":
        if raw != int(raw):
            raise ConfigError(name, raw, f"a whole number between {lo:g} and {hi:g}")
        raw = int(raw)
    if not lo <= raw <= hi:
        raise ConfigError(name, raw, f"between {lo:g} and {hi:g}")
    return raw if kind == "int" else float(raw)


def _check_arch(custom: Mapping[str, int] | None) -> None:
    if custom is None:
        raise ConfigError(
            "custom_model", None, f"required for a custom model: {', '.join(_ARCH_BOUNDS)}"
        )
    missing = [k for k in _ARCH_BOUNDS if k not in custom]
    extra = [k for k in custom if k not in _ARCH_BOUNDS]
    if missing or extra:
        raise ConfigError(
            "custom_model", (missing or extra)[0], f"exactly the keys {', '.join(_ARCH_BOUNDS)}"
        )
    for key, (lo, hi) in _ARCH_BOUNDS.items():
        _number(f"custom_model.{key}", custom[key], "int", lo, hi)
    if custom["d_model"] % custom["n_heads"]:
        raise ConfigError(
            "custom_model.n_heads", custom["n_heads"], f"a divisor of d_model ({custom['d_model']})"
        )
    if custom["n_heads"] % custom["n_kv_heads"]:
        raise ConfigError(
            "custom_model.n_kv_heads",
            custom["n_kv_heads"],
            f"a divisor of n_heads ({custom['n_heads']})",
        )


# ------------------------------------------------------------------------------- presets
_M4 = 4 * 2**20  # "4M tokens" per batch in LLaMA / Llama 2 / Code Llama

# Code Llama: Llama 2 continued on 500B tokens of code, cosine to peak/30, 1000 warmup steps.
_CODE_LLAMA: dict[str, Any] = dict(dataset_tokens=5.0e11, warmup_steps=1000, base_tokens=2.0e12)
# Vicuna v1.5 (FastChat): ~125K ShareGPT conversations at max length 2048 (256M tokens padded),
# batch 128, 3 epochs (2,930 steps), LR 2e-5, cosine, warmup ratio 0.03 (88 steps), no weight
# decay, FSDP (ZeRO-3) with checkpointing.
_FASTCHAT: dict[str, Any] = dict(
    zero_stage=3,
    activation_checkpointing=True,
    seq_len=2048,
    global_batch_tokens=128 * 2048,
    micro_batch_size=2,
    dataset_tokens=125_000 * 2048,
    epochs=3.0,
    lr_peak=2e-5,
    lr_min=0.0,
    warmup_steps=88,
    weight_decay=0.0,
    base_tokens=2.0e12,
)

_PRESETS: dict[str, dict[str, Any]] = {
    # LLaMA-1 (Touvron et al. 2023, section 2.2-2.4): 2048-token sequences; 65B on 2048
    # A100-80GB; GPU counts for the smaller models are not published (assumed 2048).
    "llama-7b": dict(num_gpus=2048, seq_len=2048, dataset_tokens=1.0e12, lr_peak=3e-4, lr_min=3e-5),
    "llama-13b": dict(
        num_gpus=2048,
        seq_len=2048,
        dataset_tokens=1.0e12,
        lr_peak=3e-4,
        lr_min=3e-5,
        tensor_parallel=2,
    ),
    "llama-33b": dict(
        num_gpus=2048,
        seq_len=2048,
        dataset_tokens=1.4e12,
        lr_peak=1.5e-4,
        lr_min=1.5e-5,
        tensor_parallel=4,
    ),
    "llama-65b": dict(
        num_gpus=2048,
        seq_len=2048,
        dataset_tokens=1.4e12,
        lr_peak=1.5e-4,
        lr_min=1.5e-5,
        tensor_parallel=8,
    ),
    # Llama 2 (Touvron et al. 2023b): 4096-token sequences, 2T tokens; GPU counts assumed.
    "llama-2-7b": dict(num_gpus=1024, dataset_tokens=2.0e12, lr_peak=3e-4, lr_min=3e-5),
    "llama-2-13b": dict(
        num_gpus=1024, dataset_tokens=2.0e12, lr_peak=3e-4, lr_min=3e-5, tensor_parallel=2
    ),
    "llama-2-70b": dict(
        num_gpus=2048, dataset_tokens=2.0e12, lr_peak=1.5e-4, lr_min=1.5e-5, tensor_parallel=8
    ),
    # Mistral 7B: recipe not published; assumed Llama-2-like on H100 with its 8192 context.
    "mistral-7b": dict(
        gpu="h100-sxm", num_gpus=512, seq_len=8192, dataset_tokens=2.0e12, lr_peak=3e-4, lr_min=3e-5
    ),
    "codellama-7b": dict(_CODE_LLAMA, num_gpus=512, lr_peak=3e-4, lr_min=1e-5),
    "codellama-13b": dict(_CODE_LLAMA, num_gpus=512, lr_peak=3e-4, lr_min=1e-5, tensor_parallel=2),
    "codellama-34b": dict(
        _CODE_LLAMA, num_gpus=1024, lr_peak=1.5e-4, lr_min=5e-6, tensor_parallel=8
    ),
    # Vicuna v1.5 (FastChat) on 4 x A100-40GB; 13B: hardware not in docs/sources.md, 8 x
    # A100-80GB assumed.
    "vicuna-7b": dict(_FASTCHAT, gpu="a100-40gb", num_gpus=4),
    "vicuna-13b": dict(_FASTCHAT, gpu="a100-80gb", num_gpus=8),
}

PRESETS: tuple[str, ...] = tuple(_PRESETS)


def preset(slug: str, **overrides: Any) -> TrainingConfig:
    """The published recipe for a catalogue model, optionally with fields overridden.

    Raises:
        ConfigError: if ``slug`` is not a catalogue model or an override is invalid.
    """
    if slug not in _PRESETS:
        raise ConfigError("model", slug, f"one of {', '.join(_PRESETS)}")
    cfg = replace(TrainingConfig(), model=slug, **_PRESETS[slug])
    if overrides:
        return cfg.with_changes(overrides)
    cfg.validate()
    return cfg
