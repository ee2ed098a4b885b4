"""The simulator's predicted curve for a real run's recipe, as a band behind the real curve.

Public calls (the Training tab's views call these; all pure, no store, no Dash):

    band(config, steps=None, *, mode="raw", observed=None, window=None, metric="train",
         max_points=4000) -> Band
        The predicted loss at ``steps`` (the steps the run logs; a bounded grid when there
        are more than ``max_points`` or when ``steps`` is None), as centre, low and high.
    edited(config, guesses, edits) -> TrainingConfig
        ``config`` with the user's values for fields the recipe guess marked "assumed";
        ``EditError`` (field, message with the allowed range) for anything else.
    band_for_run(params, series, observed=None, *, mode="raw", edits=None, steps=None,
                 window=None, metric="train", max_points=4000)
        -> (Band, TrainingConfig, list[Guess])
        ``tracking.recipe.guess`` + ``edited`` + ``band`` in one call.

Steps: a trainer's logged step ``s`` counts completed optimizer steps, and its loss is
measured on step ``s``'s batch before that step's update, which is the simulator's step
index ``s - 1`` (``simulator.dynamics``: index ``i`` is measured before its update).

Averaging: most trainers log the mean loss of the ``k`` steps since the last log (HF Trainer
averages ``tr_loss`` over ``logging_steps``). The centre is the simulator's clean loss
(``dynamics.clean_loss``: no noise, no spikes) at the middle of that window, and the band is
two standard deviations of the *mean* of ``k`` steps' noise, ``dynamics.averaged_noise``:
the simulator's per-step noise (1.2% of the loss at a 4M-token batch, more for smaller ones,
``noise_scale``) is a Gaussian, which averages down as 1 / sqrt(k), plus a wobble on 64-step
knots, which only averages down once the window spans many knots. ``k`` defaults to the
median gap between logged steps; a source that logs one step's loss every ``k`` steps
(Lightning's ``*_step`` metrics) should pass ``window=1``.

Cost: one ``clean_loss`` evaluation per grid point (at most ``max_points``), whatever the
run's length; nothing simulates every step.

Modes:

- ``raw``: what the recipe alone says.
- ``anchored``: ``offset + scale * raw``, fitted on the observed points *just after
  warmup* (from the end of warmup over the next 10% of the planned steps, at least 5
  logged points). Why there: during warmup the loss falls from the untrained (or, for a
  fine-tune, the base model's) level at a pace set by a ramp the simulator only
  approximates, so those points say little about the level of the rest of the run; just
  after warmup the LR is at its peak and the run's own level (another dataset, tokenizer or
  base model: what the recipe cannot know) is already visible. Fitting there and nowhere
  later keeps the rest of the band an independent expectation, so a run that drifts away
  later (a bad schedule, a divergence) shows as leaving the band instead of being fitted
  away. The scale is the least-squares slope when the raw curve moves by more than three
  noise widths across the window (else the ratio of the means, a pure multiplicative
  scale), clamped to [0.1, 10].
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from simulator import dynamics
from simulator.config import FIELD_BOUNDS, ConfigError, TrainingConfig
from simulator.timeline import Timeline, build_timeline
from tracking.recipe import guess
from tracking.records import Guess, Series

Mode = Literal["raw", "anchored"]
Metric = Literal["train", "val"]
MODES: tuple[Mode, ...] = ("raw", "anchored")
MAX_POINTS = 4000
BAND_SIGMAS = 2.0  # the band spans +-2 standard deviations of the averaged noise (~95%)
ANCHOR_SPAN = 0.10  # anchored: fit over the 10% of the planned steps after warmup
ANCHOR_MIN_POINTS = 5
SCALE_RANGE = (0.1, 10.0)
MAX_EDITS = 64
Steps = npt.NDArray[np.int64]
Values = npt.NDArray[np.float64]


class EditError(ValueError):
    """A user's edit of the recipe was refused; ``field`` names it, the message says why and
    what is allowed."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name


@dataclass(frozen=True)
class Band:
    """The predicted loss at ``step`` (logged step numbers), centre and +-2 sigma band.

    ``window``: steps each value averages; ``offset``/``scale``: the anchored fit
    (0 and 1 for raw); ``fit_steps``: the first and last step of the points fitted (None
    for raw or when there were none); ``total_steps``: the recipe's planned steps.
    """

    step: Steps
    centre: Values
    low: Values
    high: Values
    mode: Mode
    metric: Metric
    window: int
    offset: float
    scale: float
    fit_steps: tuple[int, int] | None
    total_steps: int


def grid(steps: Steps | None, total_steps: int, max_points: int = MAX_POINTS) -> Steps:
    """The steps to evaluate: ``steps`` (sorted, unique) when at most ``max_points``, else
    ``max_points`` of them evenly spread by index (first and last kept); with no ``steps``,
    ``max_points`` steps from 1 to ``total_steps``, denser at the start where the loss moves
    fastest (half spread evenly, half geometrically)."""
    if max_points < 2:
        raise ValueError(f"max_points must be at least 2, got {max_points}")
    if steps is not None:
        s = np.unique(np.asarray(steps, dtype=np.int64))
        s = s[s >= 0]
        if s.size > max_points:
            s = s[np.unique(np.linspace(0, s.size - 1, max_points).round().astype(np.int64))]
        return s
    total = max(1, int(total_steps))
    half = max_points // 2
    lin = np.linspace(1, total, max_points - half)
    geo = np.geomspace(1, total, half)
    out: Steps = np.unique(np.concatenate([lin, geo]).round().astype(np.int64))
    return out


def logging_window(steps: Steps) -> int:
    """The median gap between logged steps (1 when fewer than two)."""
    s = np.unique(np.asarray(steps, dtype=np.int64))
    if s.size < 2:
        return 1
    return max(1, int(np.median(np.diff(s))))


def raw_curve(
    tl: Timeline, steps: Steps, window: int, metric: Metric = "train"
) -> tuple[Values, Values]:
    """Clean predicted loss at logged ``steps`` averaged over ``window`` steps (evaluated at
    the window's middle), and its relative noise (one sigma) for that window."""
    mid = np.asarray(steps, dtype=np.float64) - 1.0 - (window - 1) / 2.0
    idx: Steps = np.clip(np.round(mid), 0, max(0, tl.total_steps - 1)).astype(np.int64)
    order = np.argsort(idx, kind="stable")
    train, val = dynamics.clean_loss(tl, idx[order])
    chosen = train if metric == "train" else val
    out = np.empty_like(chosen)
    out[order] = chosen
    rel = dynamics.averaged_noise(float(tl.base.global_batch_tokens), window)
    return out, np.full(out.shape, rel)


def band(
    config: TrainingConfig,
    steps: Steps | None = None,
    *,
    mode: Mode = "raw",
    observed: Series | None = None,
    window: int | None = None,
    metric: Metric = "train",
    max_points: int = MAX_POINTS,
) -> Band:
    """The prediction for ``config`` at ``steps`` (see the module docstring).

    ``observed``: the run's points of the same metric (needed for ``anchored``; its steps
    are also the default ``steps`` and set the default ``window``). Anchored with no usable
    observed point falls back to raw (``fit_steps`` None says so).
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if metric not in ("train", "val"):
        raise ValueError(f"metric must be 'train' or 'val', got {metric!r}")
    tl = build_timeline(config)
    obs_steps = observed.step if observed is not None else None
    at = grid(steps if steps is not None else obs_steps, tl.total_steps, max_points)
    if window is None:
        window = logging_window(obs_steps) if obs_steps is not None else 1
    window = max(1, int(window))
    centre, rel = raw_curve(tl, at, window, metric)
    offset, scale, fit = 0.0, 1.0, None
    if mode == "anchored" and observed is not None:
        anchor = anchor_fit(tl, observed, window, metric)
        if anchor is not None:
            offset, scale, fit = anchor
            centre = offset + scale * centre
    half = BAND_SIGMAS * rel * np.abs(centre)
    return Band(
        step=at,
        centre=centre,
        low=centre - half,
        high=centre + half,
        mode=mode,
        metric=metric,
        window=window,
        offset=offset,
        scale=scale,
        fit_steps=fit,
        total_steps=tl.total_steps,
    )


def warmup_end(tl: Timeline) -> int:
    """The logged step at which warmup ends (0 without warmup)."""
    return min(tl.base.warmup_steps, tl.total_steps)


def anchor_fit(
    tl: Timeline, observed: Series, window: int, metric: Metric = "train"
) -> tuple[float, float, tuple[int, int]] | None:
    """(offset, scale, (first, last step fitted)) on the points just after warmup, or None
    when the run has no finite point."""
    ok = np.isfinite(observed.value)
    s, y = observed.step[ok], observed.value[ok]
    if s.size == 0:
        return None
    order = np.argsort(s, kind="stable")
    s, y = s[order], y[order]
    w_end = warmup_end(tl)
    span = max(1, int(ANCHOR_SPAN * tl.total_steps))
    pick = np.flatnonzero((s > w_end) & (s <= w_end + span))
    if pick.size < ANCHOR_MIN_POINTS:
        after = np.flatnonzero(s > w_end)
        pick = after[:ANCHOR_MIN_POINTS] if after.size else np.arange(min(s.size, 5))
    fs, fy = s[pick], y[pick]
    pred, rel = raw_curve(tl, fs, window, metric)
    offset, scale = _offset_scale(pred, fy, float(rel[0]))
    return offset, scale, (int(fs[0]), int(fs[-1]))


def _offset_scale(pred: Values, y: Values, rel: float) -> tuple[float, float]:
    lo, hi = SCALE_RANGE
    mp, my = float(pred.mean()), float(y.mean())
    moves = float(pred.max() - pred.min()) > 3.0 * rel * abs(mp)
    if moves and pred.size >= 3:
        dp = pred - mp
        scale = float(np.dot(dp, y - my) / np.dot(dp, dp))
    else:
        scale = my / mp if mp > 0 else 1.0
    scale = min(max(scale, lo), hi)
    return my - scale * mp, scale


# ----------------------------------------------------------------------------- edits
def editable(guesses: Sequence[Guess]) -> list[str]:
    """The fields a user may edit: those the guess marked ``assumed``."""
    return [g.field for g in guesses if g.provenance == "assumed"]


def edited(
    config: TrainingConfig, guesses: Sequence[Guess], edits: Mapping[str, Any]
) -> TrainingConfig:
    """``config`` with ``edits`` (field -> value) applied to its assumed fields.

    Raises ``EditError`` naming the field: not an assumed field (found and derived fields
    come from the run's own settings and curves), a number outside its range (the message
    gives the range), a value the simulator refuses (its reason), or a combination it
    refuses (e.g. warmup longer than the run).
    """
    if not isinstance(edits, Mapping):
        raise EditError("edits", "must be a mapping of field -> value")
    if len(edits) > MAX_EDITS:
        raise EditError("edits", f"{len(edits)} edits; at most {MAX_EDITS}")
    allowed = editable(guesses)
    known = {f.name for f in fields(TrainingConfig)}
    for name, value in edits.items():
        key = str(name)[:64]
        if key not in known:
            raise EditError(key, f"is not a recipe field; editable: {', '.join(allowed)}")
        if key not in allowed:
            g = next((g for g in guesses if g.field == key), None)
            why = f"{g.provenance} from {g.source}" if g else "not guessed"
            raise EditError(
                key,
                f"is {why}, not assumed; editable (assumed) fields: {', '.join(allowed)}",
            )
        if key in FIELD_BOUNDS and value is not None:
            kind, lo, hi = FIELD_BOUNDS[key]
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            if not number or not math.isfinite(value) or not lo <= value <= hi:
                whole = "a whole number" if kind.endswith("int") else "a number"
                raise EditError(key, f"{value!r:.40} is not allowed; {whole} from {lo:g} to {hi:g}")
    try:
        return config.with_changes(dict(edits))
    except ConfigError as exc:
        raise EditError(exc.field, f"{exc.value!r:.40} is not allowed; {exc.allowed}") from None


def band_for_run(
    params: Mapping[str, str],
    series: Sequence[Series],
    observed: Series | None = None,
    *,
    mode: Mode = "raw",
    edits: Mapping[str, Any] | None = None,
    steps: Steps | None = None,
    window: int | None = None,
    metric: Metric = "train",
    max_points: int = MAX_POINTS,
) -> tuple[Band, TrainingConfig, list[Guess]]:
    """Guess the run's recipe from ``params`` and ``series`` (as ``tracking.recipe.guess``
    takes them), apply the user's ``edits`` to its assumed fields, and predict ``observed``'s
    metric. Returns the band, the config used and the guesses (for showing provenance)."""
    config, guesses = guess(params, series)
    if edits:
        config = edited(config, guesses, edits)
    b = band(
        config,
        steps,
        mode=mode,
        observed=observed,
        window=window,
        metric=metric,
        max_points=max_points,
    )
    return b, config, guesses
