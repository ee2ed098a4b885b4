"""Learning-rate schedules as functions of training progress, with closed-form areas.

Every schedule is a function of the token fraction ``p`` in [0, 1] (tokens seen / planned
tokens), not of the step: a mid-run batch-size change then keeps the schedule's shape, as
Megatron-LM's sample-based decay does. Each starts with a linear warmup over the fraction
``w``.

``area`` is the closed-form integral of the LR over ``p`` with warmup counted at the peak.
That is the "forward area" S1 of Tissue et al. 2024 ("Scaling Law with Learning Rate
Annealing", arXiv 2408.11029), who count warmup steps at the peak LR. Having it in closed form
is what lets ``metrics`` compute step 700 000 without summing the 699 999 steps before it.

Shapes: cosine to a floor (LLaMA: to 10% of peak, Touvron et al. 2023); WSD with a linear decay
over the last ``decay_fraction`` (MiniCPM, arXiv 2404.06395, about 10%); inverse square root
after warmup (Vaswani et al. 2017), floored at the minimum.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

SCHEDULE_KINDS = ("constant", "linear", "cosine", "wsd", "inverse-sqrt")


def _decay_position(p: FloatArray, w: float) -> FloatArray:
    """Position q in [0, 1] within the post-warmup part of training."""
    span = max(1.0 - w, 1e-12)
    return np.clip((p - w) / span, 0.0, 1.0)


def _after_warmup(
    kind: str, p: FloatArray, w: float, peak: float, lo: float, df: float
) -> FloatArray:
    q = _decay_position(p, w)
    if kind == "constant":
        return np.full_like(q, peak)
    if kind == "linear":
        return peak + (lo - peak) * q
    if kind == "cosine":
        return lo + (peak - lo) * 0.5 * (1.0 + np.cos(np.pi * q))
    if kind == "wsd":
        qd = 1.0 - df
        return np.where(q <= qd, peak, peak + (lo - peak) * (q - qd) / max(df, 1e-12))
    if kind == "inverse-sqrt":
        we = max(w, 1e-6)
        return np.maximum(lo, peak * np.sqrt(we / np.maximum(p, we)))
    raise ValueError(f"unknown schedule {kind!r}; allowed: {', '.join(SCHEDULE_KINDS)}")


def lr_at(
    kind: str,
    p: FloatArray,
    w: float,
    peak: float,
    lo: float,
    df: float = 0.1,
    *,
    warmup_at_peak: bool = False,
) -> FloatArray:
    """The learning rate at token fraction ``p``.

    Args:
        kind: one of ``SCHEDULE_KINDS``.
        p: token fractions (any shape), clipped to [0, 1].
        w: warmup fraction of the planned tokens.
        peak: the peak learning rate.
        lo: the floor the decay ends at.
        df: for WSD, the share of training spent decaying.
        warmup_at_peak: count warmup at the peak (what the loss law uses), not the ramp.
    """
    p = np.clip(np.asarray(p, dtype=np.float64), 0.0, 1.0)
    main = _after_warmup(kind, p, w, peak, lo, df)
    if w <= 0.0 or warmup_at_peak:
        return np.where(p < w, peak, main) if w > 0.0 else main
    return np.where(p < w, peak * np.minimum(p / w, 1.0), main)


def area(kind: str, p: FloatArray, w: float, peak: float, lo: float, df: float = 0.1) -> FloatArray:
    """Integral of the LR over token fraction from 0 to ``p``, warmup counted at the peak."""
    p = np.clip(np.asarray(p, dtype=np.float64), 0.0, 1.0)
    warm = peak * np.minimum(p, w)
    span = max(1.0 - w, 1e-12)
    q = _decay_position(p, w)
    if kind == "constant":
        main = peak * q * span
    elif kind == "linear":
        main = span * (peak * q + (lo - peak) * q * q / 2.0)
    elif kind == "cosine":
        main = span * (lo * q + (peak - lo) * 0.5 * (q + np.sin(np.pi * q) / np.pi))
    elif kind == "wsd":
        qd = 1.0 - df
        dfe = max(df, 1e-12)
        extra = np.maximum(q - qd, 0.0)
        main = span * (peak * q + (lo - peak) * extra * extra / (2.0 * dfe))
    elif kind == "inverse-sqrt":
        we = max(w, 1e-6)
        # peak*sqrt(we/x) meets the floor at x_f = we*(peak/lo)^2.
        # (a product, not ** 2: Python raises OverflowError on ** but gives inf on *).
        ratio = peak / lo if lo > 0 else np.inf
        xf = we * ratio * ratio
        x = np.maximum(p, we)
        xa = np.minimum(x, xf)
        decaying = 2.0 * peak * np.sqrt(we) * (np.sqrt(xa) - np.sqrt(we))
        floored = lo * np.maximum(x - xf, 0.0) if np.isfinite(xf) else 0.0 * x
        main = decaying + floored
        if w <= 0.0:
            # No warmup: the first ``we`` of training runs at the peak.
            main = main + peak * np.minimum(p, we)
    else:
        raise ValueError(f"unknown schedule {kind!r}; allowed: {', '.join(SCHEDULE_KINDS)}")
    return np.asarray(warm + main, dtype=np.float64)
