"""A real run on the Training tab in headless Chromium, from a temporary run store.

One page, as a colleague uses it: the picker lists the stored run; a link with
``?run=<id>`` opens it and draws its curve; a writer adds points while the page is open and
the curve grows tick by tick; a NaN shows as a marker at its step; Back returns to the
simulated run and Forward to the real one; an unknown id names itself in a notice.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dash
import numpy as np
import pytest
from polling import wait

from layouts import ids
from tracking import store as store_module
from tracking.records import Series
from tracking.store import Store

pytestmark = pytest.mark.browser

SHOTS = os.environ.get("TRAINING_SHOTS")  # a directory: save screenshots there (for review)


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    url = f"sqlite:///{tmp_path / 'runs.sqlite3'}"
    monkeypatch.setenv("DASHBOARD_DB", url)  # the app under test opens the same store
    s = store_module.open(url)
    yield s
    s.close()


def put(store: Store, run_id: str, steps: Any, values: Any) -> None:
    steps = np.asarray(steps, dtype=np.int64)
    values = np.asarray(values, dtype=np.float64)
    store.add(run_id, Series("train/loss", steps, values, np.full(len(steps), np.nan)))


def loss(steps: Any) -> Any:
    return 2.0 + 8.0 / np.sqrt(np.asarray(steps) + 10.0)


def _trace(dash_duo: Any, name: str) -> list[Any]:
    """The x values of the loss chart's trace called ``name`` as drawn (Plotly's data)."""
    return list(
        dash_duo.driver.execute_script(
            "const g = document.querySelector(arguments[0] + ' .js-plotly-plot');"
            "if (!g || !g.data) return [];"
            "const t = g.data.find(t => t.name === arguments[1]);"
            "return t ? Array.from(t.x) : [];",
            f"#{ids.tr_real_graph('loss')}",
            name,
        )
    )


def _shown(dash_duo: Any, element_id: str) -> bool:
    return bool(
        dash_duo.driver.execute_script(
            "const e = document.getElementById(arguments[0]);"
            "return !!e && e.offsetParent !== null;",
            element_id,
        )
    )


def test_real_run_listed_opened_by_link_and_followed(
    dash_duo: Any, make_app: Callable[[], dash.Dash], free_port: Callable[[], int], store: Store
) -> None:
    store.put_run("live-run", name="GPT-2 live", source="/runs/gpt2", kind="textlog")
    put(store, "live-run", range(50), loss(range(50)))
    dash_duo.start_server(make_app(), port=free_port())

    # The picker lists the run with its source kind, status and age.
    dash_duo.wait_for_element(f"#{ids.TR_RUN_PICKER}").click()
    row = wait(
        lambda: dash_duo.driver.find_element(
            "xpath", "//*[@role='option'][contains(., 'GPT-2 live')]"
        ),
        what="the stored run in the picker",
    )
    assert "textlog" in row.text and "updated just now" in row.text
    dash_duo.driver.find_element("css selector", "body").send_keys("\ue00c")  # Escape

    # A link opens it: the curve is drawn, the simulator's controls are hidden.
    dash_duo.driver.get(f"{dash_duo.server_url}/?run=live-run")
    wait(lambda: len(_trace(dash_duo, "train/loss")) == 50, what="the run's 50 points")
    assert not _shown(dash_duo, ids.TR_START) and _shown(dash_duo, ids.TR_REAL_TITLE)

    # A writer adds points while the page is open: the curve grows tick by tick.
    for stop in (60, 70):
        put(store, "live-run", range(stop - 10, stop), loss(range(stop - 10, stop)))
        wait(lambda s=stop: len(_trace(dash_duo, "train/loss")) == s, what=f"{stop} points")
    assert _trace(dash_duo, "train/loss") == list(range(70))  # each step once, in order

    # A NaN arrives: a marker at its step.
    put(store, "live-run", [70, 71], [float("nan"), 2.4])
    wait(lambda: _trace(dash_duo, "train/loss: NaN/inf") == [70], what="the NaN marker")
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        dash_duo.driver.save_screenshot(str(Path(SHOTS) / "real-run.png"))

    # Picking the simulated run takes the run out of the address; Back brings it back.
    dash_duo.find_element(f"#{ids.TR_RUN_PICKER}").click()
    option = wait(
        lambda: dash_duo.driver.find_element(
            "xpath", "//*[@role='option'][contains(., 'Simulated run')]"
        ),
        what="the simulated run's row",
    )
    option.click()
    wait(lambda: _shown(dash_duo, ids.TR_START), what="the simulator's controls")
    assert "run=" not in dash_duo.driver.current_url
    dash_duo.driver.back()
    wait(lambda: _shown(dash_duo, ids.TR_REAL_TITLE), what="the run again after Back")
    assert dash_duo.driver.current_url.endswith("?run=live-run")
    wait(lambda: len(_trace(dash_duo, "train/loss")) == 72, what="its 72 points after Back")

    # An unknown id opens with a notice naming it, the simulated run shown meanwhile.
    dash_duo.driver.get(f"{dash_duo.server_url}/?run=gone-run")
    wait(
        lambda: "gone-run" in dash_duo.find_element(f"#{ids.TR_REAL_NOTICE}").text,
        what="a notice naming the unknown run",
    )
    assert _shown(dash_duo, ids.TR_START)
