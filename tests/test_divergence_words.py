"""After a divergence the words match the state and the chart (issue 17, item 3).

A live LR x20 made the alert say "diverged at step 11,001 ... run paused" while the loss
stayed finite until 11,026, the badge said Diverged and only Reset worked. Now the event, the
banner and the Comparison table name the step the chart shows NaN, the banner names where the
loss started to climb, and it offers only what works: the run has ended, Reset starts again.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import simulator as sim
from simulator import compare
from views.training_status import controls_enabled, diverged_text, event_rows


@pytest.fixture(scope="module")
def lr_x20() -> sim.RunState:
    """The issue's run: Llama 2 7B, LR x20 applied live at step 11,000."""
    cfg = sim.preset("llama-2-7b")
    s = sim.advance(sim.start(sim.new_run(cfg)), 11_000)
    s = sim.apply_changes(s, {"lr_peak": cfg.lr_peak * 20, "lr_min": cfg.lr_min * 20})
    s = sim.advance(s, 1_000)
    assert s.status == "diverged"
    return s


def _first_nan_step(state: sim.RunState) -> int:
    m = sim.metrics(state, 0, state.step)
    bad = np.flatnonzero(~np.isfinite(m["train_loss"]))
    assert bad.size, "a diverged run's chart ends in NaN"
    return int(m["step"][bad[0]])


def test_the_event_and_the_banner_name_the_step_the_chart_shows_nan(
    lr_x20: sim.RunState,
) -> None:
    nan_at = _first_nan_step(lr_x20)
    assert nan_at == lr_x20.step  # the run ends on its first NaN step
    newest = event_rows(lr_x20.events)[0]
    assert newest[:2] == [nan_at, "diverged"]
    assert "paused" not in newest[2] and "ended" in newest[2]

    banner = diverged_text(lr_x20)
    assert banner is not None
    assert f"NaN at step {nan_at:,}" in banner
    m = sim.metrics(lr_x20, 0, lr_x20.step)
    loss = m["train_loss"]
    climb = lr_x20.diverged_at + 2  # type: ignore[operator]
    assert f"climbed from step {climb:,}" in banner
    # The chart agrees: normal up to the step before, raised from it on.
    assert loss[climb - 1] > 1.2 * loss[climb - 2]
    assert np.isfinite(loss[: nan_at - 1]).all()


def test_the_banner_offers_what_the_buttons_do(lr_x20: sim.RunState) -> None:
    banner = diverged_text(lr_x20)
    assert banner is not None
    enabled = controls_enabled(lr_x20.status)
    assert "paused" not in banner.lower()
    assert "cannot be resumed" in banner and not enabled["pause"] and not enabled["start"]
    assert "Reset starts a new run" in banner and enabled["reset"]
    assert "without this run's live changes" in banner  # Reset drops the live LR x20
    with pytest.raises(sim.TransitionError):
        sim.resume(lr_x20)


def test_comparison_names_the_same_step(lr_x20: sim.RunState) -> None:
    a = compare.analyse_recipe("x", "x20", lr_x20.current_config)
    assert a.state.status == "diverged"
    row = compare.final_rows([a])[0]
    assert row["status"] == f"diverged at {_first_nan_step(a.state):,}"
    assert a.state.events[-1] == (a.state.step, "diverged", a.state.config.lr_peak)


def test_a_run_that_ends_before_its_loss_is_nan_says_so() -> None:
    cfg = sim.preset("vicuna-7b")
    total = sim.new_run(cfg).total_steps
    s = dataclasses.replace(sim.new_run(cfg), step=total, status="diverged", diverged_at=total - 5)
    banner = diverged_text(s)
    assert banner is not None and "NaN" not in banner
    assert f"until the run's last step, {total:,}" in banner


@pytest.mark.parametrize("per_call", [1, 7, 20, 100, 5000])
def test_a_run_diverges_at_the_same_step_whatever_the_tick(per_call: int) -> None:
    """A tick that ended mid-ramp left a "diverged" run with a finite loss (the browser
    showed step 800, loss 1,018.7 at 100 steps a tick); the run now always ends on its
    first NaN step."""
    cfg = sim.preset("llama-2-7b")
    s = sim.advance(sim.start(sim.new_run(cfg)), 700)
    s = sim.apply_changes(s, {"lr_peak": cfg.lr_peak * 20, "lr_min": cfg.lr_min * 20})
    while s.status == "running":
        before = s.step
        s = sim.advance(s, per_call)
        assert s.step - before <= per_call + sim.dynamics.DIVERGE_RAMP + 2
    assert s.status == "diverged"
    assert s.step == _first_nan_step(s) == s.diverged_at + sim.dynamics.DIVERGE_RAMP + 2  # type: ignore[operator]
    assert s.events[-1][:2] == (s.step, "diverged")


def test_the_loss_kpi_shows_no_trend_beside_nan(lr_x20: sim.RunState) -> None:
    """The KPI read "NaN ▲ 0.958 in 1k": a change figure beside a value that is not a number."""
    from views.training_status import kpis

    view = kpis(lr_x20, 100, 500, None)
    assert view["loss"] == "NaN"
    assert view["loss_sub"] == ""
