"""A deterministic LLM-training simulator grounded in published scaling laws and hardware.

Pure Python + numpy: no Dash, Plotly, clock or I/O, so it runs the same in a notebook, a
terminal (``python -m simulator estimate llama-2-7b``) or a gunicorn worker.

    import simulator as sim
    cfg = sim.preset("llama-2-7b")
    est = sim.estimate(cfg)                       # time, memory, cost before a GPU-hour
    state = sim.start(sim.new_run(cfg))
    state = sim.advance(state, steps=100)
    m = sim.metrics(state, 0, state.step)         # dict of numpy arrays, one entry per step

Same config and seed give bit-identical metrics on any machine and in any order of calls.
Module map: ``catalog`` (models, GPUs, optimizers, schedules with sources), ``config``
(validated recipes), ``presets`` (the catalogue's published recipes, each setting published or
assumed), ``estimate`` (compute, memory, cost), ``schedules`` (LR shapes with closed-form
areas), ``timeline`` (mid-run changes as segments), ``dynamics`` (the per-step loss model),
``rng`` (counter-based noise), ``run`` (the state and its transitions), ``series`` (smoothing
and spike-preserving downsampling for charts), ``compare`` (curves and final figures of
compared runs), ``frontier`` (the loss law's compute-optimal frontier), ``saved`` (the
saved-runs list), ``benchmarks_data`` (published benchmark scores), ``throughput_data``
(published training throughput, what the MFU model is calibrated against), ``fmt`` (how every
quantity reads). Sources of every figure: docs/sources.md; the design it serves:
docs/architecture.md.
"""

from simulator.catalog import CUSTOM_MODEL, GPUS, MODELS, OPTIMIZERS, PRECISIONS, SCHEDULES
from simulator.config import (
    MAX_STEPS,
    MUTABLE_FIELDS,
    ConfigError,
    TrainingConfig,
    custom_shape,
)
from simulator.estimate import (
    Estimate,
    FitAdvice,
    compute_optimal,
    estimate,
    fit_advice,
    param_count,
)
from simulator.presets import PRESETS, assumed_settings, preset, provenance
from simulator.run import (
    MAX_ADVANCE,
    MAX_CHANGES,
    METRIC_KEYS,
    SCHEMA_VERSION,
    STATUSES,
    RunState,
    StateError,
    TransitionError,
    advance,
    advance_for_charts,
    advance_with_metrics,
    apply_changes,
    iter_metrics,
    metrics,
    new_run,
    pause,
    predicted_run,
    reset,
    resume,
    start,
    stop,
)

__all__ = [
    "CUSTOM_MODEL",
    "GPUS",
    "MAX_ADVANCE",
    "MAX_CHANGES",
    "MAX_STEPS",
    "METRIC_KEYS",
    "MODELS",
    "MUTABLE_FIELDS",
    "OPTIMIZERS",
    "PRECISIONS",
    "PRESETS",
    "SCHEDULES",
    "SCHEMA_VERSION",
    "STATUSES",
    "ConfigError",
    "Estimate",
    "FitAdvice",
    "RunState",
    "StateError",
    "TrainingConfig",
    "TransitionError",
    "advance",
    "advance_for_charts",
    "advance_with_metrics",
    "apply_changes",
    "assumed_settings",
    "compute_optimal",
    "custom_shape",
    "estimate",
    "fit_advice",
    "iter_metrics",
    "metrics",
    "new_run",
    "param_count",
    "pause",
    "predicted_run",
    "preset",
    "provenance",
    "reset",
    "resume",
    "start",
    "stop",
]
