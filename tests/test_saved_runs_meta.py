"""Saved runs as W&B keeps them (issue 17, item 17): a name, notes, tags, the date saved and
the GPUs, shown in the saved-runs list and the comparison legend; a delete that can be
undone; one hover label per curve with the raw and the smoothed loss.

Every saved run used to read "run 785c4e1648" in the legend, and Delete was final.
"""

from __future__ import annotations

import itertools
import json
import re

import simulator as sim
from layouts.figures import comparison as figs
from simulator import saved
from views import comparison as vc
from views import comparison_list as vcl
from views import training as vt


def _state(seed: int = 0, steps: int = 300, name: str = "", gpus: int = 8) -> sim.RunState:
    cfg = sim.preset("llama-2-7b", seed=seed, num_gpus=gpus)
    return sim.stop(sim.advance(sim.start(sim.new_run(cfg, name=name)), steps))


def _saved_from_training(*states: sim.RunState) -> list:
    lst: list = []
    for st in states:
        lst = vt.save(False, st.to_dict(), lst).saved
    return lst


def test_the_list_shows_name_gpus_date_tags_and_notes() -> None:
    lst = _saved_from_training(_state(1), _state(2, gpus=64))
    rows = vc.saved_table(lst).table
    assert [r["hardware"] for r in rows] == ["64×A100 80GB", "8×A100 80GB"]  # newest first
    assert all(r["name"] == "Llama 2 7B" for r in rows)  # not "run 785c4e1648"
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", r["saved"]) for r in rows)
    rows[1] |= {"name": "baseline", "tags": "lr-sweep, 8gpu ,lr-sweep", "notes": "clip 1.0"}
    edited = vc.edit_cells(rows, lst).saved
    row = vc.saved_table(edited).table[1]
    assert (row["name"], row["tags"], row["notes"]) == ("baseline", "lr-sweep, 8gpu", "clip 1.0")
    assert edited[0]["id"] == lst[0]["id"]  # comparisons still find it
    assert vc.edit_cells(vc.saved_table(edited).table, edited).saved is vc.KEEP  # no change


def test_the_legend_names_each_saved_run_and_its_gpus() -> None:
    lst = _saved_from_training(_state(1), _state(2, gpus=64))
    lst = saved.edit_run(lst, lst[0]["id"], name="baseline")
    items = [vcl.Item("saved", e["id"]) for e in lst]
    good, _ = saved.load_saved(lst)
    analyses, _ = vcl.analyse_items(items, dict(good), smoothing=0.9)
    fig = figs.curves_figure(analyses, smoothing=0.9)
    legend = [t["name"] for t in fig["data"] if t.get("showlegend", True)]
    assert legend == ["baseline · 8×A100 80GB", "Llama 2 7B · 64×A100 80GB"]


def test_runs_stored_before_meta_still_load_and_show() -> None:
    """An entry as stored before this change: ``{"id", "state"}``, no name, no meta."""
    old = [{"id": "785c4e1648", "state": _state(1).to_dict()}]
    good, errors = saved.load_saved(old)
    assert errors == [] and len(good) == 1
    row = vc.saved_table(old).table[0]
    assert (row["name"], row["hardware"], row["saved"], row["tags"]) == (
        "Llama 2 7B",
        "8×A100 80GB",
        "",
        "",
    )
    # A tampered meta costs the meta, never the run.
    bad = [{"id": "785c4e1648", "state": _state(1).to_dict(), "meta": {"tags": 3, "notes": 7}}]
    assert len(saved.load_saved(bad)[0]) == 1 and vc.saved_table(bad).table[0]["notes"] == ""


def test_export_and_import_keep_notes_tags_and_date_and_stay_idempotent() -> None:
    lst = _saved_from_training(_state(1), _state(2))
    lst = saved.edit_run(lst, lst[0]["id"], name="a", notes="first try", tags="x, y")
    doc = saved.export_document(lst)
    runs = json.loads(doc)["runs"]
    assert runs[0]["meta"]["notes"] == "first try" and runs[0]["meta"]["tags"] == ["x", "y"]
    merged, messages = saved.import_runs([], doc.encode())
    assert messages[0] == "Imported 2 runs."
    assert saved.entry_meta(merged[0]) == saved.entry_meta(lst[0])
    assert saved.entry_meta(merged[0]).saved_at is not None
    again, messages = saved.import_runs(merged, doc.encode())
    assert again == merged and "already saved" in messages[1]
    # Notes edited since the export are the user's: the import does not overwrite them.
    mine = saved.edit_run(merged, merged[0]["id"], notes="second thoughts")
    assert saved.import_runs(mine, doc.encode())[0] == mine


def test_delete_offers_undo_which_puts_runs_back_in_place_and_in_the_comparison() -> None:
    lst = _saved_from_training(_state(1), _state(2), _state(3))
    lst = saved.edit_run(lst, lst[1]["id"], name="middle", notes="keep me")
    mid = lst[1]["id"]
    selection = [{"kind": "preset", "ref": "llama-2-7b"}, {"kind": "saved", "ref": mid}]
    done = vc.manage_saved(
        "delete", upload=None, selected=[mid], name="", saved=lst, selection=selection
    )
    assert [e["id"] for e in done.saved] == [lst[0]["id"], lst[2]["id"]]
    assert done.selection == selection[:1]
    assert done.undo_open is True and done.undo_text == "Deleted 'middle'."
    undone = vc.undo_delete(json.loads(json.dumps(done.undo)), done.saved, done.selection)
    assert undone.saved == lst and undone.selection == selection  # notes and place kept
    assert undone.undo is None and undone.undo_open is False
    assert "Restored 1 saved run" in undone.message.text
    # A second Undo (or one after the run was saved again) doubles nothing.
    twice = vc.undo_delete(done.undo, undone.saved, undone.selection)
    assert twice.saved is vc.KEEP and "Nothing to undo" in twice.message.text
    assert vc.undo_delete({"runs": [[0, {"id": 1}]], "items": "x"}, lst, []).saved is vc.KEEP


def test_hover_lists_raw_and_smoothed_loss_in_one_label() -> None:
    lst = _saved_from_training(_state(1, steps=2000))
    good, _ = saved.load_saved(lst)
    analyses, _ = vcl.analyse_items([vcl.Item("saved", lst[0]["id"])], dict(good), smoothing=0.9)
    fig = figs.curves_figure(analyses, smoothing=0.9)
    hovered = [t for t in fig["data"] if t.get("hoverinfo") != "skip"]
    assert len(hovered) == 1  # the faint raw curve takes no hover: one label per curve
    line = hovered[0]
    assert "raw" in line["hovertemplate"] and "smoothed" in line["hovertemplate"]
    raw, smooth = line["customdata"], line["y"]
    assert len(raw) == len(smooth)
    # raw is noisier than the smoothed line it sits behind, and (past the fast early drop
    # the EMA lags behind) close to it
    diffs = [abs(r - s) for r, s in zip(raw, smooth, strict=True) if r and s]
    assert 0 < max(diffs[len(diffs) // 2 :]) < 0.3
    assert sum(abs(b - a) for a, b in itertools.pairwise(raw)) > sum(
        abs(b - a) for a, b in itertools.pairwise(smooth)
    )
