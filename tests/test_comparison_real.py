"""Real runs on the Model Comparison tab, at the views level, on a real SQLite store.

The store in tmp_path holds real public logs ingested as the watcher does
(``tracking.ingest``): llm.c's GPT-2 124M main.log (19,560 steps; its batch is not in the
log, so a user's correction gives it: 524,288 tokens, llm.c's GPT-2 124M reproduction,
docs/sources.md) and an HF ``trainer_state.json`` SFT run (128 steps, no model or hardware
in its settings). What a user would notice: the run overlaid on the step and tokens axes,
the chart saying which run it cannot draw on an axis and why, the final loss by the one
definition, the recipe's provenance in the config diff, the prediction in one click, a
deleted run's notice, a hostile id refused.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from simulator.run import FINAL_TAIL
from tests.tracking_samples import case_dir
from tracking import corrections
from tracking import store as store_module
from tracking.ingest import ingest
from tracking.store import Store
from views import comparison as vc
from views.comparison_list import Controls, parse_selection
from views.contract import KEEP, Notice

LLMC = "text-llmc-mainlog-gpt2-124m"
SFT = "trainer-state-metamath-sft"
LLMC_BATCH = 524_288  # llm.c GPT-2 124M: 0.5M-token batches (docs/sources.md)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    tmp = tmp_path_factory.mktemp("cmpreal")
    url = f"sqlite:///{tmp / 'runs.sqlite3'}"
    s = store_module.open(url)
    for case in (LLMC, SFT):
        root = tmp / case
        shutil.copytree(case_dir(case), root)
        [report] = ingest(s, [root.resolve()])
        assert report.run_id == case
    # What a user corrects on the Configuration tab (Plan from a run): the batch, GPT-2's
    # 1,024-token context, and the tokens it implies (the guess derived them from the
    # assumed 4,096-token batch; tracking.recipe applies corrections after deriving).
    fix = {
        "global_batch_tokens": LLMC_BATCH,
        "seq_len": 1024,
        "dataset_tokens": 19_560 * LLMC_BATCH,
    }
    saved = corrections.save(s, LLMC, fix, "tester")
    assert saved.ok, saved.message
    s.close()
    return url


@pytest.fixture
def store(db: str) -> Store:
    return store_module.open(db)


def opener(store: Store) -> Any:
    return lambda: store


def views(store: Store, selection: list[dict[str, Any]], x: str = "step") -> vc.Views:
    return vc.update_views(
        selection, [], Controls(x=x), None, list_changed=False, open_store=opener(store)
    )


def traces(fig: dict[str, Any], label: str) -> list[dict[str, Any]]:
    return [t for t in fig["data"] if str(t.get("name", "")).startswith(label)]


def note(fig: dict[str, Any]) -> str:
    text = " ".join(a["text"] for a in fig["layout"].get("annotations", []))
    return text.replace("<br>", " ")  # wrapped for Plotly


REAL = {"kind": "real", "ref": LLMC}
SFT_REAL = {"kind": "real", "ref": SFT}


def test_a_real_run_is_overlaid_on_step_and_tokens_with_a_preset(store: Store) -> None:
    sel = [REAL, {"kind": "preset", "ref": "llama-7b"}]
    on_step = views(store, sel, "step").curves
    [line] = [t for t in traces(on_step, f"{LLMC} (real)") if t["name"] == f"{LLMC} (real)"]
    assert line["x"][0] == 0 and line["x"][-1] == 19_559
    assert len(line["x"]) <= 4000  # bounded, whatever the run's length
    assert line["line"]["dash"] == "solid"
    assert traces(on_step, "LLaMA 7B recipe")  # the recipe drawn beside it
    on_tokens = views(store, sel, "tokens").curves
    [line] = [t for t in traces(on_tokens, f"{LLMC} (real)") if t["name"] == f"{LLMC} (real)"]
    assert line["x"][-1] == pytest.approx(19_559 * LLMC_BATCH, rel=1e-5)


def test_an_axis_the_run_cannot_be_drawn_on_is_named_in_the_chart(store: Store) -> None:
    fig = views(store, [SFT_REAL, {"kind": "preset", "ref": "llama-7b"}], "flops").curves
    assert not traces(fig, f"{SFT} (real)")  # left out ...
    text = note(fig)
    assert f"Not drawn against training compute (FLOPs): {SFT} (real)" in text  # ... and said
    assert "model is assumed, not in its logs" in text
    wall = views(store, [REAL], "wall_time").curves  # alone: the empty chart says why
    assert "its model, GPU type, GPU count are assumed" in note(wall)


def test_the_final_train_loss_is_the_mean_of_the_last_100_steps_points(store: Store) -> None:
    [row] = views(store, [REAL]).table
    tail = store.series(LLMC, "trl", 19_559 - FINAL_TAIL + 1, None, 1000)
    assert len(tail.step) == FINAL_TAIL
    assert row["train_loss"] == pytest.approx(float(np.mean(tail.value)), rel=1e-12)
    last_val = store.series(LLMC, "tel", 19_560, None, 2)
    assert row["val_loss"] == pytest.approx(float(last_val.value[-1]))
    assert row["perplexity"] == pytest.approx(math.exp(row["val_loss"]))
    assert row["kind"] == "real run" and row["steps"] == 19_560
    assert row["tokens_b"] == pytest.approx(19_560 * LLMC_BATCH / 1e9)
    assert row["params_b"] is None  # the model is assumed: no parameter count shown
    assert row["flops"] is None  # ... nor compute


def test_the_config_diff_shows_each_recipe_fields_provenance(store: Store) -> None:
    diff = vc.config_diff([REAL, SFT_REAL], [], [], open_store=opener(store))
    rows = {r["field"]: r for r in diff.rows}
    assert rows["global_batch_tokens"]["c0"] == "524,288 (corrected)"
    assert rows["lr_peak"]["c0"].endswith("(derived)")
    assert rows["gpu"]["c1"].endswith("(assumed)")
    assert rows["micro_batch_size"]["c1"].endswith("(found)")
    k = diff.rows.index(rows["global_batch_tokens"])
    assert "corrected by tester" in diff.tooltips[k]["c0"]["value"]
    assert any(
        s.get("fontStyle") == "italic" and s["if"].get("column_id") == "c1" for s in diff.style
    )


def test_compare_with_its_prediction_is_one_click(store: Store) -> None:
    sel = [REAL]
    [chip] = vc.chips(sel, [], opener(store)).chips
    assert chip.predict  # the chip offers it
    out = vc.edit_selection(
        "predict", remove=chip.key, selection=sel, saved=[], open_store=opener(store)
    )
    assert out.selection == [REAL, {"kind": "prediction", "ref": LLMC}]
    v = views(store, out.selection)
    pred = f"{LLMC}: prediction"
    line = next(t for t in v.curves["data"] if t["name"] == pred)
    assert line["line"]["dash"] == "dash"
    assert any(t.get("fill") == "tonexty" for t in traces(v.curves, pred))  # its band
    rows = {r["run"]: r for r in v.table}
    assert rows[pred]["kind"] == "prediction (raw)"
    assert 2.0 < rows[pred]["train_loss"] < 11.0
    assert not vc.chips(out.selection, [], opener(store)).chips[0].predict  # offered once
    # The prediction says which of its recipe's settings are guesses.
    assert "settings assumed (among them its model, GPU type, GPU count)" in str(v.notes.text)


def test_a_real_run_whose_compute_is_known_is_on_the_efficiency_chart(tmp_path: Path) -> None:
    s = store_module.open(f"sqlite:///{tmp_path / 'runs.sqlite3'}")
    root = tmp_path / SFT
    shutil.copytree(case_dir(SFT), root)
    ingest(s, [root.resolve()])
    eff = views(s, [SFT_REAL]).efficiency
    assert not [t for t in eff["data"] if t.get("name") == f"{SFT} (real)"]
    assert "Not shown: trainer-state-metamath-sft (real): its model is assumed" in note(eff)
    # MetaMath-7B is a Llama 2 7B fine-tune (Yu et al. 2023): a user corrects the model.
    assert corrections.save(s, SFT, {"model": "llama-2-7b"}, "tester").ok
    v = views(s, [SFT_REAL])
    [point] = [t for t in v.efficiency["data"] if t.get("name") == f"{SFT} (real)"]
    [row] = v.table
    assert point["x"] == [pytest.approx(row["flops"])] and row["flops"] > 0
    assert point["y"] == [pytest.approx(row["train_loss"])]  # no eval logged: its train loss


def test_a_run_deleted_from_the_store_is_a_notice_and_the_rest_stays(
    tmp_path: Path,
) -> None:
    s = store_module.open(f"sqlite:///{tmp_path / 'runs.sqlite3'}")
    root = tmp_path / SFT
    shutil.copytree(case_dir(SFT), root)
    ingest(s, [root.resolve()])
    sel = [SFT_REAL, {"kind": "preset", "ref": "llama-7b"}]
    assert len(views(s, sel).table) == 2
    s.delete_run(SFT)
    v = views(s, sel)
    assert [r["run"] for r in v.table] == ["LLaMA 7B recipe"]
    assert isinstance(v.notes, Notice)
    assert f"run {SFT!r} is no longer in the run store" in str(v.notes.text)
    [gone, kept] = vc.chips(sel, [], opener(s)).chips
    assert gone.gone and "no longer in the run store" in gone.label and not kept.gone
    added = vc.edit_selection("real", real_selected=[SFT], selection=[], open_store=opener(s))
    assert added.selection is KEEP and "no longer in the run store" in str(added.message.text)


@pytest.mark.parametrize("ref", ["../etc/passwd", "", "a" * 129, "x y", 7, None, "-lead"])
def test_a_hostile_run_id_is_refused(store: Store, ref: Any) -> None:
    items, errors = parse_selection([{"kind": "real", "ref": ref}, REAL])
    assert [i.ref for i in items] == [LLMC]
    assert errors and "compared real run 1 was dropped" in errors[0]
    out = vc.edit_selection("real", real_selected=[ref], selection=[], open_store=opener(store))
    assert out.selection is KEEP
    assert "is not allowed" in str(out.message.text)


def test_the_picker_lists_runs_newest_first_with_source_status_and_last_step(
    store: Store,
) -> None:
    table = vc.real_table(opener(store), "")
    assert [r["id"] for r in table.rows] == [r.run_id for r in store.runs()]
    row = next(r for r in table.rows if r["id"] == LLMC)
    assert row["last_step"] == 19_560 and row["source"].startswith("textlog")
    assert row["status"] in ("live", "finished", "stalled", "failed")
    found = vc.real_table(opener(store), "metamath")
    assert [r["id"] for r in found.rows] == [SFT] and "matching 'metamath'" in found.caption


def test_a_million_step_run_is_read_bounded(tmp_path: Path) -> None:
    """1M steps of loss (and an eval every 1,000): every trace at most 4,000 points, and the
    final train loss still the mean of the last 100 steps' points."""
    from tracking.records import Series

    s = store_module.open(f"sqlite:///{tmp_path / 'runs.sqlite3'}")
    s.put_run("big", name="big", source="push", kind="push", status="finished")
    steps = np.arange(1, 1_000_001, dtype=np.int64)
    loss = 2.0 + 8.0 / np.sqrt(steps + 10.0) + 0.01 * np.sin(steps)
    s.add("big", Series("train/loss", steps, loss, np.full(steps.size, np.nan)))
    ev = steps[999::1000]
    s.add("big", Series("eval/loss", ev, loss[999::1000], np.full(ev.size, np.nan)))
    v = views(s, [{"kind": "real", "ref": "big"}])
    sizes = [len(t["x"]) for t in v.curves["data"]]
    assert sizes and max(sizes) <= 4000
    [row] = v.table
    assert row["train_loss"] == pytest.approx(float(loss[-FINAL_TAIL:].mean()), rel=1e-12)
    assert row["val_loss"] == pytest.approx(float(loss[-1]))
    line = next(t for t in v.curves["data"] if t["name"] == "big (real)")
    assert line["x"][-1] == 1_000_000  # drawn to its last point
