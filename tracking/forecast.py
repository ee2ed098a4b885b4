"""Where a real run will end: final train (and validation) loss with an interval, finish time
and cost, from the run's points up to a step only.

Public calls (views call these with the app's store; nothing here keeps state):

    forecast(store, run_id, until=None, *, target_step=None, metric=None, val_metric=None)
        -> Forecast
        From the points with step <= ``until`` (the newest when None). ``target_step``
        overrides the planned last step (``planned_steps``); without either, the forecast
        says why and holds no numbers.
    forecast_history(store, run_id, until=None, *, points=30, ...) -> list[Forecast]
        The forecast as it was at up to ``points`` steps up to ``until``, for a small chart
        of how it moved (steps with no forecast left out). One bounded read, then one fit
        per point.
    forecast_curve(step, value, target, *, config=None, window=None) -> CurveForecast
        The pure core on arrays (benchmarks and tests call it directly).

What "final loss" means: the mean of the logged values over the last 2% of the run's steps
(at least the last 3 points), so one noisy logged value does not decide it. The "last value"
baseline is the same mean over the last 2% of the steps seen.

Method (docs/forecast.md has the reasoning and the measured errors):

1. Points: at most ``FIT_POINTS`` of the train metric from the store's bucketed
   ``series`` (each bucket's extremes; every point of a short run), and at most
   ``READ_BUDGET`` (4,000) in all with the validation metric, the epoch counter and the
   recipe's curves, reduced to at most ``BINS`` medians over equal
   step bins, so a spike does not pull the fit. Only steps after warmup are fitted: the
   first steps fall at a pace set by the warmup ramp, not by the law the rest follows.
2. Four candidates, each fitted by least squares:
   - ``shape``: ``a + b * P(step)`` on every point after warmup, ``P`` the simulator's
     clean loss for the run's recipe (``tracking.prediction``) with the run's planned
     length. It knows the LR schedule: a cosine or linear decay lowers the loss in the last
     part of the run (annealing), which no curve fitted to the points seen so far can
     know. ``b`` is shrunk towards the pure scale ``mean(y) / mean(P)``.
   - ``saturating``: ``E + A * step^-alpha`` (alpha on a grid, E and A by linear least
     squares, both >= 0) and the plain power law ``A * step^-alpha``, both on the points
     after the first 10% of the steps seen.
   - ``epoch``: for a run whose logged ``epoch`` counter shows its epoch length
     (``epoch_clock``) and whose points cross at least one epoch boundary, the epoch law
     (``_epoch_law``): in log space, a power law within each epoch and a drop at each
     boundary that shrinks by a learned factor ``r <= 1`` from one epoch to the next
     (multi-epoch fine-tunes fall in steps as they see their data again).
3. Backtest: each candidate is fitted again on the points up to 40%, 50% and 60% of
   ``until`` (in steps, ``BACKTEST_CUTS``) and up to ``until^2 / target`` (at least 20%),
   and asked for the loss at ``until``; the root
   mean square ``e`` of its relative errors there sets its weight in the blend,
   ``1 / (e^2 + BLEND_TAU^2)``, and the interval. Only points up to ``until`` are used.
4. Interval: the blend's backtest error, scaled by the ratio of the forward horizon to the
   backtest's (in log steps), plus half the spread of the candidates, plus the noise of
   the binned points (``INTERVAL_*`` constants, calibrated on the fixtures and sample runs
   in benchmarks/bench_forecast.py); widened to hold the forecast with the other likely LR
   schedule when the run does not state its own (``_other_schedule``), and, for a
   multi-epoch run whose epoch law could not be fitted yet, down to ``UNSEEN_EPOCH_DROP``
   per epoch boundary ahead. Never below 0.

Cost: reads are bounded (``READ_BUDGET`` points in all, two chunks for the clock), and the
fits run on at most ``BINS`` points, so a 1M-step run costs what a 10k-step one does.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from simulator.config import MAX_STEPS, ConfigError, TrainingConfig
from simulator.estimate import estimate
from simulator.timeline import build_timeline
from tracking import prediction
from tracking.recipe import guess
from tracking.recipe.settings import Settings, base_name
from tracking.recipe_params import CURVES, settings_only
from tracking.records import Guess, Series
from tracking.run_clock import StepRate, step_rate
from tracking.store import Store

Steps = npt.NDArray[np.int64]
Values = npt.NDArray[np.float64]

FIT_POINTS = 2000
"""Points of the train metric read: a run of any length is read as at most this many."""
VAL_POINTS = 600
EPOCH_POINTS = 400
CURVE_BUDGET = 1000
"""Points shared by the recipe's curves (LR, token and step counters), at least
``CURVE_MIN`` each, for at most ``MAX_CURVES`` of them."""
CURVE_MIN = 50
MAX_CURVES = 20
READ_BUDGET = FIT_POINTS + VAL_POINTS + EPOCH_POINTS + CURVE_BUDGET
"""The most points one forecast reads from the store's series (4,000), at any run length.
The step rate decodes at most two more chunks' wall times (``tracking/run_clock.py``)."""
BINS = 200
MIN_POINTS = 4
"""Fewest points after warmup a forecast needs."""
FINAL_SHARE = 0.02
FINAL_MIN_POINTS = 3
PRIOR_SCALE = 0.5
"""The shape's slope prior: the pure scale, give or take half of it."""
ALPHAS = np.geomspace(0.02, 2.0, 48)
INTERVAL_BACKTEST = 1.5
INTERVAL_SPREAD = 0.5
INTERVAL_FLOOR = 0.003
HISTORY_POINTS = 30
BACKTEST_CUTS = (0.4, 0.5, 0.6)
"""The backtest fits each candidate on the points up to these shares of ``until`` and asks
for the loss at ``until``: three splits instead of one, since a single split of a noisy run
picks a candidate by luck about as often as by merit (on the tuned sample runs, one split at
half: 6.3% / 6.1% mean error from 25% / 50%; these three: 6.0% / 5.9%). A fourth cut
matches the forecast's own reach: fitted up to ``until * until / target``, a candidate
extrapolates to ``until`` by the ratio the forecast extrapolates to ``target`` (from 25%
of a run, a fourfold reach that the cuts at 40-60% do not test; tuned runs from 25%: 6.0%
-> 5.3%, from 50% unchanged)."""
MATCHED_CUT_MIN = 0.2
BLEND_TAU = 0.05
"""Backtest errors below about this count for little in the blend: three splits of a noisy
run are too small a sample to trust a 1% against a 3% error."""
TRAIN_NAMES = ("loss", "train_loss", "trl", "lm loss", "lm_loss", "train_loss_step", "train/loss")
VAL_NAMES = (
    "eval_loss",
    "val_loss",
    "tel",
    "validation_loss",
    "valid_loss",
    "val loss",
    "test_loss",
)
EPOCH_NAMES = ("epoch",)
TOTAL_STEP_NAMES = ("total_steps",)
ENDED = ("finished", "failed")


@dataclass(frozen=True)
class CurveForecast:
    """One metric's forecast at ``target``: ``value`` with ``low``..``high``; the baselines
    ``last_value`` and ``power_law`` (a plain ``A * step^-alpha``); the candidates ``shape``,
    ``saturating`` and ``epoch`` (None when not available) and their blend ``weights``
    (shape, saturating, power law, epoch)."""

    value: float
    low: float
    high: float
    last_value: float
    power_law: float | None
    shape: float | None
    saturating: float | None
    weights: tuple[float, ...]
    points: int
    epoch: float | None = None


@dataclass(frozen=True)
class Forecast:
    """A run's forecast from the points up to ``step``.

    ``final_loss``/``low``/``high`` (and ``val_*``) are None when nothing could be forecast;
    ``reason`` then says why. ``finish_time`` is Unix seconds (None without wall times),
    ``cost`` in US dollars of the whole run at the measured step rate (None unless the GPU
    model and count are stated in the run's settings). ``points_read`` counts the points the
    store returned (at most ``READ_BUDGET`` at any run length). ``power_law``,
    ``shape``, ``saturating`` and ``epoch_law`` are the candidates (None when not
    available); ``final_loss`` is their blend (``method`` gives the weights).
    """

    run_id: str
    step: int | None
    target_step: int | None
    target_source: str
    metric: str | None
    final_loss: float | None = None
    low: float | None = None
    high: float | None = None
    last_value: float | None = None
    power_law: float | None = None
    shape: float | None = None
    saturating: float | None = None
    val_metric: str | None = None
    val_final_loss: float | None = None
    val_low: float | None = None
    val_high: float | None = None
    finish_time: float | None = None
    steps_per_second: float | None = None
    cost: float | None = None
    gpu_hours: float | None = None
    method: str = ""
    reason: str = ""
    points_read: int = 0
    epoch_law: float | None = None


# ----------------------------------------------------------------------------- pure core
def final_value(step: Steps, value: Values, end: int | None = None) -> float:
    """Mean of the finite values over the last ``FINAL_SHARE`` of the steps up to ``end``
    (the last step when None), at least the last point; NaN when there is none."""
    ok = np.isfinite(value)
    if end is not None:
        ok &= step <= end
    s, y = step[ok], value[ok]
    if s.size == 0:
        return math.nan
    last = int(s.max()) if end is None else end
    inside = s >= last - FINAL_SHARE * last
    if inside.sum() < FINAL_MIN_POINTS:
        inside = np.zeros(s.size, dtype=bool)
        inside[np.argsort(s, kind="stable")[-FINAL_MIN_POINTS:]] = True
    return float(y[inside].mean())


def _bins(step: Steps, value: Values) -> tuple[Values, Values]:
    """Median value per equal step bin (at most ``BINS``), at the bin's mean step."""
    if step.size <= BINS:
        return step.astype(np.float64), value
    edges = np.linspace(float(step[0]), float(step[-1]) + 1.0, BINS + 1)
    which = np.searchsorted(edges, step, side="right") - 1
    xs, ys = [], []
    for b in np.unique(which):
        sel = which == b
        xs.append(float(step[sel].mean()))
        ys.append(float(np.median(value[sel])))
    return np.array(xs), np.array(ys)


def _saturating(x: Values, y: Values) -> tuple[float, float, float] | None:
    """Best (E, A, alpha) of E + A x^-alpha on the alpha grid, E and A >= 0."""
    best: tuple[float, float, float, float] | None = None
    for alpha in ALPHAS:
        f = x**-alpha
        fm, ym = f.mean(), y.mean()
        df = f - fm
        denom = float(np.dot(df, df))
        if denom <= 0:
            continue
        a = max(0.0, float(np.dot(df, y - ym)) / denom)
        e = ym - a * fm
        if e < 0:
            e, a = 0.0, max(0.0, float(np.dot(f, y)) / float(np.dot(f, f)))
        sse = float(np.sum((y - e - a * f) ** 2))
        if best is None or sse < best[0]:
            best = (sse, e, a, float(alpha))
    return None if best is None else best[1:]


def _plain_power(x: Values, y: Values, target: float) -> float | None:
    ok = (x > 0) & (y > 0)
    if ok.sum() < 2:
        return None
    lx, ly = np.log(x[ok]), np.log(y[ok])
    if float(lx.max() - lx.min()) <= 0:
        return None
    slope, icpt = np.polyfit(lx, ly, 1)
    return float(math.exp(icpt + slope * math.log(target)))


class _Shape:
    """``a + b * P(step)`` with ``P`` the recipe's clean loss at the run's planned length."""

    def __init__(self, config: TrainingConfig, window: int, metric: prediction.Metric) -> None:
        self.tl = build_timeline(config)
        self.window = window
        self.metric = metric

    def curve(self, x: Values) -> Values:
        steps = np.round(x).astype(np.int64)
        return prediction.raw_curve(self.tl, steps, self.window, self.metric)[0]

    def fit(self, x: Values, y: Values, target: float) -> float | None:
        """Least squares for ``b`` shrunk towards ``ym / pm`` (a pure scale): when the
        recipe's curve barely moves across the points seen, their noise cannot set the
        slope, and an unbounded slope would be extrapolated to the end."""
        p = self.curve(x)
        pt = float(self.curve(np.array([target]))[0])
        pm, ym = float(p.mean()), float(y.mean())
        prior = ym / pm if pm > 0 else 1.0
        dp = p - pm
        denom = float(np.dot(dp, dp))
        sigma2 = _noise_var(y)
        if denom > 1e-12:
            b_ols = float(np.dot(dp, y - ym)) / denom
            w_data = denom / max(sigma2, 1e-12)
            w_prior = 1.0 / (PRIOR_SCALE * prior) ** 2
            b = (b_ols * w_data + prior * w_prior) / (w_data + w_prior)
        else:
            b = prior
        b = min(max(b, 0.05), 20.0)
        return ym + b * (pt - pm)


EPOCH_RATIOS = np.geomspace(0.5, 1.0, 16)
"""The per-epoch decay ``r`` of the epoch law's drop at each boundary, on a grid. Never
above 1: a drop that grew from epoch to epoch (a run that starts to memorise faster, like a
25-epoch QLoRA run's) would be extrapolated into a collapse to zero over the epochs left,
and when that growth stops is not in the points seen."""
UNSEEN_EPOCH_DROP = 0.6
"""Before a multi-epoch run's first epoch boundary, nothing in its points shows how far its
loss will drop at the boundaries to come (a memorising fine-tune: to 60% of itself at each,
the largest drop in the sample runs; a large data set: hardly at all). The interval's low
end is widened to this share per boundary ahead, so that it stays honest."""
EPOCH_RATIO_PRIOR = 0.15
"""Prior sd of ``log r``: with only one boundary seen, ``r`` is not in the data and the drop
is carried forward unchanged (``r = 1``); more boundaries move it as far as they show."""


@dataclass(frozen=True)
class EpochClock:
    """Where a run's epoch boundaries fall: at ``first + j * steps`` for whole ``j >= 0``."""

    steps: float
    first: float

    def crossed(self, x: Values) -> Values:
        """Boundaries crossed at each step (0 in the first epoch)."""
        return np.maximum(0.0, np.floor((x - self.first) / self.steps) + 1.0)


def epoch_clock(epoch: Series | None) -> EpochClock | None:
    """The epoch boundaries a logged ``epoch`` counter shows, or None.

    A fractional counter (HF Trainer's ``epoch``: steps / steps per epoch) gives the steps
    per epoch from its last point; boundaries fall at whole multiples. A whole-number
    counter (Lightning's 0-based ``epoch``, or one logged once an epoch) changes value at
    the boundaries: the steps per epoch is the median gap between its changes, and the
    boundaries are placed on the first change. None when the counter shows no epoch length
    (all one value, or not increasing)."""
    if epoch is None or not len(epoch):
        return None
    ok = np.isfinite(epoch.value) & (epoch.step > 0)
    st, v = epoch.step[ok].astype(np.float64), epoch.value[ok]
    if st.size == 0:
        return None
    if not np.all(v == np.round(v)):
        i = int(np.argmax(v))
        if v[i] <= 0:
            return None
        per = float(st[i] / v[i])
        return EpochClock(per, per) if per >= 1 else None
    vals, index = np.unique(v, return_index=True)
    if vals.size < 2:
        return None
    at = st[index]
    gaps = np.diff(at) / np.diff(vals)
    if np.any(gaps <= 0):
        return None
    per = float(np.median(gaps))
    if per < 1:
        return None
    # The first change is a boundary; so is each whole epoch before it, past half an epoch
    # (a counter logged once an epoch first shows up at the end of the first epoch).
    return EpochClock(per, float(at[1]) - per * math.floor((float(at[1]) - per / 2) / per))


def _epoch_law(
    x: Values, y: Values, at: float, clock: EpochClock
) -> tuple[float, float, float, float] | None:
    """Fit ``log y = c - alpha log step - m * S_r(k)`` and give (forecast at ``at``, c,
    alpha, m); None when the points cross no epoch boundary or ``at`` lies in their epoch.

    ``k`` counts the epoch boundaries crossed and ``S_r(k) = 1 + r + ... + r^(k-1)``: at
    each boundary a multi-epoch run's loss drops as the model sees data it has seen (a
    memorising fine-tune: 2.5 -> 0.13 over four epochs), by ``m`` at the first and ``r``
    times the previous drop at each later one; within an epoch it follows a power law. In
    log space, so a loss falling towards zero stays above it. ``alpha >= 0``, ``m >= 0``
    (no boundary raises a train loss); ``r`` on ``EPOCH_RATIOS`` with a prior towards 1."""
    ok = (x > 0) & (y > 0)
    x, ly = x[ok], np.log(y[ok])
    if x.size < MIN_POINTS:
        return None
    k = clock.crossed(x)
    k_at = float(clock.crossed(np.array([at]))[0])
    if k.max() < 1 or (k >= 1).sum() < 3 or k_at < 1:
        return None
    sigma2 = max(_noise_var(ly), 1e-8)
    lx = np.log(x)
    best: tuple[float, ...] | None = None
    for r in EPOCH_RATIOS:
        cum = _cum(k, float(r))
        a = np.column_stack([np.ones_like(lx), -lx, -cum, -x / clock.steps])
        coef = _nonneg_lsq(a, ly)
        sse = float(np.sum((ly - a @ coef) ** 2))
        score = sse / sigma2 + (math.log(r) / EPOCH_RATIO_PRIOR) ** 2
        if best is None or score < best[0]:
            best = (score, float(r), *(float(v) for v in coef))
    assert best is not None
    _, r, c, alpha, m, g = best
    # The final value is a mean over the last FINAL_SHARE of the steps.
    xs = np.linspace(at - FINAL_SHARE * at, at, 5)
    pred = np.exp(c - alpha * np.log(xs) - m * _cum(clock.crossed(xs), r) - g * xs / clock.steps)
    return float(pred.mean()), c, alpha, m


def _cum(k: Values, r: float) -> Values:
    """``1 + r + ... + r^(k-1)`` (0 for k = 0)."""
    if abs(r - 1.0) < 1e-12:
        return k
    out: Values = (1.0 - r**k) / (1.0 - r)
    return out


def _nonneg_lsq(a: Values, b: Values) -> Values:
    """Least squares with every coefficient but the first >= 0 (the few columns here are
    tried dropped in turn)."""
    n = a.shape[1]
    best: Values | None = None
    best_sse = math.inf
    for mask in range(1 << (n - 1)):
        cols = [0] + [j for j in range(1, n) if not mask >> (j - 1) & 1]
        coef = np.zeros(n)
        sol, *_ = np.linalg.lstsq(a[:, cols], b, rcond=None)
        coef[cols] = sol
        if np.any(coef[1:] < 0):
            continue
        sse = float(np.sum((b - a @ coef) ** 2))
        if sse < best_sse:
            best, best_sse = coef, sse
    assert best is not None
    return best


def _noise_var(y: Values) -> float:
    """Variance of the noise about a smooth curve, from successive differences."""
    if y.size < 3:
        return 0.0
    return float(np.median(np.abs(np.diff(y))) / 0.954) ** 2 / 2.0


def forecast_curve(
    step: Steps,
    value: Values,
    target: int,
    *,
    config: TrainingConfig | None = None,
    window: int | None = None,
    metric: prediction.Metric = "train",
    epochs: EpochClock | None = None,
) -> CurveForecast | None:
    """Forecast the final value (``final_value``'s definition) at ``target`` from these
    points (all are used: truncate to ``until`` first). ``config``: the run's recipe with its
    planned length, for the ``shape`` candidate (None: the power law alone). None when fewer
    than ``MIN_POINTS`` finite points lie after warmup."""
    ok = np.isfinite(value)
    order = np.argsort(step[ok], kind="stable")
    s, y = step[ok][order], value[ok][order]
    if s.size == 0:
        return None
    until = int(s[-1])
    now = final_value(s, y)
    if target <= until:
        return CurveForecast(now, now, now, now, None, None, None, (0.0,) * 4, int(s.size))
    if window is None:
        window = prediction.logging_window(s)
    shape = None
    warmup = 0
    if config is not None:
        shape = _Shape(config, window, metric)
        warmup = prediction.warmup_end(shape.tl)
    x, yb = _bins(s, y)
    warm = (x > warmup) & (x >= 1.0)
    if warm.sum() < MIN_POINTS:
        warm = x >= 1.0
        if warm.sum() < MIN_POINTS:
            return None
    xw, yw = x[warm], yb[warm]

    def power_part(xx: Values, yy: Values, end: float) -> tuple[Values, Values]:
        """The points the power laws fit: after the first 10% of the steps seen (a power
        law describes the slow part of the curve, not the first fall)."""
        late = xx >= max(0.1 * end, float(xx[0]))
        if late.sum() < MIN_POINTS:
            late = np.ones(xx.size, dtype=bool)
        return xx[late], yy[late]

    xf, yf = power_part(xw, yw, until)
    plain = _plain_power(xf, yf, target)

    def candidates(xx: Values, yy: Values, at: float) -> list[float | None]:
        """Shape on every point after warmup (the recipe's curve models the early fall
        too, and the longer lever pins its scale); power laws on the later part."""
        px, py = power_part(xx, yy, float(xx[-1]))
        sat = _saturating(px, py)
        f_sat = None if sat is None else sat[0] + sat[1] * at ** -sat[2]
        fit = shape.fit(xx, yy, at) if shape is not None else None
        f_shape = None if fit is None else max(0.0, fit)
        law = _epoch_law(px, py, at, epochs) if epochs is not None else None
        f_epoch = None if law is None else law[0]
        return [f_shape, f_sat, _plain_power(px, py, at), f_epoch]

    fs = candidates(xw, yw, float(target))
    # Backtest: fit on the points up to each cut (a share of ``until``), predict the loss
    # at ``until``; a candidate's error is the root mean square over the cuts it could fit.
    sq: list[list[float]] = [[] for _ in fs]
    cut = max(float(xw[0]), until / 2.0)  # the middle cut sets the interval's horizon ratio
    # And at the cut from which ``until`` is as far (in ratio) as ``target`` is from it.
    for share in (*BACKTEST_CUTS, max(MATCHED_CUT_MIN, until / target)):
        c_at = max(float(xw[0]), until * share)
        early = xw <= c_at
        if early.sum() < MIN_POINTS or c_at >= until or now == 0:
            continue
        for i, f in enumerate(candidates(xw[early], yw[early], float(until))):
            if f is not None:
                sq[i].append(((f - now) / abs(now)) ** 2)
    errors: list[float | None] = [math.sqrt(sum(e) / len(e)) if e else None for e in sq]
    noise = _noise(yf, now)
    weights = [0.0] * len(fs)
    for i, f in enumerate(fs):
        if f is None or not math.isfinite(f):
            continue
        e = errors[i]
        weights[i] = 1.0 / ((e if e is not None else 0.05) ** 2 + noise**2 + BLEND_TAU**2)
    total = sum(weights)
    if total <= 0:
        return None
    blend = sum(w * f for w, f in zip(weights, fs, strict=True) if f is not None) / total
    bt = [abs(e) for e in errors if e is not None]
    bt_err = (
        sum(w * abs(e) for w, e in zip(weights, errors, strict=True) if e is not None) / total
        if bt
        else 0.05
    )
    horizon = math.log(target / until) / math.log(until / cut) if cut < until else 1.0
    used = [f for f, w in zip(fs, weights, strict=True) if f is not None and w > 0]
    spread = (max(used) - min(used)) / abs(blend) if len(used) > 1 else 0.0
    rel = INTERVAL_BACKTEST * bt_err * horizon + INTERVAL_SPREAD * spread + 2 * noise
    rel = max(rel, INTERVAL_FLOOR)
    half = rel * abs(blend)
    f_shape, f_sat, _, f_epoch = fs
    return CurveForecast(
        value=float(blend),
        low=float(max(0.0, blend - half)),
        high=float(blend + half),
        last_value=now,
        power_law=plain,
        shape=f_shape,
        saturating=f_sat,
        weights=tuple(w / total for w in weights),
        points=int(s.size),
        epoch=f_epoch,
    )


def _noise(y: Values, level: float) -> float:
    """Relative noise of the binned values (median absolute successive difference)."""
    if y.size < 3 or level == 0:
        return 0.0
    return float(np.median(np.abs(np.diff(y)))) / math.sqrt(2) / abs(level) / math.sqrt(y.size)


# ----------------------------------------------------------------------------- the store
def pick_metric(metrics: Sequence[tuple[str, int]], names: Sequence[str]) -> str | None:
    """The metric whose last name part (or whole name) is first in ``names``; among several,
    the one with the most points (HF's one-point ``train_loss`` summary loses to ``loss``)."""
    best: tuple[int, int, str] | None = None
    for metric, count in metrics:
        for rank, name in enumerate(names):
            if metric.lower() == name or base_name(metric) == name:
                key = (-count if count > 1 else 0, rank, metric)
                if count > 1 and (best is None or key < best):
                    best = key
                break
    return None if best is None else best[2]


@dataclass(frozen=True)
class _Run:
    """What a forecast needs of a run, read once (bounded)."""

    run_id: str
    params: dict[str, str]
    status: str
    train: Series | None
    val: Series | None
    curves: list[Series]
    epoch: Series | None
    total: Series | None
    rate: StepRate | None
    points_read: int
    last_step: int | None  # the train metric's last stored step (past ``until`` too)


def _read(
    store: Store, run_id: str, until: int | None, metric: str | None, val_metric: str | None
) -> _Run | None:
    info = store.run(run_id)
    if info is None:
        return None
    infos = store.metrics(run_id)
    counts = [(m.metric, m.points) for m in infos]
    metric = metric or pick_metric(counts, TRAIN_NAMES)
    val_metric = val_metric or pick_metric(counts, VAL_NAMES)
    read = 0

    def series(name: str | None, points: int = FIT_POINTS) -> Series | None:
        nonlocal read
        if name is None or name not in info.metrics:
            return None
        c = store.series(run_id, name, stop=until, points=points)
        read += len(c)
        return Series(name, c.step, c.value, np.full(len(c), math.nan))

    curves: list[Series] = []
    shaped = [m.metric for m in infos if base_name(m.metric) in CURVES][:MAX_CURVES]
    per_curve = max(CURVE_MIN, CURVE_BUDGET // max(1, len(shaped)))
    for m in infos:
        if m.first_step is None or m.last_step is None:
            continue
        if base_name(m.metric) in CURVES:
            if m.metric not in shaped:
                continue
            c = series(m.metric, per_curve)
            if c is not None and len(c):
                curves.append(c)
        elif until is None or m.first_step <= until:
            last = m.last_step if until is None else min(m.last_step, until)
            curves.append(
                Series(
                    m.metric,
                    np.array([m.first_step, last]),
                    np.full(2, math.nan),
                    np.full(2, math.nan),
                )
            )
    epoch = next(
        (series(m.metric, EPOCH_POINTS) for m in infos if base_name(m.metric) in EPOCH_NAMES),
        None,
    )
    total = next((c for c in curves if base_name(c.metric) in TOTAL_STEP_NAMES), None)
    rate = step_rate(store, run_id, metric, until) if metric else None
    return _Run(
        run_id,
        store.params(run_id),
        info.status,
        series(metric),
        series(val_metric, VAL_POINTS) if val_metric != metric else None,
        curves,
        epoch,
        total,
        rate,
        read,
        next((m.last_step for m in infos if m.metric == metric), None),
    )


def planned_steps(
    params: Mapping[str, str], epoch: Series | None = None, total: Series | None = None
) -> tuple[int, str] | None:
    """The run's planned last step and where it was found: a stated total (``max_steps``,
    ``train_iters``, ... ``settings.ALIASES['total_steps']``), a logged ``total_steps``
    counter, or the stated number of epochs x the steps per epoch the logged ``epoch``
    counter shows. None when none of these says."""
    s = Settings(settings_only(params))
    stated = s.whole("total_steps")
    if stated:
        return stated[1], f"stated: {stated[0]}"
    if total is not None and len(total):
        ok = np.isfinite(total.value) & (total.value > 0)
        if ok.any():
            return int(total.value[ok][-1]), f"logged `{total.metric}`"
    epochs = s.number("epochs")
    if epochs and epoch is not None and len(epoch):
        ok = np.isfinite(epoch.value) & (epoch.value > 0) & (epoch.step > 0)
        clock = epoch_clock(epoch)
        if clock is not None or ok.any():
            # A whole-number counter (Lightning's is 0-based) gives its epoch length by the
            # gaps between its changes, not by step / value.
            if clock is not None:
                per_epoch = clock.steps
            else:
                i = np.flatnonzero(ok)[-1]
                per_epoch = float(epoch.step[i]) / float(epoch.value[i])
            steps = round(epochs[1] * per_epoch)
            return steps, (
                f"{epochs[0]} ({epochs[1]:g}) x {per_epoch:,.1f} steps per epoch "
                f"(logged `{epoch.metric}`)"
            )
    return None


def _config(run: _Run, plan: int) -> tuple[TrainingConfig, list[Guess]] | None:
    """The run's recipe guessed from its settings and its curves up to ``until``, with the
    planned length; None when the simulator cannot hold it (longer than ``MAX_STEPS``)."""
    if plan > MAX_STEPS:
        return None
    config, guesses = guess(settings_only(run.params), run.curves)
    tokens = plan * config.global_batch_tokens / config.epochs
    try:
        return config.with_changes({"dataset_tokens": tokens}), guesses
    except ConfigError:
        return None


def _other_schedule(
    config: TrainingConfig | None, guesses: Sequence[Guess]
) -> TrainingConfig | None:
    """When the run does not state its LR schedule, the recipe with the other likely one
    (a decay to zero for a constant or not yet decaying LR, constant for an assumed decay):
    the interval is widened to hold its forecast's interval too, since a decay still to come (a WSD
    run's last 10%) lowers the end by several percent and nothing seen so far shows it."""
    if config is None:
        return None
    if any(g.field == "schedule" and g.provenance == "found" for g in guesses):
        return None
    change: dict[str, object] = (
        {"schedule": "wsd", "lr_min": 0.0}
        if config.schedule == "constant"
        else {"schedule": "constant", "lr_min": config.lr_peak}
    )
    try:
        return config.with_changes(change)
    except ConfigError:
        return None


def _known_hardware(guesses: Sequence[Guess]) -> bool:
    found = {g.field for g in guesses if g.provenance != "assumed"}
    return {"gpu", "num_gpus"} <= found


def _truncate(s: Series | None, until: int) -> Series | None:
    if s is None:
        return None
    keep = s.step <= until
    return Series(s.metric, s.step[keep], s.value[keep], s.time[keep])


def _from_run(run: _Run, until: int | None, target_step: int | None) -> Forecast:
    base = Forecast(run.run_id, None, None, "", run.train.metric if run.train else None)
    train = run.train
    if train is None:
        names = ", ".join(TRAIN_NAMES)
        return replace(base, reason=f"the run has no train-loss metric ({names}); pass metric=")
    if until is not None:
        train = _truncate(train, until)
        assert train is not None
    ok = np.isfinite(train.value)
    if not ok.any():
        return replace(base, reason=f"no finite `{train.metric}` point up to step {until}")
    step_now = int(train.step[ok].max())
    base = replace(base, step=step_now, points_read=run.points_read)
    epoch = _truncate(run.epoch, step_now)
    plan = planned_steps(run.params, epoch, _truncate(run.total, step_now))
    ended = run.status in ENDED
    last_logged = run.last_step if run.last_step is not None else step_now
    if target_step is not None:
        target, source = target_step, "given"
    elif plan is not None:
        target, source = plan
    elif ended and last_logged > step_now:
        target, source = last_logged, f"the run is {run.status}: its last logged step"
    else:
        return replace(
            base,
            target_source="unknown",
            reason=(
                "the run's planned length is unknown: no max_steps / train_iters / "
                "num_iterations setting, no total_steps counter, no epochs setting with a "
                "logged epoch counter, and the run is not finished; nothing is forecast"
            ),
        )
    schedule_len = plan[0] if plan is not None else target
    made = _config(run, max(schedule_len, target, step_now))
    config, guesses = made if made is not None else (None, [])
    window = prediction.logging_window(train.step)
    clock = epoch_clock(epoch)
    fc = forecast_curve(train.step, train.value, target, config=config, window=window, epochs=clock)
    base = replace(base, target_step=target, target_source=source)
    if fc is None:
        return replace(base, reason=f"too few points after warmup (at least {MIN_POINTS})")
    other = _other_schedule(config, guesses)
    if other is not None:
        alt = forecast_curve(
            train.step, train.value, target, config=other, window=window, epochs=clock
        )
        if alt is not None:
            fc = replace(fc, low=min(fc.low, alt.low), high=max(fc.high, alt.high))
    unseen = _unseen_boundaries(clock, step_now, target) if fc.epoch is None else 0
    if unseen:
        fc = replace(fc, low=min(fc.low, fc.value * UNSEEN_EPOCH_DROP**unseen))
    out = replace(
        base,
        final_loss=fc.value,
        low=fc.low,
        high=fc.high,
        last_value=fc.last_value,
        power_law=fc.power_law,
        shape=fc.shape,
        saturating=fc.saturating,
        epoch_law=fc.epoch,
        method=_method(fc, config is not None),
    )
    val = _truncate(run.val, step_now)
    if val is not None and np.isfinite(val.value).sum() >= MIN_POINTS:
        vf = forecast_curve(val.step, val.value, target, config=config, window=1, metric="val")
        if vf is not None:
            out = replace(
                out,
                val_metric=val.metric,
                val_final_loss=vf.value,
                val_low=vf.low,
                val_high=vf.high,
            )
    if run.rate is not None and run.rate.last_step <= step_now:
        r = run.rate
        finish = r.last_time + (target - r.last_step) / r.steps_per_second
        out = replace(out, finish_time=finish, steps_per_second=r.steps_per_second)
        if config is not None and _known_hardware(guesses):
            price = estimate(config).price_per_gpu_hour
            hours = config.num_gpus * target / r.steps_per_second / 3600.0
            out = replace(out, gpu_hours=hours, cost=hours * price)
    return out


def _unseen_boundaries(clock: EpochClock | None, now: int, target: int) -> int:
    """Epoch boundaries between ``now`` and ``target`` (call it when the epoch law had too
    few points past a boundary to learn the drop from)."""
    if clock is None:
        return 0
    k = clock.crossed(np.array([float(now), float(target)]))
    return int(k[1] - k[0])


def _method(fc: CurveForecast, has_shape: bool) -> str:
    w_shape, w_sat, w_plain, w_epoch = fc.weights
    parts = [f"saturating power law {w_sat:.0%}", f"power law {w_plain:.0%}"]
    if has_shape:
        parts.insert(0, f"recipe shape {w_shape:.0%}")
    if fc.epoch is not None:
        parts.append(f"epoch law {w_epoch:.0%}")
    return f"blend: {', '.join(parts)} (weights from backtests on the steps seen)"


def forecast(
    store: Store,
    run_id: str,
    until: int | None = None,
    *,
    target_step: int | None = None,
    metric: str | None = None,
    val_metric: str | None = None,
) -> Forecast | None:
    """The run's forecast from its points up to ``until``; None for an unknown run."""
    run = _read(store, run_id, until, metric, val_metric)
    if run is None:
        return None
    return _from_run(run, until, target_step)


def forecast_history(
    store: Store,
    run_id: str,
    until: int | None = None,
    *,
    points: int = HISTORY_POINTS,
    target_step: int | None = None,
    metric: str | None = None,
    val_metric: str | None = None,
) -> list[Forecast]:
    """The forecast at up to ``points`` steps evenly spread over the run's steps up to
    ``until``, oldest first (empty for an unknown run). The run is read once up to
    ``until`` and each forecast uses only the part of that read up to its own step. Steps
    where nothing could be forecast (too few points yet, no planned length) are left out."""
    if not 1 <= points <= 100:
        raise ValueError(f"points must be from 1 to 100, got {points}")
    run = _read(store, run_id, until, metric, val_metric)
    if run is None or run.train is None or not len(run.train):
        return []
    steps = np.unique(run.train.step)
    at = np.unique(steps[np.linspace(0, steps.size - 1, min(points, steps.size)).astype(int)])
    out = []
    for u in at.tolist():
        curves = [c for c in (_truncate(c, u) for c in run.curves) if c is not None and len(c)]
        out.append(_from_run(replace(run, curves=curves), int(u), target_step))
    return [f for f in out if f.final_loss is not None]
