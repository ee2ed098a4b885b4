"""Make the guessed fields a config the simulator accepts, saying what had to change."""

from __future__ import annotations

import math
from dataclasses import fields
from typing import Any

from simulator.catalog import MODELS
from simulator.config import FIELD_BOUNDS, MAX_STEPS, ConfigError, TrainingConfig
from tracking.recipe.settings import DEFAULTS, Field, largest_divisor
from tracking.records import Guess

DEFAULT_STEPS = 1_000
"""Steps assumed when neither a setting nor the logged steps say how long the run is."""
ASSUMED: dict[str, tuple[Any, str]] = {
    "num_gpus": (1, "not recorded; one GPU assumed"),
    "zero_stage": (0, "not recorded; no ZeRO/FSDP sharding assumed"),
    "warmup_steps": (0, "not recorded; no warmup assumed"),
    "epochs": (1.0, "not recorded; one pass assumed"),
}
"""Assumed values that differ from the simulator's defaults, which describe a large
pretraining run rather than an unknown one."""


def validated(found: dict[str, Field]) -> tuple[TrainingConfig, list[Guess]]:
    """Every field filled (assumed where nothing was found), clamped into the simulator's
    bounds, cross-field rules satisfied; a field the simulator still refuses takes its
    assumed default with the refusal as reason."""
    out = {k: v for k, v in found.items() if not k.startswith("_")}
    for f in fields(TrainingConfig):
        if f.name not in out:
            value, why = ASSUMED.get(
                f.name, (getattr(DEFAULTS, f.name), "not recorded; the simulator's default")
            )
            out[f.name] = Field(value, "assumed", why)
    _clamp(out)
    _fit(out, found.get("_total_steps"))
    for _ in range(len(out) + 1):
        try:
            cfg = TrainingConfig.from_dict({k: v.value for k, v in out.items()})
            break
        except ConfigError as exc:
            name = exc.field.split(".")[0]
            if name not in out or (out[name].provenance == "assumed" and name != "custom_model"):
                raise  # an assumed default refused: a bug in this module, not in the run
            if name == "custom_model":
                out["model"] = Field(DEFAULTS.model, "assumed", f"custom model refused: {exc}")
                out["custom_model"] = Field(None, "assumed", f"refused: {exc}")
            else:
                value, _ = ASSUMED.get(name, (getattr(DEFAULTS, name), ""))
                out[name] = Field(value, "assumed", f"{out[name].source}: refused ({exc})")
            _fit(out, found.get("_total_steps"))
    else:  # pragma: no cover - every pass replaces one field by its default
        raise RuntimeError("recipe guess did not converge")
    guesses = [
        Guess(
            field=f.name,
            value=getattr(cfg, f.name),
            provenance=out[f.name].provenance,
            source=out[f.name].source,
        )
        for f in fields(TrainingConfig)
    ]
    return cfg, guesses


def _clamp(out: dict[str, Field]) -> None:
    for name, (kind, lo, hi) in FIELD_BOUNDS.items():
        f = out[name]
        if f.value is None:
            continue
        v = f.value
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            continue
        kind = kind.removeprefix("opt_")
        if kind == "int":
            v = round(v)
        if not lo <= v <= hi:
            clamped = min(max(v, lo), hi)
            f.source = f"{f.source}; {v:g} clamped to {clamped:g} (allowed {lo:g}..{hi:g})"
            f.provenance = "derived" if f.provenance == "found" else f.provenance
            v = clamped
        f.value = int(v) if kind == "int" else float(v)


def _fit(out: dict[str, Field], total: Field | None) -> None:
    """The cross-field rules: the batch a whole number of sequences and at least one per
    data-parallel GPU, tensor parallelism dividing GPUs and heads, steps within MAX_STEPS,
    dataset tokens from the steps, warmup within the run, lr_min at most the peak."""
    seq = out["seq_len"].value
    if "global_batch_tokens" not in {k for k, v in out.items() if v.provenance != "assumed"}:
        micro = out["micro_batch_size"].value
        out["global_batch_tokens"] = Field(
            micro * seq, "assumed", f"not recorded; micro-batch ({micro}) x seq_len ({seq})"
        )
    batch = out["global_batch_tokens"]
    max_seqs = int(FIELD_BOUNDS["global_batch_tokens"][2]) // seq
    seqs = min(max(1, round(batch.value / seq)), max_seqs)
    if seqs * seq != batch.value:
        batch.source = f"{batch.source}; rounded to {seqs} whole sequences of {seq}"
        batch.value = seqs * seq
    arch_heads = (
        out["custom_model"].value["n_heads"]
        if isinstance(out["custom_model"].value, dict)
        else MODELS[out["model"].value].arch.n_heads
        if out["model"].value in MODELS
        else 1
    )
    tp = out["tensor_parallel"]
    gpus = out["num_gpus"].value
    if gpus % tp.value or arch_heads % tp.value:
        good = largest_divisor(math.gcd(gpus, arch_heads), tp.value)
        tp.source = f"{tp.source}; {tp.value} does not divide GPUs/heads, {good} used"
        tp.value = good
    if gpus // tp.value > max_seqs:
        fewer = max_seqs * tp.value
        out["num_gpus"].source = (
            f"{out['num_gpus'].source}; lowered to {fewer}: a batch of at most "
            f"{max_seqs:,} sequences cannot give each of {gpus // tp.value:,} GPUs one"
        )
        out["num_gpus"].value = gpus = fewer
    dp = gpus // tp.value
    micro = out["micro_batch_size"]
    if seqs < dp * micro.value:
        fit = max(1, seqs // dp)
        if fit != micro.value:
            micro.source = f"{micro.source}; lowered to {fit} to fit {seqs} sequences on {dp} GPUs"
            micro.value = fit
        if seqs < dp * fit:
            batch.value = dp * fit * seq
            batch.source = f"{batch.source}; raised to one sequence per GPU ({dp})"
    tokens = batch.value
    epochs = out["epochs"].value
    steps = total.value if total else DEFAULT_STEPS
    why = total.source if total else f"steps not recorded; {DEFAULT_STEPS:,} assumed"
    steps = min(max(1, int(steps)), MAX_STEPS)
    _, lo, hi = FIELD_BOUNDS["dataset_tokens"]
    wanted = steps * tokens / epochs
    dataset = min(max(wanted, lo), hi)
    for _ in range(4):  # float rounding must not add a step past the bound
        if dataset != wanted or dataset * epochs / tokens <= steps:
            break
        dataset = wanted = math.nextafter(dataset, 0.0)
    clamped = f"; {wanted:.4g} clamped to {dataset:.4g} (allowed {lo:g}..{hi:g})"
    out["dataset_tokens"] = Field(
        float(dataset),
        "derived" if total else "assumed",
        f"{steps:,} steps ({why}) x {tokens:,} tokens / {epochs:g} epochs"
        + (clamped if dataset != wanted else ""),
    )
    run_steps = max(1, math.ceil(out["dataset_tokens"].value * epochs / tokens))
    warm = out["warmup_steps"]
    if warm.value > run_steps:
        warm.source = f"{warm.source}; capped at the run's {run_steps:,} steps"
        warm.value = run_steps
    lr_min, lr_peak = out["lr_min"], out["lr_peak"]
    if lr_min.value > lr_peak.value:
        lr_min.source = f"{lr_min.source}; above the peak, set to it"
        lr_min.value = lr_peak.value
