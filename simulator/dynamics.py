"""The per-step model: loss, accuracy, gradient norm, spikes and divergence, vectorised.

Loss (nats/token) for a model of N parameters at step i (measured on step i's batch before its
update, so on the data of steps 0..i-1; step 0 is the untrained model):

    L = E + k * A / N^alpha + B / (D0 + D_eff)^beta      Chinchilla, Hoffmann et al. 2022
        - 0.35 * a * S2 * (B / (D0 + D_eff)^beta)^0.6     annealing, Tissue et al. 2024
        + family offset + domain gap * exp(-D_eff / D_a)  tokenizer/data shift; fine-tune start
        + context(seq) * (1 - exp(-(D0 + D_eff) / 2e9))   shorter sequences, less context
        + 0.015 * exp(-x)                                  pretraining without weight decay
    train = (L - memorisation) * (1 + noise) + spikes     memorisation and noise bounded
    val   = (L + overfitting) * (1 + noise / 7) + spikes  repeated epochs

- ``D_eff`` is the tokens seen, each weighted by what its batch and optimizer make it worth
  (McCandlish et al. 2018's 1 + B / B_crit, Kaplan's B_crit(L); SGD's critical batch is 1/8 of
  Adam's, Zhang et al. 2019), times the progress the LR allows (``lr_progress`` of the mean
  LR relative to a reference: Tissue's forward area S1, proportional to the LR far below the
  reference, sqrt-like in the basin within a decade of it, logarithmic above), times the
  worth of repeated data (Muennighoff et al. 2023, "Scaling Data-Constrained Language
  Models": D' = U + U R* (1 - exp(-R / R*)), R* = 15.4), and capped by weight decay: past
  x = sum(lr x wd) = 20 the weights only hold their last 20 / x of the updates (Wang &
  Aitchison 2024), so D_eff stops growing. ``D0`` is what a pretrained base has seen.
  S1 counts warmup at the peak, as Tissue et al. do (their fits start after warmup); the mean
  LR is then scaled by the real ramp's share of that area (p / 2w during a warmup over the
  token fraction w, 1 - w / 2p after it), so the first steps, taken at a tiny LR from a
  random init, start at ln(vocab) and fall over hundreds of steps, not at once.
- ``S2`` is the annealing area normalised to [0, 1]: the drop of an exponential moving average
  of the LR below the peak; ``a`` (at most 1) shrinks it with the LR as S1 shrinks, since
  Tissue's S2 is a sum of LR drops. Tissue et al.'s lambda = 0.999 per step (a 1000-step lag) holds
  for runs of 100k+ steps; shorter runs use a time constant of 1% of the run
  (``timeline.ema_time_constant``, assumed) so a WSD decay reaches the cosine level at any
  length, as MiniCPM measures. That EMA is evaluated by 8-point Gauss-Laguerre quadrature on a
  32-step grid, so no step needs the history before it.
- ``k`` and the offset are the family's calibration (``catalog.FAMILY_LOSS``): LLaMA's and
  Llama 2's are fitted to the training losses their papers plot (docs/sources.md, "Family
  calibration"); ``frontier.end_loss`` is this loss at the end of the reference recipe.
- Loss is soft-capped at ln(vocab), the loss of a uniform guess, at step 0.
- Noise: multiplicative, a Gaussian plus a slow wobble (a uniform per noise cell boundary,
  linear in between, scaled by sqrt(64 / cell): the 64-step grid of a run's first 8,192 steps
  and what it averages to over the longer cells later), times a relative scale of
  1.2% * sqrt(4M / batch) (gradient noise falls with batch) soft-capped at 10%. The draws are
  bounded (|z| < 7.7), so a step's noise is always less than its clean loss. It grows in as
  the loss leaves ln(vocab): at a uniform init every token's loss is ln(vocab) and a batch's
  mean has no spread. The draws come from ``simulator.noise``, whose blocks' extremes and
  sums are one lookup, and the noise-free trend is exact below step 4,096 and linear between
  knots above it (``trend``): together they let a chart read each bucket's true extremes
  without drawing every step (``simulator.buckets``, docs/architecture.md).
- Repeated epochs: memorisation lowers the train loss at a rate that grows with N / unique
  tokens and saturates at 90% of the loss; overfitting raises the val loss, saturating at
  ln(vocab).
- Instability: per-step spike hazard = a size-dependent base rate (PaLM 540B: about 20 spikes in
  ~255k steps) + a term growing with (LR / lr_crit(N))^2 above 0.8; divergence hazard grows
  with its cube above 1.4 and doubles without gradient clipping. A spike shows in the gradient
  norm first (OLMo 2): it climbs over the two steps after the hazard fires and peaks on the
  third; the loss jumps on the step after, by 5-30% of the loss, and decays over tens to
  hundreds of steps; clipping damps it. The hazards' uniforms are exact i.i.d. draws whose
  block minima are read top-down (``noise.event_min``), so the steps where a hazard fires are
  found without drawing the others (``hazard_hits``). No step depends on a later one, so any
  slice of a run equals the same slice of the whole run. Divergence: the loss shoots past
  ln(vocab) towards 1.4 ln(vocab) as the gradient norm explodes, and is NaN 6 steps on
  (``_diverge``).
- Early steps of a run from scratch: the loss leaves ln(vocab) only as far as the LR applied
  so far lets it (``_early_gate``, ``EARLY_SHIFT``).
- Token accuracy: 0.903 * exp(-0.2755 * L), an empirical mapping fitted to typical
  (loss, top-1 accuracy) pairs of LLaMA-scale models (assumed, not in docs/sources.md), bent
  above ln(vocab) / 2 towards exp(-L) so that it is 1 / vocab at a uniform guess and stays in
  [1 / vocab, 1] (``token_accuracy``).

The published figures above (Hoffmann, Tissue, MiniCPM, Kaplan/McCandlish, PaLM, OLMo 2) are
in docs/sources.md, "Scaling laws"; the recipe knobs' (LR, batch, optimizer, weight decay,
sequence length) in "Recipe knobs".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from simulator import noise
from simulator import timeline as tlm
from simulator.catalog import FAMILY_LOSS, OPTIMIZERS
from simulator.estimate import (
    CHINCHILLA_A,
    CHINCHILLA_ALPHA,
    CHINCHILLA_B,
    CHINCHILLA_BETA,
    CHINCHILLA_E,
    flops_per_token,
    peak_flops,
)

FloatArray = NDArray[np.float64]

LOOKBACK = 1600  # steps before a range whose spikes can still show in it (5 x longest decay)
# Divergence (assumed shape, see ``_diverge``): the loss leaves its band the step after the
# hazard fires, shoots past ln(vocab) towards DIVERGE_CAP x ln(vocab) (confidently wrong
# logits cost more than a uniform guess) while the gradient norm grows e-fold a step, and is
# NaN DIVERGE_RAMP steps after the hazard.
DIVERGE_RAMP = 6  # steps from divergence to a non-finite loss
DIVERGE_CAP = 1.4  # the loss a diverging run approaches, in units of ln(vocab)
# Early steps: the loss can only leave ln(vocab) as far as the updates applied so far let it.
# Adam moves each weight by about the LR per step (Kingma & Ba 2015, section 2.1), so after a
# sum S of applied LRs a layer of fan-in d_model shifts its outputs by up to ~S x d_model
# (the muP argument, Yang et al. 2022); the share of the way from ln(vocab) to the loss law
# covered is 1 - exp(-S x d_model / EARLY_SHIFT). EARLY_SHIFT is assumed: a 7B model warming
# up to 3e-4 over 2,000 steps has covered 63% of the way at step ~50 and 5% at step 12 (LR
# 1.8e-6), where a run's logged loss is still within noise of ln(vocab).
EARLY_SHIFT = 0.8
EARLY_STEPS = 4000  # the early grad-norm excess is exactly 0 from this step on
SPIKE_LEAD = 2  # steps from a spike's hazard to its grad-norm peak; the loss jumps one later
EMA_GRID = 32
MUENNIGHOFF_R_STAR = 15.4
# Loss noise, relative to the loss: 1.2% at the 4M-token reference batch, growing as
# sqrt(4M / batch) (docs/sources.md, "Batch size"), soft-capped at NOISE_REL_MAX (assumed: a
# 10% standard deviation, reached near 60K-token batches). The draw it scales is bounded:
# Box-Muller from a uniform >= 2^-33 gives |z| <= 6.77, the wobble adds at most
# 0.5 * sqrt(3), so a step's noise never moves the loss by more than 77% of itself.
NOISE_REL_REF = 0.012
NOISE_REL_MAX = 0.1
NOISE_Z_MAX = math.sqrt(-2.0 * math.log(0.5 / 2.0**32)) + 0.5 * math.sqrt(3.0)
# Memorisation removes at most this share of the train loss (assumed; the train loss of a
# model that memorises its data falls towards 0 but never below it).
MEMORISE_MAX = 0.9
ACC_FIT = (0.903, 0.2755)  # top-1 accuracy = 0.903 * exp(-0.2755 L) at LLaMA-scale losses
# Learning rate: the LR-area ratio below which progress turns proportional to the LR (Tissue
# et al. 2024's forward area S1 is the sum of the LR). Above it lies the basin where a decade
# of LR costs a few tenths of a nat (Wortsman et al. 2023, Figure 1). Assumed level.
LR_LINEAR_BELOW = 0.05
# Weight decay (docs/sources.md, "Recipe knobs"): the exposure x = sum of lr x wd past which
# the weights forget (assumed; the LLaMA and Llama 2 recipes reach 3-8), and the loss a
# pretraining run keeps while x is small (assumed; D'Angelo et al. 2023: decayed runs end
# lower).
WD_EXPOSURE_MAX = 20.0
WD_BENEFIT = 0.015
# Context (docs/sources.md, "Recipe knobs"): the mean loss over a sequence of s tokens is
# CONTEXT_K * s^-1/2 above its long-context limit (Kaplan et al. 2020, Figure 20: a token's
# loss falls as a power of its position; exponent and level assumed), measured from the 2,048
# tokens the Chinchilla fit was made at. It shows once in-context learning has formed, within
# the first few billion tokens (Olsson et al. 2022; scale assumed).
CONTEXT_K = 6.0
CONTEXT_REF = 2048
IN_CONTEXT_TOKENS = 2.0e9
# Annealing (Tissue et al. 2024's -C * S2): the loss falls by ANNEAL_C * S2 * (data term) ^
# ANNEAL_EXP as the LR decays, S2 in [0, 1] the decay below the peak (calibrated with the
# family offsets; docs/sources.md, "Learning-rate schedule and annealing").
ANNEAL_C = 0.35
ANNEAL_EXP = 0.6
_NODES, _WEIGHTS = np.polynomial.laguerre.laggauss(8)


@dataclass(frozen=True)
class Spike:
    step: int  # step index of the gradient-norm peak (2 after the hazard); loss jumps next
    size: float  # loss jump (nats)


@dataclass(frozen=True)
class Computed:
    """Metrics for steps [start, stop) and the instability events found there."""

    metrics: dict[str, NDArray[np.generic]]
    spikes: tuple[Spike, ...]
    diverged_at: int | None
    events: Events | None = None  # the spikes of [start - LOOKBACK, stop) and the divergence


def _step_hazards(tl: tlm.Timeline, steps: NDArray[np.int64]) -> tuple[FloatArray, FloatArray]:
    """Spike and divergence hazards at the given steps (any order)."""
    idx = tl.segment_index(steps)
    p = np.minimum(tlm.tokens_after(tl, idx, steps) / tl.total_tokens, 1.0)
    lr = tlm.lr_at_steps(tl, idx, p)
    return _hazard_rates(tl, idx, _lr_ratio(tl, idx, lr))


def _hazard_rates(
    tl: tlm.Timeline, idx: NDArray[np.int64], ratio: FloatArray
) -> tuple[FloatArray, FloatArray]:
    base = 8e-5 * math.sqrt(tl.params / 5.4e11)
    over = np.maximum(ratio - 1.4, 0.0)
    no_clip = tl.const(idx, lambda s: 2.0 if s.cfg.grad_clip == 0 else 1.0)
    # Only steps above the divergence threshold pay for the cube (usually none): the same
    # values as ``1e-4 * over**3 * no_clip`` at a fraction of the cost on long ranges.
    h_div = np.zeros_like(over)
    hot = np.flatnonzero(over > 0.0)
    if hot.size:
        h_div[hot] = 1e-4 * over[hot] ** 3 * (no_clip if np.ndim(no_clip) == 0 else no_clip[hot])
    h_spike = base + 2e-3 * np.maximum(ratio - 0.8, 0.0) ** 2 + h_div
    return h_spike, h_div


def _lr_ratio(tl: tlm.Timeline, idx: NDArray[np.int64], lr: FloatArray) -> FloatArray:
    """LR in AdamW units over the size's spike threshold."""
    crit = tlm.lr_crit(tl.params)
    return lr / tl.const(idx, lambda s: OPTIMIZERS[s.cfg.optimizer].lr_scale) / crit


def _hazard_bounds(tl: tlm.Timeline, divergence: bool) -> FloatArray:
    """An upper bound of the hazard in each segment: its hazard at its peak LR (every
    schedule stays at or below its peak, ``schedules``)."""
    idx = np.arange(len(tl.segments), dtype=np.int64)
    peaks = np.array([s.cfg.lr_peak for s in tl.segments], dtype=np.float64)
    h_spike, h_div = _hazard_rates(tl, idx, _lr_ratio(tl, idx, peaks))
    out: FloatArray = np.broadcast_to(h_div if divergence else h_spike, peaks.shape).copy()
    return out


def hazard_hits(
    tl: tlm.Timeline, seed: int, start: int, stop: int, *, divergence: bool = False
) -> NDArray[np.int64]:
    """Steps in [start, stop) whose hazard fires (the event uniform is below the hazard), in
    order, without drawing every step.

    The steps are cut into aligned blocks (``noise.aligned_blocks``); a block whose least event
    uniform (one pyramid lookup) is at or above the highest hazard its segments allow cannot
    hold a hit and is dropped, the others are halved, down to 4 steps read one by one. Cost:
    about (hits + blocks) x 15 levels; a 4M-step 7B run has a few dozen spikes.
    """
    empty = np.empty(0, dtype=np.int64)
    if stop <= start:
        return empty
    bound = _hazard_bounds(tl, divergence)
    if float(bound.max()) <= 0.0:
        return empty
    starts, levels = noise.aligned_blocks(start, stop, noise.CELL_MAX_LEVEL)
    u_min = noise.event_min(seed, starts, levels)
    found: list[NDArray[np.int64]] = []
    while starts.size:
        ends = starts + (np.int64(1) << levels) - 1
        ia, ib = tl.segment_index(starts), tl.segment_index(ends)
        cap = np.maximum(bound[ia], bound[ib])
        for j in np.flatnonzero(ib - ia > 1):  # a block over three segments or more (rare)
            cap[j] = bound[ia[j] : ib[j] + 1].max()
        live = u_min < cap
        starts, levels, u_min = starts[live], levels[live], u_min[live]
        leaf = levels <= noise.LEAF_LEVEL
        if leaf.any():
            steps, which = noise.leaf_steps(starts[leaf], levels[leaf])
            h_spike, h_div = _step_hazards(tl, steps)
            u = noise.event_min(
                seed, steps, np.zeros_like(steps), (levels[leaf][which], u_min[leaf][which])
            )
            found.append(steps[u < (h_div if divergence else h_spike)])
            starts, levels, u_min = starts[~leaf], levels[~leaf], u_min[~leaf]
        half = np.int64(1) << (levels - 1)
        parent = (levels, u_min)
        starts = np.concatenate([starts, starts + half])
        levels = np.concatenate([levels - 1, levels - 1])
        u_min = noise.event_min(
            seed,
            starts,
            levels,
            (np.concatenate([parent[0], parent[0]]), np.concatenate([parent[1], parent[1]])),
        )
    return np.sort(np.concatenate(found)) if found else empty


def first_divergence(tl: tlm.Timeline, seed: int, start: int, stop: int) -> int | None:
    """First step in [start, stop) whose divergence hazard fires, or None."""
    hits = hazard_hits(tl, seed, start, stop, divergence=True)
    return int(hits[0]) if hits.size else None


def _stair(x: FloatArray) -> FloatArray:
    """Completed repeat-epochs with a short ramp: 0 in epoch 1, a step at each boundary."""
    fl = np.floor(x)
    return np.where(x >= 1.0, fl - 1.0 + np.clip((x - fl) / 0.02, 0.0, 1.0), 0.0)


def _saturate(x: FloatArray, cap: FloatArray) -> FloatArray:
    """``x`` for small ``x``, approaching ``cap`` (> 0) from below: cap * (1 - exp(-x / cap))."""
    out: FloatArray = np.expm1(-x / cap)
    out *= -cap
    return out


def _mean_lr(
    tl: tlm.Timeline, p: FloatArray, area: FloatArray
) -> tuple[FloatArray, FloatArray | None]:
    """The mean LR (relative to ``tl.lr_ref``) the weights have seen by run fraction ``p``,
    and the warmup ramp's share applied to it (None without warmup).

    S1 counts warmup at the peak (Tissue's fits start after warmup); the weights only move as
    far as the real ramp lets them: scale by the ramp's share of that area, p / 2w during
    warmup and 1 - w / 2p after it (``p`` is non-decreasing in a range).
    """
    mean_lr = area / (p * tl.lr_ref)
    w = tl.warmup_fraction
    if w > 0.0:
        ramp = np.empty_like(p)
        k_w = int(np.searchsorted(p, w))
        ramp[:k_w] = p[:k_w] * (0.5 / w)
        np.divide(-0.5 * w, p[k_w:], out=ramp[k_w:])
        ramp[k_w:] += 1.0
        mean_lr *= ramp
        return mean_lr, ramp
    return mean_lr, None


def lr_progress(ratio: FloatArray) -> FloatArray:
    """Progress per token at a mean LR ``ratio`` times the reference (1 at the reference).

    Below: r * sqrt((1 + c) / (r + c)) with c = ``LR_LINEAR_BELOW``: proportional to the LR
    far below the reference (a run at a tenth of the LR covers a tenth of the forward area,
    Tissue et al. 2024), near sqrt(r) within a decade of it (the flat basin of LR sweeps,
    Wortsman et al. 2023). Above: 1 + 0.5 ln r, diminishing returns until the instability
    hazards take over. Continuous at 1, bounded, increasing.
    """
    c = LR_LINEAR_BELOW
    r = np.maximum(ratio, 0.0)
    below: FloatArray = r * np.sqrt((1.0 + c) / (r + c))
    if float(r.max(initial=0.0)) <= 1.0:
        return below
    out: FloatArray = np.where(r <= 1.0, below, 1.0 + 0.5 * np.log(np.maximum(r, 1.0)))
    return out


def size_terms(params: float | FloatArray, family: str) -> FloatArray:
    """The loss terms that do not change as a run trains: E + size_scale * A / N^alpha +
    offset, with the family's calibration (``catalog.FAMILY_LOSS``)."""
    fam = FAMILY_LOSS[family]
    n = np.asarray(params, dtype=np.float64)
    out: FloatArray = fam.size_scale * CHINCHILLA_A / n**CHINCHILLA_ALPHA
    out += CHINCHILLA_E + fam.offset
    return out


def context_loss(seq_len: int) -> float:
    """Loss (nats) a trained model's mean over ``seq_len``-token sequences adds to its mean
    over 2,048-token ones: CONTEXT_K * (s^-1/2 - 2048^-1/2). Positive below 2,048, negative
    above, bounded by CONTEXT_K / sqrt(2048) = 0.13 nats however long the sequence."""
    return CONTEXT_K * (1.0 / math.sqrt(seq_len) - 1.0 / math.sqrt(CONTEXT_REF))


def noise_scale(batch_tokens: FloatArray | float) -> FloatArray:
    """Relative loss noise per unit draw: NOISE_REL_REF * sqrt(4M / batch), soft-capped.

    The cap is a smooth minimum, x / (1 + (x / NOISE_REL_MAX)^4)^(1/4): within 0.1% of the
    uncapped scale for batches of 1M tokens and more, never above NOISE_REL_MAX.
    """
    x = NOISE_REL_REF * np.sqrt(tlm.REF_BATCH_TOKENS / np.asarray(batch_tokens, dtype=np.float64))
    out: FloatArray = x / (1.0 + (x * (1.0 / NOISE_REL_MAX)) ** 4) ** 0.25
    return out


def token_accuracy(loss: FloatArray, vocab_size: int) -> FloatArray:
    """Top-1 token accuracy from the loss, in [1 / vocab, 1] (NaN where the loss is NaN).

    An empirical fit, 0.903 * exp(-0.2755 L), for typical (loss, top-1 accuracy) pairs of
    LLaMA-scale models (assumed), bent for losses above ln(vocab) / 2 towards exp(-L): a
    uniform guess (L = ln(vocab)) is right 1 / vocab of the time, and a loss at or above it
    gives exactly that. The weight of exp(-L) is ((L - ln(V)/2) / (ln(V)/2))^2 up to 1, so the
    fit is untouched below ln(V)/2 and the curve stays monotone. At a unigram model's loss
    (about 7.5 nats for a 32K vocabulary) it gives about 4%, the share of the most common
    token.
    """
    c, k = ACC_FIT
    ln_v = math.log(vocab_size)
    acc: FloatArray = np.exp(loss * -k)
    acc *= c
    hot = np.flatnonzero(loss > 0.5 * ln_v)
    if hot.size:
        h = loss[hot]
        t = np.minimum((h - 0.5 * ln_v) * (2.0 / ln_v), 1.0) ** 2
        log_acc = math.log(c) - k * h - t * (math.log(c) + (1.0 - k) * h)
        acc[hot] = np.clip(np.exp(log_acc), 1.0 / vocab_size, 1.0)
    return acc


def _early_gate(
    clean: FloatArray,
    ln_v: float,
    area: FloatArray,
    ramp: FloatArray | None,
    lr: FloatArray,
    tl: tlm.Timeline,
    idx: NDArray[np.int64],
    d_model: int,
) -> None:
    """Hold the first steps of a run from scratch near ln(vocab) until the LR applied so far
    can have moved the model (``EARLY_SHIFT``), in place.

    S, the sum of the LRs applied before each step (AdamW units), is the LR area (warmup
    counted at the peak) times the real ramp's share of it, in steps, less the step's own LR
    (its loss is measured before its update, so step 0 is exactly ln(vocab)). A property of
    the step, so slices agree; only the first few hundred steps are touched.
    """
    steps_per_fraction = tl.total_tokens / tl.base.global_batch_tokens
    lr_scale = tl.const(idx, lambda s: OPTIMIZERS[s.cfg.optimizer].lr_scale)

    def shift_at(k: slice) -> FloatArray:
        out: FloatArray = area[k] * steps_per_fraction
        if ramp is not None:
            out *= ramp[k]
        out -= lr[k] / (lr_scale if np.ndim(lr_scale) == 0 else lr_scale[k])
        out *= d_model / EARLY_SHIFT
        return out

    # S never falls from one step to the next: a range whose first step is past the early
    # steps has none (the usual case, checked on one value).
    if float(shift_at(slice(0, 1))[0]) >= 40.0:
        return
    shift = shift_at(slice(None))
    early = np.flatnonzero(shift < 40.0)  # exp(-40) < 1e-17: the gate is 1 past these
    if early.size:
        gate = -np.expm1(-np.maximum(shift[early], 0.0))
        clean[early] = ln_v - gate * (ln_v - clean[early])


def _diverge(
    steps: NDArray[np.int64],
    div: int,
    train: FloatArray,
    val: FloatArray,
    grad: FloatArray,
    ln_v: float,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """The steps after a divergence at ``div``: the loss leaves its band on the next step and
    closes on ``DIVERGE_CAP`` x ln(vocab) (halfway in one step), the gradient norm grows
    e-fold a step, and from ``div + DIVERGE_RAMP + 1`` all three are NaN.

    Assumed shape: diverging LLM runs show the gradient norm exploding and the loss jumping
    to around or somewhat past the uniform guess's ln(vocab) within a few steps before NaN
    (docs/sources.md, "Instability"); nothing physical keeps it finite at 850 nats.
    """
    t = np.clip(steps - div, 0, DIVERGE_RAMP).astype(np.float64)
    frac = -np.expm1(-t * math.log(2.0))  # 0 at div, 1/2 a step later, 63/64 at the end
    cap = DIVERGE_CAP * ln_v
    train = train + frac * np.maximum(cap - train, 0.0)
    val = val + frac * np.maximum(cap - val, 0.0)
    grad = grad * np.exp(t)
    dead = steps > div + DIVERGE_RAMP
    train[dead] = np.nan
    val[dead] = np.nan
    grad[dead] = np.nan
    return train, val, grad


# ----------------------------------------------------------------------------- the trend
EARLY_EXACT = 4096  # steps below this are all knots: their trend is computed step by step


@dataclass(frozen=True)
class Trend:
    """The noise-free part of the model at some steps (``trend``)."""

    train: FloatArray  # train loss before noise and spikes (memorisation, early gate, cap)
    val: FloatArray  # validation loss before noise and spikes (overfitting)
    scale: FloatArray  # relative loss noise per unit draw (batch; quiet near ln(vocab))
    grad: FloatArray  # gradient norm before noise and spikes


def _trend_at(tl: tlm.Timeline, steps: NDArray[np.int64]) -> Trend:
    """The trend evaluated exactly at sorted steps (each value depends on its step only)."""
    idx = tl.segment_index(steps)
    base = tl.base
    unique = base.dataset_tokens
    tokens = tlm.tokens_after(tl, idx, steps)
    p = np.minimum(tokens * (1.0 / tl.total_tokens), 1.0)
    lr = tlm.lr_at_steps(tl, idx, p)
    area = tlm.area_at(tl, idx, p)
    mean_lr, ramp = _mean_lr(tl, p, area)
    # The loss a trainer logs for a step is measured on that step's batch before its update,
    # so it sees the tokens of the steps before it: step 0 is the untrained model. Each token
    # counts for what its batch and optimizer make it worth (critical batch, McCandlish et al.
    # 2018): a factor on the tokens, not on the LR area, whose effect is concave.
    d_eff = tlm.worth_before(tl, idx, steps) * lr_progress(mean_lr)
    # Weight decay: past WD_EXPOSURE_MAX time constants the weights only hold the recent
    # updates (Wang & Aitchison 2024), so the tokens that count stop growing.
    wd_exposure = tlm.decay_at(tl, idx, p, area)
    strong = np.flatnonzero(wd_exposure > WD_EXPOSURE_MAX)
    if strong.size:
        d_eff[strong] *= WD_EXPOSURE_MAX / wd_exposure[strong]
    d_eff[steps == 0] = np.maximum(d_eff[steps == 0], 1.0)  # at least one token
    reps = np.maximum(tokens / unique - 1.0, 0.0)
    repeated = bool(np.any(tokens > unique))
    if repeated:
        fresh = (
            np.minimum(tokens, unique)
            + unique * MUENNIGHOFF_R_STAR * (1.0 - np.exp(-reps / MUENNIGHOFF_R_STAR))
        ) / tokens
        d_eff *= fresh
    data_term = CHINCHILLA_B * np.exp(-CHINCHILLA_BETA * np.log(d_eff + base.base_tokens))
    s2 = (_ema_at(tl, steps) - tl.lr_peak0) * (-1.0 / tl.lr_peak0)
    np.clip(s2, -0.5, 1.0, out=s2)
    # Tissue's annealing area is a sum of LR drops, so it shrinks with the LR as the forward
    # area does: a run far below the reference LR gains as little from its decay.
    s2 *= -ANNEAL_C * min(1.0, float(lr_progress(np.array([tl.lr_peak0 / tl.lr_ref]))[0]))
    clean = data_term + s2 * data_term**ANNEAL_EXP
    clean += size_terms(float(tl.params), base.family)
    if base.base_tokens > 0:
        clean += 0.6 * np.exp(-d_eff / (0.02 * tl.total_tokens))
    else:
        # Pretraining without (enough) weight decay ends a little higher: the benefit comes
        # as the decay acts, over the first time constants (D'Angelo et al. 2023).
        clean += WD_BENEFIT * np.exp(-wd_exposure)
    # Context: a token's loss falls with the tokens before it (Kaplan et al. 2020), once the
    # model has learnt to use them.
    ctx = context_loss(base.seq_len)
    if ctx != 0.0:
        clean += ctx * -np.expm1((d_eff + base.base_tokens) * (-1.0 / IN_CONTEXT_TOKENS))
    ln_v = math.log(base.arch.vocab_size)
    # Soft cap at ln(vocab): only the first steps come near it.
    near = np.flatnonzero(clean > min(ln_v - 4.0, 0.5 * ln_v))
    if near.size:
        tau = 0.25
        clean[near] = -tau * np.logaddexp(-clean[near] / tau, -ln_v / tau)
    if base.base_tokens <= 0:
        _early_gate(clean, ln_v, area, ramp, lr, tl, idx, base.arch.d_model)
    # Noise scale: grows as the batch shrinks, bounded (NOISE_REL_MAX). At a uniform init
    # every token's loss is ln(vocab) and a batch's mean has no spread: the noise grows in as
    # the loss leaves ln(vocab), fully once it has halved.
    scale = np.broadcast_to(
        noise_scale(tl.const(idx, lambda s: s.cfg.global_batch_tokens)), clean.shape
    ).copy()
    scale *= np.minimum(2.0 - clean * (2.0 / ln_v), 1.0)
    train, val = clean, clean
    if repeated:
        # Repeated epochs: memorisation lowers train loss, overfitting raises val loss. Both
        # start at the rates below and saturate: memorisation at MEMORISE_MAX of the loss,
        # overfitting at the distance to ln(vocab) (worse than a uniform guess it never gets).
        ratio = min(float(tl.params) / (20.0 * unique), 10.0)
        mem = 0.22 * math.sqrt(ratio) * (0.5 * reps + 0.5 * _stair(tokens / unique))
        train = clean - _saturate(mem, MEMORISE_MAX * clean)
        over = 0.06 * ratio * reps**1.5
        val = clean + _saturate(over, np.maximum(ln_v - clean, 1e-3))
    # Gradient norm before clipping: a floor that rises as the LR decays, an early excess
    # that fades over ~200 steps (exactly 0 from EARLY_STEPS on), steeper above the spike LR.
    g_floor = 0.5 if base.base_tokens > 0 else 0.22
    grad = g_floor * (1.7 - 0.7 * lr / tl.const(idx, lambda s: s.cfg.lr_peak))
    early = steps < EARLY_STEPS
    grad[early] *= 1.0 + 5.0 * np.exp(steps[early] * (-1.0 / 200.0))
    lr_ratio = _lr_ratio(tl, idx, lr)
    hot = lr_ratio > 1.0
    grad[hot] *= lr_ratio[hot] ** 1.5
    return Trend(train, val.copy() if val is train else val, scale, grad)


def _extra_knots(tl: tlm.Timeline) -> NDArray[np.int64]:
    """Knots besides the cell boundaries: each mid-run change (the trend jumps there: the
    steps from it on interpolate from it) and each side of the warmup's end (the LR peaks)."""
    w = tl.base.warmup_steps
    knots = {s.start for s in tl.segments[1:]} | {w - 1, w, w + 1}
    return np.array(sorted(k for k in knots if k >= EARLY_EXACT), dtype=np.int64)


def _brackets(
    tl: tlm.Timeline, steps: NDArray[np.int64], cells: noise.Cells | None = None
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """The knots each step's trend is interpolated between (both the step below 4,096)."""
    level = noise.cell_level(steps) if cells is None else cells.level
    left = (steps >> level) << level if cells is None else cells.start
    right = left + (np.int64(1) << level)
    extras = _extra_knots(tl)
    if extras.size:
        j = np.searchsorted(extras, steps, side="right")
        below = extras[np.maximum(j - 1, 0)]
        left = np.where((j > 0) & (below > left), below, left)
        above = extras[np.minimum(j, extras.size - 1)]
        warm = np.abs(above - tl.base.warmup_steps) <= 1  # a change's knot is never a right one
        right = np.where((j < extras.size) & (above < right) & warm, above, right)
    early = steps < EARLY_EXACT
    left = np.where(early, steps, left)
    right = np.where(early, steps, right)
    return left, right


def _sorted_unique(x: NDArray[np.int64]) -> NDArray[np.int64]:
    """``np.unique``, without its sort when ``x`` is two sorted halves (a range's knots)."""
    n = x.size // 2
    if n > 64 and bool(np.all(x[1:n] >= x[: n - 1])) and bool(np.all(x[n + 1 :] >= x[n:-1])):
        merged = np.concatenate([x[:n], x[n:]])
        merged.sort(kind="mergesort")  # two sorted runs: linear
        keep = np.empty(merged.size, dtype=bool)
        keep[0] = True
        np.not_equal(merged[1:], merged[:-1], out=keep[1:])
        out: NDArray[np.int64] = merged[keep]
        return out
    return np.unique(x)


def _as_of(tl: tlm.Timeline, segment: int) -> tlm.Timeline:
    """The timeline as it was while ``segment`` was the last one (later changes unknown)."""
    if segment >= len(tl.segments) - 1:
        return tl
    return replace(tl, segments=tl.segments[: segment + 1], starts=tl.starts[: segment + 1])


def trend(tl: tlm.Timeline, steps: NDArray[np.int64], cells: noise.Cells | None = None) -> Trend:
    """The trend at any steps: exact below step 4,096, linear between knots above it (the cell
    boundaries, ``noise``, and ``_extra_knots``), so that its extremes over a block are at the
    block's ends and the knots inside it. A cell at step s spans s/64 to s/32 steps, where the
    trend moves by well under its noise. A knot after a step is evaluated as of the step's own
    segment, so a change made later never moves a step already taken."""
    steps = np.asarray(steps, dtype=np.int64)
    if steps.size == 0:
        e = np.empty(0, dtype=np.float64)
        return Trend(e, e.copy(), e.copy(), e.copy())
    left, right = _brackets(tl, steps, cells)
    if len(tl.segments) == 1:
        seg = np.zeros(steps.size, dtype=np.int64)
        groups: list[tuple[int, NDArray[np.bool_] | slice]] = [(0, slice(None))]
    else:
        seg = tl.segment_index(steps)
        groups = [(j, seg == j) for j in np.unique(seg).tolist()]
    out = [np.empty(steps.size) for _ in range(4)]
    for j, mine in groups:
        lo, hi = left[mine], right[mine]
        knots = _sorted_unique(np.concatenate([lo, hi]))
        at = _trend_at(_as_of(tl, j), knots)
        il, ir = np.searchsorted(knots, lo), np.searchsorted(knots, hi)
        frac = np.where(hi > lo, (steps[mine] - lo) / np.maximum(hi - lo, 1), 0.0)
        for k, q in enumerate((at.train, at.val, at.scale, at.grad)):
            out[k][mine] = q[il] + (q[ir] - q[il]) * frac
    return Trend(out[0], out[1], out[2], out[3])


class TrendCache:
    """``trend`` for many reads over one range: the knots of [lo, hi) are evaluated once (per
    segment, as ``trend`` does) and each read only interpolates, giving the same numbers.

    A chart's buckets read the trend at block ends, candidates and leaves thousands of times
    over a few rounds; with the knots in hand each read is a few array lookups.
    """

    def __init__(self, tl: tlm.Timeline, lo: int, hi: int) -> None:
        self.tl = tl
        cells = noise.cell_starts_in(max(lo, EARLY_EXACT), hi)
        if cells.size:
            cells = np.append(cells, cells[-1] + (np.int64(1) << noise.level_of(int(cells[-1]))))
        self.knots = np.unique(np.concatenate([cells, _extra_knots(tl)]))
        self._at: dict[int, Trend] = {}

    def _values(self, segment: int) -> Trend:
        if segment not in self._at:
            self._at[segment] = _trend_at(_as_of(self.tl, segment), self.knots)
        return self._at[segment]

    def __call__(self, steps: NDArray[np.int64]) -> Trend:
        steps = np.asarray(steps, dtype=np.int64)
        if steps.size == 0 or int(steps.min()) < EARLY_EXACT or not self.knots.size:
            return trend(self.tl, steps)
        left, right = _brackets(self.tl, steps)
        il = np.searchsorted(self.knots, left)
        ir = np.searchsorted(self.knots, right)
        if int(ir.max()) >= self.knots.size or not (
            np.array_equal(self.knots[il], left) and np.array_equal(self.knots[ir], right)
        ):
            return trend(self.tl, steps)  # outside the cached range
        frac = np.where(right > left, (steps - left) / np.maximum(right - left, 1), 0.0)
        seg = self.tl.segment_index(steps)
        out = [np.empty(steps.size) for _ in range(4)]
        for j in np.unique(seg).tolist():
            mine = seg == j
            at = self._values(j)
            a, b, f = il[mine], ir[mine], frac[mine]
            for k, q in enumerate((at.train, at.val, at.scale, at.grad)):
                out[k][mine] = q[a] + (q[b] - q[a]) * f
        return Trend(out[0], out[1], out[2], out[3])


def wobble(seed: int, steps: NDArray[np.int64], cells: noise.Cells | None = None) -> FloatArray:
    """Slow noise: a uniform per cell boundary, linear in between, scaled by sqrt(64 / cell):
    unit variance on the 64-step grid of a run's first 8,192 steps, and later what such a
    64-step wobble averages to over a cell (1/64 of the step count), so windows of the same
    length spread alike wherever they are."""
    steps = np.asarray(steps, dtype=np.int64)
    c = noise.Cells.of(steps) if cells is None else cells
    # Per cell, then spread to its steps: one hash per cell, not per step.
    c_size = np.int64(1) << c.cell_level
    c_amp = math.sqrt(12.0) * np.sqrt(float(2**noise.CELL_MIN_LEVEL) / c_size)
    c_wl = (noise.knot_uniform(seed, noise.U_WOBBLE, c.cell_start) - 0.5) * c_amp
    c_wr = (noise.knot_uniform(seed, noise.U_WOBBLE, c.cell_start + c_size) - 0.5) * c_amp
    wl, wr = c_wl[c.inverse], c_wr[c.inverse]
    size = c_size[c.inverse]
    out: FloatArray = wl + (wr - wl) * ((steps - c.start) / size)
    return out


def grad_noise_coef(tl: tlm.Timeline, idx: NDArray[np.int64]) -> FloatArray:
    """The gradient norm's log-normal spread per unit draw: 0.1 x sqrt(4M / batch)."""
    out: FloatArray = 0.1 * np.sqrt(
        tlm.REF_BATCH_TOKENS / tl.const(idx, lambda s: s.cfg.global_batch_tokens)
    )
    return out


# ----------------------------------------------------------------------------- events
SHARES = (0.5, 0.8, 1.0)  # a spike's gradient multiplier on its hazard step and the next two


@dataclass(frozen=True)
class Events:
    """Spikes (by hazard step) and the divergence of a run, up to some step."""

    steps: NDArray[np.int64]  # hazard steps, in order
    mult: FloatArray  # gradient-norm multiplier at the peak
    size: FloatArray  # loss jump (nats), on the step after the peak
    decay: FloatArray  # steps over which the jump decays by e
    diverged_at: int | None

    def tail(self, steps: NDArray[np.int64]) -> FloatArray:
        """The loss the spikes add at each step: size x exp(-(i - first) / decay) from the
        step after the peak for LOOKBACK - 5 steps."""
        out = np.zeros(steps.shape, dtype=np.float64)
        if not self.steps.size:
            return out
        first = self.steps + SPIKE_LEAD + 1
        last = self.steps + LOOKBACK - 2
        lo = _run_start(steps)
        if lo is not None:  # a run of steps: each spike adds its tail to a slice, in order
            hi = lo + steps.size
            for f, e, size, decay in zip(
                first.tolist(), last.tolist(), self.size.tolist(), self.decay.tolist(), strict=True
            ):
                a, b = max(f, lo), min(e, hi)
                if a < b:
                    i = np.arange(a, b, dtype=np.int64)
                    out[a - lo : b - lo] += size * np.exp(-(i - f) / decay)
            return out
        owner, j = self._pairs(steps, steps)
        if not owner.size:
            return out
        i = steps[owner]
        ok = (i >= first[j]) & (i < last[j])
        terms = np.where(ok, self.size[j] * np.exp(-(i - first[j]) / self.decay[j]), 0.0)
        np.add.at(out, owner, terms)
        return out

    def _pairs(
        self, lo: NDArray[np.int64], hi: NDArray[np.int64]
    ) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """(range, spike) pairs for spikes whose tail meets [lo, hi] (inclusive)."""
        a = np.searchsorted(self.steps, lo - LOOKBACK + 3, side="left")  # last > lo
        b = np.searchsorted(self.steps, hi - SPIKE_LEAD - 1, side="right")  # first <= hi
        n = np.maximum(b - a, 0)
        owner = np.repeat(np.arange(lo.size), n)
        j = np.repeat(a, n) + (np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n))
        return owner, j

    def tail_sum(self, lo: NDArray[np.int64], hi: NDArray[np.int64]) -> FloatArray:
        """The sum of ``tail`` over steps [lo, hi) of each range, in closed form."""
        out = np.zeros(lo.shape, dtype=np.float64)
        if not self.steps.size:
            return out
        owner, j = self._pairs(lo, hi - 1)
        first = self.steps[j] + SPIKE_LEAD + 1
        last = self.steps[j] + LOOKBACK - 2
        i0 = np.maximum(lo[owner], first)
        n = np.maximum(np.minimum(hi[owner], last) - i0, 0)
        r = np.exp(-1.0 / self.decay[j])
        terms = self.size[j] * r ** (i0 - first) * -np.expm1(n * np.log(r)) / -np.expm1(np.log(r))
        np.add.at(out, owner, np.where(n > 0, terms, 0.0))
        return out

    def grad_factor(self, steps: NDArray[np.int64]) -> FloatArray:
        """The spikes' multiplier on the gradient norm at each step (1 almost everywhere)."""
        out = np.ones(steps.shape, dtype=np.float64)
        lo = _run_start(steps)
        if lo is not None:  # a run of steps: touch only the spikes' own steps, in the same order
            for ahead, share in enumerate(SHARES):
                at = self.steps + ahead - lo
                inside = (at >= 0) & (at < steps.size)
                for p, mult in zip(at[inside].tolist(), self.mult[inside].tolist(), strict=True):
                    out[p] *= 1.0 + (mult - 1.0) * share
            return out
        for ahead, share in enumerate(SHARES):
            pos = np.searchsorted(self.steps, steps - ahead)
            pos = np.minimum(pos, max(self.steps.size - 1, 0))
            if not self.steps.size:
                break
            hit = self.steps[pos] == steps - ahead
            out[hit] *= 1.0 + (self.mult[pos[hit]] - 1.0) * share
        return out


def _run_start(steps: NDArray[np.int64]) -> int | None:
    """The first step if ``steps`` is a long run of consecutive steps (a range), else None."""
    n = steps.size
    if n < 256 or int(steps[-1]) - int(steps[0]) != n - 1:
        return None
    return int(steps[0]) if bool(np.all(np.diff(steps) == 1)) else None


def find_events(
    tl: tlm.Timeline, seed: int, lo: int, stop: int, *, diverged_at: int | None, scan_from: int
) -> Events:
    """The spikes whose hazard fires in [lo, stop) before any divergence, and the divergence:
    recorded, or the first hazard hit from ``scan_from`` to ``stop``."""
    div = diverged_at
    if div is None and stop > scan_from:
        div = first_divergence(tl, seed, scan_from, stop)
    ks = hazard_hits(tl, seed, lo, stop)
    if div is not None:
        ks = ks[ks < div]
    if not ks.size:  # the usual case: no spike near
        none = np.zeros(0)
        return Events(ks, none, none.copy(), none.copy(), div)
    u_a = noise.uniform(seed, noise.U_SPIKE_A, ks)
    u_b = noise.uniform(seed, noise.U_SPIKE_B, ks)
    mult = 2.0 + 10.0 * u_a
    zero = np.zeros(0)
    partial = Events(ks, mult, zero, zero, div)
    # The loss jump: 5-30% of the loss, more above the spike LR, damped by clipping as far as
    # the peak's gradient norm exceeds the clip (OLMo 2); no clipping lets it through.
    peaks = ks + SPIKE_LEAD
    idx_k = tl.segment_index(ks)
    g_peak = trend(tl, peaks).grad * np.exp(
        grad_noise_coef(tl, tl.segment_index(peaks)) * noise.normal(seed, noise.Z_GRAD, peaks)
    )
    g_peak *= partial.grad_factor(peaks)
    p = np.minimum(tlm.tokens_after(tl, idx_k, ks) / tl.total_tokens, 1.0)
    ratio = _lr_ratio(tl, idx_k, tlm.lr_at_steps(tl, idx_k, p))
    clip = np.broadcast_to(tl.const(idx_k, lambda s: s.cfg.grad_clip), ks.shape)
    size = trend(tl, ks).train * (0.05 + 0.25 * u_b)
    size *= 1.0 + 0.3 * np.maximum(0.0, ratio - 1.0)
    damp = np.sqrt(np.minimum(1.0, clip / np.maximum(g_peak, 1e-30)))
    size *= np.where(clip > 0, damp, 1.3)
    return Events(ks, mult, size, 30.0 + 270.0 * u_b, div)


# ----------------------------------------------------------------------------- steps
def _diverged(
    tl: tlm.Timeline, steps: NDArray[np.int64], ev: Events, values: dict[str, FloatArray]
) -> None:
    """Apply the divergence (``_diverge``) to the steps at or after it, in place."""
    div = ev.diverged_at
    if div is None:
        return
    after = np.flatnonzero(steps >= div)
    if not after.size:
        return
    ln_v = math.log(tl.base.arch.vocab_size)
    nan = np.full(after.size, np.nan)
    parts = [values[k][after] if k in values else nan for k in ("train", "val", "grad")]
    out = _diverge(steps[after], div, parts[0], parts[1], parts[2], ln_v)
    for k, v in zip(("train", "val", "grad"), out, strict=True):
        if k in values:
            values[k][after] = v


def train_loss(
    tl: tlm.Timeline,
    seed: int,
    steps: NDArray[np.int64],
    ev: Events,
    tr: Trend | None = None,
    cells: noise.Cells | None = None,
    tail: FloatArray | None = None,
) -> FloatArray:
    """The logged train loss at each step: the trend times multiplicative noise (a Gaussian
    plus a slow wobble, bounded by NOISE_REL_MAX x NOISE_Z_MAX), plus the spikes' tails
    (``tail``, when the caller has them: ``ev.tail(steps)``)."""
    cells = noise.Cells.of(steps) if cells is None else cells
    tr = trend(tl, steps, cells) if tr is None else tr
    z1 = noise.normal(seed, noise.Z_LOSS, steps, cells)
    noisy = 1.0 + tr.scale * (0.5 * wobble(seed, steps, cells) + z1)
    out = {"train": tr.train * noisy + (ev.tail(steps) if tail is None else tail)}
    _diverged(tl, steps, ev, out)
    return out["train"]


def grad_norm(
    tl: tlm.Timeline,
    seed: int,
    steps: NDArray[np.int64],
    ev: Events,
    tr: Trend | None = None,
    idx: NDArray[np.int64] | None = None,
    cells: noise.Cells | None = None,
) -> FloatArray:
    """The gradient norm before clipping: the trend, log-normal noise, spikes' multipliers."""
    cells = noise.Cells.of(steps) if cells is None else cells
    tr = trend(tl, steps, cells) if tr is None else tr
    idx = tl.segment_index(steps) if idx is None else idx
    z2 = noise.normal(seed, noise.Z_GRAD, steps, cells)
    out = {"grad": tr.grad * np.exp(grad_noise_coef(tl, idx) * z2) * ev.grad_factor(steps)}
    _diverged(tl, steps, ev, out)
    return out["grad"]


def loss_and_grad(
    tl: tlm.Timeline,
    seed: int,
    steps: NDArray[np.int64],
    ev: Events,
    idx: NDArray[np.int64] | None = None,
    cells: noise.Cells | None = None,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Train loss, validation loss (as if evaluated at every step) and gradient norm."""
    idx = tl.segment_index(steps) if idx is None else idx
    cells = noise.Cells.of(steps) if cells is None else cells
    tr = trend(tl, steps, cells)
    z2 = noise.normal(seed, noise.Z_GRAD, steps, cells)
    tail = ev.tail(steps)  # the train and the validation loss share it
    val = {"val": tr.val * (1.0 + (0.15 * tr.scale) * z2) + 0.8 * tail}
    _diverged(tl, steps, ev, val)
    train = train_loss(tl, seed, steps, ev, tr, cells, tail)
    return train, val["val"], grad_norm(tl, seed, steps, ev, tr, idx, cells)


def throughput(
    tl: tlm.Timeline,
    seed: int,
    steps: NDArray[np.int64],
    idx: NDArray[np.int64] | None = None,
    cells: noise.Cells | None = None,
) -> FloatArray:
    """Tokens per second of each step (its batch over its time, stalls included)."""
    idx = tl.segment_index(steps) if idx is None else idx
    out: FloatArray = tl.const(idx, lambda s: s.cfg.global_batch_tokens) / tlm.step_time(
        tl, seed, steps, idx, cells
    )
    return out


def evaluate(
    tl: tlm.Timeline, seed: int, steps: NDArray[np.int64], ev: Events
) -> dict[str, NDArray[np.generic]]:
    """Every metric at the given steps (0-based, any order), with the spikes and divergence
    of ``ev``. A step's values depend on the step alone, so reading it here, in a range or in
    a block's extreme (``simulator.buckets``) gives the same numbers."""
    steps = np.asarray(steps, dtype=np.int64)
    idx = tl.segment_index(steps)
    base = tl.base
    tokens = tlm.tokens_after(tl, idx, steps)
    lr = tlm.lr_at_steps(tl, idx, np.minimum(tokens * (1.0 / tl.total_tokens), 1.0))
    cells = noise.Cells.of(steps)
    train, val, grad = loss_and_grad(tl, seed, steps, ev, idx, cells)
    wall = tlm.wall_at(tl, seed, steps, idx)
    tps = throughput(tl, seed, steps, idx, cells)
    gpus = tl.const(idx, lambda s: s.cfg.num_gpus)
    mfu = tps * (flops_per_token(base) / peak_flops(base)) / gpus
    cost = tl.per_segment(
        idx,
        lambda s, w: s.cost0 + (wall[w] - s.wall0) * s.cfg.num_gpus * s.price / 3600.0,
        steps.size,
    )
    memory = tl.const(idx, lambda s: s.memory_bytes / 1e9) * (
        0.985 + 0.01 * noise.uniform(seed, noise.U_MEMORY, steps, cells)
    )
    return {
        "step": steps + 1,
        "epoch": tokens / base.dataset_tokens,
        "tokens": tokens,
        "wall_time": wall,
        "train_loss": train,
        "val_loss": val,
        "perplexity": np.exp(np.minimum(train, 700.0)),
        "accuracy": token_accuracy(train, base.arch.vocab_size),
        "lr": lr,
        "grad_norm": grad,
        "tokens_per_sec": tps,
        "mfu": mfu,
        "memory_gb": memory,
        "cost_usd": cost,
    }


def is_eval_step(tl: tlm.Timeline, steps: NDArray[np.int64]) -> NDArray[np.bool_]:
    """Steps with an evaluation: every ``eval_interval`` steps and the run's last step."""
    every = tl.base.resolved_eval_interval
    out: NDArray[np.bool_] = ((steps + 1) % every == 0) | (steps == tl.total_steps - 1)
    return out


MAX_EVALS_READ = 16_384  # evaluations a chart reads for its validation line (2,000 drawn)


def eval_steps(tl: tlm.Timeline, start: int, stop: int) -> NDArray[np.int64]:
    """The steps in [start, stop) with an evaluation (``is_eval_step``), at most
    ``MAX_EVALS_READ`` of them, evenly thinned if the eval interval is denser than that: what
    a chart of the range reads for its validation line, at a cost that does not grow with it."""
    every = tl.base.resolved_eval_interval
    first = (start + every) // every * every - 1  # the first s >= start with (s + 1) % every == 0
    count = max(0, (stop - 1 - first) // every + 1) if first < stop else 0
    take = np.arange(min(count, MAX_EVALS_READ), dtype=np.int64)
    if count > MAX_EVALS_READ:
        take = (take * (count / MAX_EVALS_READ)).astype(np.int64)
    steps = first + take * every
    last = tl.total_steps - 1
    if start <= last < stop and (steps.size == 0 or steps[-1] != last):
        steps = np.append(steps, last)
    return steps


def compute(
    tl: tlm.Timeline, seed: int, start: int, stop: int, *, diverged_at: int | None, scan_from: int
) -> Computed:
    """Metrics for steps [start, stop). See the module docstring for the model.

    Args:
        tl: the run's timeline.
        seed: the run's seed.
        start, stop: step indices (0-based) to return.
        diverged_at: a divergence already recorded in the run state, if any.
        scan_from: steps before this were already checked for divergence (the run's step);
            steps from here to ``stop`` are scanned.
    """
    ev = find_events(
        tl, seed, max(0, start - LOOKBACK), stop, diverged_at=diverged_at, scan_from=scan_from
    )
    steps = np.arange(start, stop, dtype=np.int64)
    out = evaluate(tl, seed, steps, ev)
    is_eval = is_eval_step(tl, steps)
    out["is_eval"] = is_eval
    out["val_loss"] = np.where(is_eval, out["val_loss"], np.nan)
    peaks = ev.steps + SPIKE_LEAD
    found = tuple(
        Spike(int(k), float(sz))
        for k, sz in zip(peaks.tolist(), ev.size.tolist(), strict=True)
        if start <= k < stop
    )
    return Computed(out, found, ev.diverged_at, ev)


def clean_loss(tl: tlm.Timeline, steps: NDArray[np.int64]) -> tuple[FloatArray, FloatArray]:
    """Noise-free train and val loss at sorted 0-based step indices ``steps`` (any spacing):
    ``trend``, what a run's loss averages to over a window. Work is proportional to
    ``len(steps)``, not to the steps they span.

    The per-step noise ``compute`` multiplies this by has mean zero: a Gaussian and a slow
    wobble, each of mean zero, times ``noise_scale(batch)``; the mean of ``k`` logged steps
    therefore spreads by about ``noise_scale * sqrt(1 / k + 0.25 / (1.5 + k / g))`` with ``g``
    the wobble's knot spacing (``averaged_noise``).
    """
    steps = np.asarray(steps, dtype=np.int64)
    if steps.size == 0:
        empty = np.empty(0, dtype=np.float64)
        return empty, empty.copy()
    if np.any(np.diff(steps) < 0) or int(steps[0]) < 0:
        raise ValueError("steps must be sorted, non-negative step indices")
    tr = trend(tl, steps)
    return tr.train, tr.val


def averaged_noise(batch_tokens: float, window: float, step: float = 0.0) -> float:
    """Relative spread (one standard deviation) of the mean of ``window`` consecutive steps'
    loss noise around ``step`` (``clean_loss``'s docstring says how it follows from
    ``compute``): the Gaussian averages down as 1 / k; the wobble, knots g steps apart (64
    early, 1/64 of the step later) with variance 64 / g, as (64 / g) / (1.5 + k / g)."""
    k = max(1.0, float(window))
    level = int(math.log2(max(step, 1.0))) - noise.OCTAVE_SPLIT
    g = float(2 ** min(noise.CELL_MAX_LEVEL, max(noise.CELL_MIN_LEVEL, level)))
    wob = (2.0**noise.CELL_MIN_LEVEL / g) / (1.5 + k / g)
    return float(noise_scale(batch_tokens)) * math.sqrt(1.0 / k + 0.25 * wob)


def _ema_at(tl: tlm.Timeline, steps: NDArray[np.int64]) -> FloatArray:
    """``_loss_lr_ema`` at arbitrary sorted steps: the knots around each step only."""
    g = steps // EMA_GRID
    knots_idx = np.unique(np.concatenate([g, g + 1]))
    knots = knots_idx.astype(np.float64) * EMA_GRID
    kappa = -math.log1p(-1.0 / tl.ema_steps)
    x = knots[:, None] - _NODES[None, :] / kappa
    vals = (tlm.loss_lr_at(tl, x.ravel()).reshape(x.shape) * _WEIGHTS[None, :]).sum(axis=1)
    out: FloatArray = np.interp(steps.astype(np.float64), knots, vals)
    return out
