"""Simulated runs with known ends, logged the way HF Trainer logs, for the forecast tests and
benchmarks/bench_forecast.py.

Each fixture is a whole run computed by the simulator (``dynamics.compute``: noise, spikes
and all), then logged every ``every`` steps as the mean of the steps since the last log
(HF's ``logging_steps``), with the settings an HF run records (``args.*``), so the recipe
guess finds the schedule, batch and length. ``offset`` shifts and scales the loss after the
fact: a fine-tune on data of its own, which the recipe cannot know.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import simulator as sim
from simulator import dynamics
from tracking.records import Series

T0 = 1_700_000_000.0


@dataclass(frozen=True)
class Fixture:
    name: str
    params: dict[str, str]
    series: list[Series]  # loss (and eval_loss), learning_rate, with wall times


def make(
    name: str,
    *,
    schedule: str = "cosine",
    steps: int = 4000,
    batch: int = 2**20,
    warmup: int = 100,
    every: int = 10,
    lr: float = 3e-4,
    base_tokens: float = 0.0,
    scale: float = 1.0,
    offset: float = 0.0,
    seed: int = 0,
    state_schedule: bool = True,
    step_seconds: float = 2.0,
    epochs: int = 1,
) -> Fixture:
    cfg = sim.preset("llama-2-7b").with_changes(
        {
            "num_gpus": 8,
            "global_batch_tokens": batch,
            "seq_len": 4096,
            "dataset_tokens": float(steps * batch / epochs),
            "epochs": epochs,
            "warmup_steps": warmup,
            "schedule": schedule,
            "lr_peak": lr,
            "lr_min": 0.0 if schedule != "constant" else lr,
            "base_tokens": base_tokens,
            "seed": seed,
        }
    )
    tl = sim.new_run(cfg).timeline
    m = dynamics.compute(tl, seed, 0, tl.total_steps, diverged_at=None, scan_from=0).metrics
    loss = offset + scale * np.asarray(m["train_loss"], dtype=np.float64)
    lr_curve = np.asarray(m["lr"], dtype=np.float64)
    n = loss.size
    logged = np.arange(every, n + 1, every, dtype=np.int64)
    means = loss[: logged.size * every].reshape(-1, every).mean(axis=1)
    times = T0 + logged * step_seconds
    lr_at = lr_curve[logged - 1]
    series = [
        Series("loss", logged, means, times),
        Series("learning_rate", logged, lr_at, times),
    ]
    params = {
        "args.max_steps": str(n),
        "args.learning_rate": repr(lr),
        "args.warmup_steps": str(warmup),
        "args.total_batch_size": str(batch),
        "args.max_seq_length": "4096",
        "args.logging_steps": str(every),
    }
    if epochs > 1:
        epoch_at = np.asarray(m["epoch"], dtype=np.float64)[logged - 1]
        series.append(Series("epoch", logged, epoch_at, times))
        params["args.num_train_epochs"] = str(epochs)
    if state_schedule:
        params["args.lr_scheduler_type"] = schedule
    if base_tokens > 0:
        params["args.model_name_or_path"] = "meta-llama/Llama-2-7b-hf"
        params["model_config.hidden_size"] = "4096"
        params["model_config.num_hidden_layers"] = "32"
        params["model_config.num_attention_heads"] = "32"
        params["model_config.intermediate_size"] = "11008"
        params["model_config.vocab_size"] = "32000"
    return Fixture(name, params, series)


def all_fixtures() -> list[Fixture]:
    """Cosine, linear and constant LR pretraining, a fine-tune with its own data (offset and
    scale), a small-batch run (noisy), and a run whose schedule is not stated (assumed)."""
    return [
        make("sim-cosine", schedule="cosine"),
        make("sim-linear", schedule="linear", seed=1),
        make("sim-constant", schedule="constant", seed=2),
        make(
            "sim-finetune-offset",
            schedule="cosine",
            steps=3000,
            batch=2**19,
            lr=2e-5,
            warmup=30,
            base_tokens=2e12,
            scale=0.7,
            offset=-0.4,
            seed=3,
        ),
        make("sim-noisy", schedule="cosine", batch=2**15, steps=6000, every=5, seed=4),
        make("sim-wsd-unstated", schedule="wsd", state_schedule=False, seed=5),
    ]


def epoch_fixtures() -> list[Fixture]:
    """Multi-epoch fine-tunes of a 7B base model on small data, which the simulator's
    memorisation term makes fall in steps at each epoch boundary (its ``epoch`` counter
    logged as HF does): 3 epochs of 0.5B tokens (mild), 4 epochs of 33M tokens and 8
    epochs of 65M tokens at a constant LR (memorising: the loss ends at a third of its
    level after the first epoch)."""
    sft = {"lr": 2e-5, "warmup": 30, "base_tokens": 2e12}
    return [
        make("sim-sft-3ep", steps=3000, batch=2**19, epochs=3, seed=7, **sft),  # type: ignore[arg-type]
        make("sim-sft-4ep-memorise", steps=2000, batch=2**16, epochs=4, seed=8, **sft),  # type: ignore[arg-type]
        make(
            "sim-sft-8ep-constant",
            steps=4000,
            batch=2**17,
            epochs=8,
            lr=1e-4,
            warmup=50,
            base_tokens=2e12,
            schedule="constant",
            seed=9,
        ),
    ]


def truncated(series: Series, until: int) -> Series:
    keep = series.step <= until
    return Series(series.metric, series.step[keep], series.value[keep], series.time[keep])
