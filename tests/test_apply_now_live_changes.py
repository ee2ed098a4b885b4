"""Apply now keeps the run's live changes and the badge says where the form is applied
(issue 17, item 6).

Apply now of only a GPU count compared the form (the recipe) with the run's *current*
settings, so it also "changed" batch, LR and clipping back to the recipe: every live
adjustment was undone without a word, and the badge still said "Not applied yet".
"""

from __future__ import annotations

from typing import Any

import simulator as sim
from views import config_form as cf
from views import configuration as vc

SLUG = "vicuna-7b"


def _live_adjusted() -> sim.RunState:
    """A run with live changes of batch, LR and clipping at step 50 (as the Training tab's
    panel makes them), now at step 80."""
    cfg = sim.preset(SLUG)
    s = sim.advance(sim.start(sim.new_run(cfg)), 50)
    s = sim.apply_changes(
        s,
        {
            "global_batch_tokens": cfg.global_batch_tokens * 2,
            "lr_peak": cfg.lr_peak * 2,
            "lr_min": cfg.lr_min * 2,
            "grad_clip": 0.3,
        },
    )
    return sim.advance(s, 30)


def _form(**changes: Any) -> tuple[str, dict[str, Any]]:
    model, values = cf.config_to_form(sim.preset(SLUG))
    values.update(changes)
    return model, values


def test_apply_now_of_the_gpu_count_keeps_the_live_changes_and_says_so() -> None:
    state = _live_adjusted()
    gpus = 2 * state.config.num_gpus
    r = vc.apply_now(*_form(num_gpus=str(gpus)), state.to_dict())
    after = sim.RunState.from_dict(r.run)
    assert after.changes[-1] == (80, {"num_gpus": gpus})
    live = state.current_config
    now = after.current_config
    assert now.num_gpus == gpus
    assert (now.global_batch_tokens, now.lr_peak, now.lr_min, now.grad_clip) == (
        live.global_batch_tokens,
        live.lr_peak,
        live.lr_min,
        live.grad_clip,
    )
    text = r.message.text
    assert f"num_gpus = {gpus:,}" in text
    assert "Kept the run's own changes" in text
    for name in ("global_batch_tokens", "lr_peak", "grad_clip = 0.3"):
        assert name in text
    assert r.summary == "Applied to the running run"
    assert "cfg-summary-applied" in r.summary_class


def test_a_setting_edited_in_the_form_overrides_its_live_change() -> None:
    state = _live_adjusted()
    r = vc.apply_now(*_form(grad_clip="2"), state.to_dict())
    after = sim.RunState.from_dict(r.run)
    assert after.changes[-1] == (80, {"grad_clip": 2.0})
    assert after.current_config.lr_peak == state.current_config.lr_peak  # still kept
    assert "grad_clip = 2" in r.message.text and "lr_peak" in r.message.text


def test_the_badge_says_where_the_form_is_applied() -> None:
    state = _live_adjusted()
    gpus = 2 * state.config.num_gpus
    model, values = _form(num_gpus=str(gpus))
    applied = sim.preset(SLUG).to_dict()  # the next run's config: the recipe
    before = vc.estimate(model, values, applied, "http://x/", run=state.to_dict())
    assert before.summary == "Not applied yet"
    after = sim.RunState.from_dict(vc.apply_now(model, values, state.to_dict()).run)
    shown = vc.estimate(model, values, applied, "http://x/", run=after.to_dict())
    assert shown.summary == "Applied to the running run"
    paused = sim.pause(after)
    assert vc.estimate(model, values, applied, "http://x/", run=paused.to_dict()).summary == (
        "Applied to the paused run"
    )
    # The recipe itself is applied to the next run; any further edit is not applied yet.
    assert vc.estimate(*_form(), applied, "http://x/", run=after.to_dict()).summary == (
        "Applied to the next run"
    )
    model, values = _form(num_gpus=str(gpus), weight_decay="0.05")
    assert vc.estimate(model, values, applied, "http://x/", run=after.to_dict()).summary == (
        "Not applied yet"
    )
