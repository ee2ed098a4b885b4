"""Issue 13: a chart reads each bucket's extremes without drawing every step, and they are
exactly the ones every step gives; the noise behind it is what the model says it is."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

import simulator as sim
from simulator import buckets, dynamics, noise, series
from simulator import timeline as tlm

SEED = 12345


def _every_step(tl: tlm.Timeline, seed: int, stop: int, div: int | None) -> dict[str, np.ndarray]:
    m = dynamics.compute(tl, seed, 0, stop, diverged_at=div, scan_from=stop).metrics
    return {k: np.asarray(m[k], dtype=np.float64) for k in buckets.LEADERS}


def _runs() -> list[tuple[str, tlm.Timeline, int, int | None]]:
    base = sim.preset("llama-2-7b", global_batch_tokens=2**20, num_gpus=256)
    spiky_cfg = sim.preset(
        "llama-2-7b", lr_peak=1e-3, lr_min=1e-4, global_batch_tokens=2**20, num_gpus=256
    )
    changed = tlm.build_timeline(
        base,
        [(150_000, {"lr_peak": 6e-4}), (200_001, {"global_batch_tokens": 2**21})],
        seed=SEED,
    )
    ckpt = sim.preset("llama-2-7b", global_batch_tokens=2**20, num_gpus=256, checkpoint_interval=7)
    blown = sim.preset("llama-2-7b", global_batch_tokens=2**20, num_gpus=256)
    blown_tl = tlm.build_timeline(blown, [(90_000, {"lr_peak": 6e-3, "lr_min": 6e-4})], seed=SEED)
    div = dynamics.first_divergence(blown_tl, SEED, 90_000, 200_000)
    assert div is not None
    return [
        ("llama-2-7b", sim.new_run(base).timeline, 300_000, None),
        ("spiky LR", sim.new_run(spiky_cfg).timeline, 150_000, None),
        ("two mid-run changes", changed, 260_000, None),
        ("a checkpoint every 7 steps", sim.new_run(ckpt).timeline, 120_000, None),
        ("diverged", blown_tl, div + 400, div),
    ]


@pytest.mark.parametrize("size", [1, 64, 512])
@pytest.mark.parametrize("case", _runs(), ids=lambda c: c[0])
def test_bucket_extremes_are_exactly_those_of_every_step(case, size: int) -> None:  # type: ignore[no-untyped-def]
    name, tl, stop, div = case
    if size == 1:
        stop = min(stop, 20_000)
    every = _every_step(tl, SEED, stop, div)
    ev = dynamics.find_events(tl, SEED, 0, stop, diverged_at=div, scan_from=stop)
    got = buckets.summarise(tl, SEED, ev, 0, stop, size)
    for leader in buckets.LEADERS:
        want = series.bucket_indices(every[leader], size)
        np.testing.assert_array_equal(got.kept[leader], want, err_msg=f"{name} {leader}")
        shown = dynamics.evaluate(tl, SEED, got.kept[leader], ev)[leader]
        np.testing.assert_array_equal(shown, every[leader][want])


def test_a_later_range_summarised_alone_gives_the_same_buckets() -> None:
    # What ticks draw (a range starting at a bucket edge) equals that part of a full draw.
    tl = sim.new_run(sim.preset("llama-2-7b", global_batch_tokens=2**20, num_gpus=256)).timeline
    size, stop = 1024, 400_000
    ev = dynamics.find_events(tl, SEED, 0, stop, diverged_at=None, scan_from=stop)
    whole = buckets.summarise(tl, SEED, ev, 0, stop, size)
    a = 300 * size
    ev2 = dynamics.find_events(
        tl, SEED, a - dynamics.LOOKBACK, stop, diverged_at=None, scan_from=stop
    )
    part = buckets.summarise(tl, SEED, ev2, a, stop, size)
    for leader in buckets.LEADERS:
        np.testing.assert_array_equal(
            part.kept[leader], whole.kept[leader][whole.kept[leader] >= a]
        )
        np.testing.assert_allclose(part.means[leader], whole.means[leader][300:], rtol=1e-12)


def test_bucket_means_are_the_means_of_every_step() -> None:
    tl = sim.new_run(sim.preset("llama-2-7b", global_batch_tokens=2**20, num_gpus=256)).timeline
    size, stop = 2048, 600_000
    every = _every_step(tl, SEED, stop, None)
    ev = dynamics.find_events(tl, SEED, 0, stop, diverged_at=None, scan_from=stop)
    got = buckets.summarise(tl, SEED, ev, 0, stop, size)
    n = stop // size * size
    loss = every["train_loss"][:n].reshape(-1, size).mean(axis=1)
    np.testing.assert_allclose(got.means["train_loss"][: loss.size], loss, rtol=1e-3)
    grad = every["grad_norm"][:n].reshape(-1, size).mean(axis=1)
    np.testing.assert_allclose(got.means["grad_norm"][: grad.size], grad, rtol=0.05)


def test_block_queries_agree_with_the_steps_they_cover() -> None:
    for a, level in [(0, 6), (64, 3), (8192, 7), (2**21 + 3 * 2**15, 15), (4096 + 112, 4)]:
        steps = np.arange(a, a + (1 << level), dtype=np.int64)
        z = noise.normal(SEED, noise.Z_LOSS, steps)
        hi, at_hi, lo, at_lo, total = noise.normal_blocks(
            SEED, noise.Z_LOSS, np.array([a]), np.array([level])
        )
        assert (hi[0], at_hi[0], lo[0], at_lo[0]) == (
            z.max(),
            steps[z.argmax()],
            z.min(),
            steps[z.argmin()],
        )
        assert total[0] == pytest.approx(z.sum(), abs=1e-9)
        u = noise.event_uniform(SEED, steps)
        assert noise.event_min(SEED, np.array([a]), np.array([level]))[0] == u.min()
    ints = noise.uniform_int(SEED, noise.U_JITTER, np.arange(300_000))
    prefix = np.concatenate([[0], np.cumsum(ints)])
    probe = np.array([0, 1, 63, 64, 8191, 8192, 123_457, 299_999, 300_000])
    np.testing.assert_array_equal(noise.uniform_prefix(SEED, noise.U_JITTER, probe), prefix[probe])


def test_the_noise_is_what_the_model_says() -> None:
    z = noise.normal(SEED, noise.Z_LOSS, np.arange(2_000_000))
    assert abs(z.mean()) < 0.005 and abs(z.std() - 1.0) < 0.005
    assert abs(np.corrcoef(z[:-1], z[1:])[0, 1]) < 0.005  # independent steps
    assert np.abs(z).max() <= dynamics.NOISE_Z_MAX
    # Rare events keep their rate: the hazards' uniforms are exact, not a table's few smallest.
    u = noise.event_uniform(SEED, np.arange(1_000_000))
    for p in (1e-5, 1e-4, 1e-3):
        expected = p * u.size
        assert abs(int((u < p).sum()) - expected) < 4 * math.sqrt(expected) + 1


def test_the_wall_clock_adds_up_the_step_times() -> None:
    tl = tlm.build_timeline(
        sim.preset("llama-2-7b", global_batch_tokens=2**20, num_gpus=256),
        [(5_000, {"num_gpus": 128})],
        seed=SEED,
    )
    steps = np.arange(0, 12_000, dtype=np.int64)
    idx = tl.segment_index(steps)
    wall = tlm.wall_at(tl, SEED, steps, idx)
    dt = tlm.step_time(tl, SEED, steps, idx)
    np.testing.assert_allclose(np.diff(wall), dt[1:], rtol=1e-9)
    assert wall[0] == pytest.approx(dt[0], rel=1e-12)


def test_a_later_change_never_moves_a_step_already_taken() -> None:
    cfg = sim.preset("llama-2-7b", global_batch_tokens=2**20, num_gpus=256)
    run = replace(sim.start(sim.new_run(cfg)), step=100_000)
    before = sim.metrics(run, 90_000, 100_000)
    after = sim.metrics(
        sim.apply_changes(run, {"lr_peak": 1e-4, "weight_decay": 0.0}), 90_000, 100_000
    )
    for k in ("train_loss", "grad_norm", "tokens_per_sec", "wall_time"):
        np.testing.assert_array_equal(after[k], before[k])
