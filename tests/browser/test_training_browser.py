"""Real-browser tests of the Training tab (headless Chromium): only what a browser shows.

A run is driven the way a person drives it: clicks, the Interval, a reload. Ticks are made
fast (many steps per tick, 250 ms interval) so each test takes a few seconds.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from controls import select as _select
from selenium.common.exceptions import ElementClickInterceptedException

import simulator as sim
from layouts import ids

pytestmark = pytest.mark.browser

SHOTS = os.environ.get("TRAINING_SHOTS")  # a directory: save screenshots there (for review)


def _start_app(dash_duo: Any, make_app: Any) -> None:
    dash_duo.start_server(make_app(), port=_port())
    dash_duo.wait_for_element(f"#{ids.TR_START}")


def _port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _step(dash_duo: Any) -> int:
    text = dash_duo.find_element(f"#{ids.tr_kpi('step')}").text.replace(",", "")
    return int(text) if text.isdigit() else 0


def _loss_points(dash_duo: Any) -> int:
    return int(
        dash_duo.driver.execute_script(
            "const g = document.querySelector(arguments[0] + ' .js-plotly-plot');"
            "return g && g.data ? g.data[0].x.length : 0;",
            f"#{ids.tr_graph('loss')}",
        )
    )


def _wait(pred: Any, timeout: float = 40.0, what: str = "condition") -> None:
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _click(dash_duo: Any, id_: str, done: Any, what: str) -> None:
    """Click until ``done()``: a click that lands while a tick is in flight is ignored on
    purpose (see ``running=`` in callbacks/training.py), as a person would click again."""
    for _ in range(20):
        # Busy controls pass the click to the toolbar: as if ignored, click again.
        with contextlib.suppress(ElementClickInterceptedException):
            dash_duo.find_element(f"#{id_}").click()
        end = time.time() + 2.0
        while time.time() < end:
            if done():
                return
            time.sleep(0.1)
    raise AssertionError(f"clicking #{id_} never led to {what}")


def _label(dash_duo: Any, id_: str) -> str:
    return str(dash_duo.find_element(f"#{id_}").text)


def _stored(dash_duo: Any) -> str:
    run = dash_duo.driver.execute_script(
        "return window.sessionStorage.getItem(arguments[0]);", ids.RUN_STORE
    )
    return str(run)[-300:]


def _tab(dash_duo: Any, label: str) -> Any:
    for tab in dash_duo.find_elements(f"#{ids.TABS} .app-tab"):
        if tab.text.strip() == label:
            return tab
    raise AssertionError(f"no tab labelled {label!r}")


def _shot(dash_duo: Any, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        dash_duo.driver.save_screenshot(str(Path(SHOTS) / f"{name}.png"))


def test_start_pause_resume_and_reload(dash_duo: Any, make_app: Any) -> None:
    """Start: the step counter and the loss chart advance; pause holds; reload restores."""
    _start_app(dash_duo, make_app)
    _select(dash_duo, ids.TR_SPEED, "1000")
    _select(dash_duo, ids.TR_INTERVAL, "250")
    dash_duo.find_element(f"#{ids.TR_START}").click()
    _wait(lambda: _step(dash_duo) >= 3000, what="the step counter to advance")
    _wait(lambda: _loss_points(dash_duo) > 3, what="loss points")
    first = _loss_points(dash_duo)
    _wait(lambda: _loss_points(dash_duo) > first, what="the loss chart to grow")
    assert dash_duo.find_element(f"#{ids.STATUS_BADGE}").text.lower() == "running"
    _shot(dash_duo, "training-running-light")

    _click(dash_duo, ids.TR_PAUSE, lambda: _label(dash_duo, ids.TR_PAUSE) == "Resume", "a pause")
    time.sleep(0.3)
    paused_at = _step(dash_duo)
    time.sleep(1.0)
    assert _step(dash_duo) == paused_at, "a paused run must not advance"
    assert dash_duo.find_element(f"#{ids.STATUS_BADGE}").text.lower() == "paused"

    # A live LR change while paused: recorded as an event at the current step.
    lr = dash_duo.find_element(f"#{ids.TR_ADJ_LR}")
    lr.clear()
    lr.send_keys("2.5")
    _click(
        dash_duo,
        ids.TR_ADJ_APPLY,
        lambda: "Changed: lr_peak" in _label(dash_duo, ids.TR_EVENTS),
        "the change in the events",
    )

    _click(dash_duo, ids.TR_PAUSE, lambda: _label(dash_duo, ids.TR_PAUSE) == "Pause", "resume")
    _wait(lambda: _step(dash_duo) > paused_at + 3000, what="the run to resume")
    dash_duo.wait_for_contains_text(f"#{ids.TR_EVENTS}", "Evaluation: validation loss", timeout=30)

    # Another tab and back: the charts are still there and still growing.
    _tab(dash_duo, "Model Comparison").click()
    time.sleep(0.5)
    _tab(dash_duo, "Training").click()
    dash_duo.wait_for_element(f"#{ids.tr_graph('loss')} .js-plotly-plot")
    _wait(lambda: _loss_points(dash_duo) > 10, what="the loss chart after a tab switch")
    if SHOTS:
        dash_duo.driver.set_window_size(1440, 1500)
        time.sleep(0.6)
        _shot(dash_duo, "training-light")
        dash_duo.find_element(".theme-toggle .form-check-input").click()
        time.sleep(0.8)
        _shot(dash_duo, "training-dark")
        dash_duo.find_element(".theme-toggle .form-check-input").click()

    dash_duo.driver.refresh()
    dash_duo.wait_for_element(f"#{ids.TR_START}")
    _wait(lambda: _step(dash_duo) > paused_at, what="the restored run")
    restored = _step(dash_duo)
    _wait(
        lambda: _step(dash_duo) > restored,
        what=f"the restored run to keep going; store: {_stored(dash_duo)}",
    )
    _wait(lambda: _loss_points(dash_duo) > 10, what="the restored loss chart")
    assert dash_duo.get_logs() == [], "no browser errors"


def test_divergence_raises_an_alert(dash_duo: Any, make_app: Any) -> None:
    """A 10x learning rate diverges within a few thousand steps: alert, status, no more ticks."""
    cfg = sim.preset("llama-2-7b", lr_peak=3e-3, lr_min=3e-4)
    _start_app(dash_duo, make_app)
    dash_duo.driver.execute_script(
        "window.localStorage.setItem(arguments[0], arguments[1]);",
        ids.CONFIG_STORE,
        json.dumps(cfg.to_dict()),
    )
    dash_duo.driver.refresh()
    dash_duo.wait_for_element(f"#{ids.TR_START}")
    _select(dash_duo, ids.TR_SPEED, "500")
    _select(dash_duo, ids.TR_INTERVAL, "250")
    dash_duo.find_element(f"#{ids.TR_START}").click()
    dash_duo.wait_for_contains_text(f"#{ids.TR_DIVERGED}", "diverged", timeout=40)
    assert dash_duo.find_element(f"#{ids.STATUS_BADGE}").text.lower() == "diverged"
    at = _step(dash_duo)
    time.sleep(0.8)
    assert _step(dash_duo) == at
    assert not dash_duo.find_element(f"#{ids.TR_RESET}").get_attribute("disabled") is not None
    _shot(dash_duo, "training-diverged")


def test_csv_download(dash_duo: Any, make_app: Any) -> None:
    """Export CSV downloads one row per step, recomputed at full resolution."""
    _start_app(dash_duo, make_app)
    _select(dash_duo, ids.TR_SPEED, "200")
    _select(dash_duo, ids.TR_INTERVAL, "250")
    dash_duo.find_element(f"#{ids.TR_START}").click()
    _wait(lambda: _step(dash_duo) >= 600, what="a few ticks")
    _click(dash_duo, ids.TR_PAUSE, lambda: _label(dash_duo, ids.TR_PAUSE) == "Resume", "a pause")
    time.sleep(0.3)
    steps = _step(dash_duo)
    dash_duo.find_element(f"#{ids.TR_EXPORT}").click()
    folder = Path(dash_duo.download_path)
    _wait(lambda: any(p.suffix == ".csv" for p in folder.iterdir()), what="the download")
    path = next(p for p in folder.iterdir() if p.suffix == ".csv")
    _wait(lambda: path.stat().st_size > 0, what="the file to be written")
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    assert len(rows) == steps
    assert [int(r["step"]) for r in rows[:3]] == [1, 2, 3]
    assert float(rows[-1]["train_loss"]) > 0
    # Token counts are whole numbers (they read 1.258291e+07), exact: steps x 4Mi tokens.
    assert rows[-1]["tokens"] == str(steps * 4 * 2**20)

    # One SI convention: the tokens axis writes B for 10^9 like the KPI ("10G" beside "36.5B").
    dash_duo.driver.execute_script(
        "[...document.querySelectorAll(arguments[0])].find(l => l.innerText.trim() === 'Tokens')"
        ".click();",
        f"#{ids.TR_XAXIS} label",
    )

    def ticks() -> list[str]:
        return list(
            dash_duo.driver.execute_script(
                "return [...document.querySelectorAll(arguments[0] + ' .xtick text')]"
                ".map(t => t.textContent);",
                f"#{ids.tr_graph('loss')}",
            )
        )

    _wait(lambda: any(t.endswith("B") for t in ticks()), what=f"billions on the axis: {ticks()}")
    assert not any(t.endswith("G") for t in ticks()), ticks()
    assert dash_duo.find_element(f"#{ids.tr_kpi('tokens')}").text.endswith("B")
