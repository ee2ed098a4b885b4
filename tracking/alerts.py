"""Alert detectors: pure functions from a run's new points (plus a bounded trailing window)
and the state the previous pass left, to the alerts that opened or closed.

``evaluate(new, history, state, context)`` is the one entry point; ``tracking.alerting``
reads its inputs from the store and writes what it returns. Nothing here keeps anything
between calls: the whole memory is the JSON-ready ``state`` dict, stored with the run, so any
process continuing the evaluation (another gunicorn worker, a restarted watcher) gets the
same result.

Every detector turns the new points into a boolean *condition* per point; ``_track`` then
applies hysteresis: an alert opens once the condition has held for ``open_points`` points
(and ``open_seconds`` of wall time, for the rate detectors) and closes once it has been
clear for ``close_points`` points (and ``close_seconds``). A noisy stretch above a threshold
is one alert, not one a step. Work is O(new points + window): the trailing window is at most
``WINDOW`` points a metric, and medians are recomputed every ``STRIDE`` points, not every
point.

Detectors (``kind``): ``nan`` (NaN or Inf in any metric), ``grad_norm`` (gradient norm
exploding), ``loss_scale`` (a mixed-precision loss scale collapsing), ``loss_spike``,
``above_band`` (loss above the predicted band), ``throughput`` (down for minutes),
``lr_schedule`` (logged LR leaves the recipe's schedule), ``eta_drift`` (step rate off the
estimate). A stalled run gets no data, so it cannot be found here: ``stalled`` is a pure
function of the last update, the logging interval and now, evaluated when runs are listed.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np
import numpy.typing as npt

from simulator.schedules import lr_at
from tracking import metric_names
from tracking.records import Series

Bools = npt.NDArray[np.bool_]
Floats = npt.NDArray[np.float64]
State = dict[str, Any]

# ----------------------------------------------------------------------------- constants
WINDOW = 256
"""Trailing points a median is taken over: a few hundred logged steps is the "recent" a
reader of the curve means, and 256 keeps a pass's medians cheap."""
STRIDE = 32
"""A trailing median is recomputed every 32 points, not every point: a spike is far above
any of them, and 1,000 new points then cost 32 medians instead of 1,000."""
MIN_BASELINE = 16
"""Finite points a trailing median needs before it is trusted (the first steps of a run
move too fast to call anything a spike)."""
SPIKE_K = 6.0
"""Median absolute deviations (scaled to a normal's sigma, x1.4826) a loss must rise above
its trailing median to be a spike: at 6 a Gaussian-noisy curve gives about one false point in
10^9, while the spikes people look for are tens of MADs."""
SPIKE_MIN_RISE = 0.12
"""...and at least 12% above the median. Per-step losses have heavy tails: llm.c's GPT-2
124M logs (tests/data/real-runs/text-llmc-mainlog-*) rise up to 10% above their trailing
median at up to 9 MADs on healthy steps, while the spikes a user looks for (the
modded-nanogpt record's, same folder) are 26-40%. It also keeps a flat, nearly noiseless
curve (MAD about 0) from calling a 4th-digit rise a spike."""
GRAD_LOOKBACK = 50
"""Steps before a loss spike in which a gradient-norm spike is named as its forerunner (it
usually shows one logging step before)."""
GRAD_EXPLOSION = 10.0
"""Gradient norm above 10x its trailing median is an explosion (clipping hides it from the
update but not from the log); ordinary bumps are 2-3x."""
LOSS_SCALE_HALVINGS = 4
"""Loss scale at or below its recent maximum / 2^4: four halvings without recovering.
Dynamic loss scaling halves on each overflow and doubles back after a clean window, so one
or two halvings are routine; four in a row mean steady overflows (fp16 diverging)."""
LOSS_SCALE_FLOOR = 1.0
"""A loss scale at or below 1 is collapsed whatever it was before (Megatron's min is 1)."""
BAND_POINTS = 10
"""Consecutive points above the predicted band's top before the alert opens: the band is
an average over the logging interval and single noisy points poke out of it."""
THROUGHPUT_DROP = 0.2
"""Throughput below 80% of the run's early throughput (issue 15: "down > 20%")."""
THROUGHPUT_SECONDS = 300.0
"""...for 5 minutes of wall time: a checkpoint save or an eval pause is shorter."""
UNTIMED_POINTS = 60
"""Points in a row that stand for the 5 minutes when the log has no wall times (llm.c's
stdout logs tok/s but no clock): at the usual 1-10 s a step, a few minutes."""
BASELINE_SKIP = 5
"""First rate points left out of the early baseline (compilation, warm caches)."""
BASELINE_POINTS = 50
"""Rate points the early baseline is the median of."""
RATE_SPAN = 10
"""Points a step rate is measured over (one gap between two logged points is noisy)."""
ETA_DRIFT = 0.25
"""Step rate more than 25% off the estimate moves the finish time (and cost) by a quarter:
enough to change a plan."""
ETA_SECONDS = 900.0
"""...for 15 minutes, so a slow eval or a short slowdown does not count."""
LR_FACTOR = 2.0
"""Tolerance of the LR check: the logged LR may be within a factor 2 of the schedule's
(cosine against linear decay differ by at most ~1.6x before the last 20% of training); a
wrong config (a 10x, a missing warmup) is far outside."""
LR_MIN_SHARE = 0.2
"""The LR is compared only where the schedule is above 20% of its peak: near the end, decay
floors (0 in HF, 10% in the recipe) make ratios meaningless."""
LR_POINTS = 5
"""Consecutive points off the schedule before the alert opens (one odd logged value is a
logging artefact, five is the schedule)."""
CLOSE_POINTS = 20
"""Points clear of the condition before an alert closes: a recovered spike closes, a
flapping one stays one alert."""
CLOSE_SECONDS = 60.0
"""Wall time clear before a rate alert (throughput, ETA) closes."""
STALL_INTERVALS = 5.0
"""A run is stalled after 5 logging intervals without a point..."""
STALL_FLOOR_S = 120.0
"""...and never sooner than 2 minutes (a run logging every second pauses for checkpoints)."""
STALL_DEFAULT_INTERVAL_S = 60.0
"""Logging interval assumed before one is known (fewer than two timed points)."""

LOSS_NAMES = metric_names.LOSS
"""Training-loss names (``tracking.metric_names``)."""
GRAD_NAMES = metric_names.GRAD
"""Gradient-norm names (``tracking.metric_names``)."""
SCALE_NAMES = ("loss_scale", "loss-scale", "loss scale", "scale", "grad_scale")
LR_NAMES = metric_names.LR
RATE_NAMES = (
    "tokens_per_second",
    "tokens_per_sec",
    "tokens/s",
    "tok/s",
    "tokens_per_s",
    "throughput",
    "samples_per_second",
    "train_samples_per_second",
    "samples/s",
    "samples_per_sec",
    "it/s",
    "tok_per_s",
    "iterations_per_second",
    "steps_per_second",
    "train_steps_per_second",
)

Action = Literal["open", "close"]
Kind = Literal[
    "nan",
    "grad_norm",
    "loss_scale",
    "loss_spike",
    "above_band",
    "throughput",
    "lr_schedule",
    "eta_drift",
]
KINDS: tuple[Kind, ...] = get_args(Kind)
SEVERITY: dict[str, str] = {
    "nan": "critical",
    "loss_scale": "critical",
    "grad_norm": "warning",
    "loss_spike": "warning",
    "above_band": "warning",
    "throughput": "warning",
    "lr_schedule": "warning",
    "eta_drift": "info",
}


# ----------------------------------------------------------------------------- inputs
@dataclass(frozen=True)
class Band:
    """A predicted loss band: ``low``/``high`` at ``step`` (sorted), e.g. the forecast's."""

    step: npt.NDArray[np.int64]
    low: Floats
    high: Floats


@dataclass(frozen=True)
class Schedule:
    """The recipe's LR schedule (``simulator.schedules.lr_at`` arguments, in steps)."""

    kind: str
    peak: float
    lo: float
    warmup_steps: int
    total_steps: int
    decay_fraction: float = 0.1

    def lr(self, step: Floats) -> Floats:
        total = max(self.total_steps, 1)
        return lr_at(
            self.kind,
            step / total,
            self.warmup_steps / total,
            self.peak,
            self.lo,
            self.decay_fraction,
        )


@dataclass(frozen=True)
class Context:
    """What the detectors know besides the points: all optional."""

    band: Band | None = None
    schedule: Schedule | None = None
    warmup_steps: int = 0
    expected_step_rate: float | None = None
    """steps per second the recipe's estimate expects; None: the run's own early rate"""


@dataclass(frozen=True)
class Rule:
    """Hysteresis: open after ``open_points`` points (and ``open_seconds`` of wall time)
    with the condition, close after ``close_points`` (and ``close_seconds``) without.
    ``untimed_points`` replaces a time bound when the source logs no wall times."""

    open_points: int = 1
    open_seconds: float = 0.0
    close_points: int = CLOSE_POINTS
    close_seconds: float = 0.0
    untimed_points: int | None = None


@dataclass(frozen=True)
class Transition:
    """An alert opening or closing at ``step`` (``time``: the point's wall time, NaN if
    the source has none). ``key`` identifies the alert (kind and metric)."""

    key: str
    kind: str
    severity: str
    action: Action
    metric: str
    step: int
    time: float
    value: float
    text: str


# ----------------------------------------------------------------------------- helpers
def base(metric: str) -> str:
    """The last part of a metric name, lowercased: ``train/loss`` -> ``loss``."""
    return metric.replace("\\", "/").split("/")[-1].lower()


def find_metric(names: list[str], wanted: tuple[str, ...]) -> str | None:
    """The first metric whose last part is in ``wanted`` (training curves before eval ones)."""
    hits = [m for m in names if base(m) in wanted]
    hits.sort(key=lambda m: (("eval" in m.lower()) or ("val" in m.lower().split("/")[0]), m))
    return hits[0] if hits else None


def _fmt(x: float) -> str:
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    return f"{x:.4g}"


def _trailing(hist: Floats, new: Floats, stride: int = STRIDE) -> tuple[Floats, Floats]:
    """Trailing median and scaled MAD for each new point, from the ``WINDOW`` finite-or-not
    points before its block of ``stride`` (NaN where fewer than ``MIN_BASELINE`` finite)."""
    n = len(new)
    combined = np.concatenate([np.full(WINDOW, np.nan), hist[-WINDOW:], new])
    h = WINDOW + min(len(hist), WINDOW)
    ends = h + np.arange(0, n, stride)
    view = np.lib.stride_tricks.sliding_window_view(combined, WINDOW)
    windows = np.where(np.isfinite(view[ends - WINDOW]), view[ends - WINDOW], np.nan)
    med, count = _row_median(windows)
    mad = _row_median(np.abs(windows - med[:, None]))[0] * 1.4826
    few = count < MIN_BASELINE
    med[few] = np.nan
    mad[few] = np.nan
    return np.repeat(med, stride)[:n], np.repeat(mad, stride)[:n]


def _row_median(a: Floats) -> tuple[Floats, npt.NDArray[np.int64]]:
    """Each row's median over its non-NaN values, and their count (NaN for none). A sort
    puts NaN last; numpy's ``nanmedian`` goes through masked arrays and is 20x slower."""
    ordered = np.sort(a, axis=1)
    count = np.isfinite(ordered).sum(axis=1)
    rows = np.arange(len(a))
    lo = ordered[rows, np.maximum(count - 1, 0) // 2]
    hi = ordered[rows, np.maximum(count, 1) // 2 - (count == 0)]
    med = np.where(count > 0, (lo + hi) / 2, np.nan)
    return med, count


def _step_rate(hist: Series | None, new: Series) -> Floats:
    """Steps per second at each new point, over ``RATE_SPAN`` points (NaN without times)."""
    hs = hist.step[-RATE_SPAN:] if hist is not None else np.empty(0, np.int64)
    ht = hist.time[-RATE_SPAN:] if hist is not None else np.empty(0)
    step = np.concatenate([hs, new.step]).astype(np.float64)
    t = np.concatenate([ht, new.time])
    k = len(hs)
    prev = np.arange(len(new)) + k - RATE_SPAN
    ok = prev >= 0
    rate = np.full(len(new), np.nan)
    idx = np.arange(len(new)) + k
    dt = t[idx[ok]] - t[prev[ok]]
    with np.errstate(divide="ignore", invalid="ignore"):
        rate[ok] = np.where(dt > 0, (step[idx[ok]] - step[prev[ok]]) / dt, np.nan)
    return rate


def _t0(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _track(
    st: State, step: npt.NDArray[np.int64], time: Floats, cond: Bools, rule: Rule
) -> list[tuple[Action, int]]:
    """Hysteresis over one alert's condition: the (action, index) of each open and close.

    ``st`` holds ``open`` (the alert is open), ``run`` (the condition of the current run
    of equal conditions), ``len`` (its points so far) and ``t0`` (its first point's time).
    Work is one step per run of equal conditions, not per point."""
    out: list[tuple[Action, int]] = []
    n = len(cond)
    if n == 0:
        return out
    cuts = (np.flatnonzero(cond[1:] != cond[:-1]) + 1).tolist()
    for a, b in zip([0, *cuts], [*cuts, n], strict=True):
        c = bool(cond[a])
        if st.get("run") is c and st.get("len", 0) > 0:
            prev = int(st["len"])
            t0 = st.get("t0")
            t0 = math.nan if t0 is None else float(t0)
        else:
            prev, t0 = 0, float(time[a])
            st["run"], st["t0"] = c, _t0(t0)
        st["len"] = prev + (b - a)
        if c == bool(st.get("open", False)):
            continue
        points, seconds = (
            (rule.open_points, rule.open_seconds) if c else (rule.close_points, rule.close_seconds)
        )
        if seconds > 0 and not math.isfinite(t0) and rule.untimed_points:
            points, seconds = max(points, rule.untimed_points), 0.0  # a log without wall times
        i = a + max(points - prev - 1, 0)
        if i < b and seconds > 0:
            late = np.flatnonzero(time[i:b] - t0 >= seconds)  # NaN times never qualify
            i = i + int(late[0]) if len(late) else b
        if i < b:
            st["open"] = c
            out.append(("open", i) if c else ("close", i))
    return out


# ----------------------------------------------------------------------------- detectors
@dataclass
class _Pass:
    """One evaluation's inputs and outputs (local to ``evaluate``)."""

    new: Mapping[str, Series]
    history: Mapping[str, Series]
    state: State
    out: list[Transition]

    def track(
        self,
        kind: str,
        metric: str,
        s: Series,
        cond: Bools,
        rule: Rule,
        text: Any,
        judged: Bools | None = None,
    ) -> None:
        """Hysteresis over ``cond`` and a ``Transition`` per open and close. Points outside
        ``judged`` (when given) count neither way: they neither open nor close the alert."""
        key = f"{kind}:{metric}"
        st = self.state.setdefault("alerts", {}).setdefault(key, {})
        index = np.arange(len(cond)) if judged is None else np.flatnonzero(judged)
        if judged is not None:
            cond = cond[index]
        for action, j in _track(st, s.step[index], s.time[index], cond, rule):
            i = int(index[j])
            value = float(s.value[i])
            if action == "open":
                st["opened"] = int(s.step[i])
                words = text(i)
            else:
                words = (
                    f"{kind.replace('_', ' ')} on {metric} cleared: normal again from step "
                    f"{int(s.step[index[max(j - rule.close_points + 1, 0)]]):,} (opened at step "
                    f"{int(st.get('opened', s.step[i])):,})"
                )
            self.out.append(
                Transition(
                    key,
                    kind,
                    SEVERITY[kind],
                    action,
                    metric,
                    int(s.step[i]),
                    float(s.time[i]),
                    value,
                    words,
                )
            )

    def hist(self, metric: str) -> Series | None:
        return self.history.get(metric)

    def hist_values(self, metric: str) -> Floats:
        h = self.history.get(metric)
        return h.value if h is not None else np.empty(0)


def _nonfinite(p: _Pass) -> None:
    """NaN or Inf in any metric once it has had a finite value, and in the loss and the
    gradient norm always: a statistic undefined until it has data (llm.c's ``loss_zscore``
    is NaN for its first 128 steps) is not a divergence, a loss NaN from the start is."""
    seen = p.state.setdefault("finite_seen", {})
    for metric, s in p.new.items():
        finite = np.isfinite(s.value)
        cond = ~finite
        vital = base(metric) in LOSS_NAMES or base(metric) in GRAD_NAMES
        if not vital and not seen.get(metric):
            first = np.flatnonzero(finite)
            cond[: int(first[0]) if len(first) else len(cond)] = False
        if finite.any():
            seen[metric] = True
        if not cond.any() and not p.state.get("alerts", {}).get(f"nan:{metric}"):
            continue

        def text(i: int, s: Series = s, metric: str = metric) -> str:
            hint = ""
            if base(metric) in GRAD_NAMES:
                hint = " (HF Trainer logs a NaN loss as the window average: the gradient shows it)"
            return f"{metric} is {_fmt(float(s.value[i]))} at step {int(s.step[i]):,}{hint}"

        p.track("nan", metric, s, cond, Rule(1, 0, CLOSE_POINTS), text)


def _grad_spikes(p: _Pass, grad: str | None) -> None:
    """Grad-norm explosions (an alert) and spikes (remembered to name before a loss spike)."""
    if grad is None or grad not in p.new:
        return
    s = p.new[grad]
    med, mad = _trailing(p.hist_values(grad), s.value)
    v = s.value
    with np.errstate(invalid="ignore"):
        spike = np.isfinite(v) & (v > med + np.maximum(SPIKE_K * mad, SPIKE_MIN_RISE * np.abs(med)))
        explode = np.isfinite(v) & (v > GRAD_EXPLOSION * med) & (med > 0)
    idx = np.flatnonzero(spike)
    if len(idx):  # the last few, to name before a loss spike (in this pass or the next)
        recent = [[int(s.step[i]), float(v[i]), float(med[i])] for i in idx[-8:].tolist()]
        p.state["grad_spikes"] = (p.state.get("grad_spikes", []) + recent)[-8:]

    def text(i: int) -> str:
        return (
            f"{grad} exploded at step {int(s.step[i]):,}: {_fmt(float(v[i]))}, "
            f"{float(v[i]) / float(med[i]):.0f}x its trailing median {_fmt(float(med[i]))}"
        )

    p.track("grad_norm", grad, s, explode, Rule(1, 0, CLOSE_POINTS), text)


def _loss_spike(p: _Pass, loss: str | None, grad: str | None) -> None:
    if loss is None or loss not in p.new:
        return
    s = p.new[loss]
    v = s.value
    med, mad = _trailing(p.hist_values(loss), v)
    with np.errstate(invalid="ignore"):
        bar = np.maximum(SPIKE_K * mad, SPIKE_MIN_RISE * np.abs(med))
        cond = np.isfinite(v) & (v > med + bar)
    spikes: list[list[float]] = p.state.get("grad_spikes", [])

    def text(i: int) -> str:
        st = int(s.step[i])
        mads = (float(v[i]) - float(med[i])) / max(float(mad[i]), 1e-300)
        words = (
            f"{loss} spiked at step {st:,}: {_fmt(float(v[i]))} against a trailing median of "
            f"{_fmt(float(med[i]))} ({mads:.0f} median absolute deviations)"
        )
        before = [g for g in spikes if st - GRAD_LOOKBACK <= g[0] <= st]
        if grad is not None and before:
            g = before[-1]
            words += (
                f"; {grad} spiked first, at step {int(g[0]):,} ({_fmt(g[1])} against {_fmt(g[2])})"
            )
        return words

    p.track("loss_spike", loss, s, cond, Rule(1, 0, CLOSE_POINTS), text)


def _loss_scale(p: _Pass) -> None:
    scale = find_metric(list(p.new), SCALE_NAMES)
    if scale is None:
        return
    s = p.new[scale]
    h = p.hist_values(scale)[-WINDOW:]
    combined = np.concatenate([h, s.value])
    finite = np.where(np.isfinite(combined), combined, -np.inf)
    peak = np.maximum.accumulate(finite)[len(h) :]
    v = s.value
    with np.errstate(invalid="ignore"):
        cond = np.isfinite(v) & ((v <= peak / 2**LOSS_SCALE_HALVINGS) | (v <= LOSS_SCALE_FLOOR))

    def text(i: int) -> str:
        return (
            f"{scale} collapsed to {_fmt(float(v[i]))} at step {int(s.step[i]):,} (it was "
            f"{_fmt(float(peak[i]))}): the fp16 loss scale keeps halving, gradients overflow "
            "every step"
        )

    p.track("loss_scale", scale, s, cond, Rule(1, 0, CLOSE_POINTS), text)


def _above_band(p: _Pass, loss: str | None, ctx: Context) -> None:
    band = ctx.band
    if band is None or loss is None or loss not in p.new or len(band.step) < 2:
        return
    s = p.new[loss]
    x = s.step.astype(np.float64)
    high = np.interp(x, band.step.astype(np.float64), band.high)
    inside = (s.step >= band.step[0]) & (s.step <= band.step[-1]) & (s.step > ctx.warmup_steps)
    with np.errstate(invalid="ignore"):
        cond = inside & np.isfinite(s.value) & (s.value > high)

    def text(i: int) -> str:
        first = int(s.step[max(i - BAND_POINTS + 1, 0)])
        return (
            f"{loss} above the predicted band for {BAND_POINTS} points in a row from step "
            f"{first:,}: {_fmt(float(s.value[i]))} at step {int(s.step[i]):,}, band top "
            f"{_fmt(float(high[i]))}"
        )

    p.track("above_band", loss, s, cond, Rule(BAND_POINTS, 0, CLOSE_POINTS), text, inside)


def _early_baseline(st: State, name: str, rate: Floats) -> Floats:
    """The run's early rate per new point: NaN until ``BASELINE_POINTS`` rate points (after
    the first ``BASELINE_SKIP``) were seen, then their median, kept in the state."""
    b = st.setdefault("baseline", {}).setdefault(name, {"seen": 0, "vals": [], "value": None})
    out = np.full(len(rate), np.nan)
    if b["value"] is not None:
        out[:] = b["value"]
        return out
    finite = np.flatnonzero(np.isfinite(rate))
    for i in finite.tolist():
        b["seen"] += 1
        if b["seen"] > BASELINE_SKIP:
            b["vals"].append(float(rate[i]))
        if len(b["vals"]) >= BASELINE_POINTS:
            b["value"] = float(np.median(b["vals"]))
            b["vals"] = []
            out[i + 1 :] = b["value"]
            break
    return out


def _throughput(p: _Pass, loss: str | None) -> None:
    metric = find_metric(list(p.new), RATE_NAMES)
    if metric is not None:
        s = p.new[metric]
        rate = s.value.astype(np.float64)
        what = metric
    else:
        ref = loss if loss in p.new else next(iter(p.new), None)
        if ref is None:
            return
        s = p.new[ref]
        rate = _step_rate(p.hist(ref), s)
        metric, what = ref, "steps per second (from the log's wall times)"
    early = _early_baseline(p.state, f"throughput:{metric}", rate)
    with np.errstate(invalid="ignore"):
        cond = np.isfinite(rate) & np.isfinite(early) & (rate < (1 - THROUGHPUT_DROP) * early)
    shown = Series(metric, s.step, rate, s.time)

    def text(i: int) -> str:
        return (
            f"throughput down {100 * (1 - float(rate[i]) / float(early[i])):.0f}% for "
            f"{THROUGHPUT_SECONDS / 60:.0f} minutes by step {int(s.step[i]):,}: {what} "
            f"{_fmt(float(rate[i]))} against {_fmt(float(early[i]))} early in the run"
        )

    rule = Rule(2, THROUGHPUT_SECONDS, 3, CLOSE_SECONDS, UNTIMED_POINTS)
    p.track("throughput", metric, shown, cond, rule, text)


def _eta_drift(p: _Pass, loss: str | None, ctx: Context) -> None:
    ref = loss if loss in p.new else next(iter(p.new), None)
    if ref is None:
        return
    s = p.new[ref]
    rate = _step_rate(p.hist(ref), s)
    if ctx.expected_step_rate is not None and ctx.expected_step_rate > 0:
        expected = np.full(len(rate), float(ctx.expected_step_rate))
        against = "the recipe's estimate"
    else:
        expected = _early_baseline(p.state, f"eta:{ref}", rate)
        against = "the run's early rate"
    with np.errstate(invalid="ignore", divide="ignore"):
        off = rate / expected - 1
        cond = np.isfinite(off) & (np.abs(off) > ETA_DRIFT)
    shown = Series(ref, s.step, rate, s.time)

    def text(i: int) -> str:
        slower = off[i] < 0
        return (
            f"step rate {abs(100 * float(off[i])):.0f}% {'below' if slower else 'above'} "
            f"{against} for {ETA_SECONDS / 60:.0f} minutes by step {int(s.step[i]):,} "
            f"({_fmt(float(rate[i]))} against {_fmt(float(expected[i]))} steps/s): the finish "
            f"time and cost move {'later and up' if slower else 'earlier and down'}"
        )

    p.track("eta_drift", ref, shown, cond, Rule(2, ETA_SECONDS, 3, CLOSE_SECONDS), text)


def _lr_schedule(p: _Pass, ctx: Context) -> None:
    sched = ctx.schedule
    lr = find_metric(list(p.new), LR_NAMES)
    if sched is None or lr is None or sched.peak <= 0:
        return
    s = p.new[lr]
    expected = sched.lr(s.step.astype(np.float64))
    v = s.value
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = v / expected
        judged = (
            np.isfinite(v) & (expected >= LR_MIN_SHARE * sched.peak) & (s.step > sched.warmup_steps)
        )
        cond = judged & ((ratio > LR_FACTOR) | (ratio < 1 / LR_FACTOR))

    def text(i: int) -> str:
        return (
            f"{lr} is {_fmt(float(v[i]))} at step {int(s.step[i]):,} where the recipe's "
            f"{sched.kind} schedule (peak {_fmt(sched.peak)}, warmup {sched.warmup_steps:,}, "
            f"{sched.total_steps:,} steps) gives {_fmt(float(expected[i]))} "
            f"({float(ratio[i]):.2g}x; tolerance {LR_FACTOR:g}x): check the config"
        )

    p.track("lr_schedule", lr, s, cond, Rule(LR_POINTS, 0, CLOSE_POINTS), text, judged)


def evaluate(
    new: Mapping[str, Series],
    history: Mapping[str, Series],
    state: State,
    context: Context | None = None,
) -> tuple[list[Transition], State]:
    """The alerts that open or close over ``new`` (per metric: points in step order, each
    step once, all after ``history``'s), given ``history`` (per metric: up to ``WINDOW``
    points just before) and ``state`` (what the previous call returned; ``{}`` at first).

    Returns the transitions in step order and the new state (``state`` is not changed)."""
    ctx = context or Context()
    p = _Pass(
        new={m: s for m, s in new.items() if len(s)},
        history=history,
        state=copy.deepcopy(state),
        out=[],
    )
    names = list(p.new) + [m for m in history if m not in p.new]
    loss = find_metric(names, LOSS_NAMES)
    grad = find_metric(names, GRAD_NAMES)
    _nonfinite(p)
    _grad_spikes(p, grad)
    _loss_spike(p, loss, grad)
    _loss_scale(p)
    _above_band(p, loss, ctx)
    _throughput(p, loss)
    _eta_drift(p, loss, ctx)
    _lr_schedule(p, ctx)
    p.out.sort(key=lambda t: (t.step, t.action != "close"))
    return p.out, p.state


def open_alerts(state: State) -> list[str]:
    """Keys of the alerts ``state`` holds open."""
    return sorted(k for k, st in state.get("alerts", {}).items() if st.get("open"))


# ----------------------------------------------------------------------------- stalled
def logging_interval(time: Floats) -> float | None:
    """The run's logging interval in wall seconds: the median gap between timed points."""
    t = time[np.isfinite(time)]
    if len(t) < 2:
        return None
    gaps = np.diff(t)
    gaps = gaps[gaps > 0]
    return float(np.median(gaps)) if len(gaps) else None


def stall_after(interval: float | None) -> float:
    """Seconds without a point after which a run is stalled."""
    return max(STALL_INTERVALS * (interval or STALL_DEFAULT_INTERVAL_S), STALL_FLOOR_S)


def stalled(last_update: float, interval: float | None, now: float) -> bool:
    """No point for ``STALL_INTERVALS`` logging intervals (at least ``STALL_FLOOR_S``)."""
    return now - last_update > stall_after(interval)
