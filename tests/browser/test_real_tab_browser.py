"""A real run on the Training tab in headless Chromium, from a temporary run store.

One page, as a colleague uses it: the picker lists the stored run; a link with
``?run=<id>`` opens it and draws its curve; a writer adds points while the page is open and
the curve grows tick by tick; a NaN shows as a marker at its step; Back returns to the
simulated run and Forward to the real one; an unknown id names itself in a notice.

Then, on the same page: the watcher ingests a folder holding a copy of a real sample log
(tests/data/real-runs/) while the page is open; the run appears in the picker; its curve
grows tick by tick as lines are appended, with the prediction band behind it; a NaN line
raises the critical alert (banner and events panel); and Pause on a run pushed by a real
``tracking.client.Run`` sets the control state that run reads.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dash
import numpy as np
import pytest
from polling import wait

from layouts import ids
from tracking import ingest
from tracking import store as store_module
from tracking.client import Run
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


SAMPLE = (
    Path(__file__).parents[1]
    / "data"
    / "real-runs"
    / "jsonl-hf-callback-lora-medqa"
    / "metrics.jsonl"
)


def _names(dash_duo: Any) -> list[str]:
    """The loss chart's trace names in drawing order (first drawn is furthest behind)."""
    return list(
        dash_duo.driver.execute_script(
            "const g = document.querySelector(arguments[0] + ' .js-plotly-plot');"
            "return g && g.data ? g.data.map(t => t.name) : [];",
            f"#{ids.tr_real_graph('loss')}",
        )
    )


def _shots(dash_duo: Any, name: str) -> None:
    """Light and dark at 1440x900 and 390x844 (for review; only with TRAINING_SHOTS)."""
    if not SHOTS:
        return
    Path(SHOTS).mkdir(parents=True, exist_ok=True)
    d = dash_duo.driver
    for theme in ("light", "dark"):
        d.execute_script(
            "document.documentElement.setAttribute('data-bs-theme', arguments[0])", theme
        )
        for w, h in ((1440, 900), (390, 844)):
            d.set_window_size(w, h)
            d.execute_script("window.dispatchEvent(new Event('resize'))")
            dash_duo.wait_for_element(f"#{ids.TR_REAL_TITLE}")
            time.sleep(0.8)  # Plotly's responsive redraw
            d.save_screenshot(str(Path(SHOTS) / f"{name}-{theme}-{w}.png"))
    d.execute_script("document.documentElement.setAttribute('data-bs-theme', 'light')")
    d.set_window_size(1440, 900)


def _ys(dash_duo: Any, name: str) -> list[Any]:
    """The y values of the loss chart's trace called ``name``."""
    return list(
        dash_duo.driver.execute_script(
            "const g = document.querySelector(arguments[0] + ' .js-plotly-plot');"
            "const t = g && g.data ? g.data.find(t => t.name === arguments[1]) : null;"
            "return t ? Array.from(t.y) : [];",
            f"#{ids.tr_real_graph('loss')}",
            name,
        )
    )


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
    dash_duo: Any,
    make_app: Callable[[], dash.Dash],
    free_port: Callable[[], int],
    store: Store,
    tmp_path: Path,
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

    # --- The watcher ingests a folder while the page is open (a copy of a real sample).
    lines = SAMPLE.read_text().splitlines(keepends=True)
    folder = tmp_path / "logs" / "lora-medqa"
    folder.mkdir(parents=True)
    log = folder / "metrics.jsonl"
    log.write_text("".join(lines[:30]))
    roots = [(tmp_path / "logs").resolve()]
    (report,) = ingest.ingest(store, roots)
    dash_duo.find_element(f"#{ids.TR_RUN_PICKER}").click()
    # Typing in its search asks for the rows again: the new run is listed.
    dash_duo.driver.switch_to.active_element.send_keys("lora")
    row = wait(
        lambda: dash_duo.driver.find_element(
            "xpath", f"//*[@role='option'][contains(., '{report.name}')]"
        ),
        what="the ingested run in the picker",
    )
    assert "live" in row.text
    row.click()
    wait(lambda: len(_trace(dash_duo, "loss")) == 30, what="the sample's first 30 points")
    # The prediction band is drawn, behind the run's own curve, over the planned length.
    names = _names(dash_duo)
    assert names.index("predicted train (raw) band") < names.index("loss")
    band = _trace(dash_duo, "predicted train (raw)")
    assert band and max(band) >= max(_trace(dash_duo, "loss"))  # the log states no length
    # Lines are appended and read: the curve grows tick by tick (the band stays).
    for stop in (45, 60):
        drawn = max(_trace(dash_duo, "loss"))
        with log.open("a") as f:
            f.write("".join(lines[stop - 15 : stop]))
        ingest.ingest(store, roots)
        # Grown (while a run is written only complete buckets are drawn: within a bucket).
        wait(lambda d=drawn: max(_trace(dash_duo, "loss")) > d + 100, what=f"line {stop}")
    assert _trace(dash_duo, "predicted train (raw)") == band
    wait(
        lambda: (
            "Final train loss" in dash_duo.find_element(f"#{ids.TR_REAL_FORECAST}").text
            or "forecast" in dash_duo.find_element(f"#{ids.TR_REAL_FORECAST}").text.lower()
        ),
        what="the forecast panel",
    )
    # The run goes NaN (HF: the grad norm shows it): a critical alert, banner and event.
    with log.open("a") as f:
        f.write('{"step": 610, "loss": NaN, "grad_norm": NaN, "learning_rate": 1e-05}\n')
    ingest.ingest(store, roots)
    banner = wait(
        lambda: dash_duo.find_element(f"#{ids.TR_REAL_BANNER}").text, what="the alert banner"
    )
    assert "Critical alert at step 610" in banner and "NaN" in banner
    assert "NaN" in dash_duo.find_element(f"#{ids.TR_REAL_EVENTS}").text
    # The picker's row agrees (unified status, open alerts counted at ingest).
    wait(
        lambda: (
            "0 open alerts" not in (t := dash_duo.find_element(f"#{ids.TR_RUN_PICKER}").text)
            and "open alert" in t
        ),
        what="the open alerts in the picker's row",
    )
    # A watched folder's run cannot be controlled: the buttons say so, disabled.
    assert not dash_duo.find_element(f"#{ids.TR_REAL_CTL['pause']}").is_enabled()
    _shots(dash_duo, "real-watched")

    # Anchored, then an edit of an assumed field: the band moves; a bad value names the field
    # and the band stays.
    dash_duo.driver.find_element(
        "xpath", f"//*[@id='{ids.TR_REAL_PRED_MODE}']//label[contains(., 'Anchored')]"
    ).click()
    wait(lambda: _ys(dash_duo, "predicted train (anchored)"), what="the anchored band")
    anchored = _ys(dash_duo, "predicted train (anchored)")
    box = "//label[span[text()='weight_decay']]//input"
    field = dash_duo.driver.find_element("xpath", box)
    field.send_keys("\ue009a\ue0005\ue007")  # Ctrl+A, release, 5, Enter: never an empty box
    under = "//label[span[text()='weight_decay']]/following::div[1]"
    msg = wait(
        lambda: "from 0" in (t := dash_duo.driver.find_element("xpath", under).text) and t,
        what="the refused value's message",
    )
    assert "weight_decay" in msg and "from 0 to 1" in msg
    assert _ys(dash_duo, "predicted train (anchored)") == anchored  # the last good band
    field = dash_duo.driver.find_element("xpath", box)
    field.send_keys("\ue009a\ue0000.5\ue007")
    wait(
        lambda: _ys(dash_duo, "predicted train (anchored)") not in ([], anchored),
        what="the band redrawn for the edit",
    )

    # --- A pushed run: Pause sets the control state its client reads.
    token = store.create_token("trainer")
    run = Run(dash_duo.server_url, token, "pushed-run", "pushed run", interval=0.05)
    try:
        for step in range(1, 41):
            run.log(step, loss=float(loss(step)))
        wait(lambda: store.run("pushed-run") is not None, what="the push")
        dash_duo.driver.get(f"{dash_duo.server_url}/?run=pushed-run")
        pause = wait(
            lambda: (b := dash_duo.find_element(f"#{ids.TR_REAL_CTL['pause']}")).is_enabled() and b,
            what="Pause enabled for a pushed run",
        )
        pause.click()
        wait(lambda: store.control("pushed-run").state == "paused", what="the paused state")
        assert store.control("pushed-run").who == "dashboard"
        notice = wait(lambda: dash_duo.find_element(f"#{ids.TR_REAL_NOTICE}").text, what="notice")
        assert "Paused" in notice and "wait_while_paused" in notice
        wait(lambda: "Paused" in dash_duo.find_element(f"#{ids.STATUS_BADGE}").text, what="badge")
        run.log(41, loss=float(loss(41)))  # the client hears the state with its next send
        wait(lambda: run.control == "paused", what="the client hearing the pause")
        assert run.wait_while_paused(poll=0.1, timeout=0.3) == "paused"
        assert not run.should_stop()
        assert "paused by dashboard" in dash_duo.find_element(f"#{ids.TR_REAL_EVENTS}").text.lower()
        assert "· paused ·" in dash_duo.find_element(f"#{ids.TR_REAL_TITLE}").text
        _shots(dash_duo, "real-pushed")
        _wall_axis_follows(dash_duo, run)
    finally:
        run.close(timeout=2)

    # --- A running simulated run waits while a real run is shown and goes on after.
    _pick(dash_duo, "Simulated run")
    dash_duo.find_element(f"#{ids.TR_START}").click()

    def sim_step() -> int:  # the simulated run's step as its session Store holds it
        raw = dash_duo.driver.execute_script(
            "return window.sessionStorage.getItem(arguments[0]);", ids.RUN_STORE
        )
        return int(json.loads(raw)["step"]) if raw and raw != "null" else 0

    wait(lambda: sim_step() > 0, what="the simulated run")
    _pick(dash_duo, "pushed run")
    wait(lambda: _shown(dash_duo, ids.TR_REAL_TITLE), what="the pushed run again")
    assert "pushed run" in dash_duo.find_element(f"#{ids.STATUS_BADGE}").text
    time.sleep(1.5)  # a tick in flight when the run was picked lands
    held = sim_step()
    time.sleep(3)  # several simulated ticks' worth
    assert sim_step() == held  # it did not tick meanwhile
    _pick(dash_duo, "Simulated run")
    wait(lambda: sim_step() > held, what="the simulated run going on")
    assert "Running" in dash_duo.find_element(f"#{ids.STATUS_BADGE}").text


def _pick(dash_duo: Any, label: str) -> None:
    dash_duo.find_element(f"#{ids.TR_RUN_PICKER}").click()
    wait(
        lambda: dash_duo.driver.find_element(
            "xpath", f"//*[@role='option'][contains(., '{label}')]"
        ),
        what=f"the picker's row {label}",
    ).click()


def _wall_axis_follows(dash_duo: Any, run: Run) -> None:
    """On a pushed run (its points carry wall times) Wall time is offered: the loss chart
    redraws in hours since its first point, a newly pushed point is appended there by the
    tick, and Step brings the step axis back."""
    xaxis = f"//*[@id='{ids.TR_XAXIS}']//label[normalize-space()='{{}}']"
    dash_duo.driver.find_element("xpath", xaxis.format("Wall time")).click()

    def title() -> str:
        return str(
            dash_duo.driver.execute_script(
                "const g = document.querySelector(arguments[0] + ' .js-plotly-plot');"
                "return g && g.layout ? g.layout.xaxis.title.text : '';",
                f"#{ids.tr_real_graph('loss')}",
            )
        )

    wait(lambda: title() == "wall time (h)", what="the loss chart on wall time")
    held = wait(lambda: _trace(dash_duo, "loss"), what="the run's points on wall time")
    assert held[0] == 0 and all(0 <= x < 0.1 for x in held)  # seconds of a test, in hours
    run.log(42, loss=float(loss(42)))
    grown = wait(lambda: (xs := _trace(dash_duo, "loss")) and len(xs) > len(held) and xs)
    assert grown[: len(held)] == held and held[-1] <= grown[-1] < 0.1  # appended at its time
    dash_duo.driver.find_element("xpath", xaxis.format("Step")).click()
    wait(lambda: title() == "step", what="the step axis back")
