"""Plan from a run (views/config_plan.py, tracking/corrections.py): a real run's recipe in
the Configuration form, its assumed fields marked, corrections saved back to the run.

A real SQLite store in tmp_path holds a real public log (tests/data/real-runs/
trainer-state-metamath-sft: an HF ``trainer_state.json`` that states the micro-batch, the
epochs, the eval and save intervals and logs the learning rate, and says nothing of the
GPUs). What is asserted is what the user sees: the form's values, each field's mark and
tooltip, the notice, and what the next reader of the run gets.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tracking_samples import case_dir

import simulator as sim
from layouts import ids
from tracking import corrections as tc
from tracking import store as store_module
from tracking.ingest import Follower, ingest
from tracking.recipe_params import RECIPE
from tracking.store import Store, StoreUnavailable
from views import config_form as cf
from views import config_plan as cp
from views import configuration as vc
from views.contract import KEEP, Notice
from views.stores import DEFAULT_MODEL

CASE = "trainer-state-metamath-sft"
RUN = CASE  # the watcher names a root's own run after its folder


@pytest.fixture
def store(tmp_path: Path) -> Store:
    root = tmp_path / CASE
    shutil.copytree(case_dir(CASE), root)
    s = store_module.open(f"sqlite:///{tmp_path / 'runs.sqlite3'}")
    [report] = ingest(s, [root.resolve()])
    assert report.run_id == RUN
    return s


def _form() -> tuple[str, dict[str, Any]]:
    """The form as a fresh page shows it: the default preset."""
    return cf.config_to_form(sim.preset(DEFAULT_MODEL))


def _load(store: Store, model: str, values: dict[str, Any]) -> vc.LoadResult:
    return vc.load(
        ids.CFG_PLAN_LOAD,
        1,
        model=model,
        values=values,
        plan_run=RUN,
        plan=None,
        open_store=lambda: store,
    )


def _filled(result: vc.LoadResult, values: dict[str, Any]) -> dict[str, Any]:
    """The form after the load (what the browser ends up holding)."""
    names = tuple(cf.FIELDS)
    return {n: values[n] if v is KEEP else v for n, v in zip(names, result.values, strict=True)}


def _marks(plan: Any, model: str, values: dict[str, Any]) -> dict[str, cp.Mark]:
    out = cp.marks(plan, model, values, cp.MARK_NAMES)
    return {
        n: cp.Mark(t, c.removeprefix("cfg-prov cfg-prov-"), tip)
        for n, t, c, tip in zip(cp.MARK_NAMES, out.text, out.class_name, out.tip, strict=True)
    }


def test_loading_a_run_fills_the_form_with_its_guess_and_marks_the_assumed_fields(
    store: Store,
) -> None:
    model, before = _form()
    result = _load(store, model, before)
    values = _filled(result, before)
    # What the run's logs state, in the form: trainer_state's train_batch_size 1,
    # eval_steps 500, save_steps 1000; the logged learning rate peaks at 2e-5.
    assert values["micro_batch_size"] == "1"
    assert values["eval_interval"] == "500"
    assert values["checkpoint_interval"] == "1000"
    assert values["lr_peak"] == "2e-5"
    assert isinstance(result.message, Notice) and result.message.tone == "info"
    assert "assumed" in result.message.text and CASE in result.message.text
    marks = _marks(result.plan, model, values)
    assert marks["gpu"].text == "assumed"
    assert marks["gpu"].tip.startswith("assumed: not in the run's logs;")
    assert marks["eval_interval"].text == "found"
    assert marks["eval_interval"].tip == "found: trainer_state.eval_steps"
    assert marks["lr_peak"].text == "derived"
    assert marks[cp.MODEL].text == "assumed"
    # A field edited for the next run says so, with the run's own value's source.
    values["eval_interval"] = "250"
    assert _marks(result.plan, model, values)["eval_interval"].text == "edited"


def test_a_saved_correction_persists_and_the_next_guess_reads_it_as_found(store: Store) -> None:
    model, before = _form()
    result = _load(store, model, before)
    values = _filled(result, before)
    values["gpu"] = "h100-sxm"  # the logs did not say; the user knows
    values["eval_interval"] = "250"  # a plan for the next run, not a correction
    out = cp.marks(result.plan, model, values, cp.MARK_NAMES)
    assert not out.save_disabled and out.note.endswith("Save corrections to the run: GPU.")

    saved = cp.save_corrections(lambda: store, result.plan, model, values, "alice")
    assert saved.message.tone == "success", saved.message.text
    assert "GPU" in saved.message.text and "alice" in saved.message.text
    params = store.params(RUN)
    assert params["dashboard.recipe.gpu"] == "h100-sxm"
    assert params["dashboard.recipe_by.gpu"] == "alice"
    assert "dashboard.recipe.eval_interval" not in params  # found fields are the run's own
    assert params[RECIPE + "gpu"] == "h100-sxm"  # the stored recipe other tabs read

    cfg, guesses = tc.current(store, RUN)
    gpu = next(g for g in guesses if g.field == "gpu")
    assert (cfg.gpu, gpu.provenance, gpu.source) == (
        "h100-sxm",
        "found",
        "corrected by alice in the dashboard",
    )
    # The form now reads as corrected, from the plan the save returned and from a new load.
    assert _marks(saved.plan, model, values)["gpu"].text == "corrected"
    again = _load(store, model, before)
    marks = _marks(again.plan, model, _filled(again, before))
    assert marks["gpu"].text == "corrected"
    assert marks["gpu"].tip == "found: corrected by alice in the dashboard"


def test_a_rewrite_of_the_runs_settings_keeps_the_corrections(store: Store) -> None:
    assert tc.save(store, RUN, {"zero_stage": 3}, "bob").ok
    # A watcher (or a script's PUT) rewriting the run's params must not drop them.
    store.put_run(RUN, params={"trainer_state.max_steps": "128"})
    assert store.params(RUN)["dashboard.recipe.zero_stage"] == "3"
    assert tc.current(store, RUN)[0].zero_stage == 3


def test_a_correction_that_breaks_a_cross_field_rule_is_refused_saying_why(store: Store) -> None:
    # 8 GPUs for a batch of one sequence: the simulator's rule, named with the way out.
    refused = tc.save(store, RUN, {"num_gpus": 8}, "bob")
    assert not refused.ok and "fewer than 8 data-parallel GPUs" in refused.message


def test_a_deleted_run_or_an_unavailable_store_is_a_notice_and_the_form_is_kept(
    store: Store,
) -> None:
    model, before = _form()
    result = _load(store, model, before)
    values = _filled(result, before)
    values["gpu"] = "h100-sxm"
    store.delete_run(RUN)

    saved = cp.save_corrections(lambda: store, result.plan, model, values, "alice")
    assert saved.plan is KEEP and saved.message.tone == "danger"
    assert "no longer in the store" in saved.message.text and RUN in saved.message.text
    again = _load(store, model, values)
    assert all(v is KEEP for v in again.values) and again.plan is KEEP
    assert isinstance(again.message, Notice) and "no longer in the store" in again.message.text

    def down() -> Store:
        raise StoreUnavailable("the store's database file is gone")

    gone = cp.save_corrections(down, result.plan, model, values, "alice")
    assert gone.plan is KEEP and "database file is gone" in gone.message.text


def test_a_correction_outside_the_allowed_range_is_refused_naming_it(store: Store) -> None:
    model, before = _form()
    result = _load(store, model, before)
    values = _filled(result, before)
    values["num_gpus"] = "9999999"
    saved = cp.save_corrections(lambda: store, result.plan, model, values, "alice")
    assert saved.message.tone == "danger" and "Fix the marked fields" in saved.message.text
    # The same through the store function another caller would use: named, nothing written.
    refused = tc.save(store, RUN, {"num_gpus": 9_999_999}, "alice")
    assert not refused.ok and "num_gpus" in refused.message
    assert not any(k.startswith("dashboard.") for k in store.params(RUN))


def test_the_picker_lists_runs_newest_first_with_source_and_last_step(store: Store) -> None:
    store.put_run("pushed-run", name="pushed", source="push", kind="push")
    runs = cp.run_options(lambda: store)
    assert [o["value"] for o in runs.options] == ["pushed-run", RUN]
    assert runs.options[0]["label"] == "pushed · pushed · no points yet"
    assert runs.options[1]["label"].endswith("· step 128")
    assert "trainer_state" in runs.options[1]["label"]


def _down() -> Callable[[], Store]:
    def open_store() -> Store:
        raise StoreUnavailable("locked past the store's timeout")

    return open_store


def test_an_unavailable_store_leaves_the_picker_empty_saying_why() -> None:
    runs = cp.run_options(_down())
    assert runs.options == [] and "locked past" in runs.placeholder


def test_the_watcher_guesses_again_with_a_correction_saved_after_it_loaded_the_run(
    store: Store, tmp_path: Path
) -> None:
    root = (tmp_path / CASE).resolve()
    follower = Follower(store)
    ingest(store, [root], follower=follower)  # the watcher has the run loaded
    assert tc.save(store, RUN, {"gpu": "h100-sxm"}, "alice").ok
    state = root / "trainer_state.json"
    state.write_text(state.read_text() + "\n")  # the trainer rewrites its file
    [report] = ingest(store, [root], follower=follower)
    assert report.files_read == 1
    params = store.params(RUN)
    assert params["dashboard.recipe.gpu"] == "h100-sxm"  # kept by the watcher's write
    assert params[RECIPE + "gpu"] == "h100-sxm"  # and in the recipe it stored
    assert params["recipe_provenance.gpu"] == "found: corrected by alice in the dashboard"


def test_while_a_run_is_loaded_the_presets_own_notes_give_way_to_the_runs_marks(
    store: Store,
) -> None:
    model, before = _form()
    result = _load(store, model, before)
    values = _filled(result, before)
    # Llama 2's paper does not publish the micro-batch; this run's logs do.
    plain = vc.estimate(model, values, None, "http://x/")
    assert plain.hints[list(cf.FIELDS).index("micro_batch_size")].startswith("not published")
    planned = vc.estimate(model, values, None, "http://x/", plan=result.plan)
    assert not planned.hints[list(cf.FIELDS).index("micro_batch_size")].startswith("not publ")
    assert CASE in planned.recipe and "Touvron" not in planned.recipe


def test_another_model_while_planning_keeps_the_runs_recipe_and_saves_as_a_correction(
    store: Store,
) -> None:
    model, before = _form()
    result = _load(store, model, before)
    values = _filled(result, before)
    picked = vc.load(
        ids.CFG_PRESET, "llama-2-13b", model="llama-2-13b", values=values, plan=result.plan
    )
    after = _filled(picked, values)
    assert after["eval_interval"] == "500" and after["lr_peak"] == "2e-5"  # the run's, kept
    assert picked.plan is KEEP
    assert _marks(result.plan, "llama-2-13b", after)[cp.MODEL].text == "edited"
    saved = cp.save_corrections(lambda: store, result.plan, "llama-2-13b", after, "carol")
    assert saved.message.tone == "success", saved.message.text
    assert store.params(RUN)["dashboard.recipe.model"] == "llama-2-13b"
    assert tc.current(store, RUN)[0].model == "llama-2-13b"


def test_correcting_only_the_batch_keeps_the_runs_step_count(tmp_path: Path) -> None:
    """llm.c's main.log states no batch, so the guess assumes one and derives the dataset
    from it and the logged steps. Correcting the batch alone was refused ("warmup 693 > the
    run's 153 steps": the old dataset split into the new batch); the run's steps are what
    its log says, so the dataset follows the corrected batch."""
    case = "text-llmc-mainlog-gpt2-124m"
    root = tmp_path / case
    shutil.copytree(case_dir(case), root)
    s = store_module.open(f"sqlite:///{tmp_path / 'llmc.sqlite3'}")
    [report] = ingest(s, [root.resolve()])
    before, guesses = tc.current(s, report.run_id)
    assert {g.field: g.provenance for g in guesses}["global_batch_tokens"] == "assumed"
    steps = round(before.dataset_tokens * before.epochs / before.global_batch_tokens)

    saved = tc.save(s, report.run_id, {"global_batch_tokens": 524_288}, "alice")
    assert saved.ok, saved.message
    after, guesses = tc.current(s, report.run_id)
    assert after.global_batch_tokens == 524_288
    assert round(after.dataset_tokens * after.epochs / after.global_batch_tokens) == steps
    assert {g.field: g.source for g in guesses}["global_batch_tokens"].startswith("corrected")
