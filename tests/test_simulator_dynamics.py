"""The curves a user watches: loss shape, LR-decay drops, divergence, overfitting, noise, spikes."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import simulator as sim
from simulator import dynamics

Metrics = dict[str, Any]


def whole_run(cfg: sim.TrainingConfig) -> tuple[sim.RunState, Metrics]:
    state = sim.predicted_run(cfg)
    return state, sim.metrics(state, 0, state.step)


def window(m: Metrics, key: str, a: int, b: int) -> float:
    return float(np.mean(m[key][a:b]))


@pytest.fixture(scope="module")
def llama() -> tuple[sim.RunState, Metrics]:
    return whole_run(sim.preset("llama-2-7b"))


# A 4,769-step pretraining run: short enough to compute every schedule in a few ms.
SHORT = {"dataset_tokens": 2.0e10, "warmup_steps": 100}


@pytest.fixture(scope="module")
def short_runs() -> dict[str, Metrics]:
    return {
        kind: whole_run(sim.preset("llama-2-7b", schedule=kind, **SHORT))[1]
        for kind in sim.SCHEDULES
    }


def test_loss_starts_near_a_uniform_guess_and_falls_fast(llama: tuple[Any, Metrics]) -> None:
    _, m = llama
    loss = m["train_loss"]
    ln_v = math.log(32000)
    assert abs(float(np.mean(loss[:5])) - ln_v) < 0.5  # ~10.4 nats: a random init
    assert float(np.mean(loss[95:105])) < 5.0  # unigram statistics learnt in ~100 steps
    assert float(np.mean(loss[1990:2010])) < 2.6  # end of warmup
    # LLaMA-1's published curves end near 1.7-1.8 nats for 7B.
    assert 1.6 < window(m, "train_loss", -1000, len(loss)) < 1.85


def test_loss_trend_decreases_over_the_run(llama: tuple[Any, Metrics]) -> None:
    _, m = llama
    loss = m["train_loss"]
    means = [float(np.mean(c)) for c in np.array_split(loss, 20)]
    assert np.all(np.diff(means) < 0)


def test_val_loss_only_at_eval_steps_and_close_to_train(llama: tuple[Any, Metrics]) -> None:
    state, m = llama
    ev = m["is_eval"]
    assert np.all(np.isnan(m["val_loss"][~ev]))
    assert np.all(np.isfinite(m["val_loss"][ev]))
    assert ev[-1]  # the last step is always evaluated
    assert int(ev.sum()) == pytest.approx(
        state.total_steps / state.config.resolved_eval_interval, abs=2
    )
    late = ev & (np.arange(ev.size) > ev.size // 2)
    assert np.max(np.abs(m["val_loss"][late] - m["train_loss"][late])) < 0.3


def test_wsd_decay_phase_drops_loss_faster_than_its_stable_phase(
    short_runs: dict[str, Metrics],
) -> None:
    m = short_runs["wsd"]
    n = m["train_loss"].size
    decay_start = int(0.9 * n)
    stable_drop = window(m, "train_loss", decay_start - 500, decay_start - 400) - window(
        m, "train_loss", decay_start - 100, decay_start
    )
    decay_drop = window(m, "train_loss", decay_start, decay_start + 100) - window(
        m, "train_loss", n - 100, n
    )
    assert decay_drop > 5 * max(stable_drop, 0.005)
    assert decay_drop > 0.1


@pytest.mark.parametrize("which", ["short", "long"])
def test_lr_decay_beats_constant_and_wsd_reaches_the_cosine_level(
    which: str, short_runs: dict[str, Metrics], llama: tuple[Any, Metrics]
) -> None:
    if which == "short":
        ends = {k: window(m, "train_loss", -100, None) for k, m in short_runs.items()}
    else:
        ends = {
            kind: window(
                whole_run(sim.preset("llama-2-7b", schedule=kind))[1], "train_loss", -500, None
            )
            for kind in ("constant", "wsd")
        }
        ends["cosine"] = window(llama[1], "train_loss", -500, None)
    assert ends["cosine"] < ends["constant"] - 0.05
    # MiniCPM: the short decay phase brings WSD to about the cosine level.
    assert abs(ends["wsd"] - ends["cosine"]) < 0.03


def test_lr_curve_follows_the_schedule(llama: tuple[sim.RunState, Metrics]) -> None:
    state, m = llama
    cfg = state.config
    lr = m["lr"]
    assert lr[0] == pytest.approx(cfg.lr_peak / cfg.warmup_steps, rel=1e-3)
    assert lr[cfg.warmup_steps] == pytest.approx(cfg.lr_peak, rel=1e-3)
    assert lr[-1] == pytest.approx(cfg.lr_min, rel=1e-3)
    assert np.all(np.diff(lr[: cfg.warmup_steps]) > 0)


def test_extreme_lr_diverges_with_nan_and_an_event() -> None:
    # 6.7x the published peak: at 10x and more it blows up within the 100-step warmup, before
    # the loss has left ln(vocab).
    cfg = sim.preset("llama-2-7b", lr_peak=2e-3, lr_min=2e-4, **SHORT)
    state = sim.advance(sim.start(sim.new_run(cfg)), 100_000)
    assert state.status == "diverged"
    assert state.diverged_at is not None and state.step < state.total_steps
    kinds = [e[1] for e in state.events]
    assert "diverged" in kinds
    m = sim.metrics(state)
    assert np.isnan(m["train_loss"][-1]) and np.isnan(m["grad_norm"][-1])
    # It blows up before it dies: the loss rises past a uniform guess's ln(vocab), from well
    # below it (issue 13, item 6: past it, not to hundreds of nats).
    finite = m["train_loss"][np.isfinite(m["train_loss"])]
    ln_v = float(np.log(cfg.arch.vocab_size))
    assert float(finite[-1]) > ln_v > 2 * float(finite[state.diverged_at - 50])
    with pytest.raises(sim.TransitionError):
        sim.resume(state)


def test_published_lr_does_not_diverge_and_spikes_stay_rare(
    llama: tuple[sim.RunState, Metrics],
) -> None:
    state, m = llama
    assert state.status == "finished"
    assert np.all(np.isfinite(m["train_loss"]))
    # A healthy 7B run: a few grad-norm excursions over 477k steps (each ~3 steps), not
    # hundreds; the first steps' large norms are initialisation, not spikes.
    assert int(np.sum(m["grad_norm"][4000:] > 1.0)) < 60


def test_vicuna_overfits_by_its_third_epoch() -> None:
    """Its 370M published tokens (issue 13; 256M padded tokens per epoch before) move the
    turn of the validation loss from epoch 1 into epoch 2: it rises through epoch 3."""
    _, m = whole_run(sim.preset("vicuna-7b"))
    ev = m["is_eval"]
    epoch, train, val = m["epoch"][ev], m["train_loss"][ev], m["val_loss"][ev]

    def at(arr: np.ndarray, e: float) -> float:
        return float(np.mean(arr[(epoch > e - 0.15) & (epoch <= e)]))

    assert at(train, 3.0) < at(train, 2.0) < at(train, 1.0)  # memorisation keeps it falling
    assert at(val, 3.0) > at(val, 1.0) + 0.03  # ... while validation turns up
    assert at(val, 3.0) > at(val, 2.0) + 0.05
    assert at(val, 3.0) - at(train, 3.0) > 0.4  # a visible generalisation gap


def test_single_epoch_pretraining_does_not_overfit(llama: tuple[Any, Metrics]) -> None:
    _, m = llama
    ev = m["is_eval"]
    val = m["val_loss"][ev]
    assert float(np.mean(val[-10:])) < float(np.mean(val[-60:-50]))


def _residual_std(cfg: sim.TrainingConfig, a: int, b: int) -> float:
    state = sim.predicted_run(cfg)
    loss = sim.metrics(state, a, b)["train_loss"]
    return float(np.std(np.diff(loss)))  # step-to-step noise, trend removed


def test_noise_shrinks_as_the_batch_grows() -> None:
    base = {"dataset_tokens": 4e10, "warmup_steps": 100, "num_gpus": 256}
    stds = [
        _residual_std(sim.preset("llama-2-7b", global_batch_tokens=b, **base), 2000, 4000)
        for b in (2**20, 2**22, 2**24)
    ]
    assert stds[0] > 1.6 * stds[1] > 1.6 * 1.6 * stds[2]


def test_spikes_show_in_the_grad_norm_before_the_loss() -> None:
    cfg = sim.preset("llama-2-7b", lr_peak=1e-3, lr_min=1e-4, **SHORT)
    state = sim.advance(sim.start(sim.new_run(cfg)), 10_000)
    spikes = [e for e in state.events if e[1] == "spike"]
    assert spikes, "an LR 2.4x over the stability threshold makes spikes"
    m = sim.metrics(state)
    # The chart shows the norm before clipping: spikes cross the clip threshold (1.0) that
    # the healthy steps around them stay under.
    peaks = [int(e[0]) - 1 for e in spikes]
    assert max(float(m["grad_norm"][i]) for i in peaks) > cfg.grad_clip
    assert float(np.median(m["grad_norm"][500:])) < cfg.grad_clip
    for step, _, size in spikes:
        peak = step - 1  # event step = 1-based step number of the grad-norm peak
        g, loss = m["grad_norm"], m["train_loss"]
        assert g[peak] > 1.8 * float(np.median(g[peak - 50 : peak - 5]))  # grad norm leads
        assert g[peak - 2] < g[peak]  # it climbs over the two steps before its peak
        if peak + 4 < loss.size:
            before = float(np.max(loss[peak - 4 : peak + 1]))  # up to the grad-norm peak
            after = float(np.max(loss[peak + 1 : peak + 4]))
            assert after > before + 0.5 * float(size)  # ... and the loss jumps after it


def test_gradient_clipping_limits_spike_damage() -> None:
    # Same seed, same draws: only the clip threshold differs (without clipping the hazard
    # is a little higher, so compare the spikes both runs have).
    def sizes(clip: float) -> dict[int, float]:
        cfg = sim.preset("llama-2-7b", lr_peak=1e-3, lr_min=1e-4, grad_clip=clip, **SHORT)
        comp = dynamics.compute(
            sim.new_run(cfg).timeline, cfg.seed, 0, 10_000, diverged_at=None, scan_from=10_000
        )
        return {s.step: s.size for s in comp.spikes}

    clipped, unclipped = sizes(1.0), sizes(0.0)
    both = sorted(clipped.keys() & unclipped.keys())
    assert len(both) >= 3
    assert all(clipped[k] < unclipped[k] for k in both)


def test_grad_norm_level_is_plausible(llama: tuple[Any, Metrics]) -> None:
    _, m = llama
    g = m["grad_norm"]
    assert 1.0 < float(np.median(g[:20])) < 5.0  # large at initialisation
    assert 0.1 < float(np.median(g[100_000:200_000])) < 0.5  # LLaMA-scale mid-run
    # Rises as the LR anneals (a known late-training effect), still well under the clip.
    assert float(np.median(g[-20_000:])) > float(np.median(g[100_000:200_000]))


def test_throughput_mfu_memory_and_cost_match_the_estimate(
    llama: tuple[sim.RunState, Metrics],
) -> None:
    state, m = llama
    est = sim.estimate(state.config)
    assert float(np.median(m["tokens_per_sec"])) == pytest.approx(est.tokens_per_second, rel=0.02)
    assert float(np.median(m["mfu"])) == pytest.approx(est.mfu, rel=0.02)
    assert float(m["wall_time"][-1]) == pytest.approx(est.wall_seconds, rel=0.03)
    assert float(m["cost_usd"][-1]) == pytest.approx(est.cost_usd, rel=0.03)
    assert float(np.median(m["memory_gb"])) == pytest.approx(est.memory_total / 1e9, rel=0.02)
    assert np.all(np.diff(m["wall_time"]) > 0) and np.all(np.diff(m["cost_usd"]) > 0)
    assert np.all((m["accuracy"] > 0) & (m["accuracy"] < 1))
    assert np.allclose(m["perplexity"], np.exp(m["train_loss"]))
