"""Real-browser tests of the Model Comparison tab (headless Chromium): what only a browser shows.

Few and broad: a run saved on the Training tab shows up here and can be compared; two presets
overlaid and switched to the FLOPs axis, their config diff and the CSV download.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dash
import pytest
from controls import select as _select_js
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys
from tracking_samples import case_dir

from layouts import ids
from tracking import corrections
from tracking import store as store_module
from tracking.ingest import ingest

pytestmark = pytest.mark.browser

SHOTS = os.environ.get("COMPARISON_SHOTS")  # a directory: save screenshots there (for review)
LLMC = "text-llmc-mainlog-gpt2-124m"  # tests/data/real-runs: llm.c GPT-2 124M, 19,560 steps


def _wait(pred: Callable[[], Any], timeout: float = 45.0, what: str = "condition") -> Any:
    """Poll ``pred`` (generous timeout: the machine is shared with other test runs)."""
    end = time.time() + timeout
    while time.time() < end:
        value = pred()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _figure(dash_duo: Any, graph_id: str) -> dict[str, Any]:
    """The figure Plotly is showing (data and layout as drawn)."""
    return dict(
        dash_duo.driver.execute_script(
            "const g = document.querySelector('#' + arguments[0] + ' .js-plotly-plot');"
            "if (!g || !g.data) return {data: [], xtitle: ''};"
            "return {data: g.data.map(t => ({name: t.name, n: (t.x || []).length, mode: t.mode,"
            " legend: t.showlegend !== false, color: t.line?.color, opacity: t.opacity ?? 1})),"
            " xtitle: g.layout.xaxis?.title?.text || ''};",
            graph_id,
        )
    )


def _curve_lines(dash_duo: Any) -> list[dict[str, Any]]:
    """The runs' lines in the legend (not their faint raw loss behind them)."""
    data = _figure(dash_duo, ids.CMP_CURVES_GRAPH)["data"]
    return [t for t in data if t["mode"] == "lines" and t["legend"]]


def _curve_names(dash_duo: Any) -> list[str]:
    return [t["name"] for t in _curve_lines(dash_duo)]


def _open_comparison(dash_duo: Any) -> None:
    for tab in dash_duo.find_elements(f"#{ids.TABS} .app-tab"):
        if tab.text.strip() == "Model Comparison":
            tab.click()
            break
    dash_duo.wait_for_element(f"#{ids.CMP_ADD_BUTTON}")


def _shot(dash_duo: Any, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        dash_duo.driver.save_screenshot(str(Path(SHOTS) / f"{name}.png"))


def _choose(dash_duo: Any, dropdown_id: str, label: str) -> None:
    """Pick an option of a dcc.Dropdown by its text, retrying if the menu was not open yet."""
    for _ in range(5):
        dash_duo.select_dcc_dropdown(f"#{dropdown_id}", value=label)
        if label in dash_duo.find_element(f"#{dropdown_id}").text:
            return
        time.sleep(0.5)
    raise AssertionError(f"could not choose {label!r}")


def _click(dash_duo: Any, selector: str) -> None:
    """Click a button far down the page (a plain click is intercepted by the tab layout)."""
    dash_duo.driver.execute_script("arguments[0].click();", dash_duo.find_element(selector))


def _edit_cell(dash_duo: Any, column: str, text: str) -> None:
    """Type ``text`` into the first row's ``column`` cell of the saved-runs table, as a user
    does: click the cell, type, Enter."""
    cell = dash_duo.find_element(
        f"#{ids.CMP_SAVED_TABLE} tbody tr:nth-child(2) td[data-dash-column={column}]"
    )
    dash_duo.driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", cell)
    cell.click()
    ActionChains(dash_duo.driver).send_keys(text).send_keys(Keys.ENTER).perform()


def _cells(dash_duo: Any) -> list[str]:
    """The first saved run's tags, notes and name as the table shows them: the stored values
    (written back by the server), or what is being typed in the cell still focused."""
    saved = dash_duo.driver.execute_script(
        "return JSON.parse(localStorage.getItem(arguments[0]) || '[]');", ids.SAVED_RUNS_STORE
    )
    if not saved:
        return []
    meta = saved[-1].get("meta") or {}
    shown = dash_duo.driver.execute_script(
        "const r = document.querySelector('#' + arguments[0] + ' tbody tr:nth-child(2)');"
        "return r ? r.innerText + ' ' + [...r.querySelectorAll('input')].map(i => i.value)"
        ".join(' ') : '';",
        ids.CMP_SAVED_TABLE,
    )
    got = [", ".join(meta.get("tags", [])), meta.get("notes", ""), saved[-1]["state"]["name"]]
    return got if all(v in shown for v in got) else []


def _hover_curve(dash_duo: Any) -> list[str]:
    """Hover the middle of the first run's line: the hover labels Plotly shows."""
    return list(
        dash_duo.driver.execute_script(
            "const g = document.querySelector('#' + arguments[0] + ' .js-plotly-plot');"
            "const i = g.data.findIndex(t => t.showlegend !== false && t.mode === 'lines');"
            "if (i < 0) return [];"
            "Plotly.Fx.hover(g, [{curveNumber: i, pointNumber: g.data[i].x.length >> 1}]);"
            "return [...g.querySelectorAll('.hoverlayer .hovertext')].map(e => e.textContent);",
            ids.CMP_CURVES_GRAPH,
        )
    )


def test_a_run_saved_on_the_training_tab_is_listed_and_compared_here(
    dash_duo: Any, make_app: Callable[[], dash.Dash], free_port: Callable[[], int]
) -> None:
    dash_duo.start_server(make_app(), port=free_port())
    dash_duo.wait_for_element(f"#{ids.TR_START}")
    _select_js(dash_duo, ids.TR_SPEED, "1000")
    _select_js(dash_duo, ids.TR_INTERVAL, "250")
    dash_duo.find_element(f"#{ids.TR_START}").click()
    _wait(
        lambda: dash_duo.find_element(f"#{ids.STATUS_BADGE}").text.lower() == "running",
        what="the run to start",
    )
    # Until the first eval (the perplexity compared below): a fixed wait raced the ticks.
    _wait(
        lambda: dash_duo.find_element(f"#{ids.tr_kpi('ppl')}").text not in ("", "–"),
        what="the first eval",
    )
    for _ in range(40):  # a click during a tick is ignored on purpose: click again
        _click(dash_duo, f"#{ids.TR_PAUSE}")
        time.sleep(0.5)
        if dash_duo.find_element(f"#{ids.STATUS_BADGE}").text.lower() == "paused":
            break
    dash_duo.find_element(f"#{ids.TR_SAVE}").click()
    dash_duo.wait_for_contains_text(f"#{ids.TR_NOTICE}", "Saved the run", timeout=10)
    kpi = {k: dash_duo.find_element(f"#{ids.tr_kpi(k)}").text for k in ("loss", "ppl", "acc")}
    # What the train loss is, on hover (or focus) of its "?": the Comparison tab's definition.
    dash_duo.driver.execute_script(
        "document.getElementById(arguments[0]).focus();", ids.tr_kpi_tip("loss")
    )
    tip = _wait(
        lambda: dash_duo.driver.execute_script(
            "const t = document.querySelector('.tooltip'); return t && t.innerText;"
        ),
        what="the train loss tooltip",
    )
    assert "mean over the last 100 steps" in tip
    dash_duo.get_logs()  # reading clears them: what follows is checked for this tab alone

    _open_comparison(dash_duo)
    table = f"#{ids.CMP_SAVED_TABLE}"
    dash_duo.wait_for_contains_text(table, "Llama 2 7B", timeout=10)
    assert "paused" in dash_duo.find_element(table).text
    dash_duo.find_element(f"{table} input[type=checkbox]").click()
    dash_duo.find_element(f"#{ids.CMP_COMPARE_SAVED_BUTTON}").click()
    names = _wait(lambda: _curve_names(dash_duo), what="the saved run's curve")
    # Unnamed: its model and GPUs (it was "run 785c4e1648" for every saved run).
    assert len(names) == 1 and names[0] == "Llama 2 7B · 1,024×A100 80GB", names
    _wait(
        lambda: "saved run" in dash_duo.find_element(f"#{ids.CMP_METRICS_TABLE}").text,
        what="the metrics row",
    )
    # The same run reads the same on both tabs (it was the last step's loss on Training and
    # the mean of the last 100 on Comparison; perplexity from train and from val loss).
    cell = {
        c: dash_duo.find_element(f"#{ids.CMP_METRICS_TABLE} td[data-dash-column={c}]").text
        for c in ("train_loss", "perplexity", "accuracy")
    }
    assert cell["train_loss"] == kpi["loss"], (cell, kpi)
    assert cell["accuracy"] == kpi["acc"], (cell, kpi)
    assert float(cell["perplexity"]) == pytest.approx(float(kpi["ppl"]), rel=5e-3), (cell, kpi)

    # Rename it: the legend follows.
    dash_duo.find_element(f"#{ids.CMP_RENAME_INPUT}").send_keys("my baseline")
    dash_duo.find_element(f"#{ids.CMP_RENAME_BUTTON}").click()
    _wait(
        lambda: _curve_names(dash_duo) == ["my baseline · 1,024×A100 80GB"],
        what="the renamed legend",
    )
    # The list shows when it was saved and on what; tags and notes are edited in place.
    row = dash_duo.find_element(f"{table} tbody tr:nth-child(2)").text
    assert "1,024×A100 80GB" in row and " UTC" in row, row
    _edit_cell(dash_duo, "tags", "lr-sweep, bf16")
    _edit_cell(dash_duo, "notes", "clip 1.0, warmup 2k")
    _shot(dash_duo, "edited-cells")
    _wait(
        lambda: _cells(dash_duo)[:2] == ["lr-sweep, bf16", "clip 1.0, warmup 2k"],
        what="the edited tags and notes",
    )
    # One hover label per curve, with the raw and the smoothed loss in it.
    hover = _wait(lambda: _hover_curve(dash_duo), what="the hover label")
    assert len(hover) == 1 and "raw" in hover[0] and "smoothed" in hover[0], hover

    # Export the renamed run and import the file back: the same run is not saved twice
    # (it was: "Imported 1 run", two rows under two ids), and the message says so.
    _click(dash_duo, f"#{ids.CMP_EXPORT_BUTTON}")
    folder = Path(dash_duo.download_path)
    path = _wait(
        lambda: next((p for p in folder.iterdir() if p.name == "saved-runs.json"), None),
        what="the export download",
    )
    _wait(lambda: "my baseline" in path.read_text(), what="the file to be written")
    dash_duo.find_element(f"#{ids.CMP_IMPORT_UPLOAD} input[type=file]").send_keys(str(path))
    message = f"#{ids.CMP_MESSAGE}"
    _wait(lambda: "Imported" in dash_duo.find_element(message).text, what="the import")
    assert "Imported 0 runs" in dash_duo.find_element(message).text
    assert "already saved ('my baseline')" in dash_duo.find_element(message).text
    assert dash_duo.find_element(f"#{ids.CMP_SAVED_COUNT}").text.startswith("1 of")

    # Delete it, then Undo: back in the list with its notes, and back in the comparison.
    _click(dash_duo, f"#{ids.CMP_DELETE_BUTTON}")
    undo = f"#{ids.CMP_UNDO_ALERT}"
    _wait(
        lambda: "Deleted 'my baseline'" in dash_duo.find_element(undo).text,
        what="the undo bar",
    )
    _wait(lambda: _curve_names(dash_duo) == [], what="the run to leave the chart")
    assert dash_duo.find_element(f"#{ids.CMP_SAVED_COUNT}").text.startswith("0 of")
    _shot(dash_duo, "undo-bar")
    dash_duo.find_element(f"#{ids.CMP_UNDO_BUTTON}").click()
    _wait(
        lambda: _curve_names(dash_duo) == ["my baseline · 1,024×A100 80GB"],
        what="the restored run in the legend",
    )
    assert _cells(dash_duo) == ["lr-sweep, bf16", "clip 1.0, warmup 2k", "my baseline"]
    assert "Restored 1 saved run" in dash_duo.find_element(message).text
    logs = dash_duo.get_logs()
    assert logs == [], f"browser errors: {logs}"


def test_two_presets_on_the_flops_axis_with_their_diff_and_a_csv(
    dash_duo: Any,
    make_app: Callable[[], dash.Dash],
    free_port: Callable[[], int],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A run store holding a real public log (llm.c's GPT-2 124M main.log), for the real-run
    # part at the end (issue 15): ingested as the watcher does, its batch corrected as a user
    # would on the Configuration tab (llm.c's 524,288-token batches, docs/sources.md).
    root = tmp_path / LLMC
    shutil.copytree(case_dir(LLMC), root)
    url = f"sqlite:///{tmp_path / 'runs.sqlite3'}"
    store = store_module.open(url)
    ingest(store, [root.resolve()])
    fix = {"global_batch_tokens": 524_288, "seq_len": 1024, "dataset_tokens": 19_560 * 524_288}
    assert corrections.save(store, LLMC, fix, "tester").ok
    monkeypatch.setenv(store_module.ENV, url)
    dash_duo.start_server(make_app(), port=free_port())
    dash_duo.wait_for_element(f"#{ids.TABS}")
    _open_comparison(dash_duo)
    labels = (
        "Vicuna 7B v1.5 — published recipe",
        "Vicuna 13B v1.5 — published recipe, 3 settings assumed",  # its hardware (FastChat: 7B's)
    )
    colours: list[dict[str, str]] = []
    for label in labels:
        _choose(dash_duo, ids.CMP_ADD_CHOICE, label)
        dash_duo.find_element(f"#{ids.CMP_ADD_BUTTON}").click()
        want = label.split(" — ")[0] + " recipe"
        _wait(lambda want=want: want in _curve_names(dash_duo), what=f"{want} on the chart")
        colours.append({t["name"]: t["color"] for t in _curve_lines(dash_duo)})
    assert _curve_names(dash_duo) == ["Vicuna 7B v1.5 recipe", "Vicuna 13B v1.5 recipe"]
    # Issue 17, item 9: adding a run leaves the first one's colour alone; no two share one;
    # each smoothed line has its raw loss faint behind it.
    seven = "Vicuna 7B v1.5 recipe"
    assert colours[0][seven] == colours[1][seven] != colours[1]["Vicuna 13B v1.5 recipe"]
    raw = [t for t in _figure(dash_duo, ids.CMP_CURVES_GRAPH)["data"] if not t["legend"]]
    assert len(raw) == 2 and all(t["opacity"] < 0.5 for t in raw)

    # Switch the x-axis to FLOPs: same two curves, now against training compute.
    flops = next(
        el
        for el in dash_duo.find_elements(f"#{ids.CMP_X_AXIS} label")
        if el.text.strip() == "Training compute (FLOPs)"
    )
    dash_duo.driver.execute_script("arguments[0].click();", flops)  # below the fold
    _wait(
        lambda: _figure(dash_duo, ids.CMP_CURVES_GRAPH)["xtitle"] == "Training compute (FLOPs)",
        what="the FLOPs axis",
    )
    fig = _figure(dash_duo, ids.CMP_CURVES_GRAPH)
    assert all(0 < t["n"] <= 4000 for t in fig["data"])

    # The config diff shows the settings that differ, highlighted.
    diff = dash_duo.find_element(f"#{ids.CMP_DIFF_TABLE}")
    _wait(lambda: "a100-40gb" in diff.text, what="the config diff")
    assert "a100-80gb (assumed)" in diff.text and "num_gpus" in diff.text  # 13B's, unpublished
    assert "seq_len" not in diff.text  # identical settings are hidden by default
    highlighted = dash_duo.driver.execute_script(
        "return [...document.querySelectorAll('#' + arguments[0] + ' td')]"
        ".filter(td => getComputedStyle(td).fontWeight === '700').length;",
        ids.CMP_DIFF_TABLE,
    )
    assert highlighted > 0
    _shot(dash_duo, "comparison-two-presets")

    # Export CSV: one row per compared run, with the table's headings.
    _click(dash_duo, f"#{ids.CMP_CSV_BUTTON}")
    folder = Path(dash_duo.download_path)
    path = _wait(
        lambda: next((p for p in folder.iterdir() if p.name == "run-comparison.csv"), None),
        what="the CSV download",
    )
    _wait(lambda: path.stat().st_size > 0, what="the file to be written")
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    assert [r["Run"] for r in rows] == ["Vicuna 7B v1.5 recipe", "Vicuna 13B v1.5 recipe"]
    assert all(float(r["Final val loss"]) > 0 for r in rows)

    # A real run from the store joins them. On the FLOPs axis it cannot be drawn (its model
    # is not in its log): the chart says so, naming it.
    real_table = f"#{ids.CMP_REAL_TABLE}"
    dash_duo.wait_for_contains_text(real_table, LLMC, timeout=20)
    assert "19,560" in dash_duo.find_element(real_table).text  # its last step
    _click(dash_duo, f"{real_table} input[type=checkbox]")
    _click(dash_duo, f"#{ids.CMP_REAL_ADD}")
    real = f"{LLMC} (real)"
    _wait(
        lambda: f"Not drawn against training compute (FLOPs): {real}" in _notes(dash_duo),
        what="the note naming the real run left off the FLOPs axis",
    )
    assert real not in _curve_names(dash_duo)
    step = next(
        el for el in dash_duo.find_elements(f"#{ids.CMP_X_AXIS} label") if el.text == "Step"
    )
    dash_duo.driver.execute_script("arguments[0].click();", step)
    _wait(lambda: real in _curve_names(dash_duo), what="the real run overlaid on steps")
    line = next(t for t in _curve_lines(dash_duo) if t["name"] == real)
    assert 0 < line["n"] <= 4000
    assert {"Vicuna 7B v1.5 recipe", "Vicuna 13B v1.5 recipe"} <= set(_curve_names(dash_duo))
    diff = dash_duo.find_element(f"#{ids.CMP_DIFF_TABLE}")
    _wait(lambda: "524,288 (corrected)" in diff.text, what="the recipe's provenance")

    if SHOTS:
        _shots_1440(dash_duo, "comparison-real-chip", (("chips", f"#{ids.CMP_CHIPS}"),))
    # One click: its prediction beside it.
    _click(dash_duo, f"#{ids.CMP_CHIPS} button.btn-outline-primary")
    pred = f"{LLMC}: prediction"
    _wait(lambda: pred in _curve_names(dash_duo), what="the prediction on the chart")
    _wait(
        lambda: "prediction (raw)" in dash_duo.find_element(f"#{ids.CMP_METRICS_TABLE}").text,
        what="the prediction's row",
    )
    if SHOTS:
        _shots_1440(dash_duo, "comparison-real-run")
    logs = dash_duo.get_logs()
    assert logs == [], f"browser errors: {logs}"


def _notes(dash_duo: Any) -> str:
    """The loss chart's notes as drawn (Plotly's annotations)."""
    return " ".join(
        dash_duo.driver.execute_script(
            "const g = document.querySelector('#' + arguments[0] + ' .js-plotly-plot');"
            "return g && g.layout ? (g.layout.annotations || []).map(a => a.text) : [];",
            ids.CMP_CURVES_GRAPH,
        )
    ).replace("<br>", " ")


PARTS = (
    ("chart", f"#{ids.CMP_CURVES_GRAPH}"),
    ("table", f"#{ids.CMP_METRICS_TABLE}"),
    ("diff", f"#{ids.CMP_DIFF_TABLE}"),
    ("efficiency", f"#{ids.CMP_EFFICIENCY_GRAPH}"),
    ("picker", f"#{ids.CMP_REAL_TABLE}"),
)


def _shots_1440(dash_duo: Any, name: str, parts: Any = PARTS) -> None:
    """The page at 1440x900, light and dark, scrolled to each of ``parts``."""
    driver = dash_duo.driver
    driver.set_window_size(1440, 900)
    Path(SHOTS or ".").mkdir(parents=True, exist_ok=True)
    for mode in ("light", "dark"):
        if (
            driver.execute_script("return document.documentElement.dataset.bsTheme") or "light"
        ) != mode:
            dash_duo.find_element(".theme-toggle .form-check-input").click()
            _wait(
                lambda m=mode: (
                    driver.execute_script("return document.documentElement.dataset.bsTheme") == m
                ),
                what=f"{mode} mode",
            )
        for part, sel in parts:
            driver.execute_script(
                "document.querySelector(arguments[0]).scrollIntoView({block: 'center'});", sel
            )
            time.sleep(0.6)
            driver.save_screenshot(str(Path(SHOTS or ".") / f"{name}-{part}-{mode}.png"))
    dash_duo.find_element(".theme-toggle .form-check-input").click()  # back to light
