"""The predicted band for a real run's recipe (tracking/prediction.py) and the simulator's
clean loss it is built on (simulator.dynamics.clean_loss)."""

from __future__ import annotations

import numpy as np
import pytest
from forecast_fixtures import make

import simulator as sim
from simulator import dynamics
from tracking import prediction
from tracking.recipe import guess
from tracking.records import Series


def _config(**changes: object) -> sim.TrainingConfig:
    base = {"num_gpus": 8, "global_batch_tokens": 2**20, "dataset_tokens": 4000 * 2**20}
    return sim.preset("llama-2-7b").with_changes({**base, "warmup_steps": 100, **changes})


def test_clean_loss_is_what_the_simulated_loss_averages_to() -> None:
    tl = sim.new_run(_config()).timeline
    n = tl.total_steps
    noisy = dynamics.compute(tl, 0, 0, n, diverged_at=None, scan_from=0).metrics["train_loss"]
    clean, _ = dynamics.clean_loss(tl, np.arange(n, dtype=np.int64))
    ratio = np.asarray(noisy, dtype=np.float64)[200:] / clean[200:]
    assert abs(float(ratio.mean()) - 1.0) < 0.003
    # Sparse steps give exactly the values of the dense evaluation (no step depends on others).
    some = np.array([0, 3, 31, 32, 1000, n - 1], dtype=np.int64)
    assert np.array_equal(dynamics.clean_loss(tl, some)[0], clean[some])


def test_band_is_bounded_at_any_run_length() -> None:
    cfg = sim.preset("llama-2-7b")  # 476,838 steps
    b = prediction.band(cfg)
    assert len(b.step) <= prediction.MAX_POINTS
    assert b.step[0] == 1 and b.step[-1] == cfg.total_steps
    logged = np.arange(1, 1_000_001, dtype=np.int64)
    assert len(prediction.band(cfg, logged).step) == prediction.MAX_POINTS
    assert np.all(b.low < b.centre) and np.all(b.centre < b.high)


def test_averaging_over_the_logging_interval_narrows_the_band() -> None:
    cfg = _config()
    steps = np.arange(100, 4001, 100, dtype=np.int64)
    one = prediction.band(cfg, steps, window=1)
    hundred = prediction.band(cfg, steps, window=100)
    width = lambda b: float(np.median((b.high - b.low) / b.centre))  # noqa: E731
    assert width(hundred) < 0.5 * width(one)
    # The default window is the observed logging interval.
    obs = Series("loss", steps, one.centre, np.full(steps.size, np.nan))
    assert prediction.band(cfg, observed=obs).window == 100


def test_anchored_tracks_an_offset_fine_tune_better_than_raw() -> None:
    fx = make(
        "ft",
        steps=3000,
        batch=2**19,
        lr=2e-5,
        warmup=30,
        base_tokens=2e12,
        scale=0.7,
        offset=-0.4,
        seed=3,
    )
    loss = fx.series[0]
    raw, config, _ = prediction.band_for_run(fx.params, fx.series, loss, mode="raw")
    anchored, _, _ = prediction.band_for_run(fx.params, fx.series, loss, mode="anchored")
    assert config.base_tokens > 0  # the recipe guess saw a fine-tune
    assert anchored.fit_steps is not None and anchored.fit_steps[1] <= 30 + 0.1 * 3000 + 10
    later = anchored.step > anchored.fit_steps[1]
    truth = np.interp(anchored.step, loss.step, loss.value)
    err = lambda b: float(np.mean(np.abs(b.centre[later] - truth[later]) / truth[later]))  # noqa: E731
    assert err(anchored) < 0.05
    assert err(anchored) < 0.25 * err(raw)


def test_an_edit_of_an_assumed_field_redraws_the_prediction() -> None:
    params = {"args.max_steps": "2000", "args.learning_rate": "3e-4"}
    loss = Series("loss", np.arange(10, 2001, 10), np.full(200, 3.0), np.full(200, np.nan))
    config, guesses = guess(params, [loss])
    assert "model" in prediction.editable(guesses)
    before = prediction.band(config, loss.step)
    bigger = prediction.edited(config, guesses, {"model": "llama-2-70b"})
    after = prediction.band(bigger, loss.step)
    assert float(after.centre[-1]) < float(before.centre[-1]) - 0.05  # a larger model ends lower
    b, _, _ = prediction.band_for_run(params, [loss], loss, edits={"warmup_steps": 500})
    assert not np.allclose(b.centre, before.centre)


@pytest.mark.parametrize(
    ("edits", "field", "words"),
    [
        ({"lr_peak": 1e-3}, "lr_peak", "found"),
        ({"warmup_steps": -5}, "warmup_steps", "from 0 to"),
        ({"weight_decay": 7.0}, "weight_decay", "from 0 to 1"),
        ({"model": "gpt-9"}, "model", "one of"),
        ({"warmup_steps": 10_000}, "warmup_steps", "at most the run's"),
        ({"no_such": 1}, "no_such", "not a recipe field"),
    ],
)
def test_a_bad_edit_names_the_field_and_what_is_allowed(
    edits: dict[str, object], field: str, words: str
) -> None:
    params = {"args.max_steps": "2000", "args.learning_rate": "3e-4"}
    loss = Series("loss", np.arange(10, 2001, 10), np.full(200, 3.0), np.full(200, np.nan))
    config, guesses = guess(params, [loss])
    with pytest.raises(prediction.EditError) as err:
        prediction.edited(config, guesses, edits)
    assert err.value.field == field
    assert words in str(err.value)
