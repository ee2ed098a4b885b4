"""Hardware, sequence and batch, steps and epochs, optimizer and the rest of the recipe."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

import numpy as np

from simulator.catalog import CUSTOM_MODEL, GPUS, MODELS
from tracking.recipe.settings import DEFAULTS, Field, Settings
from tracking.records import Series

TOKEN_SERIES = ("num_tokens", "num_input_tokens_seen", "total_tokens", "tokens")
"""Token counters whose growth per step is the batch in tokens (TRL, HF, LLaMA-Factory)."""
TOTAL_STEP_SERIES = ("total_steps",)
GPU_NAMES = (
    ("h200", "h200"),
    ("h100", "h100-sxm"),
    ("mi300", "mi300x"),
    ("l40s", "l40s"),
    ("v100", "v100-32gb"),
    ("4090", "rtx-4090"),
    ("a100", "a100-80gb"),
)
"""Substrings of a GPU's name -> catalogue GPU, first match wins (``a100`` is 80 GB unless
the name says 40)."""


def hardware(s: Settings, out: dict[str, Field]) -> None:
    for key, text in s.all("gpu"):
        slug = _gpu_slug(text)
        if slug:
            out["gpu"] = Field(slug, "found", f"{key}={text[:60]!r}")
            break
    world = s.whole("world_size")
    if world:
        out["num_gpus"] = Field(world[1], "found", world[0])
    tp = s.whole("tensor_parallel")
    if tp:
        out["tensor_parallel"] = Field(tp[1], "found", tp[0])
    precision = _precision(s)
    if precision:
        out["precision"] = precision
    zero = s.number("zero_stage", positive=False)
    if zero and zero[1] in (0, 1, 2, 3):
        out["zero_stage"] = Field(int(zero[1]), "found", zero[0])
    ckpt = s.flag("checkpointing")
    if ckpt:
        out["activation_checkpointing"] = Field(ckpt[1], "found", ckpt[0])


def _gpu_slug(text: str) -> str | None:
    lowered = text.lower()
    for needle, slug in GPU_NAMES:
        if needle in lowered:
            if slug == "a100-80gb" and re.search(r"40\s*g", lowered):
                return "a100-40gb"
            return slug if slug in GPUS else None
    return None


def _precision(s: Settings) -> Field | None:
    for concept, value in (("bf16", "bf16"), ("fp16", "fp16")):
        flag = s.flag(concept)
        if flag and flag[1]:
            return Field(value, "found", f"{flag[0]}=true")
    text = s.text("precision")
    if text:
        t = text[1].lower()
        if "bf16" in t or "bfloat16" in t:
            return Field("bf16", "found", f"{text[0]}={text[1]!r}")
        if "16" in t or "half" in t:
            return Field("fp16", "found", f"{text[0]}={text[1]!r}")
        if "32" in t or t == "float":
            return Field("fp32", "found", f"{text[0]}={text[1]!r}")
    return None


def sequence(s: Settings, out: dict[str, Field]) -> None:
    seq = s.whole("seq_len")
    if seq:
        out["seq_len"] = Field(seq[1], "found", seq[0])
        return
    arch = out["custom_model"].value
    if isinstance(arch, dict):
        out["seq_len"] = Field(
            arch["context_len"], "assumed", "not recorded; the model's context length assumed"
        )
    elif out["model"].provenance != "assumed":
        ctx = MODELS[out["model"].value].arch.context_len
        out["seq_len"] = Field(ctx, "assumed", "not recorded; the model's context length assumed")


def batch(s: Settings, curves: Mapping[str, Series], out: dict[str, Field]) -> None:
    """Tokens per step: a stated global batch, else the growth of a token counter, else
    per-device x accumulation x GPUs x sequence length."""
    micro = s.whole("micro_batch")
    if micro:
        out["micro_batch_size"] = Field(micro[1], "found", micro[0])
    seq = out.get("seq_len")
    seq_len = int(seq.value) if seq else DEFAULTS.seq_len
    tokens = s.whole("global_batch_tokens")
    if tokens:
        out["global_batch_tokens"] = Field(tokens[1], "found", tokens[0])
        return
    seqs = s.whole("global_batch_seqs")
    if seqs:
        out["global_batch_tokens"] = Field(
            seqs[1] * seq_len, "derived", f"{seqs[0]} ({seqs[1]}) x seq_len ({seq_len})"
        )
        return
    rate = _token_rate(curves)
    if rate is not None:
        name, per_step = rate
        out["global_batch_tokens"] = Field(
            round(per_step),
            "derived",
            f"growth of the `{name}` counter: {per_step:,.0f} tokens per step (median)",
        )
        return
    if micro:
        accum = s.whole("grad_accum")
        world = out.get("num_gpus")
        parts = [f"{micro[0]} ({micro[1]})"]
        parts.append(f"{accum[0]} ({accum[1]})" if accum else "accumulation (1, assumed)")
        parts.append(f"{world.source} ({world.value})" if world else "GPUs (1, assumed)")
        parts.append(f"seq_len ({seq_len})")
        total = micro[1] * (accum[1] if accum else 1) * (int(world.value) if world else 1)
        out["global_batch_tokens"] = Field(total * seq_len, "derived", " x ".join(parts))


def _token_rate(curves: Mapping[str, Series]) -> tuple[str, float] | None:
    for name in TOKEN_SERIES:
        c = curves.get(name)
        if c is None or len(c) < 2:
            continue
        ok = np.isfinite(c.value)
        step, value = c.step[ok], c.value[ok]
        ds, dv = np.diff(step), np.diff(value)
        grow = (ds > 0) & (dv > 0)
        if grow.any():
            return c.metric, float(np.median(dv[grow] / ds[grow]))
    return None


def steps(
    s: Settings, curves: Mapping[str, Series], series: Sequence[Series], out: dict[str, Field]
) -> None:
    epochs = s.number("epochs")
    if epochs:
        out["epochs"] = Field(epochs[1], "found", epochs[0])
    total = s.whole("total_steps")
    if total:
        out["_total_steps"] = Field(total[1], "found", total[0])
        return
    for name in TOTAL_STEP_SERIES:
        c = curves.get(name)
        if c is not None and len(c) and math.isfinite(c.value[-1]) and c.value[-1] > 0:
            out["_total_steps"] = Field(int(c.value[-1]), "found", f"last `{c.metric}` value")
            return
    last = [int(x.step.max()) for x in series if len(x)]
    if last and max(last) > 0:
        out["_total_steps"] = Field(
            max(last), "derived", "the last logged step; a run still going will have more"
        )


def optimizer(s: Settings, out: dict[str, Field]) -> None:
    opt = s.text("optimizer")
    slug = _optimizer_slug(opt[1]) if opt else None
    if opt and slug:
        out["optimizer"] = Field(slug, "found", f"{opt[0]}={opt[1]!r}")
    # Betas and eps are not settings of the simulator (published defaults; docs/sources.md,
    # "Recipe knobs"), so a run's values are not carried over.


def _optimizer_slug(text: str) -> str | None:
    t = text.lower()
    if "adafactor" in t:
        return "adafactor"
    if "lion" in t:
        return "lion"
    if "sgd" in t:
        return "sgd"
    if "adamw" in t or t in ("adam_w", "fusedadam", "adam"):
        # Megatron's and DeepSpeed's "adam" decouple weight decay (AdamW); so does HF's default.
        return "adamw"
    if "adam" in t:
        return "adam"
    return None


def misc(s: Settings, out: dict[str, Field]) -> None:
    for concept, field_name in (("weight_decay", "weight_decay"), ("grad_clip", "grad_clip")):
        v = s.number(concept, positive=False)
        if v and v[1] >= 0:
            out[field_name] = Field(v[1], "found", v[0])
    seed = s.number("seed", positive=False)
    if seed and seed[1] == int(seed[1]) and seed[1] >= 0:
        out["seed"] = Field(int(seed[1]), "found", seed[0])
    for concept in ("eval_interval", "checkpoint_interval"):
        v = s.whole(concept)
        if v:
            out[concept] = Field(v[1], "found", v[0])


def base_tokens(s: Settings, out: dict[str, Field]) -> None:
    """A fine-tune (a PEFT adapter, or a run that names the model it starts from) of a
    catalogue model starts from that model's pretraining tokens."""
    model = out["model"]
    if model.value == CUSTOM_MODEL or model.provenance == "assumed":
        return
    start = s.text("model_name")
    if s.has_prefix("adapter_config."):
        why = "adapter_config.json (a PEFT adapter)"
    elif start:
        why = f"{start[0]}={start[1][:60]!r}"
    else:
        return
    tokens = MODELS[model.value].pretrain_tokens
    out["base_tokens"] = Field(
        tokens, "derived", f"{why}: a fine-tune of {model.value}, pretrained on {tokens:.3g} tokens"
    )
