"""Importing an export is idempotent by run identity (issue 17, item 7).

A run renamed after it was exported came back as a second copy ("Imported 2 runs": the same
run twice under two ids): the import matched runs by a hash of their whole state, name
included. It now matches them by seed, config and changes, and says what it skipped or
updated.
"""

from __future__ import annotations

import json

import simulator as sim
from simulator import saved


def _run(seed: int = 0, steps: int = 50, name: str = "") -> sim.RunState:
    cfg = sim.preset("vicuna-7b", seed=seed)
    return sim.advance(sim.start(sim.new_run(cfg, name=name)), steps)


def test_importing_the_export_of_a_renamed_run_does_not_duplicate_it() -> None:
    """The issue's steps: save, rename, export, import the export back."""
    lst, _ = saved.add_run([], sim.stop(_run(1)))
    lst, _ = saved.add_run(lst, sim.stop(_run(2)))
    renamed = saved.rename_run(lst, lst[0]["id"], "baseline")
    doc = saved.export_document(renamed).encode()
    merged, messages = saved.import_runs(renamed, doc)
    assert merged == renamed
    assert messages[0] == "Imported 0 runs."
    assert "already saved" in messages[1] and "'baseline'" in messages[1]
    # The export from before the rename is the same run too.
    merged, _ = saved.import_runs(renamed, saved.export_document(lst).encode())
    assert merged == renamed


def test_the_renamed_copy_in_the_file_is_skipped_too_and_new_runs_still_come_in() -> None:
    lst, _ = saved.add_run([], sim.stop(_run(1)))
    exported = saved.rename_run(lst, lst[0]["id"], "renamed elsewhere")
    other, _ = saved.add_run([], sim.stop(_run(3, name="new one")))
    doc = saved.export_document(exported + other).encode()
    merged, messages = saved.import_runs(lst, doc)
    assert [e["state"]["name"] for e in merged] == ["", "new one"]
    assert messages[0] == "Imported 1 run."
    assert messages[1].startswith("Skipped 1 already saved")


def test_a_copy_that_got_further_updates_the_saved_one_in_place() -> None:
    early = _run(1, steps=50)
    lst, _ = saved.add_run([], sim.pause(early), name="mine")
    later = sim.stop(sim.advance(early, 200))
    doc = saved.export_document([saved.make_entry(later, "theirs")]).encode()
    merged, messages = saved.import_runs(lst, doc)
    assert len(merged) == 1 and merged[0]["id"] == lst[0]["id"]  # comparisons still find it
    assert merged[0]["state"]["step"] == 250 and merged[0]["state"]["name"] == "mine"
    assert messages[0] == "Imported 0 runs."
    assert "Updated 1" in messages[1] and "'mine' (now at step 250, stopped)" in messages[1]
    again, messages = saved.import_runs(merged, doc)  # idempotent
    assert again == merged and "already saved" in messages[1]
    # An older copy never replaces a newer one.
    old_doc = saved.export_document(lst).encode()
    kept, _ = saved.import_runs(merged, old_doc)
    assert kept == merged


def test_identity_ignores_the_name_and_the_step_but_not_the_changes() -> None:
    a = _run(1, steps=50, name="a")
    assert saved.run_identity(a) == saved.run_identity(sim.advance(a, 10).to_dict())
    assert saved.run_identity(a) != saved.run_identity(_run(2))
    changed = sim.apply_changes(a, {"grad_clip": 0.5})
    assert saved.run_identity(a) != saved.run_identity(changed)
    doc = json.dumps({"format": saved.EXPORT_FORMAT, "version": 1, "runs": []}).encode()
    assert saved.import_runs([], doc)[1] == ["Imported 0 runs.", "the file holds no runs"]


def test_identity_survives_the_browser_writing_whole_floats_as_ints() -> None:
    """The browser's JSON.stringify writes 1.0 as 1: a stored run and its export (re-read by
    the server) must still be the same run."""
    d = _run(1).to_dict()
    as_stored = json.loads(json.dumps(d).replace(".0,", ",").replace(".0}", "}"))
    assert json.dumps(as_stored) != json.dumps(d)  # equal values, other number types
    assert saved.run_identity(as_stored) == saved.run_identity(d)
