"""The compute-optimal frontier of the simulator's own loss law, per model family.

The Comparison tab's compute-efficiency chart places each run's final loss against its
training compute. A frontier drawn there only tells a reader something if no run of the same
law can sit below it, so it is the law's own minimum: at each compute C, the lowest loss
``end_loss`` gives over every split of C = 6ND into model size N and tokens D. ``end_loss``
is ``dynamics.compute``'s clean loss (no noise, no spikes) at the end of a from-scratch run
of the *reference recipe*, LLaMA's: AdamW at its reference LR (``timeline.reference_lr``),
4M-token batches, a cosine schedule down to 10% of the peak, decayed to the end. It uses the
family's calibration (``catalog.FAMILY_LOSS``) and the run's context length, whose longer
sequences lower every token's loss (``dynamics.context_loss``).

So a preset or a saved run of that family sits on or above its frontier; a recipe the law
rewards more than the reference (a decay to zero, a smaller batch, a higher LR) can end a few
hundredths of a nat below it, and tests/test_simulator_families.py checks that every
from-scratch preset is above. The chart's x-axis counts 6N + 12 * layers * seq * d_model
FLOPs per token, more than 6N, which only moves a run further right of (and so further above)
the frontier.

The law's best split is not the compute-optimal advice of the Configuration tab
(``estimate.compute_optimal``, Epoch AI's refit, about 20 tokens per parameter): the family
calibration enlarges the size term to fit the LLaMA papers' runs, all far from that optimum,
and with it the law favours larger models (docs/sources.md, "Family calibration").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from simulator import schedules
from simulator.dynamics import (
    ANNEAL_C,
    ANNEAL_EXP,
    IN_CONTEXT_TOKENS,
    context_loss,
    lr_progress,
    size_terms,
)
from simulator.estimate import CHINCHILLA_B, CHINCHILLA_BETA

FloatArray = NDArray[np.float64]

REFERENCE_MIN_LR = 0.1
"""The reference recipe's final LR as a share of its peak (LLaMA, Llama 2: cosine to 10%)."""
REFERENCE_PROGRESS = float(
    lr_progress(np.array([float(schedules.area("cosine", np.array(1.0), 0.0, 1.0, 0.1, 0.1))]))[0]
)
"""What a token of the reference recipe is worth: ``dynamics.lr_progress`` of its mean LR
(a cosine to 10% averages 0.55 of its peak, which is the reference LR)."""
SPLIT_DECADES = 2.5  # the split is searched over 1e-5..1e5 tokens per parameter
SPLIT_POINTS = 501  # 0.01 of a decade apart, then refined by a parabola


def end_loss(
    params: FloatArray | float, tokens: FloatArray | float, family: str, seq_len: int
) -> FloatArray:
    """Clean loss at the end of a from-scratch reference-recipe run of ``params`` parameters
    on ``tokens`` tokens (module docstring): ``dynamics.compute``'s terms at its last step.

    The annealing area is its limit for a long cosine run, 1 - REFERENCE_MIN_LR (the EMA of a
    real run lags a little, so a run's own is smaller and its loss higher); weight decay's
    small benefit term is left out (a lower bound).
    """
    d_eff = np.maximum(np.asarray(tokens, dtype=np.float64) * REFERENCE_PROGRESS, 1.0)
    data = CHINCHILLA_B / d_eff**CHINCHILLA_BETA
    anneal = -ANNEAL_C * (1.0 - REFERENCE_MIN_LR) * data**ANNEAL_EXP
    ctx = context_loss(seq_len) * -np.expm1(-d_eff / IN_CONTEXT_TOKENS)
    out: FloatArray = size_terms(params, family) + data + anneal + ctx
    return out


@dataclass(frozen=True)
class Frontier:
    """The lowest ``end_loss`` over splits at each compute, and the split that reaches it."""

    family: str
    seq_len: int
    compute: FloatArray  # FLOPs, C = 6ND
    loss: FloatArray
    params: FloatArray
    tokens: FloatArray


def frontier(c_min: float, c_max: float, family: str, seq_len: int, n: int = 64) -> Frontier:
    """The family's compute-optimal frontier from ``c_min`` to ``c_max`` FLOPs (``n``
    log-spaced points): a grid over the split 0.01 of a decade fine, then a parabola through
    the best point and its neighbours (about 32k evaluations for 64 points, a millisecond).

    Raises:
        ValueError: if the compute range is not positive and ordered.
    """
    if not (c_min > 0 and c_max >= c_min and math.isfinite(c_max)):
        raise ValueError(f"compute range must be positive and ordered, not {c_min}..{c_max}")
    c = np.logspace(math.log10(c_min), math.log10(max(c_max, c_min * 1.0001)), n)
    u = np.linspace(-SPLIT_DECADES, SPLIT_DECADES, SPLIT_POINTS)  # log10(N / sqrt(C / 6))
    root = np.sqrt(c / 6.0)[:, None]
    loss = end_loss(root * 10.0**u, root * 10.0**-u, family, seq_len)
    k = np.clip(np.argmin(loss, axis=1), 1, SPLIT_POINTS - 2)
    rows = np.arange(n)
    y0, y1, y2 = loss[rows, k - 1], loss[rows, k], loss[rows, k + 1]
    curv = y0 - 2.0 * y1 + y2
    shift = np.where(curv > 0, 0.5 * (y0 - y2) / np.where(curv > 0, curv, 1.0), 0.0)
    u_best = u[k] + np.clip(shift, -1.0, 1.0) * (u[1] - u[0])
    refined = end_loss(root[:, 0] * 10.0**u_best, root[:, 0] * 10.0**-u_best, family, seq_len)
    u_best = np.where(refined <= y1, u_best, u[k])
    n_opt = root[:, 0] * 10.0**u_best
    d_opt = root[:, 0] * 10.0**-u_best
    return Frontier(family, seq_len, c, np.minimum(refined, y1), n_opt, d_opt)
