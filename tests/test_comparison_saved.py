"""Saved runs: bounded list, rename, delete, export and hostile imports (pure)."""

from __future__ import annotations

import base64
import json

import pytest

import simulator as sim
from simulator import saved


def _state(seed: int = 0, steps: int = 50, name: str = "") -> sim.RunState:
    cfg = sim.preset("vicuna-7b", seed=seed)
    st = sim.advance(sim.start(sim.new_run(cfg, name=name)), steps)
    return sim.stop(st)


def _upload(blob: bytes) -> str:
    return "data:application/json;base64," + base64.b64encode(blob).decode()


def test_add_run_keeps_the_newest_and_names_the_dropped() -> None:
    lst: list = []
    for i in range(saved.MAX_SAVED + 2):
        lst, notice = saved.add_run(lst, _state(seed=i, name=f"run {i}"))
    assert len(lst) == saved.MAX_SAVED
    assert notice is not None and "'run 1'" in notice
    assert lst[-1]["state"]["name"] == f"run {saved.MAX_SAVED + 1}"


def test_rename_keeps_the_id_and_delete_removes_only_that_run() -> None:
    lst, _ = saved.add_run([], _state(1))
    lst, _ = saved.add_run(lst, _state(2))
    rid = lst[0]["id"]
    renamed = saved.rename_run(lst, rid, "  baseline  ")
    assert renamed[0]["id"] == rid and renamed[0]["state"]["name"] == "baseline"
    good, errors = saved.load_saved(renamed)
    assert errors == [] and good[0][1].name == "baseline"
    assert saved.rename_run(lst, rid, "x" * 500)[0]["state"]["name"] == "x" * saved.MAX_NAME
    left = saved.delete_run(renamed, rid)
    assert [e["id"] for e in left] == [lst[1]["id"]]


def test_export_then_import_round_trips_into_an_empty_list() -> None:
    lst, _ = saved.add_run([], _state(1, name="a"))
    lst, _ = saved.add_run(lst, _state(2, name="b"))
    doc = saved.export_document(lst)
    assert json.loads(doc)["format"] == saved.EXPORT_FORMAT
    merged, messages = saved.import_runs([], saved.decode_upload(_upload(doc.encode())))
    assert [e["state"]["name"] for e in merged] == ["a", "b"]
    assert messages[0] == "Imported 2 runs."
    again, messages = saved.import_runs(merged, doc.encode())
    assert again == merged and "already saved" in messages[1]


@pytest.mark.parametrize(
    ("blob", "expected"),
    [
        (b"\x89PNG\r\n\x1a\n....", "not JSON"),
        (b"{not json", "not JSON"),
        (b'{"hello": "world"}', "not a saved-runs export"),
        (b'{"format": "llm-dashboard/saved-runs", "version": 99, "runs": []}', "version"),
        (b'{"format": "llm-dashboard/saved-runs", "version": 1, "runs": {}}', "not a list"),
        (json.dumps([{}] * 1000).encode(), "at most"),
        (b" " * (saved.MAX_IMPORT_BYTES + 1), "too large"),
    ],
)
def test_a_bad_file_is_refused_whole_with_a_clear_reason(blob: bytes, expected: str) -> None:
    with pytest.raises(saved.SavedFileError, match=expected):
        saved.import_runs([], blob)


def test_a_huge_upload_is_refused_before_decoding() -> None:
    huge = "data:application/json;base64," + "A" * (saved.MAX_IMPORT_BYTES * 2)
    with pytest.raises(saved.SavedFileError, match="too large"):
        saved.decode_upload(huge)
    with pytest.raises(saved.SavedFileError, match="base64"):
        saved.decode_upload("data:application/json;base64,***")
    with pytest.raises(saved.SavedFileError):
        saved.decode_upload(12)


def test_tampered_entries_are_skipped_and_the_good_ones_imported() -> None:
    good = saved.make_entry(_state(1, name="good"))
    bad_step = saved.make_entry(_state(2))
    bad_step["state"]["step"] = 10**8  # past the run's end
    bad_status = saved.make_entry(_state(3))
    bad_status["state"]["status"] = "exploded"
    forged = saved.make_entry(_state(4, name="forged"))
    forged["id"] = good["id"]  # tries to overwrite "good"
    doc = {
        "format": saved.EXPORT_FORMAT,
        "version": 1,
        "runs": [good, bad_step, "junk", bad_status, forged],
    }
    existing, _ = saved.add_run([], _state(9, name="mine"))
    merged, messages = saved.import_runs(existing, json.dumps(doc).encode())
    names = [e["state"]["name"] for e in merged]
    assert names == ["mine", "good", "forged"]  # nothing already saved was lost
    assert len({e["id"] for e in merged}) == 3  # ids come from content, not from the file
    skipped = [m for m in messages if "skipped" in m]
    assert len(skipped) == 3
    assert any("step" in m for m in skipped) and any("status" in m for m in skipped)


def test_import_overflow_keeps_the_newest_with_a_notice() -> None:
    lst: list = []
    for i in range(saved.MAX_SAVED):
        lst, _ = saved.add_run(lst, _state(seed=i))
    doc = saved.export_document([saved.make_entry(_state(seed=100, name="new"))])
    merged, messages = saved.import_runs(lst, doc.encode())
    assert len(merged) == saved.MAX_SAVED and merged[-1]["state"]["name"] == "new"
    assert any("dropped the oldest" in m for m in messages)


def test_load_saved_reports_bad_entries_without_losing_good_ones() -> None:
    lst, _ = saved.add_run([], _state(1))
    good, errors = saved.load_saved([*lst, {"id": "x", "state": {"version": 0}}, 7])
    assert len(good) == 1 and len(errors) == 2
    assert saved.load_saved({"a": 1}) == ([], ["saved runs were not a list; ignored"])
