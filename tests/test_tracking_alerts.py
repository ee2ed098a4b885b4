"""The alert detectors (tracking/alerts.py) on curves a user would recognise: a NaN, a loss
spike after a gradient spike, a collapsing fp16 loss scale, a loss above its predicted band,
a throughput drop, a schedule off by 10x, a stalled run; and hysteresis (one alert for a
noisy stretch, not one a step), and the same answer whether the points come at once or in
passes (the state between passes is all the memory there is)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pytest

from tracking import alerts
from tracking.alerts import Band, Context, Schedule, Transition
from tracking.records import Series

T0 = 1_700_000_000.0


def ser(metric: str, step: object, value: object, time: object = None) -> Series:
    s = np.asarray(step, dtype=np.int64)
    t = s * 1.0 + T0 if time is None else np.asarray(time, dtype=np.float64)
    return Series(metric, s, np.asarray(value, dtype=np.float64), t)


def loss_curve(n: int = 2000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    steps = np.arange(n)
    return 2.0 + 2.0 * np.exp(-steps / 300) + 0.02 * rng.standard_normal(n)


def in_passes(
    curves: Mapping[str, Series], size: int, context: Context | None = None
) -> list[Transition]:
    """Feed the curves ``size`` points at a time, as ingest does, with a trailing window."""
    state: dict[str, object] = {}
    out: list[Transition] = []
    n = max(len(s) for s in curves.values())
    for a in range(0, n, size):
        new = {
            m: ser(m, s.step[a : a + size], s.value[a : a + size], s.time[a : a + size])
            for m, s in curves.items()
        }
        lo = max(a - alerts.WINDOW, 0)
        hist = {m: ser(m, s.step[lo:a], s.value[lo:a], s.time[lo:a]) for m, s in curves.items()}
        got, state = alerts.evaluate(new, hist, state, context)
        out += got
    return out


def summary(ts: list[Transition]) -> list[tuple[str, str, int]]:
    return [(t.action, t.kind, t.step) for t in ts]


def test_a_nan_at_step_500_opens_one_alert_naming_step_500() -> None:
    steps = np.arange(1000)
    loss = loss_curve(1000)
    loss[500:560] = np.nan  # NaN for 60 logged steps, then back
    got, state = alerts.evaluate({"train/loss": ser("train/loss", steps, loss)}, {}, {})
    opened = [t for t in got if t.action == "open"]
    assert [(t.kind, t.step) for t in opened] == [("nan", 500)]
    assert "step 500" in opened[0].text and "NaN" in opened[0].text
    closed = [t for t in got if t.action == "close"]
    assert [(t.kind, t.step) for t in closed] == [("nan", 560 + alerts.CLOSE_POINTS - 1)]
    assert alerts.open_alerts(state) == []


def test_an_infinite_grad_norm_is_an_alert_even_when_the_loss_looks_fine() -> None:
    # HF Trainer logs a NaN loss as the window's average: only the gradient norm shows it.
    steps = np.arange(600)
    grad = np.ones(600)
    grad[400] = np.inf
    got, _ = alerts.evaluate(
        {"loss": ser("loss", steps, loss_curve(600)), "grad_norm": ser("grad_norm", steps, grad)},
        {},
        {},
    )
    assert [(t.action, t.kind, t.metric, t.step) for t in got if t.action == "open"] == [
        ("open", "nan", "grad_norm", 400)
    ]
    assert "Infinity" in got[0].text


def test_a_spike_at_1200_names_the_grad_norm_spike_at_1199_and_closes_when_it_recovers() -> None:
    steps = np.arange(2000)
    loss = loss_curve()
    loss[1200:1203] += 2.5  # three bad steps, then the run recovers
    grad = 1.0 + 0.05 * np.random.default_rng(1).standard_normal(2000)
    grad[1199] = 8.0  # 8x, a spike but not an explosion
    curves = {
        "train/loss": ser("train/loss", steps, loss),
        "train/grad_norm": ser("train/grad_norm", steps, grad),
    }
    for got in (alerts.evaluate(curves, {}, {})[0], in_passes(curves, 100)):
        spikes = [t for t in got if t.kind == "loss_spike"]
        assert summary(spikes) == [
            ("open", "loss_spike", 1200),
            ("close", "loss_spike", 1203 + alerts.CLOSE_POINTS - 1),
        ]
        assert "step 1,200" in spikes[0].text
        assert "train/grad_norm spiked first, at step 1,199" in spikes[0].text
        assert not [t for t in got if t.kind == "grad_norm"]  # 8x is no explosion


def test_a_spike_without_a_grad_norm_spike_names_none_and_an_exploding_grad_norm_alerts() -> None:
    steps = np.arange(1500)
    loss = loss_curve(1500)
    loss[1000] += 3
    grad = np.ones(1500)
    grad[700] = 50.0
    got, _ = alerts.evaluate(
        {"loss": ser("loss", steps, loss), "grad_norm": ser("grad_norm", steps, grad)}, {}, {}
    )
    opened = {t.kind: t for t in got if t.action == "open"}
    assert set(opened) == {"loss_spike", "grad_norm"}
    assert opened["grad_norm"].step == 700 and "50x" in opened["grad_norm"].text
    assert opened["loss_spike"].step == 1000 and "spiked first" not in opened["loss_spike"].text


def test_megatron_loss_scale_collapse_is_critical_and_routine_halvings_are_not() -> None:
    steps = np.arange(0, 3000, 10)
    scale = np.full(len(steps), 65536.0)
    scale[50] = 32768.0  # one overflow: routine
    scale[51:100] = 65536.0
    scale[200:] = 65536.0 / 2 ** np.minimum(np.arange(100) + 1, 16)  # halves every log
    got, _ = alerts.evaluate({"loss-scale": ser("loss-scale", steps, scale)}, {}, {})
    assert summary(got) == [
        ("open", "loss_scale", int(steps[200 + alerts.LOSS_SCALE_HALVINGS - 1]))
    ]
    assert got[0].severity == "critical" and "loss-scale collapsed" in got[0].text


def test_1000_noisy_steps_above_the_band_are_one_alert_not_1000() -> None:
    steps = np.arange(3000)
    band = Band(steps, np.full(3000, 2.0), np.full(3000, 2.5))
    rng = np.random.default_rng(3)
    loss = 2.2 + 0.05 * rng.standard_normal(3000)
    above = slice(1000, 2000)
    loss[above] = 2.6 + 0.1 * rng.standard_normal(1000)  # above the top, dipping below often
    assert 50 < int((loss[above] <= 2.5).sum()) < 300
    curves = {"loss": ser("loss", steps, loss)}
    ctx = Context(band=band, warmup_steps=100)
    for got in (alerts.evaluate(curves, {}, {}, ctx)[0], in_passes(curves, 137, ctx)):
        band_alerts = [t for t in got if t.kind == "above_band"]
        assert [t.action for t in band_alerts] == ["open", "close"]
        assert 1000 <= band_alerts[0].step < 1000 + 3 * alerts.BAND_POINTS
        assert 2000 <= band_alerts[1].step <= 2000 + 2 * alerts.CLOSE_POINTS


def test_the_band_is_not_judged_during_warmup() -> None:
    steps = np.arange(500)
    band = Band(steps, np.full(500, 2.0), np.full(500, 2.5))
    loss = np.where(steps < 300, 5.0, 2.2)
    got, _ = alerts.evaluate(
        {"loss": ser("loss", steps, loss)}, {}, {}, Context(band, warmup_steps=300)
    )
    assert [t for t in got if t.kind == "above_band"] == []


def test_throughput_down_30_percent_for_5_minutes_alerts_a_2_minute_dip_does_not() -> None:
    steps = np.arange(0, 400)
    times = T0 + 10.0 * steps  # a point every 10 s
    tps = np.full(400, 10_000.0)
    tps[100:112] = 6_000.0  # 2 minutes slow: a checkpoint
    tps[200:] = 7_000.0  # slow from step 200 on
    got, _ = alerts.evaluate(
        {"tokens_per_second": ser("tokens_per_second", steps, tps, times)}, {}, {}
    )
    tp = [t for t in got if t.kind == "throughput"]
    assert summary(tp) == [("open", "throughput", 230)]  # 300 s after step 200
    assert "down 30%" in tp[0].text


def test_throughput_is_derived_from_wall_time_when_no_metric_logs_it() -> None:
    steps = np.arange(0, 400)
    dt = np.where(steps < 200, 10.0, 20.0)  # steps take twice as long from step 200
    times = T0 + np.cumsum(dt)
    got, _ = alerts.evaluate({"loss": ser("loss", steps, loss_curve(400), times)}, {}, {})
    tp = [t for t in got if t.kind == "throughput"]
    assert len(tp) == 1 and tp[0].action == "open" and 205 < tp[0].step < 230


def test_step_rate_off_the_recipes_estimate_moves_the_eta() -> None:
    steps = np.arange(0, 300)
    times = T0 + 10.0 * steps  # 0.1 step/s
    ctx = Context(expected_step_rate=0.2)  # the estimate said twice as fast
    got, _ = alerts.evaluate({"loss": ser("loss", steps, loss_curve(300), times)}, {}, {}, ctx)
    eta = [t for t in got if t.kind == "eta_drift"]
    assert len(eta) == 1 and "50% below the recipe's estimate" in eta[0].text
    assert eta[0].step == 10 + 90  # rate measurable from point 10, open 900 s later


def test_an_lr_10x_off_the_recipes_schedule_alerts_and_the_right_one_does_not() -> None:
    sched = Schedule("cosine", 3e-4, 3e-5, warmup_steps=100, total_steps=2000)
    steps = np.arange(0, 2000, 5)
    right = sched.lr(steps.astype(np.float64))
    ctx = Context(schedule=sched)
    ok, _ = alerts.evaluate({"learning_rate": ser("learning_rate", steps, right)}, {}, {}, ctx)
    assert ok == []
    linear = Schedule("linear", 3e-4, 0.0, 100, 2000).lr(steps.astype(np.float64))
    shape, _ = alerts.evaluate({"learning_rate": ser("learning_rate", steps, linear)}, {}, {}, ctx)
    assert shape == []  # another decay shape is within the tolerance
    wrong, _ = alerts.evaluate(
        {"learning_rate": ser("learning_rate", steps, right * 10)}, {}, {}, ctx
    )
    assert summary(wrong) == [("open", "lr_schedule", 100 + 5 * alerts.LR_POINTS)]
    assert "10x" in wrong[0].text and "check the config" in wrong[0].text


def test_passes_of_any_size_give_the_same_alerts_as_one_pass() -> None:
    steps = np.arange(3000)
    loss = loss_curve(3000)
    loss[[700, 1900]] += 3
    loss[2500] = np.nan
    grad = np.ones(3000)
    grad[1899] = 4.0
    curves = {"loss": ser("loss", steps, loss), "grad_norm": ser("grad_norm", steps, grad)}
    whole = summary(alerts.evaluate(curves, {}, {})[0])
    assert ("open", "nan", 2500) in whole and ("open", "loss_spike", 1900) in whole
    for size in (1, 7, 100, 1000):
        if size == 1:  # one point a pass: as a live push does (cheaper fixture)
            part = {m: ser(m, s.step[1800:2000], s.value[1800:2000]) for m, s in curves.items()}
            ref = summary(alerts.evaluate(part, {}, {})[0])
            assert summary(in_passes(part, 1)) == ref
            continue
        assert summary(in_passes(curves, size)) == whole


def test_the_state_is_plain_json_and_is_not_changed_in_place() -> None:
    import json

    steps = np.arange(300)
    loss = loss_curve(300)
    loss[100] = np.nan
    before: dict[str, object] = {}
    _, state = alerts.evaluate({"loss": ser("loss", steps, loss)}, {}, before)
    assert before == {}
    assert json.loads(json.dumps(state)) == state
    assert alerts.open_alerts(state) == []


@pytest.mark.parametrize(
    ("silent_s", "interval", "expected"),
    [
        (30, 10.0, False),
        (110, 10.0, False),
        (130, 10.0, True),
        (400, 60.0, True),
        (250, 60.0, False),
    ],
)
def test_stalled_is_several_logging_intervals_of_silence(
    silent_s: float, interval: float, expected: bool
) -> None:
    assert alerts.stalled(T0, interval, T0 + silent_s) is expected


def test_the_logging_interval_is_the_median_gap() -> None:
    times = T0 + np.array([0, 10, 20, 30, 300, 310, 320.0])  # one checkpoint pause
    assert alerts.logging_interval(times) == 10.0
    assert alerts.logging_interval(np.array([np.nan, T0])) is None


def test_a_statistic_undefined_at_the_start_is_no_alert_a_loss_nan_from_the_start_is() -> None:
    steps = np.arange(100)
    zscore = np.ones(100)
    zscore[:50] = np.nan  # llm.c's loss_zscore until its window has data
    quiet, _ = alerts.evaluate({"loss_zscore": ser("loss_zscore", steps, zscore)}, {}, {})
    assert quiet == []
    broken = np.full(100, np.nan)
    got = in_passes({"loss": ser("loss", steps, broken)}, 7)
    assert summary(got) == [("open", "nan", 0)]


def test_the_row_median_skips_nan_like_numpys_nanmedian() -> None:
    rng = np.random.default_rng(5)
    rows = rng.normal(size=(300, 37))
    rows[rng.random(rows.shape) < 0.3] = np.nan
    rows[7] = np.nan
    med, count = alerts._row_median(rows)
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning):
        expected = np.nanmedian(rows, axis=1)
    assert np.allclose(med, expected, equal_nan=True) and count[7] == 0


def test_throughput_in_a_log_without_wall_times_alerts_after_a_run_of_points() -> None:
    steps = np.arange(1, 400)
    tps = np.full(len(steps), 120_000.0)
    tps[200:] = 80_000.0  # llm.c's tok/s, a third slower from step 201
    untimed = np.full(len(steps), np.nan)
    got, _ = alerts.evaluate({"tok_per_s": ser("tok_per_s", steps, tps, untimed)}, {}, {})
    assert summary(got) == [("open", "throughput", 201 + alerts.UNTIMED_POINTS - 1)]
