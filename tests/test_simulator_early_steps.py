"""Early steps and divergence look like real runs (issue 13, item 6).

Before: with warmup the loss fell 2.6 nats in the 12 steps a Qwen2.5-7B run spends at LR <=
1.8e-6 (the fall followed the tokens seen, not the LR applied), and a diverging Llama 2 7B
climbed to 868 nats (accuracy 1e-102-like, perplexity 1e304) over 24 steps before NaN.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import simulator as sim
from simulator import dynamics


def _from_scratch(name: str, steps: int, **changes: object) -> dict[str, np.ndarray]:
    cfg = sim.preset(name)
    if changes:
        cfg = cfg.with_changes(changes)
    return sim.metrics(sim.new_run(cfg), 0, steps)


@pytest.mark.parametrize("name", ["llama-2-7b", "qwen2.5-7b", "gemma-2-9b", "mistral-7b"])
def test_at_a_tiny_warmup_lr_the_loss_barely_moves(name: str) -> None:
    m = _from_scratch(name, 40)
    tiny = np.flatnonzero(m["lr"] <= 1.8e-6)
    assert tiny.size >= 12
    fall = float(m["train_loss"][0] - m["train_loss"][tiny].min())
    assert fall < 0.25, f"{name} fell {fall:.2f} nats at LR <= 1.8e-6"


@pytest.mark.parametrize("name", ["llama-2-7b", "qwen2.5-7b", "llama-3.1-8b", "gemma-2-2b"])
def test_the_first_logged_loss_is_the_untrained_models(name: str) -> None:
    """Step 1's loss is measured before the first update: a uniform guess, ln(vocab)."""
    cfg = sim.preset(name)
    m = _from_scratch(name, 1)
    assert m["step"][0] == 1
    assert m["train_loss"][0] == pytest.approx(math.log(cfg.arch.vocab_size), abs=1e-3)
    assert m["accuracy"][0] == pytest.approx(1.0 / cfg.arch.vocab_size, rel=0.01)


def test_the_early_fall_follows_the_lr_actually_applied() -> None:
    """A tenth of the peak LR (same warmup) applies a tenth of the LR: the loss has fallen
    far less by step 60, and still falls later."""
    cfg = sim.preset("llama-2-7b")
    full = _from_scratch("llama-2-7b", 400)["train_loss"]
    low = _from_scratch("llama-2-7b", 400, lr_peak=cfg.lr_peak / 10, lr_min=cfg.lr_min / 10)[
        "train_loss"
    ]
    ln_v = math.log(cfg.arch.vocab_size)
    assert ln_v - full[59] > 2.0  # the recipe is well on its way by step 60
    assert ln_v - low[59] < 0.3 * (ln_v - full[59])
    assert low[399] < ln_v - 1.0


def test_slices_of_the_early_steps_equal_the_whole_run() -> None:
    s = sim.new_run(sim.preset("qwen2.5-7b"))
    whole = sim.metrics(s, 0, 300)["train_loss"]
    for a, b in ((0, 7), (7, 50), (50, 300)):
        np.testing.assert_array_equal(sim.metrics(s, a, b)["train_loss"], whole[a:b])


@pytest.fixture(scope="module")
def diverged() -> sim.RunState:
    """The issue's run: Llama 2 7B, LR x20 applied live at step 11,000."""
    cfg = sim.preset("llama-2-7b")
    s = sim.advance(sim.start(sim.new_run(cfg)), 11_000)
    s = sim.apply_changes(s, {"lr_peak": cfg.lr_peak * 20, "lr_min": cfg.lr_min * 20})
    s = sim.advance(s, 1_000)
    assert s.status == "diverged"
    return s


def test_a_divergence_shoots_past_ln_vocab_but_not_to_hundreds_of_nats(
    diverged: sim.RunState,
) -> None:
    cfg = diverged.config
    ln_v = math.log(cfg.arch.vocab_size)
    div = diverged.diverged_at
    assert div is not None
    m = sim.metrics(diverged, div - 5, diverged.step)
    loss, grad = m["train_loss"], m["grad_norm"]
    finite = np.isfinite(loss)
    peak = float(loss[finite].max())
    assert ln_v < peak <= 1.5 * ln_v
    assert float(np.nanmax(m["perplexity"])) <= cfg.arch.vocab_size**1.5
    assert float(np.nanmin(m["accuracy"])) >= 1.0 / cfg.arch.vocab_size
    before = float(grad[:6].min())  # the divergence step and the 5 before it
    assert float(grad[finite][-1]) > 100 * before  # the grad norm explodes (e-fold a step)
    # NaN within a few steps of leaving the band, and the run ends on the first NaN step.
    nan_steps = m["step"][~finite]
    assert nan_steps[0] == diverged.step == div + dynamics.DIVERGE_RAMP + 2 <= div + 10
    assert diverged.events[-1][:2] == (diverged.step, "diverged")
