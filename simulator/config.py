"""``TrainingConfig``: one training recipe, validated, with the published presets.

``to_dict()`` is the saved-config file format and what ``apply_changes`` takes, so its
top-level keys are flat and stable; only a custom architecture (``custom_model``) nests.
``from_dict`` trusts nothing: it rejects unknown keys, wrong types (a bool is not a number
here), NaN and infinities, and values out of range, raising ``ConfigError`` that names the
field, the value and what is allowed. Every bound exists so that no config can make a later
call run unbounded work.

Each optimizer runs at its published defaults (``OptimizerSpec.params``: LLaMA's AdamW beta1
0.9, beta2 0.95, eps 1e-5 ...). Their settings (``optimizer_params``) were removed in issue 13:
no published source gives their effect on the loss in a form the loss law could use, and a
setting that moves nothing must not be offered (docs/sources.md, "Recipe knobs"). Configs
saved before still carry the key: ``from_dict`` checks its shape and drops it
(``LEGACY_KEYS``), which changes no curve, since it never changed one.

The catalogue models' published recipes, and which of their settings are assumed, are
``simulator.presets``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
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
LEGACY_KEYS = frozenset({"optimizer_params"})
"""Keys of configs saved by earlier versions: read (shape-checked) and dropped."""


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


def custom_shape(arch: Architecture) -> dict[str, int]:
    """``arch`` as a custom model's ``custom_model`` (the keys ``ARCH_BOUNDS`` allows).

    Catalogue architectures carry more than a custom model may set (Gemma 2's ``head_dim``,
    tied embeddings), so a preset's shape is copied key by key, never as a whole ``__dict__``.
    """
    return {key: int(getattr(arch, key)) for key in _ARCH_BOUNDS}


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
            c = self.custom_model
            assert c is not None
            return Architecture(
                n_layers=c["n_layers"],
                d_model=c["d_model"],
                n_heads=c["n_heads"],
                n_kv_heads=c["n_kv_heads"],
                ffn_dim=c["ffn_dim"],
                vocab_size=c["vocab_size"],
                context_len=c["context_len"],
            )
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

    # -------------------------------------------------------------------- serialisation
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: the saved-config format (flat, stable keys)."""
        d = asdict(self)
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
        unknown = sorted(str(k)[:MAX_STRING] for k in data if k not in known | LEGACY_KEYS)
        if unknown:
            raise ConfigError(
                unknown[0],
                data.get(unknown[0]),
                f"unknown setting; allowed: {', '.join(sorted(known))}",
            )
        values: dict[str, Any] = {}
        for name, raw in data.items():
            values[name] = _check_field(name, raw)
        for name in LEGACY_KEYS:
            values.pop(name, None)
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
        if self.precision == "fp8" and GPUS[self.gpu].peak_tflops_fp8 <= 0:
            fp8 = ", ".join(g.name for g in GPUS.values() if g.peak_tflops_fp8 > 0)
            raise ConfigError(
                "precision",
                "fp8",
                f"{GPUS[self.gpu].name} has no FP8 training here; FP8 needs {fp8}, or use bf16",
            )
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError("optimizer", self.optimizer, f"one of {', '.join(OPTIMIZERS)}")
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
    if name == "optimizer_params":  # legacy (LEGACY_KEYS): checked, then dropped
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
