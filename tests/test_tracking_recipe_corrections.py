"""Corrections saved in the dashboard (tracking/recipe/corrections.py) read by the guess.

A correction replaces whatever was guessed for its field and reads ``found: corrected by
<who> in the dashboard``; the name of who saved it is never taken for a setting; a stored
value that cannot be read leaves the guess as it was.
"""

from __future__ import annotations

from tracking.recipe import guess


def _by_field(params: dict[str, str]) -> dict[str, tuple[object, str, str]]:
    cfg, guesses = guess(params, [])
    values = cfg.to_dict()
    return {g.field: (values[g.field], g.provenance, g.source) for g in guesses}


def test_a_correction_is_found_and_names_who_made_it() -> None:
    stated = {"args.learning_rate": "0.0003", "args.max_seq_length": "2048"}
    before = _by_field(stated)
    assert before["gpu"][1] == "assumed"
    after = _by_field(
        {
            **stated,
            "dashboard.recipe.gpu": "h100-sxm",
            "dashboard.recipe_by.gpu": "alice",
            "dashboard.recipe.seq_len": "1024",  # overrides even a stated value
            "dashboard.recipe_by.seq_len": "bob",
        }
    )
    assert after["gpu"] == ("h100-sxm", "found", "corrected by alice in the dashboard")
    assert after["seq_len"] == (1024, "found", "corrected by bob in the dashboard")
    assert after["lr_peak"] == before["lr_peak"]  # the rest as guessed


def test_who_saved_it_is_not_read_as_a_setting_and_bad_values_are_skipped() -> None:
    params = {
        "dashboard.recipe_by.seq_len": "77",  # a name that happens to be digits
        "dashboard.recipe.num_gpus": "eight",  # not JSON: skipped, the guess stands
        "dashboard.recipe.no_such_field": "1",
    }
    got = _by_field(params)
    assert got["seq_len"][1] == "assumed" and got["seq_len"][0] != 77
    assert got["num_gpus"][1] == "assumed"


def test_a_correction_outside_the_bounds_is_clamped_saying_so() -> None:
    got = _by_field({"dashboard.recipe.grad_clip": "1e9", "dashboard.recipe_by.grad_clip": "a"})
    _, provenance, source = got["grad_clip"]
    assert provenance == "derived" and "clamped" in source and "corrected by a" in source
