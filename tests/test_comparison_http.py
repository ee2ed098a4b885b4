"""Model Comparison callbacks over HTTP (Flask test client), including hostile input.

Payloads are built from /_dash-dependencies the way the browser builds them, so a callback's
signature change shows up here as a failing test, not as a silently wrong request.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import dash
import pytest
from renderer import Callbacks, apply_patch

import simulator as sim
from layouts import ids
from simulator import saved
from views import comparison_list as vcl


class Dash:
    """Runs Comparison callbacks by the output they write (``tests/renderer.py`` builds the
    request); returns the status and the decoded ``response``."""

    def __init__(self, app: dash.Dash) -> None:
        self.client = app.server.test_client()
        self.deps = self.client.get("/_dash-dependencies").json
        self.callbacks = Callbacks(self.deps)

    def post(
        self, output: str, values: dict[str, Any], changed: list[str], *, duplicate: bool = False
    ) -> tuple[int, dict[str, Any]]:
        """Call the callback writing ``output`` (its ``allow_duplicate`` one if ``duplicate``)."""
        dep = self.callbacks.find_output(output, duplicate)
        r = self.callbacks.post(self.client, dep, values, changed)
        return r.status_code, (r.json or {}).get("response", {}) if r.status_code == 200 else {}


@pytest.fixture
def ui(make_app: Callable[[], dash.Dash]) -> Dash:
    return Dash(make_app())


def _run(name: str = "mine", seed: int | None = None) -> sim.RunState:
    cfg = sim.preset("vicuna-7b") if seed is None else sim.preset("vicuna-7b", seed=seed)
    return sim.stop(sim.advance(sim.start(sim.new_run(cfg, name=name)), 500))


def _views(selection: Any, saved_list: Any = None, x: str = "step") -> dict[str, Any]:
    return {
        f"{ids.CMP_SELECTION}.data": selection,
        f"{ids.SAVED_RUNS_STORE}.data": saved_list,
        f"{ids.CMP_X_AXIS}.value": x,
        f"{ids.CMP_CURVE_KIND}.value": "train",
        f"{ids.CMP_SMOOTHING}.value": 0.6,
        f"{ids.CMP_LOG_AXES}.value": [],
        f"{ids.CMP_DIFF_HIDE}.value": True,
    }


def _upload(blob: bytes) -> str:
    return "data:application/json;base64," + base64.b64encode(blob).decode()


def _import(ui: Dash, contents: Any, existing: Any) -> tuple[int, dict[str, Any]]:
    return ui.post(
        ids.SAVED_RUNS_STORE + ".data",
        {
            f"{ids.CMP_IMPORT_UPLOAD}.contents": contents,
            f"{ids.SAVED_RUNS_STORE}.data": existing,
        },
        [f"{ids.CMP_IMPORT_UPLOAD}.contents"],
        duplicate=True,
    )


# ----------------------------------------------------------------------------- add and view
def test_adding_a_preset_then_viewing_it_on_the_flops_axis(ui: Dash) -> None:
    code, resp = ui.post(
        f"{ids.CMP_SELECTION}.data",
        {
            f"{ids.CMP_ADD_BUTTON}.n_clicks": 1,
            f"{ids.CMP_ADD_CHOICE}.value": "preset:vicuna-7b",
            f"{ids.CMP_SELECTION}.data": [{"kind": "preset", "ref": "vicuna-13b"}],
        },
        [f"{ids.CMP_ADD_BUTTON}.n_clicks"],
    )
    assert code == 200
    selection = resp[ids.CMP_SELECTION]["data"]
    assert selection == [
        {"kind": "preset", "ref": "vicuna-13b"},
        {"kind": "preset", "ref": "vicuna-7b"},
    ]
    code, resp = ui.post(
        f"{ids.CMP_CURVES_GRAPH}.figure", _views(selection, x="flops"), [f"{ids.CMP_X_AXIS}.value"]
    )
    assert code == 200
    fig = resp[ids.CMP_CURVES_GRAPH]["figure"]
    legend = [t["name"] for t in fig["data"] if t.get("showlegend", True)]  # not the raw lines
    assert legend == ["Vicuna 13B v1.5 recipe", "Vicuna 7B v1.5 recipe"]
    assert fig["layout"]["xaxis"]["title"]["text"] == "Training compute (FLOPs)"
    rows = resp[ids.CMP_METRICS_TABLE]["data"]
    assert [r["run"] for r in rows] == ["Vicuna 13B v1.5 recipe", "Vicuna 7B v1.5 recipe"]
    assert all(r["status"] == "finished" and r["val_loss"] > 0 for r in rows)


def test_the_saved_config_can_be_added_and_a_bad_one_is_refused(ui: Dash) -> None:
    cfg = sim.preset("vicuna-7b", lr_peak=3e-5).to_dict()
    values = {
        f"{ids.CMP_ADD_BUTTON}.n_clicks": 1,
        f"{ids.CMP_ADD_CHOICE}.value": "config",
        f"{ids.CONFIG_STORE}.data": cfg,
        f"{ids.CMP_SELECTION}.data": None,
    }
    _, resp = ui.post(f"{ids.CMP_SELECTION}.data", values, [f"{ids.CMP_ADD_BUTTON}.n_clicks"])
    assert resp[ids.CMP_SELECTION]["data"][0]["config"]["lr_peak"] == 3e-5
    values[f"{ids.CONFIG_STORE}.data"] = {**cfg, "num_gpus": -5}
    code, resp = ui.post(f"{ids.CMP_SELECTION}.data", values, [f"{ids.CMP_ADD_BUTTON}.n_clicks"])
    assert code == 200
    assert ids.CMP_SELECTION not in resp  # the comparison is left as it was
    assert "num_gpus" in json.dumps(resp[ids.CMP_MESSAGE])


def test_removing_one_compared_run(ui: Dash) -> None:
    selection = [{"kind": "preset", "ref": "vicuna-7b"}, {"kind": "preset", "ref": "vicuna-13b"}]
    pattern = json.dumps({"index": ["ALL"], "type": ids.CMP_REMOVE}, separators=(",", ":"))
    # One remove button per compared run; the second one was clicked.
    removes = {"preset:vicuna-7b": None, "preset:vicuna-13b": 1}
    dep_id = next(
        i["id"]
        for d in ui.deps
        for i in d["inputs"]
        if i["id"].startswith("{") and ids.CMP_REMOVE in i["id"]
    )
    assert json.loads(dep_id) == json.loads(pattern)
    key = json.dumps(ids.cmp_remove("preset:vicuna-13b"), separators=(",", ":"), sort_keys=True)
    changed = [key + ".n_clicks"]  # the browser sorts the keys of a pattern id
    code, resp = ui.post(
        f"{ids.CMP_SELECTION}.data",
        {f"{dep_id}.n_clicks": removes, f"{ids.CMP_SELECTION}.data": selection},
        changed,
    )
    assert code == 200
    assert resp[ids.CMP_SELECTION]["data"] == [{"kind": "preset", "ref": "vicuna-7b"}]


def test_config_diff_over_http_highlights_differences(ui: Dash) -> None:
    selection = [{"kind": "preset", "ref": "vicuna-7b"}, {"kind": "preset", "ref": "vicuna-13b"}]
    code, resp = ui.post(f"{ids.CMP_DIFF_TABLE}.data", _views(selection), [])
    assert code == 200
    rows = resp[ids.CMP_DIFF_TABLE]["data"]
    fields = {r["field"] for r in rows}
    assert {"model", "gpu", "parameters"} <= fields and "seq_len" not in fields
    assert all(r["differs"] == "yes" for r in rows)


def test_csv_export_is_the_table_as_shown_with_hostile_cells_neutralised(ui: Dash) -> None:
    rows = [
        {"run": "A", "kind": "saved run", "status": "stopped", "steps": 10, "train_loss": 2.5},
        {"run": "B" * 10_000, "steps": {"$gt": 1}, "train_loss": "NaN", "extra": "x"},
        "junk",
    ]
    code, resp = ui.post(
        f"{ids.CMP_CSV_DOWNLOAD}.data",
        {f"{ids.CMP_CSV_BUTTON}.n_clicks": 1, f"{ids.CMP_METRICS_TABLE}.data": rows},
        [f"{ids.CMP_CSV_BUTTON}.n_clicks"],
    )
    assert code == 200
    dl = resp[ids.CMP_CSV_DOWNLOAD]["data"]
    assert dl["filename"] == "run-comparison.csv"
    lines = dl["content"].splitlines()
    assert lines[0].startswith("Run,Kind,Status,Steps,Final train loss")
    assert lines[1].startswith("A,saved run,stopped,10,2.5")
    assert len(lines[2]) < 400 and "extra" not in dl["content"]


# ---------------------------------------------------------------------- hostile stores
@pytest.mark.parametrize(
    ("selection", "rows", "note"),
    [
        ("not a list", 0, "was not a list"),
        ([{"kind": "config", "config": {"dataset_tokens": 1e300}}], 0, "dataset_tokens"),
        ([{"kind": "preset", "ref": "../../etc/passwd"}], 0, "not understood"),
        ([{"kind": "saved", "ref": "nope"}], 0, "no longer saved"),
        ([{"kind": "preset", "ref": "vicuna-7b"}] * 5000, 1, None),  # duplicates: dropped quietly
    ],
)
def test_tampered_comparison_lists_give_a_message_not_an_error(
    ui: Dash, selection: Any, rows: int, note: str | None
) -> None:
    code, resp = ui.post(f"{ids.CMP_CURVES_GRAPH}.figure", _views(selection), [])
    assert code == 200
    assert len(resp[ids.CMP_METRICS_TABLE]["data"]) == rows
    notes = resp[ids.CMP_VIEW_NOTES]["children"]
    if note is None:
        assert notes is None
    else:
        assert note in json.dumps(notes)


def test_a_tampered_saved_run_is_ignored_and_the_others_still_shown(ui: Dash) -> None:
    good, _ = saved.add_run([], _run("good"))
    bad = saved.make_entry(_run("bad"))
    bad["state"]["config"]["num_gpus"] = "many"
    saved_list = [*good, bad, {"id": 1}]
    code, resp = ui.post(f"{ids.CMP_SAVED_TABLE}.data", _views(None, saved_list), [])
    assert code == 200
    assert [r["name"] for r in resp[ids.CMP_SAVED_TABLE]["data"]] == ["good"]
    assert "2 invalid entries ignored" in resp[ids.CMP_SAVED_COUNT]["children"]


# ----------------------------------------------------------------------------- imports
def test_importing_an_export_adds_its_runs(ui: Dash) -> None:
    theirs, _ = saved.add_run([], _run("theirs", seed=7))  # another run, not a renamed copy
    mine, _ = saved.add_run([], _run("mine-2"))
    code, resp = _import(ui, _upload(saved.export_document(theirs).encode()), mine)
    assert code == 200
    names = [e["state"]["name"] for e in resp[ids.SAVED_RUNS_STORE]["data"]]
    assert names == ["mine-2", "theirs"]
    assert "Imported 1 run." in json.dumps(resp[ids.CMP_MESSAGE])


@pytest.mark.parametrize(
    ("contents", "reason"),
    [
        (_upload(b"\x89PNG\r\n\x1a\n\x00\x00"), "not JSON"),
        (_upload(b'{"runs": []}'), "not a saved-runs export"),
        (_upload(b"[" + b"1," * 300_000 + b"1]"), "too large"),
        # Over the import limit but under the request-body limit (request_guard.MAX_BODY_BYTES,
        # 1 MiB), so the callback itself sees it; a larger body is a 413 before Dash runs.
        ("data:application/json;base64," + "A" * 600_000, "too large"),
        ("garbage without a comma", "not a file"),
        (12345, "not a file"),
    ],
)
def test_a_hostile_import_is_refused_and_nothing_saved_is_lost(
    ui: Dash, contents: Any, reason: str
) -> None:
    mine, _ = saved.add_run([], _run("keep me"))
    code, resp = _import(ui, contents, mine)
    assert code == 200
    assert ids.SAVED_RUNS_STORE not in resp  # the saved list is not touched
    message = json.dumps(resp[ids.CMP_MESSAGE])
    assert "Import failed" in message and reason in message


def test_an_import_with_a_tampered_state_keeps_the_valid_runs(ui: Dash) -> None:
    good = saved.make_entry(_run("fine"))
    forged = saved.make_entry(_run("forged"))
    forged["state"]["status"] = "finished"  # but not at its last step
    doc = {"format": saved.EXPORT_FORMAT, "version": 1, "runs": [forged, good]}
    code, resp = _import(ui, _upload(json.dumps(doc).encode()), [])
    assert code == 200
    assert [e["state"]["name"] for e in resp[ids.SAVED_RUNS_STORE]["data"]] == ["fine"]
    assert "skipped" in json.dumps(resp[ids.CMP_MESSAGE])


def test_rename_and_delete_over_http(ui: Dash) -> None:
    lst, _ = saved.add_run([], _run("a"))
    lst, _ = saved.add_run(lst, _run("b"))
    rid = lst[0]["id"]
    values = {
        f"{ids.CMP_RENAME_BUTTON}.n_clicks": 1,
        f"{ids.CMP_SAVED_TABLE}.selected_row_ids": [rid],
        f"{ids.CMP_RENAME_INPUT}.value": "baseline",
        f"{ids.SAVED_RUNS_STORE}.data": lst,
        f"{ids.CMP_SELECTION}.data": [{"kind": "saved", "ref": rid}],
    }
    _, resp = ui.post(
        ids.SAVED_RUNS_STORE + ".data",
        values,
        [f"{ids.CMP_RENAME_BUTTON}.n_clicks"],
        duplicate=True,
    )
    renamed = resp[ids.SAVED_RUNS_STORE]["data"]
    assert renamed[0]["state"]["name"] == "baseline" and renamed[0]["id"] == rid
    values[f"{ids.SAVED_RUNS_STORE}.data"] = renamed
    _, resp = ui.post(
        ids.SAVED_RUNS_STORE + ".data",
        values,
        [f"{ids.CMP_DELETE_BUTTON}.n_clicks"],
        duplicate=True,
    )
    assert [e["state"]["name"] for e in resp[ids.SAVED_RUNS_STORE]["data"]] == ["b"]
    assert resp[ids.CMP_SELECTION]["data"] == []  # a deleted run leaves the comparison too


def test_published_scores_follow_the_source(ui: Dash) -> None:
    values = {
        f"{ids.CMP_BENCH_SOURCE}.value": "code-llama-table-2",
        f"{ids.CMP_BENCH_MODELS}.value": ["Code Llama 34B"],
        f"{ids.CMP_BENCH_BENCHMARKS}.value": ["HumanEval", "MBPP"],
    }
    code, resp = ui.post(f"{ids.CMP_BENCH_BARS}.figure", values, [])
    assert code == 200
    bars = resp[ids.CMP_BENCH_BARS]["figure"]
    assert "Code Llama paper, Table 2" in bars["layout"]["title"]["text"]
    assert bars["data"][0]["y"] == [48.8, 55.0]
    assert resp[ids.CMP_BENCH_TABLE]["data"][0]["table"] == "Rozière et al. 2023 Table 2"
    values[f"{ids.CMP_BENCH_SOURCE}.value"] = "<script>"
    code, resp = ui.post(f"{ids.CMP_BENCH_BARS}.figure", values, [])
    assert code == 200  # an unknown source falls back to the default one


def test_very_long_runs_are_bounded_work_with_a_note(ui: Dash) -> None:
    """A valid but huge comparison (12 recipes of the longest run) answers at once, saying why."""
    long = sim.preset("vicuna-7b", dataset_tokens=128 * 2048 * sim.MAX_STEPS, epochs=1.0)
    assert long.total_steps == sim.MAX_STEPS
    selection = [{"kind": "config", "config": {**long.to_dict(), "seed": s}} for s in range(12)]
    # Bounded by the step budget below, not by a wall clock (this machine's load varies 10x;
    # benchmarks/bench_comparison.py times it).
    code, resp = ui.post(f"{ids.CMP_CURVES_GRAPH}.figure", _views(selection), [])
    assert code == 200
    assert "budget" in json.dumps(resp[ids.CMP_VIEW_NOTES])
    # As many as the view's step budget holds are drawn; the rest are named in the notes.
    drawn = vcl.MAX_VIEW_STEPS // sim.MAX_STEPS
    assert len(resp[ids.CMP_METRICS_TABLE]["data"]) == drawn >= 1
    assert json.dumps(resp[ids.CMP_VIEW_NOTES]).count("past this view's budget") == 12 - drawn


def test_a_compared_run_deleted_elsewhere_keeps_a_removable_chip(ui: Dash) -> None:
    lst, _ = saved.add_run([], _run("kept"))
    selection = [{"kind": "saved", "ref": lst[0]["id"]}, {"kind": "saved", "ref": "0123456789"}]
    code, resp = ui.post(f"{ids.CMP_CHIPS}.children", _views(selection, lst), [])
    assert code == 200
    text = json.dumps(resp[ids.CMP_CHIPS]["children"])
    assert "kept" in text and "deleted saved run 0123456789" in text
    assert json.dumps(ids.cmp_remove("saved:0123456789")) in text  # it can be removed


def test_log_axes_come_with_the_redrawn_view(ui: Dash) -> None:
    """The log switches redraw the view (one owner of the figure: no race with a redraw)."""
    values = _views([{"kind": "preset", "ref": "vicuna-7b"}], x="tokens")
    values[f"{ids.CMP_LOG_AXES}.value"] = ["x", "y"]
    code, resp = ui.post(f"{ids.CMP_CURVES_GRAPH}.figure", values, [f"{ids.CMP_LOG_AXES}.value"])
    assert code == 200
    layout = resp[ids.CMP_CURVES_GRAPH]["figure"]["layout"]
    assert layout["xaxis"]["type"] == "log" and layout["yaxis"]["type"] == "log"
    assert layout["xaxis"]["title"]["text"] == "Tokens"


def _drawn(ui: Dash, selection: list[dict[str, Any]]) -> dict[str, Any]:
    """Draw the views for ``selection``; returns what the browser would hold."""
    code, resp = ui.post(f"{ids.CMP_CURVES_GRAPH}.figure", _views(selection), [])
    assert code == 200
    return resp


def _as_browser(value: Any) -> Any:
    """What the browser sends back: ``JSON.stringify`` writes whole floats below 1e21 (like
    1.3e20) as integer literals, which Python then reads as (huge) ints."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(value)
    if isinstance(value, list):
        return [_as_browser(v) for v in value]
    if isinstance(value, dict):
        return {k: _as_browser(v) for k, v in value.items()}
    return value


def _add(ui: Dash, choice: str, selection: Any, view: Any) -> dict[str, Any]:
    values = {
        **_views(selection),
        f"{ids.CMP_ADD_BUTTON}.n_clicks": 1,
        f"{ids.CMP_ADD_CHOICE}.value": choice,
        f"{ids.CMP_VIEW_STATE}.data": view,
    }
    code, resp = ui.post(f"{ids.CMP_SELECTION}.data", values, [f"{ids.CMP_ADD_BUTTON}.n_clicks"])
    assert code == 200
    return resp


def _patched(value: Any, answer: Any) -> Any:
    """What the browser holds after ``answer`` (a Patch's JSON) edits ``value``; also for an
    operation on the value itself (a table's rows), which ``renderer.apply_patch`` does not
    address."""
    assert isinstance(answer, dict) and "__dash_patch_update" in answer, answer
    ops = [{**op, "location": ["v", *op["location"]]} for op in answer["operations"]]
    return apply_patch({"v": value}, {**answer, "operations": ops})["v"]


def test_adding_to_drawn_views_appends_only_the_new_run(ui: Dash) -> None:
    """The add costs the new run alone: Patches append its traces, row and point, and the
    full redraw that the new list would trigger has nothing left to do."""
    first = [{"kind": "preset", "ref": "vicuna-7b"}]
    drawn = _drawn(ui, first)
    view = _as_browser(drawn[ids.CMP_VIEW_STATE]["data"])
    assert isinstance(view["span"][1], int) and view["span"][1] > 2**64  # as the browser has it
    resp = _add(ui, "preset:vicuna-13b", first, view)
    selection = resp[ids.CMP_SELECTION]["data"]
    assert [s["ref"] for s in selection] == ["vicuna-7b", "vicuna-13b"]
    names = ["Vicuna 7B v1.5 recipe", "Vicuna 13B v1.5 recipe"]
    curves = _patched(drawn[ids.CMP_CURVES_GRAPH]["figure"], resp[ids.CMP_CURVES_GRAPH]["figure"])
    assert [t["name"] for t in curves["data"] if t.get("showlegend", True)] == names
    assert len(curves["data"][1]["x"]) <= 4000
    table = _patched(drawn[ids.CMP_METRICS_TABLE]["data"], resp[ids.CMP_METRICS_TABLE]["data"])
    assert [r["run"] for r in table] == names
    eff = _patched(
        drawn[ids.CMP_EFFICIENCY_GRAPH]["figure"], resp[ids.CMP_EFFICIENCY_GRAPH]["figure"]
    )
    assert [t["name"] for t in eff["data"] if t["mode"] == "markers+text"] == names
    new_view = resp[ids.CMP_VIEW_STATE]["data"]
    assert new_view["keys"] == ["preset:vicuna-7b", "preset:vicuna-13b"]

    # The new list then triggers update_views: already drawn, so it sends nothing.
    values = {**_views(selection), f"{ids.CMP_VIEW_STATE}.data": new_view}
    listed = [f"{ids.CMP_SELECTION_CHANGED}.data"]
    code, resp = ui.post(f"{ids.CMP_CURVES_GRAPH}.figure", values, listed)
    assert code in (200, 204) and resp == {}, resp

    # A full redraw of the same list draws the same curves and rows, in the same colours;
    # the appended chart's y-range still starts below the lowest loss of either run.
    full = _drawn(ui, selection)
    assert curves["data"] == full[ids.CMP_CURVES_GRAPH]["figure"]["data"]
    assert table == full[ids.CMP_METRICS_TABLE]["data"]
    shown = [t for t in curves["data"] if t.get("showlegend", True)]  # the smoothed lines
    lowest = min(y for t in shown for y in t["y"] if y is not None)
    assert curves["layout"]["yaxis"]["range"][0] < lowest


def test_an_add_that_changes_the_frame_is_redrawn_whole(ui: Dash) -> None:
    """Code Llama's compute is far outside Vicuna's frontier span: no Patch, a full redraw
    (in the add's own answer)."""
    first = [{"kind": "preset", "ref": "vicuna-7b"}]
    view = _drawn(ui, first)[ids.CMP_VIEW_STATE]["data"]
    resp = _add(ui, "preset:codellama-7b", first, view)
    assert [s["ref"] for s in resp[ids.CMP_SELECTION]["data"]] == ["vicuna-7b", "codellama-7b"]
    assert _whole_with(resp, ["Vicuna 7B v1.5 recipe", "Code Llama 7B recipe"])
    tampered = {**view, "keys": "everything", "steps": -(10**12)}
    resp = _add(ui, "preset:vicuna-13b", first, tampered)
    # A tampered view state only costs a redraw.
    assert _whole_with(resp, ["Vicuna 7B v1.5 recipe", "Vicuna 13B v1.5 recipe"])


def _whole_with(resp: dict[str, Any], names: list[str]) -> bool:
    """The curves came back as a whole figure (not a Patch) showing ``names``."""
    figure = resp[ids.CMP_CURVES_GRAPH]["figure"]
    assert "__dash_patch_update" not in figure and "layout" in figure, figure.keys()
    shown = [t["name"] for t in figure["data"] if t.get("showlegend", True)]
    assert shown == names, shown
    return True
