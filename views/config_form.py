"""The Configuration form as data: its fields, how their text is read, form <-> config.

Owns what the form's inputs mean: every field (label, unit, bounds from
``simulator.config.FIELD_BOUNDS``, the block it belongs to), how a typed value is parsed and
checked, and the mapping between the form's values and a ``TrainingConfig``. Dash-free, so the
mapping and every bound are unit-tested without a browser (docs/architecture.md, "Trust
nothing from the browser").

The browser sends every value as it is typed: text for numbers (so "2T", "4Mi" or "3e-4" can
be parsed and a wrong entry explained instead of silently dropped by an ``<input
type=number>``), strings for selects, booleans for switches. ``form_to_config`` checks each
field against the simulator's own bounds so several wrong fields are reported at once, then
``TrainingConfig.from_dict`` checks everything again, including the cross-field rules (batch a
multiple of the sequence length, tensor parallel dividing the heads ...), whose ``ConfigError``
names the field to mark.

Token counts are typed with decimal suffixes (k/K, M, B/G, T) or binary ones (Ki, Mi, Gi):
LLaMA's "4M tokens per batch" is 4 x 2^20 = 4,194,304, a multiple of every power-of-two
sequence length, so ``format_tokens`` writes batches as "4Mi" when they are exact binary
multiples. ``format_tokens`` is an input representation (the parser reads it back exactly);
everything the page only displays is formatted by ``simulator.fmt``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import simulator as sim
from simulator import fmt
from simulator.catalog import FAMILY_LOSS, OptimizerSpec
from simulator.config import ARCH_BOUNDS, FIELD_BOUNDS
from simulator.estimate import FLOPS_CONVENTION

CUSTOM = sim.CUSTOM_MODEL
MAX_TEXT = 40  # longest text accepted in a numeric field

FAMILY_NAMES = {f: loss.name for f, loss in FAMILY_LOSS.items() if f != CUSTOM}
"""The preset picker's group headings, in the catalogue's family order."""
FP8_GPUS = tuple(g.name.split()[0] for g in sim.GPUS.values() if g.peak_tflops_fp8 > 0)

ZERO_LABELS = {
    0: "0 · none (plain DDP)",
    1: "1 · shard optimizer state",
    2: "2 · + shard gradients",
    3: "3 · + shard weights (FSDP)",
}


class FormError(ValueError):
    """One field's value cannot be used; the message says what is allowed."""


@dataclass(frozen=True)
class Field:
    """One input of the form.

    ``key`` is where the value goes in ``TrainingConfig.to_dict()``: a flat key, or
    ``("custom_model", k)``. ``scale`` converts config units to what the user types (MFU as a
    percentage). ``group`` names the block the field lives in when that block is shown only
    for one choice (``custom``, ``wsd``).
    """

    name: str
    label: str
    kind: str  # select | switch | int | float | tokens | opt_int | opt_float
    key: tuple[str, ...]
    lo: float = 0.0
    hi: float = 0.0
    unit: str = ""
    tip: str = ""
    group: str | None = None
    scale: float = 1.0
    options: tuple[tuple[str, str], ...] = ()

    @property
    def optional(self) -> bool:
        return self.kind.startswith("opt_")

    @property
    def numeric(self) -> bool:
        return self.kind not in ("select", "switch")


def _flat(name: str, label: str, unit: str = "", tip: str = "", **kw: Any) -> Field:
    kind, lo, hi = FIELD_BOUNDS[name]
    kind = kw.pop("kind", kind)
    scale = kw.get("scale", 1.0)
    return Field(name, label, kind, (name,), lo * scale, hi * scale, unit, tip, **kw)


def _arch(key: str, label: str, tip: str = "") -> Field:
    lo, hi = ARCH_BOUNDS[key]
    return Field(f"arch.{key}", label, "int", ("custom_model", key), lo, hi, "", tip, "custom")


MODEL_FIELDS = (
    _arch("n_layers", "Layers"),
    _arch("d_model", "d_model", "hidden size; a multiple of the head count"),
    _arch("n_heads", "Attention heads"),
    _arch("n_kv_heads", "KV heads", "grouped-query attention: fewer key/value heads than query"),
    _arch("ffn_dim", "FFN size", "SwiGLU hidden size (three matrices)"),
    _arch("vocab_size", "Vocabulary"),
    _arch("context_len", "Context", "the architecture's maximum context"),
)
DATA_FIELDS = (
    _flat(
        "dataset_tokens",
        "Dataset",
        "tokens",
        "unique tokens in the dataset; K, M, B, T suffixes",
        kind="tokens",
    ),
    _flat("epochs", "Epochs", "passes", "passes over the dataset (fractions allowed)"),
    _flat("seq_len", "Sequence length", "tokens"),
    _flat(
        "global_batch_tokens",
        "Global batch",
        "tokens",
        "tokens per optimizer step over all GPUs; a multiple of the sequence length. "
        "4Mi = 4 x 2^20 (LLaMA's '4M tokens')",
        kind="tokens",
    ),
    _flat(
        "micro_batch_size",
        "Micro-batch",
        "seq / GPU",
        "sequences per GPU per forward pass; gradient accumulation makes up the rest",
    ),
    _flat(
        "base_tokens",
        "Pretrained on",
        "tokens",
        "tokens the starting checkpoint has already seen (0 = from scratch; a fine-tune "
        "starts from its base model)",
        kind="tokens",
    ),
)


def _optimizer_defaults(spec: OptimizerSpec) -> str:
    """``β1 0.9, β2 0.95, ε 1e-5``: the defaults a user would otherwise look for."""
    names = {
        "beta1": "β1",
        "beta2": "β2",
        "eps": "ε",
        "momentum": "momentum",
        "beta2_decay": "β2 decay",
        "clip_threshold": "update clip",
    }
    return ", ".join(
        f"{names[k]} {v:g}".replace("e-0", "e-") for k, v in spec.params.items() if k in names
    )


OPTIMIZER_TIP = (
    f"Each runs at its published defaults (AdamW: {_optimizer_defaults(sim.OPTIMIZERS['adamw'])}"
    ", as LLaMA). β, ε and momentum are not settings: no published source gives their effect "
    "on the loss. SGD needs ~30x AdamW's learning rate and falls behind as the batch grows "
    "(Zhang et al. 2019); Lion needs 3-10x less."
)
OPTIMIZER_FIELDS = (
    Field(
        "optimizer",
        "Optimizer",
        "select",
        ("optimizer",),
        tip=OPTIMIZER_TIP,
        options=tuple((s, o.name) for s, o in sim.OPTIMIZERS.items()),
    ),
    _flat(
        "weight_decay",
        "Weight decay",
        "",
        "decoupled for AdamW/Lion/Adafactor, L2 otherwise. The weights average the last "
        "1 / (LR × decay) steps (Wang & Aitchison 2024): too much and a long run forgets its "
        "early tokens; none ends slightly higher",
    ),
    _flat("grad_clip", "Gradient clip", "norm", "global gradient-norm clipping; 0 = off"),
)
SCHEDULE_FIELDS = (
    Field(
        "schedule",
        "Schedule",
        "select",
        ("schedule",),
        options=tuple((s, o.name) for s, o in sim.SCHEDULES.items()),
    ),
    _flat("lr_peak", "Peak LR"),
    _flat("lr_min", "Minimum LR", "", "where the decay ends (LLaMA: 10% of peak)"),
    _flat("warmup_steps", "Warmup", "steps", "linear warmup from 0 to the peak"),
    _flat(
        "decay_fraction",
        "Decay share",
        "of run",
        "WSD: the share of training spent decaying at the end (MiniCPM: ~10%)",
        group="wsd",
    ),
)
HARDWARE_FIELDS = (
    Field(
        "gpu",
        "GPU",
        "select",
        ("gpu",),
        options=tuple(
            (s, f"{g.name} · {g.memory_gb:g} GB · ${g.price_per_hour:.2f}/h")
            for s, g in sim.GPUS.items()
        ),
    ),
    _flat("num_gpus", "GPUs", "", "total GPUs = data parallel x tensor parallel"),
    _flat(
        "tensor_parallel",
        "Tensor parallel",
        "",
        "GPUs each layer's weight matrices are split over (Megatron tensor parallelism; "
        "splitting the stack of layers over GPUs is pipeline parallelism, not modelled here); "
        "keep it within a node (<= 8)",
    ),
    Field(
        "precision",
        "Precision",
        "select",
        ("precision",),
        options=(
            ("bf16", "BF16 mixed"),
            ("fp8", f"FP8 linear layers ({', '.join(FP8_GPUS)})"),
            ("fp16", "FP16 mixed"),
            ("fp32", "FP32 / TF32"),
        ),
    ),
    Field(
        "zero_stage",
        "ZeRO stage",
        "select",
        ("zero_stage",),
        tip="ZeRO (Rajbhandari et al. 2020) shards training state over the data-parallel "
        "GPUs: stage 1 the optimizer state, 2 also the gradients, 3 also the weights "
        "(PyTorch FSDP). Less memory per GPU for more communication.",
        options=tuple((str(k), v) for k, v in ZERO_LABELS.items()),
    ),
    Field(
        "activation_checkpointing",
        "Activation checkpointing",
        "switch",
        ("activation_checkpointing",),
        tip="Keep only each layer's input and recompute the rest in the backward pass: "
        "far less activation memory. The GPUs do ~8N instead of 6N FLOPs per token, but "
        "measured runs lose only 12-15% of their throughput (llm-foundry, torchtitan): the "
        "memory freed allows larger micro-batches. LLaMA and Llama 2 checkpointed selectively.",
    ),
    _flat(
        "mfu",
        "MFU override",
        "%",
        "Model FLOPs utilisation: the share of the GPUs' peak FLOP/s spent on the model's "
        f"{FLOPS_CONVENTION}; recomputed activations do not count. Published runs reach "
        "38-64%. Blank = modelled from the model size, GPU and parallelism.",
        scale=100.0,
    ),
    _flat(
        "price_per_gpu_hour",
        "Price override",
        "$/GPU-h",
        "blank = the GPU's on-demand list price",
    ),
)
RUN_FIELDS = (
    _flat("seed", "Seed", "", "same seed and config give the same curves"),
    _flat("eval_interval", "Eval every", "steps", "blank = about 200 evaluations per run"),
    _flat("checkpoint_interval", "Checkpoint every", "steps", "blank = about 20 per run"),
)

SECTIONS: tuple[tuple[str, str, tuple[Field, ...]], ...] = (
    ("model", "Model", MODEL_FIELDS),
    ("data", "Data and batch", DATA_FIELDS),
    ("optimizer", "Optimizer", OPTIMIZER_FIELDS),
    ("schedule", "Learning-rate schedule", SCHEDULE_FIELDS),
    ("hardware", "Hardware", HARDWARE_FIELDS),
    ("run", "Run", RUN_FIELDS),
)
FIELDS: dict[str, Field] = {f.name: f for _, _, fs in SECTIONS for f in fs}
GROUPS: tuple[str, ...] = ("custom", "wsd")


def preset_options() -> list[dict[str, Any]]:
    """Dropdown options: the catalogue grouped by family (disabled headers), then custom."""
    out: list[dict[str, Any]] = []
    for family, title in FAMILY_NAMES.items():
        out.append({"label": title.upper(), "value": f"__family-{family}", "disabled": True})
        for slug in sim.PRESETS:
            spec = sim.MODELS[slug]
            if spec.family == family:
                params = fmt.si(sim.param_count(spec.arch))
                out.append({"label": f"{spec.name} · {params} params", "value": slug})
    out.append({"label": "OTHER", "value": "__family-custom", "disabled": True})
    out.append({"label": "Custom architecture", "value": CUSTOM})
    return out


# ---------------------------------------------------------------------- numbers and text

_SUFFIX = {
    "": 1.0,
    "k": 1e3,
    "m": 1e6,
    "b": 1e9,
    "g": 1e9,
    "t": 1e12,
    "ki": 2.0**10,
    "mi": 2.0**20,
    "gi": 2.0**30,
    "ti": 2.0**40,
}
_NUMBER = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d{1,3})?)\s*([a-z]{0,2})$")


def parse_number(raw: Any, *, suffixes: bool = False) -> float:
    """A number from a form value: ``3e-4``, ``1,024``, and with ``suffixes`` ``2T``/``4Mi``.

    Raises:
        FormError: saying what was expected.
    """
    if isinstance(raw, bool):
        raise FormError("a number")
    if isinstance(raw, (int, float)):
        value = float(raw)
    elif isinstance(raw, str):
        text = raw.strip().lower().replace(",", "").replace("_", "").replace(" ", "")
        if len(text) > MAX_TEXT:
            raise FormError(f"a number (at most {MAX_TEXT} characters)")
        m = _NUMBER.match(text)
        if not m or (m.group(2) and (not suffixes or m.group(2) not in _SUFFIX)):
            if suffixes:
                raise FormError("not a token count (use e.g. 2T, 500B, 4Mi)")
            raise FormError("not a number")
        value = float(m.group(1)) * _SUFFIX[m.group(2)]
    else:
        raise FormError("a number")
    if not math.isfinite(value):
        raise FormError("a finite number")
    return value


def format_tokens(x: float) -> str:
    """A token count the parser reads back exactly: ``2T``, ``256M``, ``4Mi``, ``262,145``.

    A short decimal form (at most four significant digits) wins; then an exact binary one
    (batch sizes are usually powers of two); then the plain number. Thousands are ``k``, as
    ``simulator.fmt.si`` writes them everywhere else (the parser reads ``k`` and ``K`` alike).
    """
    if x == 0:
        return "0"
    for suf, mult in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("k", 1e3)):
        q = x / mult
        if q >= 1:
            short = f"{q:.4g}"
            if "e" not in short and float(short) * mult == x:
                return f"{short}{suf}"
            break
    for suf, mult in (("Ti", 2.0**40), ("Gi", 2.0**30), ("Mi", 2.0**20), ("Ki", 2.0**10)):
        q = x / mult
        if 1 <= q < 10_000 and q == int(q):
            return f"{int(q)}{suf}"
    if x == int(x):
        return f"{int(x):,}"
    return f"{x:g}"


def format_float(x: float, digits: int = 6) -> str:
    """Short float text: ``0.0003`` -> ``0.0003``, ``1e-05`` -> ``1e-5``, ``0.95`` -> ``0.95``."""
    if x == 0:
        return "0"
    text = f"{x:.{digits}g}"
    if "e" in text:
        mant, exp = text.split("e")
        text = f"{mant}e{int(exp)}"
    return text


def format_bound(field: Field, x: float) -> str:
    if field.kind == "tokens":
        return fmt.si(x)
    if field.kind in ("int", "opt_int"):
        return f"{int(x):,}"
    return format_float(x)


def bound_text(field: Field) -> str:
    """``1 – 65,536``, ``100k – 100T tokens``: the field's allowed range with its unit."""
    if not field.numeric:
        return ""
    text = f"{format_bound(field, field.lo)} – {format_bound(field, field.hi)}"
    return f"{text} {field.unit}".strip()


# ----------------------------------------------------------------------- form <-> config


def config_to_form(cfg: sim.TrainingConfig) -> tuple[str, dict[str, Any]]:
    """The preset value and every field's display value for ``cfg``.

    Fields not used by ``cfg`` (a catalogue model's shape for the custom fields) are filled
    too, so switching shows sensible starting values.
    """
    d = cfg.to_dict()
    arch = cfg.arch
    values: dict[str, Any] = {}
    for f in FIELDS.values():
        if f.key[0] == "custom_model":
            raw: Any = getattr(arch, f.key[1])
        else:
            raw = d[f.key[0]]
        values[f.name] = display_value(f, raw)
    return cfg.model, values


def display_value(f: Field, raw: Any) -> Any:
    """One config value as the form shows it."""
    if f.kind == "switch":
        return "true" if raw else "false"
    if f.kind == "select":
        return str(raw)
    if raw is None:
        return ""
    if f.kind == "tokens":
        return format_tokens(float(raw))
    if f.kind in ("int", "opt_int"):
        return str(int(raw))
    # As short as reads back to the same value (a loaded file's 0.123456789 must survive).
    value = float(raw)
    text = format_float(value * f.scale)
    for digits in (10, 17):
        if float(text) / f.scale == value:
            break
        text = format_float(value * f.scale, digits)
    return text


@dataclass(frozen=True)
class FormResult:
    """What the form holds: a validated config, or the messages saying what is wrong."""

    config: sim.TrainingConfig | None
    errors: dict[str, str]  # field name -> what is allowed
    form_error: str | None = None  # a problem no single visible field owns

    @property
    def valid(self) -> bool:
        return self.config is not None


def active_fields(model: str) -> list[Field]:
    """The fields that make up the config: the custom shape only for a custom model."""
    return [f for f in FIELDS.values() if f.group != "custom" or model == CUSTOM]


def parse_field(f: Field, raw: Any) -> Any:
    """One form value in config units, checked against the field's bounds.

    Raises:
        FormError: what is allowed.
    """
    if f.kind == "switch":
        if raw in (True, "true"):
            return True
        if raw in (False, "false"):
            return False
        raise FormError("on or off")
    if f.kind == "select":
        allowed = [v for v, _ in f.options]
        if not isinstance(raw, str) or raw not in allowed:
            raise FormError(f"one of {', '.join(allowed)}")
        return int(raw) if f.name == "zero_stage" else raw
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        if f.optional:
            return None
        raise FormError(f"required: {bound_text(f)}")
    try:
        value = parse_number(raw, suffixes=f.kind == "tokens")
    except FormError as exc:
        raise FormError(f"{exc}; allowed: {bound_text(f)}") from None
    if f.kind in ("int", "opt_int") and value != int(value):
        raise FormError(f"a whole number, {bound_text(f)}")
    if not f.lo <= value <= f.hi:
        raise FormError(f"must be {bound_text(f)}")
    value /= f.scale
    if f.kind in ("int", "opt_int"):
        return round(value)
    return value


def form_to_config(model: Any, values: Mapping[str, Any]) -> FormResult:
    """Validate the whole form and build the config (the server's own check, every time).

    Args:
        model: the preset dropdown's value (a catalogue slug or ``"custom"``).
        values: field name -> value as the browser sent it (missing fields are errors).
    """
    if not isinstance(model, str) or (model != CUSTOM and model not in sim.MODELS):
        return FormResult(None, {}, "Choose a model: a catalogue preset or a custom architecture.")
    errors: dict[str, str] = {}
    data: dict[str, Any] = {"model": model, "custom_model": None}
    custom: dict[str, int] = {}
    for f in active_fields(model):
        try:
            value = parse_field(f, values.get(f.name))
        except FormError as exc:
            errors[f.name] = str(exc)
            continue
        if f.key[0] == "custom_model":
            custom[f.key[1]] = value
        else:
            data[f.key[0]] = value
    if errors:
        return FormResult(None, errors)
    too_long = _beyond_context(model, data.get("seq_len"), custom.get("context_len"))
    if too_long:
        return FormResult(None, {"seq_len": too_long})
    if model == CUSTOM:
        data["custom_model"] = custom
    try:
        return FormResult(sim.TrainingConfig.from_dict(data), {})
    except sim.ConfigError as exc:
        name = field_for_error(exc.field)
        if name is None:
            return FormResult(None, {}, str(exc))
        return FormResult(None, {name: exc.allowed})


def _beyond_context(model: str, seq_len: Any, custom_context: Any) -> str | None:
    """The sequence length's message when it is longer than the model's context, else None.

    Checked here, before the batch arithmetic: 131,072-token sequences on a 4,096-token
    model left a 4M-token batch 32 sequences for 1,024 GPUs, and the error landed on the
    micro-batch, already at its minimum. The simulator itself does not refuse it (a stored
    run or file keeps loading); the form names the field to change.
    """
    if not isinstance(seq_len, int):
        return None
    if model == CUSTOM:
        context = custom_context if isinstance(custom_context, int) else None
        elsewhere = "raise the architecture's Context to train longer sequences"
    else:
        context = sim.MODELS[model].arch.context_len
        elsewhere = "a longer context is another model: choose Custom and set its Context"
    if context is None or seq_len <= context:
        return None
    return f"at most the model's context, {context:,} tokens ({elsewhere})"


def field_for_error(config_field: str) -> str | None:
    """The form field a ``ConfigError`` names (``custom_model.d_model`` -> ``arch.d_model``)."""
    if config_field.startswith("custom_model."):
        name = "arch." + config_field.split(".", 1)[1]
    else:
        name = config_field
    return name if name in FIELDS else None
