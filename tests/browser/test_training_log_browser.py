"""The Training tab's event log, view settings and playback estimate in headless Chromium
(issue 17, items 11-13).

One page: a short run (Vicuna 7B, 4,235 steps) played to its end at 500 steps a tick, the
way a person watches it, then a reload. What the issue saw: the log kept 32 entries, so "Run
started" and "Warmup done" were gone by the end while evaluations flooded it.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from controls import select as _select
from polling import wait

import simulator as sim
from layouts import ids

pytestmark = pytest.mark.browser

SHOTS = os.environ.get("TRAINING_SHOTS")  # a directory: save screenshots there (for review)


def _shot(dash_duo: Any, name: str, part: str = ".tr-panel-events") -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        panel = dash_duo.find_element(part)
        dash_duo.driver.execute_script("arguments[0].scrollIntoView();", panel)
        dash_duo.driver.save_screenshot(str(Path(SHOTS) / f"{name}.png"))


def _entries(dash_duo: Any) -> list[dict[str, Any]]:
    """Every line of the log: its kind, text, whether it shows and whether its text fits."""
    return list(
        dash_duo.driver.execute_script(
            "return [...document.querySelectorAll(arguments[0] + ' li')].map(li => {"
            "  const t = li.querySelector('.tr-ev-text') || li;"
            "  return {kind: li.dataset.kind || li.className, text: t.innerText,"
            "          shown: li.offsetParent !== null,"
            "          fits: t.scrollWidth <= t.clientWidth + 1};"
            "});",
            f"#{ids.TR_EVENTS}",
        )
    )


def _settings(dash_duo: Any) -> dict[str, Any]:
    return dict(
        dash_duo.driver.execute_script(
            "const v = id => document.getElementById(id);"
            "const x = document.querySelector('#' + arguments[2] + ' input:checked');"
            "return {speed: v(arguments[0]).value, interval: v(arguments[1]).value,"
            "        xaxis: x ? x.value : null, log: v(arguments[3]).checked};",
            ids.TR_SPEED,
            ids.TR_INTERVAL,
            ids.TR_XAXIS,
            ids.TR_LOG,
        )
    )


def _axis(dash_duo: Any) -> Any:
    return dash_duo.driver.execute_script(
        "const g = document.querySelector(arguments[0] + ' .js-plotly-plot');"
        "return g && g.layout ? g.layout.yaxis.type : null;",
        f"#{ids.tr_graph('loss')}",
    )


def _toggle(dash_duo: Any, label: str) -> None:
    dash_duo.driver.execute_script(
        "[...document.querySelectorAll(arguments[0] + ' label')]"
        ".find(l => l.innerText.trim() === arguments[1]).click();",
        f"#{ids.TR_EVENT_FILTER}",
        label,
    )


def test_the_log_keeps_milestones_filters_by_kind_and_survives_a_reload(
    dash_duo: Any, make_app: Any, free_port: Any
) -> None:
    dash_duo.start_server(make_app(), port=free_port())
    dash_duo.wait_for_element(f"#{ids.TR_START}")
    cfg = sim.preset("vicuna-7b")
    dash_duo.driver.execute_script(
        "window.localStorage.setItem(arguments[0], arguments[1]);",
        ids.CONFIG_STORE,
        json.dumps(cfg.to_dict()),
    )
    dash_duo.driver.refresh()
    dash_duo.wait_for_element(f"#{ids.TR_START}")
    _select(dash_duo, ids.TR_SPEED, "500")
    _select(dash_duo, ids.TR_INTERVAL, "250")
    # Not measured yet: the interval gives only a lower bound, and the text says so.
    dash_duo.wait_for_contains_text(f"#{ids.TR_PLAYBACK}", "playback: at least")
    dash_duo.find_element(f"#{ids.TR_START}").click()

    # While it plays (item 13): the estimate from the tick times measured in this browser,
    # which cannot be shorter than the 0.25 s interval (the timer restarts after each answer).
    text = wait(
        lambda: (t := dash_duo.find_element(f"#{ids.TR_PLAYBACK}").text) and "measured" in t and t,
        what="a measured playback estimate",
    )
    found = re.search(r"a tick every ([0-9.]+) s, measured", text)
    assert found and float(found.group(1)) >= 0.25, text
    wait(
        lambda: dash_duo.find_element(f"#{ids.STATUS_BADGE}").text.lower() == "finished",
        what="the run to finish",
    )

    # Played tick by tick to its end: the milestones are still there, evaluations are capped
    # and the rest counted on the last line.
    entries = wait(
        lambda: (e := _entries(dash_duo)) and "more" in e[-1]["kind"] and e,
        what="the line counting earlier evaluations",
    )
    texts = [e["text"] for e in entries]
    assert texts[0].startswith("Finished"), texts
    assert any(t.startswith("Run started") for t in texts), texts
    assert any(t.startswith("Warmup done") for t in texts), texts
    assert sum(e["kind"] == "eval" for e in entries) == 3, texts
    assert "earlier evaluations" in texts[-1], texts
    assert all(e["shown"] and e["fits"] for e in entries), entries

    _shot(dash_duo, "events-finished")
    if SHOTS:
        dash_duo.find_element(".theme-toggle .form-check-input").click()
        _shot(dash_duo, "events-finished-dark")
        dash_duo.find_element(".theme-toggle .form-check-input").click()
    # A 390 px phone: long entries wrap inside the panel, none is cut off.
    size = dash_duo.driver.get_window_size()
    dash_duo.driver.set_window_size(390, 844)
    wait(lambda: all(e["fits"] for e in _entries(dash_duo)), what="entries that fit at 390 px")
    _shot(dash_duo, "events-phone")
    dash_duo.driver.set_window_size(size["width"], size["height"])

    # Filter by kind: Evals off hides evaluations, checkpoints and the count, nothing else.
    _toggle(dash_duo, "Evals")
    wait(
        lambda: (
            not any(e["shown"] for e in _entries(dash_duo) if e["kind"] in ("eval", "checkpoint"))
        ),
        what="evaluations hidden",
    )
    _shot(dash_duo, "events-filtered")
    entries = _entries(dash_duo)
    assert not entries[-1]["shown"], "the evaluation count is hidden with them"
    assert all(e["shown"] for e in entries if e["kind"] in ("start", "warmup", "finished"))

    # The chart settings a person picks while watching (item 12).
    dash_duo.driver.execute_script(
        "[...document.querySelectorAll(arguments[0] + ' label')]"
        ".find(l => l.innerText.trim() === 'Tokens').click();"
        "document.getElementById(arguments[1]).click();",
        f"#{ids.TR_XAXIS}",
        ids.TR_LOG,
    )
    wait(lambda: _settings(dash_duo)["log"], what="log y on")

    # A reload: the same log, the filter and every view setting as the user left them.
    dash_duo.driver.refresh()
    dash_duo.wait_for_element(f"#{ids.TR_START}")
    entries = wait(
        lambda: (e := _entries(dash_duo)) and any(x["kind"] == "start" for x in e) and e,
        what="the restored log",
    )
    assert sum(e["kind"] == "eval" for e in entries) == 3
    assert not any(e["shown"] for e in entries if e["kind"] == "eval"), "Evals stays off"
    kept = {"speed": "500", "interval": "250", "xaxis": "tokens", "log": True}
    wait(lambda: _settings(dash_duo) == kept, what=f"the view settings kept: {kept}")
    wait(lambda: _axis(dash_duo) == "log", what="the loss chart drawn on a log y axis")
    assert dash_duo.find_element(f"#{ids.TR_TAB_NOTE}").text == "", "a run is shown"

    # A second tab: no run there (runs live in their tab), and the page says so plainly;
    # the view settings carry over.
    first = dash_duo.driver.current_window_handle
    url = dash_duo.driver.current_url
    dash_duo.driver.switch_to.new_window("tab")
    dash_duo.driver.get(url)
    dash_duo.wait_for_element(f"#{ids.TR_START}")
    dash_duo.wait_for_text_to_equal(f"#{ids.STATUS_BADGE}", "Idle", timeout=30)
    dash_duo.wait_for_contains_text(f"#{ids.TR_TAB_NOTE}", "Runs live in the browser tab")
    wait(lambda: _settings(dash_duo) == kept, what="the view settings in a new tab")
    _shot(dash_duo, "second-tab-idle", ".tr-head")
    dash_duo.driver.close()
    dash_duo.driver.switch_to.window(first)
    assert dash_duo.get_logs() == [], "no browser errors"
