"""Where the app shows a preset's recipe, it says which settings were not published
(issue 13, item 8): the Configuration tab under the preset picker and under each field, the
Comparison tab in its add list and its config diff."""

from __future__ import annotations

import simulator as sim
from views import comparison as vc
from views import config_form as cf
from views import configuration as vconf


def _hints(cfg: sim.TrainingConfig) -> dict[str, str]:
    model, values = cf.config_to_form(cfg)
    view = vconf.estimate(model, values, None, "http://127.0.0.1/")
    return dict(zip(vconf.PAGE.hints, view.hints, strict=True))


def test_configuration_marks_the_assumed_settings_of_a_preset() -> None:
    hints = _hints(sim.preset("llama-2-7b"))
    assert hints["num_gpus"].startswith("not published")  # Llama 2 gives no GPU count
    assert "assum" not in hints["lr_peak"]  # Table 1's 3.0e-4
    changed = _hints(sim.preset("llama-2-7b", num_gpus=512))
    assert "assum" not in changed["num_gpus"]  # the user's choice now, not the preset's


def test_configuration_says_where_the_recipe_comes_from() -> None:
    mistral = vconf.recipe_note("mistral-7b")
    assert "no training recipe published" in mistral and "every setting is assumed" in mistral
    llama3 = vconf.recipe_note("llama-3.1-8b")
    assert "Dubey et al. 2024" in llama3 and "GPUs" in llama3
    assert "MFU override: derived from the model card's 1.46M H100 GPU-hours" in llama3
    assert "every recipe setting as published" in vconf.recipe_note("vicuna-7b")
    assert vconf.recipe_note("custom") == ""
    model, values = cf.config_to_form(sim.preset("mistral-7b"))
    assert vconf.estimate(model, values, None, "http://x/").recipe == mistral


def test_comparison_lists_presets_with_what_they_assume() -> None:
    labels = {o["value"]: o["label"] for o in vc.add_options(None).options}
    assert labels["preset:mistral-7b"].endswith("recipe not published: every setting assumed")
    assert labels["preset:vicuna-7b"].endswith("— published recipe")
    assert labels["preset:llama-2-7b"].endswith("published recipe, 6 settings assumed")
    assert "preset:llama-3.1-405b" in labels and "preset:gemma-2-27b" in labels


def test_config_diff_marks_assumed_values_of_presets_only() -> None:
    cfg = sim.preset("llama-2-7b")
    saved = [{"id": "a1b2c3d4e5", "state": sim.new_run(cfg, name="mine").to_dict()}]
    selection = [
        {"kind": "preset", "ref": "llama-2-7b"},
        {"kind": "saved", "ref": "a1b2c3d4e5"},
        {"kind": "preset", "ref": "mistral-7b"},
    ]
    diff = vc.config_diff(selection, saved, False)
    rows = {r["field"]: r for r in diff.rows}
    assert rows["num_gpus"]["c0"] == "1,024 (assumed)"
    assert rows["num_gpus"]["c1"] == "1,024"  # a saved run's settings are what it ran with
    assert rows["lr_peak"]["c0"] == "0.0003"  # published
    assert rows["lr_peak"]["c2"] == "0.0003 (assumed)"  # Mistral's, not published
    assert rows["lr_peak"]["differs"] == ""  # the mark does not make equal values differ
