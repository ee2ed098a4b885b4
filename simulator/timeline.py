"""A run's timeline: the base config split into segments by mid-run changes.

Each segment holds the config in force from its first step and the running totals at that
step (tokens, what they are worth, LR area, weight-decay exposure, wall time, cost).
Everything per step is then a closed-form function of the step number and its segment, so
any range of steps is computed without touching the steps before it. There are at most
``MAX_CHANGES + 1`` segments.

Conventions: step index ``i`` is 0-based; "after step i" means i + 1 optimizer steps done.
The schedule is a function of the token fraction (see ``schedules``); its warmup length and
shape come from the base config and do not change mid-run.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, overload

import numpy as np
from numpy.typing import NDArray

from simulator import noise, schedules
from simulator.catalog import OPTIMIZERS
from simulator.config import TrainingConfig
from simulator.estimate import (
    CHINCHILLA_A,
    CHINCHILLA_ALPHA,
    CHINCHILLA_B,
    CHINCHILLA_BETA,
    CHINCHILLA_E,
    estimate,
    param_count,
)

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

JITTER = 0.06  # step times spread +-3% (uniform, i.i.d. per step; ``wall_in_segment``)
CHECKPOINT_WRITE_BPS = 1.0e9  # bytes/s each node writes to shared storage (assumed)
REF_BATCH_TOKENS = 4 * 2**20  # the 4M-token batch of the LLaMA recipes the fits describe
EMA_LONG_STEPS = 1000.0  # Tissue et al. 2024: lambda = 0.999 per step, i.e. 1 / (1 - lambda)


def lr_crit(params: float) -> float:
    """Peak AdamW LR above which a model of this size starts to spike.

    Shape from Kaplan et al. 2020 (the usable LR falls with model size) and Wortsman et al.
    2023 (too-high LRs reproduce large-model instabilities); level calibrated so the published
    LLaMA recipes (3e-4 at 7B, 1.5e-4 at 65B) sit at ~0.7 of it.
    """
    return 1.5e-3 * float((params / 1e8) ** -0.3)


def critical_batch(loss: float) -> float:
    """Kaplan et al. 2020: B_crit(L) = B* / L^(1/alpha_B), B* = 2e8 tokens, alpha_B = 0.21."""
    return 2.0e8 / float(max(loss, 0.5) ** (1.0 / 0.21))


def batch_efficiency(batch_tokens: float, loss: float, critical_scale: float = 1.0) -> float:
    """Progress per token relative to AdamW at a 4M-token batch (McCandlish et al. 2018).

    Tokens needed grow as (1 + B / B_crit): batches past the critical size buy little speed
    for linearly more compute. ``critical_scale`` is the optimizer's critical batch relative
    to Adam's (``OptimizerSpec.critical_batch_scale``: SGD's is far smaller).
    """
    bc = critical_batch(loss)
    return (1.0 + REF_BATCH_TOKENS / bc) / (1.0 + batch_tokens / (bc * critical_scale))


@dataclass(frozen=True)
class Segment:
    """The config in force from step ``start`` and the totals accumulated before it."""

    start: int
    cfg: TrainingConfig
    tokens0: float
    area0: float
    wall0: float
    cost0: float
    step_seconds: float
    tokens_per_second: float
    checkpoint_seconds: float
    memory_bytes: float
    memory_capacity: float
    mfu: float
    area_scale: float  # 1 / the optimizer's lr_scale: its LR in AdamW units
    price: float
    decay0: float = 0.0  # weight-decay exposure (sum of lr x weight decay) before ``start``
    # What a token is worth here relative to AdamW at a 4M-token batch (batch past the
    # critical size, optimizer), and the tokens' worth accumulated before ``start``.
    efficiency: float = 1.0
    worth0: float = 0.0


@dataclass(frozen=True)
class Timeline:
    """Segments plus the run-wide constants the per-step model needs."""

    base: TrainingConfig
    segments: tuple[Segment, ...]
    total_tokens: float
    total_steps: int
    warmup_fraction: float
    params: int
    lr_ref: float  # AdamW-unit LR at which tokens count at face value
    lr_peak0: float  # base peak LR, AdamW units
    starts: IntArray
    ema_steps: float = 1000.0  # time constant 1 / (1 - lambda) of the annealing-area EMA

    def segment_index(self, steps: IntArray) -> IntArray:
        """Index of the segment governing each step."""
        if len(self.segments) == 1:
            return np.zeros(steps.shape, dtype=np.int64)
        idx = np.searchsorted(self.starts, steps, side="right") - 1
        return np.maximum(idx, 0).astype(np.int64)

    def const(self, idx: IntArray, fn: Callable[[Segment], float]) -> FloatArray:
        """A per-segment constant (e.g. the batch in force) per step; a 0-d array if one segment."""
        if len(self.segments) == 1:
            return np.asarray(float(fn(self.segments[0])))
        return np.array([fn(s) for s in self.segments], dtype=np.float64)[idx]

    def per_segment(
        self, idx: IntArray, fn: Callable[[Segment, NDArray[np.bool_] | slice], FloatArray], n: int
    ) -> FloatArray:
        """Evaluate ``fn(segment, where)`` for each segment present in ``idx``."""
        if len(self.segments) == 1:
            return fn(self.segments[0], slice(None))
        out = np.empty(n, dtype=np.float64)
        for j in np.unique(idx):
            where = idx == j
            out[where] = fn(self.segments[int(j)], where)
        return out


@overload
def chinchilla_loss(params: float, tokens: float) -> float: ...
@overload
def chinchilla_loss(params: FloatArray, tokens: FloatArray) -> FloatArray: ...
def chinchilla_loss(params: float | FloatArray, tokens: float | FloatArray) -> float | FloatArray:
    """L(N, D) = E + A / N^alpha + B / D^beta, Hoffmann et al. 2022's approach-3 fit as
    printed; D is clamped to at least one token. Floats give a float, arrays an array
    (the compute-optimal frontier evaluates it at many points at once).

    This is the simulator's loss law, kept as printed because the curves (family offsets,
    dynamics) are calibrated to the published runs against it. The compute-optimal *split*
    (``estimate.compute_optimal``) uses Epoch AI's refit instead, whose printed-fit optimum
    it corrects (docs/sources.md, "Scaling laws").
    """
    if isinstance(params, (int, float)) and isinstance(tokens, (int, float)):
        return float(
            CHINCHILLA_E
            + CHINCHILLA_A / params**CHINCHILLA_ALPHA
            + CHINCHILLA_B / max(tokens, 1.0) ** CHINCHILLA_BETA
        )
    n = np.asarray(params, dtype=np.float64)
    d = np.maximum(np.asarray(tokens, dtype=np.float64), 1.0)
    out: FloatArray = (
        CHINCHILLA_E + CHINCHILLA_A / n**CHINCHILLA_ALPHA + CHINCHILLA_B / d**CHINCHILLA_BETA
    )
    return out


def reference_lr(cfg: TrainingConfig, params: float) -> float:
    """AdamW-unit LR that makes tokens count at face value.

    Pretraining: 0.7 * lr_crit. Fine-tuning a pretrained model on little data uses ~15x lower
    LRs (FastChat and Llama-2-Chat SFT: 2e-5 at 7B-13B), blended on log(tokens / base tokens).
    """
    ref = 0.7 * lr_crit(params)
    if cfg.base_tokens > 0:
        ratio = max(cfg.total_tokens / cfg.base_tokens, 1e-12)
        m = min(1.0, max(0.0, (math.log10(ratio) + 3.0) / 2.0))
        ref *= 15.0 ** (m - 1.0)
    return ref


def _area(cfg: TrainingConfig, w: float, p: FloatArray | float) -> FloatArray:
    return schedules.area(
        cfg.schedule,
        np.asarray(p, dtype=np.float64),
        w,
        cfg.lr_peak,
        cfg.lr_min,
        cfg.decay_fraction,
    )


def build_timeline(
    base: TrainingConfig,
    changes: Sequence[tuple[int, Mapping[str, Any]]] = (),
    seed: int | None = None,
) -> Timeline:
    """Split ``base`` into segments at each ``(step, changes)``; O(number of changes).

    ``seed`` is the run's (the config's by default): the clock at each change sums the step
    times of the steps before it, whose jitter is the run's draws."""
    params = param_count(base.arch)
    total_tokens = base.total_tokens
    warmup = min(1.0, base.warmup_steps * base.global_batch_tokens / total_tokens)
    end_loss = chinchilla_loss(params, base.base_tokens + total_tokens)
    seed = base.seed if seed is None else seed
    segments: list[Segment] = []
    cfg = base
    start, tokens0, area0, wall0, cost0, decay0, worth0 = 0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0
    plan: list[tuple[int, Mapping[str, Any]]] = [(0, {}), *((s, c) for s, c in changes)]
    for k, (step, delta) in enumerate(plan):
        if k > 0:
            prev = segments[-1]
            n = step - prev.start
            tokens_end = prev.tokens0 + n * prev.cfg.global_batch_tokens
            p0, p1 = prev.tokens0 / total_tokens, min(tokens_end / total_tokens, 1.0)
            area0 = prev.area0 + prev.area_scale * float(
                _area(prev.cfg, warmup, p1) - _area(prev.cfg, warmup, p0)
            )
            wall0 = prev.wall0 + _segment_wall(prev, seed, step - 1)
            cost0 = prev.cost0 + (wall0 - prev.wall0) * prev.cfg.num_gpus * prev.price / 3600.0
            decay0 = prev.decay0 + float(_decay(prev, total_tokens, warmup, p0, p1))
            worth0 = prev.worth0 + prev.efficiency * (tokens_end - prev.tokens0)
            tokens0, start = tokens_end, step
            cfg = cfg.with_changes(delta)
        est = estimate(cfg)
        opt = OPTIMIZERS[cfg.optimizer]
        ckpt_bytes = 16.0 * params  # weights + fp32 master + Adam states
        nodes = max(1.0, cfg.num_gpus / 8.0)
        segments.append(
            Segment(
                start=start,
                cfg=cfg,
                tokens0=tokens0,
                area0=area0,
                wall0=wall0,
                cost0=cost0,
                step_seconds=est.step_seconds,
                tokens_per_second=est.tokens_per_second,
                checkpoint_seconds=ckpt_bytes / (nodes * CHECKPOINT_WRITE_BPS),
                memory_bytes=est.memory_total,
                memory_capacity=est.memory_capacity,
                mfu=est.mfu,
                area_scale=1.0 / opt.lr_scale,
                price=est.price_per_gpu_hour,
                decay0=decay0,
                efficiency=batch_efficiency(
                    cfg.global_batch_tokens, end_loss, opt.critical_batch_scale
                )
                * opt.efficiency,
                worth0=worth0,
            )
        )
    last = segments[-1]
    remaining = max(0.0, total_tokens - last.tokens0)
    total_steps = last.start + max(0, math.ceil(remaining / last.cfg.global_batch_tokens - 1e-9))
    total_steps = max(total_steps, last.start + (1 if remaining > 0 else 0))
    opt0 = OPTIMIZERS[base.optimizer]
    return Timeline(
        base=base,
        segments=tuple(segments),
        total_tokens=total_tokens,
        total_steps=total_steps,
        warmup_fraction=warmup,
        params=params,
        lr_ref=reference_lr(base, params),
        lr_peak0=base.lr_peak / opt0.lr_scale,
        starts=np.array([s.start for s in segments], dtype=np.int64),
        ema_steps=ema_time_constant(base.total_steps),
    )


def ema_time_constant(total_steps: int) -> float:
    """Steps over which the annealing-area EMA forgets: 1 / (1 - lambda).

    Tissue et al. fit lambda = 0.999 (1000 steps) on pretraining runs of tens of thousands of
    steps and report fits that barely change for lambda from 0.99 to 0.9999. On a 3000-step
    fine-tune a 1000-step lag would hide a third of the run's annealing, and a WSD decay over
    the last 10% could never reach the cosine level MiniCPM measures. So the constant is 1000
    steps for runs of 100k+ steps and 1% of the run below that (assumed; at least 10 steps).
    Fixed by the base config, so mid-run changes never move it.
    """
    return min(EMA_LONG_STEPS, max(10.0, total_steps / 100.0))


def _segment_wall(seg: Segment, seed: int, last_step: int) -> float:
    """Seconds from the start of ``seg`` to the end of step ``last_step`` (inclusive)."""
    steps = np.array([last_step], dtype=np.int64)
    return float(wall_in_segment(seg, seed, steps)[0])


def wall_in_segment(seg: Segment, seed: int, steps: IntArray) -> FloatArray:
    """Seconds from the segment's start to the end of each step.

    Each step takes ``step_seconds`` x (1 + JITTER x (u - 1/2)), u a uniform of its own
    (``noise.U_JITTER``), plus a checkpoint stall every ``checkpoint_interval`` steps. The
    uniforms' sums come from exact integer prefix sums (``noise.uniform_prefix``), so the
    clock at any step costs the same and agrees with the step times that add up to it.
    """
    steps = np.asarray(steps, dtype=np.int64)
    if steps.size == 0:
        return np.empty(0, dtype=np.float64)
    pre = noise.uniform_prefix(seed, noise.U_JITTER, steps + 1)
    if seg.start > 0:
        pre -= noise.uniform_prefix(seed, noise.U_JITTER, np.array([seg.start], dtype=np.int64))[0]
    n = (steps + (1 - seg.start)).astype(np.float64)
    u_sum = pre.astype(np.float64) * noise.INV_2_32 + n * (0.5 * noise.INV_2_32)
    k = seg.cfg.resolved_checkpoint_interval
    # Checkpoints completed: floor((step + 1) / k) by float division, exact here (both are
    # integers below 2**53 and k <= MAX_STEPS, so no quotient rounds across an integer).
    ckpts = np.floor((steps + 1) / k)
    ckpts -= seg.start // k
    wall = n * (1.0 - 0.5 * JITTER)
    wall += JITTER * u_sum
    wall *= seg.step_seconds
    wall += ckpts * seg.checkpoint_seconds
    return wall


def wall_at(tl: Timeline, seed: int, steps: IntArray, idx: IntArray) -> FloatArray:
    """Seconds from the run's start to the end of each step."""
    return tl.per_segment(
        idx, lambda s, w: s.wall0 + wall_in_segment(s, seed, steps[w]), steps.size
    )


def step_time(
    tl: Timeline, seed: int, steps: IntArray, idx: IntArray, cells: noise.Cells | None = None
) -> FloatArray:
    """Seconds each step took (its jitter and any checkpoint stall): the difference of
    ``wall_at`` between a step and the one before, read without either."""
    u = noise.uniform(seed, noise.U_JITTER, steps, cells)

    def fn(seg: Segment, where: NDArray[np.bool_] | slice) -> FloatArray:
        k = seg.cfg.resolved_checkpoint_interval
        stall = np.where((steps[where] + 1) % k == 0, seg.checkpoint_seconds, 0.0)
        out: FloatArray = seg.step_seconds * (1.0 + JITTER * (u[where] - 0.5)) + stall
        return out

    return tl.per_segment(idx, fn, steps.size)


def tokens_after(tl: Timeline, idx: IntArray, steps: IntArray) -> FloatArray:
    """Tokens seen after each step."""

    def fn(seg: Segment, where: NDArray[np.bool_] | slice) -> FloatArray:
        return (
            seg.tokens0
            + (steps[where] + 1 - seg.start).astype(np.float64) * seg.cfg.global_batch_tokens
        )

    return tl.per_segment(idx, fn, steps.size)


def worth_before(tl: Timeline, idx: IntArray, steps: IntArray) -> FloatArray:
    """Tokens seen before each step, each weighted by its segment's ``efficiency``: what they
    are worth to the loss law relative to AdamW at a 4M-token batch."""

    def fn(seg: Segment, where: NDArray[np.bool_] | slice) -> FloatArray:
        done = (steps[where] - seg.start).astype(np.float64) * seg.cfg.global_batch_tokens
        out: FloatArray = seg.worth0 + seg.efficiency * done
        return out

    return tl.per_segment(idx, fn, steps.size)


def lr_at_steps(
    tl: Timeline, idx: IntArray, p: FloatArray, *, warmup_at_peak: bool = False
) -> FloatArray:
    """The learning rate (the optimizer's own units) at token fractions ``p``."""

    def fn(seg: Segment, where: NDArray[np.bool_] | slice) -> FloatArray:
        c = seg.cfg
        return schedules.lr_at(
            c.schedule,
            p[where],
            tl.warmup_fraction,
            c.lr_peak,
            c.lr_min,
            c.decay_fraction,
            warmup_at_peak=warmup_at_peak,
        )

    return tl.per_segment(idx, fn, p.size)


def area_at(tl: Timeline, idx: IntArray, p: FloatArray) -> FloatArray:
    """LR area (AdamW units, efficiency-weighted, warmup at peak) from 0 to ``p``."""

    def fn(seg: Segment, where: NDArray[np.bool_] | slice) -> FloatArray:
        p0 = seg.tokens0 / tl.total_tokens
        return seg.area0 + seg.area_scale * (
            _area(seg.cfg, tl.warmup_fraction, p[where])
            - float(_area(seg.cfg, tl.warmup_fraction, p0))
        )

    return tl.per_segment(idx, fn, p.size)


def _decay(
    seg: Segment, total_tokens: float, warmup: float, p0: float, p: FloatArray | float
) -> FloatArray:
    """Weight-decay exposure lambda x sum of the LR over the steps of ``seg`` from token
    fraction ``p0`` to ``p``: the LR area over token fractions times the steps per unit of it."""
    c = seg.cfg
    steps_per_fraction = total_tokens / c.global_batch_tokens
    out: FloatArray = (
        c.weight_decay * steps_per_fraction * (_area(c, warmup, p) - float(_area(c, warmup, p0)))
    )
    return out


def decay_exposure(cfg: TrainingConfig) -> float:
    """A whole run's weight-decay exposure sum(lr x wd) without mid-run changes: the number of
    the weights' averaging timescales 1 / (lr x wd) it holds (LLaMA and Llama 2: 3-8)."""
    warmup = min(1.0, cfg.warmup_steps * cfg.global_batch_tokens / cfg.total_tokens)
    steps_per_fraction = cfg.total_tokens / cfg.global_batch_tokens
    return cfg.weight_decay * steps_per_fraction * float(_area(cfg, warmup, 1.0))


def decay_at(
    tl: Timeline, idx: IntArray, p: FloatArray, area: FloatArray | None = None
) -> FloatArray:
    """Weight-decay exposure x = sum over steps of lr x weight decay up to token fractions ``p``.

    Decoupled weight decay shrinks the weights by (1 - lr * wd) per step, so exp(-x) is what is
    left of a weight no gradient renews, and 1 / (lr * wd) steps is the timescale of the
    moving average of updates that AdamW's weights are (Wang & Aitchison 2024). SGD's L2 decay
    is the same (Loshchilov & Hutter 2019); Adam's L2 term is divided by sqrt(v), so for Adam
    (L2) x is a lower bound. Warmup is counted at the peak, as in the LR area. ``area``, the
    ``area_at`` of the same fractions, saves recomputing the schedule when there is one
    segment (it is the same sum over lr_scale).
    """
    if area is not None and len(tl.segments) == 1:
        c = tl.base
        scale = c.weight_decay * OPTIMIZERS[c.optimizer].lr_scale
        scaled: FloatArray = area * (scale * tl.total_tokens / c.global_batch_tokens)
        return scaled

    def fn(seg: Segment, where: NDArray[np.bool_] | slice) -> FloatArray:
        p0 = seg.tokens0 / tl.total_tokens
        out: FloatArray = seg.decay0 + _decay(
            seg, tl.total_tokens, tl.warmup_fraction, p0, p[where]
        )
        return out

    return tl.per_segment(idx, fn, p.size)


def loss_lr_at(tl: Timeline, x: FloatArray) -> FloatArray:
    """LR (AdamW units, warmup counted at peak) at fractional steps ``x``; peak before 0."""
    before = x < 0
    xs = np.maximum(x, 0.0)
    steps = np.floor(xs).astype(np.int64)
    idx = tl.segment_index(steps)

    def fn(seg: Segment, where: NDArray[np.bool_] | slice) -> FloatArray:
        c = seg.cfg
        tok = seg.tokens0 + (xs[where] + 1.0 - seg.start) * c.global_batch_tokens
        lr = schedules.lr_at(
            c.schedule,
            tok / tl.total_tokens,
            tl.warmup_fraction,
            c.lr_peak,
            c.lr_min,
            c.decay_fraction,
            warmup_at_peak=True,
        )
        return lr / OPTIMIZERS[c.optimizer].lr_scale

    out = tl.per_segment(idx, fn, x.size)
    return np.where(before, tl.lr_peak0, out)
