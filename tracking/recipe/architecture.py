"""The architecture: a catalogue model matched by shape or by name, else a custom one."""

from __future__ import annotations

import re
from collections.abc import Mapping

from simulator.catalog import CUSTOM_MODEL, MODELS
from simulator.config import ARCH_BOUNDS
from tracking.recipe.settings import DEFAULTS, Field, Settings, largest_divisor

DEFAULT_CONTEXT = 2048
"""Context length assumed for a custom model whose settings give none and no sequence length."""


def architecture(s: Settings, out: dict[str, Field]) -> None:
    found = {k: s.whole(k) for k in ARCH_BOUNDS}
    name = s.text("model_name")
    key4 = ("d_model", "n_layers", "n_heads", "vocab_size")
    if all(found[k] is not None for k in key4):
        values = {k: v[1] for k, v in found.items() if v is not None}
        matches = [
            slug
            for slug, spec in MODELS.items()
            if all(getattr(spec.arch, k) == values[k] for k in key4)
        ]
        if matches:
            slug = _best_match(matches, values, name[1] if name else "")
            keys = ", ".join(f"{v[0]}={v[1]}" for k, v in found.items() if v and k in key4)
            others = (
                f" (also matches {', '.join(m for m in matches if m != slug)})"
                if len(matches) > 1
                else ""
            )
            out["model"] = Field(slug, "derived", f"{keys} match {slug}{others}")
            out["custom_model"] = Field(None, "derived", f"catalogue model {slug}")
            return
    named = _slug_in_name(name[1]) if name else None
    if name is not None and named is not None and found["d_model"] is None:
        out["model"] = Field(named, "derived", f"{name[0]}={name[1]!r} names {named}")
        out["custom_model"] = Field(None, "derived", f"catalogue model {named}")
        return
    if found["d_model"] is not None and found["n_layers"] is not None:
        out["model"] = Field(CUSTOM_MODEL, "derived", _custom_reason(found))
        out["custom_model"] = _custom(found, s)
        return
    out["model"] = Field(
        DEFAULTS.model, "assumed", "no architecture in the run's settings; the simulator's default"
    )
    out["custom_model"] = Field(None, "assumed", "no architecture in the run's settings")


def _best_match(matches: list[str], values: dict[str, int], name: str) -> str:
    """Among catalogue models with the same shape: one the model name names, then the same
    context length and KV heads, then catalogue order."""
    lowered = name.lower()
    for slug in matches:
        if _names(lowered, slug):
            return slug

    def score(slug: str) -> tuple[int, int]:
        arch = MODELS[slug].arch
        return (
            int(values.get("context_len") == arch.context_len),
            int(values.get("n_kv_heads") == arch.n_kv_heads),
        )

    return max(matches, key=lambda m: (score(m), -matches.index(m)))


def _names(lowered: str, slug: str) -> bool:
    return re.search(rf"(?<![a-z0-9]){re.escape(slug)}(?![a-z0-9])", lowered) is not None


def _slug_in_name(name: str) -> str | None:
    """The catalogue model a hub name names (``mistralai/Mistral-7B-Instruct-v0.2`` ->
    ``mistral-7b``), longest slug first, whole words only (``codellama-7b`` is not
    ``llama-7b``)."""
    lowered = name.lower()
    for slug in sorted(MODELS, key=len, reverse=True):
        if _names(lowered, slug):
            return slug
    return None


def _custom_reason(found: Mapping[str, tuple[str, int] | None]) -> str:
    keys = ", ".join(f"{v[0]}={v[1]}" for v in found.values() if v is not None)
    return f"{keys}: no catalogue model has this shape"


def _custom(found: Mapping[str, tuple[str, int] | None], s: Settings) -> Field:
    """A custom architecture the simulator accepts; what was missing or out of bounds is
    named in ``source``."""
    arch: dict[str, int] = {}
    notes: list[str] = []
    for key in ARCH_BOUNDS:
        v = found[key]
        if v is not None:
            arch[key] = v[1]
    d = arch["d_model"]
    if "n_heads" not in arch:
        arch["n_heads"] = max(1, d // 64)
        notes.append(f"n_heads assumed d_model/64 = {arch['n_heads']}")
    if "n_kv_heads" not in arch:
        arch["n_kv_heads"] = arch["n_heads"]
        notes.append("n_kv_heads assumed = n_heads (no grouped-query attention stated)")
    if "ffn_dim" not in arch:
        arch["ffn_dim"] = 4 * d
        notes.append("ffn_dim assumed 4 x d_model")
    if "vocab_size" not in arch:
        arch["vocab_size"] = 32000
        notes.append("vocab_size assumed 32000")
    if "context_len" not in arch:
        seq = s.whole("seq_len")
        arch["context_len"] = seq[1] if seq else DEFAULT_CONTEXT
        notes.append(f"context_len assumed {arch['context_len']}")
    for key, (lo, hi) in ARCH_BOUNDS.items():
        if not lo <= arch[key] <= hi:
            clamped = min(max(arch[key], lo), hi)
            notes.append(f"{key} {arch[key]} clamped to {clamped} (allowed {lo}..{hi})")
            arch[key] = clamped
    if arch["d_model"] % arch["n_heads"]:
        heads = largest_divisor(arch["d_model"], arch["n_heads"])
        notes.append(f"n_heads {arch['n_heads']} does not divide d_model; {heads} used")
        arch["n_heads"] = heads
    if arch["n_heads"] % arch["n_kv_heads"]:
        kv = largest_divisor(arch["n_heads"], arch["n_kv_heads"])
        notes.append(f"n_kv_heads {arch['n_kv_heads']} does not divide n_heads; {kv} used")
        arch["n_kv_heads"] = kv
    keys = ", ".join(f"{v[0]}" for v in found.values() if v is not None)
    source = keys + (f"; {'; '.join(notes)}" if notes else "")
    return Field(arch, "found" if not notes else "derived", source)
