"""Command line: plan a training run from a terminal.

    python -m simulator estimate llama-2-7b --gpus 256 --gpu h100-sxm
    python -m simulator estimate vicuna-7b --zero 2 --json
    python -m simulator estimate llama-2-70b --set lr_peak=1e-4 --set weight_decay=0.05
    python -m simulator presets

This is the package's only I/O: it parses arguments, calls ``estimate`` / ``fit_advice`` and
prints. A bad preset or value prints the ``ConfigError`` message (field, value, what is
allowed) and exits with status 2, like a usage error; no traceback.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from simulator import fmt
from simulator.catalog import CUSTOM_MODEL, GPUS, MODELS, OPTIMIZERS
from simulator.config import LEGACY_KEYS, ConfigError, TrainingConfig
from simulator.estimate import Estimate, FitAdvice, estimate, fit_advice
from simulator.presets import PRESETS, assumed_settings, preset, provenance

EXIT_USAGE = 2
MAX_CONFIG_FILE_BYTES = 65_536
CHINCHILLA_TOKENS_PER_PARAM = 20.0  # Hoffmann et al. 2022: about 20 tokens per parameter
_SUFFIX = {"": 1.0, "k": 1e3, "m": 1e6, "b": 1e9, "g": 1e9, "t": 1e12}
_BINARY = {"ki": 2**10, "mi": 2**20, "gi": 2**30}
_QUANTITY = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*([a-z]{0,2})\s*$", re.I)


def parse_quantity(field: str, text: str) -> float:
    """``"2e12"``, ``"2T"``, ``"500B"``, ``"4Mi"`` (binary) -> a number; else ``ConfigError``."""
    match = _QUANTITY.match(text)
    suffix = match.group(2).lower() if match else ""
    scale = _SUFFIX.get(suffix) or _BINARY.get(suffix)
    if match is None or scale is None:
        raise ConfigError(
            field, text, "a number like 2e12, 2T, 500B, 370M or 4Mi (= 4,194,304, binary)"
        )
    return float(match.group(1)) * scale


def _whole(field: str, value: float) -> int | float:
    """An int when the number is whole (config int fields reject 4.0 only if it is not)."""
    return int(value) if math.isfinite(value) and value == int(value) else value


def _parse_set(item: str) -> tuple[str, Any]:
    """``key=value`` with a JSON value (number, true/false, null) or a bare string."""
    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError("--set", item, "key=value, e.g. lr_peak=1e-4 or schedule=wsd")
    try:
        value: Any = json.loads(raw)
    except ValueError:
        value = raw
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(key, raw, "a finite number")
    return key, value


def build_config(args: argparse.Namespace) -> TrainingConfig:
    """The preset (or ``--config`` file) with every flag and ``--set`` applied, validated."""
    changes: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {}
    flag_fields = (
        ("gpus", "num_gpus"),
        ("gpu", "gpu"),
        ("precision", "precision"),
        ("zero", "zero_stage"),
        ("checkpointing", "activation_checkpointing"),
        ("tp", "tensor_parallel"),
        ("seq_len", "seq_len"),
        ("micro_batch", "micro_batch_size"),
        ("epochs", "epochs"),
        ("price", "price_per_gpu_hour"),
        ("mfu", "mfu"),
        ("optimizer", "optimizer"),
        ("schedule", "schedule"),
        ("lr", "lr_peak"),
        ("seed", "seed"),
    )
    for attr, name in flag_fields:
        value = getattr(args, attr)
        if value is not None:
            changes[name] = value
    if args.tokens is not None:
        changes["dataset_tokens"] = parse_quantity("dataset_tokens", args.tokens)
    if args.batch is not None:
        changes["global_batch_tokens"] = _whole(
            "global_batch_tokens", parse_quantity("global_batch_tokens", args.batch)
        )
    for item in args.set or ():
        key, value = _parse_set(item)
        head, dot, rest = key.partition(".")
        if head in LEGACY_KEYS:
            raise ConfigError(
                key,
                value,
                "not a setting: every optimizer runs at its published defaults (AdamW beta1 "
                "0.9, beta2 0.95, eps 1e-5), because no source gives their effect on the loss",
            )
        if dot:
            nested.setdefault(head, {})[rest] = value
        else:
            changes[key] = value

    for head, values in nested.items():
        if head != "custom_model":
            raise ConfigError(f"{head}.{next(iter(values))}", None, "only custom_model.* nests")
    if args.config is not None:
        base = _load_config_file(args.config)
    elif args.model == CUSTOM_MODEL:
        # A custom architecture from its layer sizes, on the default (Llama 2 7B-like) recipe.
        arch = nested.pop("custom_model", {})
        base = TrainingConfig.from_dict({"model": CUSTOM_MODEL, "custom_model": arch})
    else:
        if args.model not in PRESETS:
            raise ConfigError("model", args.model, f"one of {', '.join([*PRESETS, CUSTOM_MODEL])}")
        base = preset(args.model)
    for head, values in nested.items():
        current = base.to_dict().get(head)
        changes[head] = {**(current or {}), **values}
    return base.with_changes(changes) if changes else base


def _load_config_file(path: str) -> TrainingConfig:
    """A saved config (``TrainingConfig.to_dict`` JSON), size-checked before it is parsed."""
    file = Path(path)
    try:
        size = file.stat().st_size
        if size > MAX_CONFIG_FILE_BYTES:
            raise ConfigError("--config", path, f"a file of at most {MAX_CONFIG_FILE_BYTES} bytes")
        data = json.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError("--config", path, f"a readable file ({exc.strerror})") from exc
    except ValueError as exc:
        raise ConfigError("--config", path, f"a JSON config file ({exc})") from exc
    return TrainingConfig.from_dict(data)


# ------------------------------------------------------------------------------ format
def format_estimate(cfg: TrainingConfig, est: Estimate, advice: Sequence[FitAdvice]) -> str:
    """The readable table ``estimate`` prints (numbers as the web page shows them)."""
    gpu = GPUS[cfg.gpu]
    model = fmt.model_name(cfg.model)
    ckpt = "activation checkpointing" if cfg.activation_checkpointing else "no checkpointing"
    tp = f", TP {cfg.tensor_parallel}" if cfg.tensor_parallel > 1 else ""
    lines = [
        f"{model} on {cfg.num_gpus:,} x {gpu.name} "
        f"({cfg.precision}, ZeRO-{cfg.zero_stage}{tp}, {ckpt}, {OPTIMIZERS[cfg.optimizer].name})",
        "",
    ]

    def row(label: str, value: str, note: str = "") -> None:
        lines.append(f"  {label:<22}{value:>16}  {note}".rstrip())

    lines.append("Run")
    row("parameters", fmt.si(est.params))
    epochs = f"{cfg.epochs:g} epoch{'s' if cfg.epochs != 1 else ''} of {fmt.si(cfg.dataset_tokens)}"
    row("tokens", fmt.si(est.tokens), epochs)
    row(
        "steps",
        f"{est.steps:,}",
        f"{cfg.global_batch_tokens:,} tokens/step = {cfg.sequences_per_batch:,} x {cfg.seq_len:,}"
        f"; grad accum {est.grad_accum}",
    )
    row("FLOPs per token", fmt.si(est.flops_per_token), f"total {fmt.flops(est.total_flops)} FLOPs")
    lines.append("Throughput and cost")
    row(
        "tokens/s",
        fmt.si(est.tokens_per_second),
        f"{fmt.si(est.tokens_per_second / cfg.num_gpus)} per GPU",
    )
    row("MFU", fmt.percent(est.mfu))
    row("step time", fmt.seconds(est.step_seconds))
    row("wall time", fmt.duration(est.wall_seconds))
    row("GPU-hours", fmt.si(est.gpu_hours))
    row("cost", fmt.money(est.cost_usd), f"at {fmt.money(est.price_per_gpu_hour)} per GPU-hour")
    row("energy", fmt.energy(est.energy_kwh), "board power x PUE 1.1")
    row("CO2", f"{fmt.mass(est.co2_kg)} CO2e", "0.385 kg per kWh")
    lines.append(f"Memory per GPU (capacity {gpu.memory_gb:g} GB)")
    for part, value in est.memory.items():
        row(part, fmt.gigabytes(value))
    share = fmt.percent(est.memory_total / est.memory_capacity, 0)
    verdict = "fits" if est.fits else "DOES NOT FIT"
    row("total", fmt.gigabytes(est.memory_total), f"{share} of capacity: {verdict}")
    if not est.fits:
        lines.append("Fit advice")
        for a in advice:
            mark = f"-> {fmt.gigabytes(a.memory_total)}" if a.fits else ""
            lines.append(f"  - {a.text} {mark}".rstrip())
    assumed = assumed_settings(cfg)
    if cfg.model in PRESETS:
        lines.append(f"Recipe ({provenance(cfg.model).source})")
        for name, why in assumed.items():
            lines.append(f"  {name:<26}{why}")
        if not assumed:
            lines.append("  every recipe setting as published")
    lines.append(
        "Scaling (Chinchilla: Hoffmann et al. 2022, Epoch AI refit, Besiroglu et al. 2024)"
    )
    if not est.chinchilla_applies:
        row(
            "tokens per parameter",
            fmt.number(est.tokens_per_param, ",.1f"),
            f"this run only; continues a model pretrained on {fmt.si(est.base_tokens)} tokens",
        )
        lines.append("  Chinchilla advice does not apply to a fine-tune of a pretrained model:")
        lines.append("  its compute is no budget to split between model size and data.")
        return "\n".join(lines)
    row(
        "tokens per parameter",
        fmt.number(est.tokens_per_param, ",.1f"),
        f"rule of thumb {CHINCHILLA_TOKENS_PER_PARAM:g}; "
        f"Epoch AI refit at this compute {est.optimal_tokens_per_param:.1f}",
    )
    row(
        "optimal for this compute",
        fmt.si(est.optimal_params),
        f"parameters on {fmt.si(est.optimal_tokens)} tokens",
    )
    return "\n".join(lines)


def format_presets() -> str:
    """One line per preset; the hardware and settings its source did not publish are marked
    (``simulator.presets.provenance``)."""
    lines = [
        f"{'preset':<15}{'model':<18}{'params':>8}{'tokens':>9}  {'hardware':<28}"
        f"{'assumed':>8}  source"
    ]
    for slug in PRESETS:
        cfg = preset(slug)
        est = estimate(cfg)
        spec = MODELS[slug]
        prov = provenance(slug)
        hw = f"{cfg.num_gpus:,} x {GPUS[cfg.gpu].name}"
        if "gpu" in prov.assumed or "num_gpus" in prov.assumed:
            hw += " (assumed)"
        lines.append(
            f"{slug:<15}{spec.name:<18}{fmt.si(est.params):>8}{fmt.si(est.tokens):>9}  {hw:<28}"
            f"{len(prov.assumed):>8}  {prov.source.split(',')[0][:40]}"
        )
    lines.append(
        "assumed: recipe settings the source does not publish "
        "(python -m simulator estimate <preset> names them)"
    )
    return "\n".join(lines)


# -------------------------------------------------------------------------------- main
def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m simulator", description="Plan an LLM training run before it runs."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    est = sub.add_parser(
        "estimate",
        help="time, memory, cost and carbon of a recipe",
        description="Estimate a preset recipe, changed by the flags below.",
    )
    est.add_argument(
        "model",
        nargs="?",
        help=f"a preset ({', '.join(PRESETS)}) or 'custom' with --set custom_model.KEY=N",
    )
    est.add_argument("--config", metavar="FILE", help="a saved config JSON instead of a preset")
    est.add_argument("--gpus", type=int, help="number of GPUs")
    est.add_argument("--gpu", help=f"GPU: {', '.join(GPUS)}")
    est.add_argument("--tokens", help="dataset tokens per epoch: 2e12, 2T, 500B")
    est.add_argument("--epochs", type=float, help="passes over the dataset")
    est.add_argument(
        "--batch", help="global batch in tokens: 4194304 or 4Mi (a multiple of --seq-len)"
    )
    est.add_argument("--seq-len", type=int, help="sequence length in tokens")
    est.add_argument("--micro-batch", type=int, help="sequences per GPU per micro-step")
    est.add_argument("--precision", help="bf16, fp16 or fp32")
    est.add_argument("--zero", type=int, help="ZeRO stage 0-3 (3 = FSDP full sharding)")
    est.add_argument("--tp", type=int, help="tensor-parallel degree")
    est.add_argument(
        "--checkpointing",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="activation checkpointing on/off",
    )
    est.add_argument("--optimizer", help=f"optimizer: {', '.join(OPTIMIZERS)}")
    est.add_argument("--schedule", help="LR schedule")
    est.add_argument("--lr", type=float, help="peak learning rate")
    est.add_argument("--seed", type=int, help=argparse.SUPPRESS)
    est.add_argument("--price", type=float, help="USD per GPU-hour (default: list price)")
    est.add_argument("--mfu", type=float, help="override the modelled MFU (0.01-0.9)")
    est.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="any config field, e.g. --set lr_min=1e-5 --set weight_decay=0.05",
    )
    est.add_argument("--json", action="store_true", help="print JSON instead of a table")
    pre = sub.add_parser("presets", help="list the published recipes")
    pre.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0, or 2 for a bad preset, value or usage)."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "presets":
            if args.json:
                print(json.dumps({slug: preset(slug).to_dict() for slug in PRESETS}, indent=2))
            else:
                print(format_presets())
            return 0
        if args.model is None and args.config is None:
            raise ConfigError("model", None, f"a preset ({', '.join(PRESETS)}) or --config FILE")
        if args.model is not None and args.config is not None:
            raise ConfigError("model", args.model, "either a preset or --config, not both")
        cfg = build_config(args)
        est = estimate(cfg)
        advice = fit_advice(cfg)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        out = {
            "config": cfg.to_dict(),
            "estimate": est.to_dict(),
            "fit_advice": [
                {
                    "changes": a.changes,
                    "text": a.text,
                    "memory_total": a.memory_total,
                    "fits": a.fits,
                }
                for a in advice
            ],
        }
        print(json.dumps(out, indent=2))
    else:
        print(format_estimate(cfg, est, advice))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # `... | head`: the reader left; not an error of ours
        sys.stdout = None  # nothing left to flush at exit
        sys.exit(0)
