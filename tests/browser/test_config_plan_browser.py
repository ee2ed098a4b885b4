"""Plan from a run in real headless Chromium: a real run's recipe in the Configuration form.

The app runs on a temporary SQLite store (``DASHBOARD_DB``) holding a real public log
(tests/data/real-runs/trainer-state-metamath-sft, ingested as the watcher would). The user
picks the run, loads its recipe, sees the GPU marked assumed, corrects it, saves the
correction to the run, reloads the page, loads the run again and reads the GPU as
corrected. ``PLAN_SHOTS=dir`` saves the page light and dark at 1440x900.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dash
import pytest
from controls import select
from polling import wait
from tracking_samples import case_dir

from layouts import ids
from tracking import store as store_module
from tracking.ingest import ingest
from views import config_plan as cp

pytestmark = pytest.mark.browser

CASE = "trainer-state-metamath-sft"
SHOTS = os.environ.get("PLAN_SHOTS")


def _dom_id(kind: str, name: str) -> str:
    return json.dumps({"name": name, "type": kind}, separators=(",", ":"), sort_keys=True)


def _el(dash_duo: Any, kind: str, name: str) -> Any:
    return dash_duo.driver.execute_script(
        "return document.getElementById(arguments[0]);", _dom_id(kind, name)
    )


def _value(dash_duo: Any, name: str) -> str:
    return str(_el(dash_duo, ids.CFG_FIELD, name).get_attribute("value"))


def _mark(dash_duo: Any, name: str) -> tuple[str, str]:
    el = _el(dash_duo, ids.CFG_PROV, name)
    return str(el.text), str(el.get_attribute("title"))


def _open_configuration(dash_duo: Any) -> None:
    dash_duo.wait_for_element(f"#{ids.TABS}")
    for tab in dash_duo.find_elements(f"#{ids.TABS} .app-tab"):
        if tab.text.strip() == "Configuration":
            tab.click()
            break
    wait(lambda: "6.74B" in dash_duo.find_element(f"#{ids.CFG_ESTIMATE}").text, what="estimate")


def _load_run(dash_duo: Any, label: str) -> None:
    for _ in range(5):
        dash_duo.select_dcc_dropdown(f"#{ids.CFG_PLAN_RUN}", value=label)
        if CASE in dash_duo.find_element(f"#{ids.CFG_PLAN_RUN}").text:
            break
    dash_duo.driver.execute_script(
        "arguments[0].click();", dash_duo.find_element(f"#{ids.CFG_PLAN_LOAD}")
    )
    wait(lambda: _value(dash_duo, "eval_interval") == "500", what="the run's recipe in the form")


def _shot(dash_duo: Any, name: str, at: Any = None) -> None:
    if not SHOTS:
        return
    Path(SHOTS).mkdir(parents=True, exist_ok=True)
    driver = dash_duo.driver
    driver.set_window_size(1440, 900)
    if at is None:
        driver.execute_script("window.scrollTo({top: 0, behavior: 'instant'});")
    else:
        driver.execute_script(
            "arguments[0].scrollIntoView({block: 'center', behavior: 'instant'});", at
        )
    for mode in ("light", "dark"):
        if (
            driver.execute_script("return document.documentElement.dataset.bsTheme") or "light"
        ) != mode:
            dash_duo.find_element(".theme-toggle .form-check-input").click()
            wait(
                lambda m=mode: (
                    driver.execute_script("return document.documentElement.dataset.bsTheme") == m
                ),
                what=f"{mode} mode",
            )
        driver.save_screenshot(str(Path(SHOTS) / f"{name}-{mode}.png"))
    dash_duo.find_element(".theme-toggle .form-check-input").click()  # back to light


def test_plan_from_a_run_marks_assumed_fields_and_saves_a_correction(
    dash_duo: Any,
    make_app: Callable[[], dash.Dash],
    free_port: Callable[[], int],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = tmp_path / CASE
    shutil.copytree(case_dir(CASE), root)
    url = f"sqlite:///{tmp_path / 'runs.sqlite3'}"
    store = store_module.open(url)
    [report] = ingest(store, [root.resolve()])
    info = store.run(report.run_id)
    assert info is not None
    label = cp.run_label(info)
    monkeypatch.setenv(store_module.ENV, url)

    dash_duo.start_server(make_app(), port=free_port())
    _open_configuration(dash_duo)
    _load_run(dash_duo, label)

    # The logs state the eval interval; they say nothing of the GPU: marked, with why.
    assert _mark(dash_duo, "eval_interval") == ("found", "found: trainer_state.eval_steps")
    text, tip = _mark(dash_duo, "gpu")
    assert text == "assumed" and tip.startswith("assumed: not in the run's logs;"), tip
    outline = dash_duo.driver.execute_script(
        "return getComputedStyle(arguments[0]).outlineStyle;", _el(dash_duo, ids.CFG_FIELD, "gpu")
    )
    assert outline == "dashed"
    # The estimate works on the run's recipe as on any config: its 128 steps.
    steps = f"#{ids.CFG_ESTIMATE} [data-stat=steps] .cfg-stat-value"
    wait(lambda: dash_duo.find_element(steps).text == "128", what="the run's 128 steps")
    _shot(dash_duo, "plan-loaded")

    select(dash_duo, _dom_id(ids.CFG_FIELD, "gpu"), "h100-sxm")
    wait(lambda: _mark(dash_duo, "gpu")[0] == "edited", what="the GPU marked edited")
    save = dash_duo.find_element(f"#{ids.CFG_PLAN_SAVE}")
    wait(lambda: save.is_enabled(), what="Save corrections enabled")
    save.click()
    message = f"#{ids.CFG_MESSAGE}"
    wait(lambda: "Saved to run" in dash_duo.find_element(message).text, what="saved")
    wait(lambda: _mark(dash_duo, "gpu")[0] == "corrected", what="the GPU marked corrected")
    _shot(dash_duo, "plan-corrected", _el(dash_duo, ids.CFG_FIELD, "gpu"))
    assert store.params(report.run_id)["dashboard.recipe.gpu"] == "h100-sxm"

    # A reload forgets the plan (memory); loading the run again reads the correction back.
    dash_duo.driver.refresh()
    _open_configuration(dash_duo)
    select(dash_duo, _dom_id(ids.CFG_FIELD, "gpu"), "a100-80gb")  # not what the run says
    wait(lambda: _value(dash_duo, "gpu") == "a100-80gb", what="the GPU changed back")
    _load_run(dash_duo, label)
    wait(lambda: _value(dash_duo, "gpu") == "h100-sxm", what="the corrected GPU")
    assert _mark(dash_duo, "gpu") == ("corrected", "found: corrected by dashboard in the dashboard")
