"""The live-adjustment panel in headless Chromium: a refused value is marked and explained,
a divergence reads the same in the banner, the KPIs, the events, the chart and the buttons,
and a new run starts with an empty panel (issue 17, items 3, 4 and 5)."""

from __future__ import annotations

from typing import Any

import pytest
from polling import wait as _wait

from layouts import ids

pytestmark = pytest.mark.browser


def _click_until(dash_duo: Any, id_: str, done: Any, what: str) -> None:
    """Click until ``done()``: clicks during a tick are ignored on purpose (running=)."""
    for _ in range(40):
        dash_duo.driver.execute_script("document.getElementById(arguments[0]).click()", id_)
        try:
            _wait(done, timeout=1.0, what=what)
            return
        except AssertionError:
            continue
    raise AssertionError(f"timed out waiting for {what}")


def _type(dash_duo: Any, id_: str, text: str) -> None:
    field = dash_duo.find_element(f"#{id_}")
    field.clear()
    field.send_keys(text)


def test_an_out_of_range_lr_is_marked_and_a_new_run_clears_the_panel(
    dash_duo: Any, make_app: Any, free_port: Any
) -> None:
    dash_duo.start_server(make_app(), port=free_port())
    dash_duo.wait_for_element(f"#{ids.TR_START}")
    dash_duo.find_element(f"#{ids.TR_START}").click()
    _wait(
        lambda: dash_duo.find_element(f"#{ids.tr_kpi('step')}").text not in ("0", "–"),
        what="the run's first steps",
    )
    _click_until(
        dash_duo,
        ids.TR_PAUSE,
        lambda: dash_duo.find_element(f"#{ids.TR_PAUSE}").text.strip().endswith("Resume"),
        "a pause",
    )
    _type(dash_duo, ids.TR_ADJ_LR, "100")
    _type(dash_duo, ids.TR_ADJ_CLIP, "0.5")
    lr = dash_duo.find_element(f"#{ids.TR_ADJ_LR}")
    _click_until(
        dash_duo,
        ids.TR_ADJ_APPLY,
        lambda: "is-invalid" in (lr.get_attribute("class") or ""),
        "the LR field marked invalid",
    )
    notice = dash_duo.find_element(f"#{ids.TR_NOTICE}").text
    assert "LR multiplier" in notice and "from 0.05 to 20" in notice
    assert "Nothing to change" not in notice
    # The allowed range shows under the field itself.
    feedback = dash_duo.driver.execute_script(
        "return document.getElementById(arguments[0]).nextElementSibling.innerText", ids.TR_ADJ_LR
    )
    assert "0.05 to 20" in feedback
    _type(dash_duo, ids.TR_ADJ_LR, "2")
    _click_until(
        dash_duo,
        ids.TR_ADJ_APPLY,
        lambda: "Applied at step" in dash_duo.find_element(f"#{ids.TR_NOTICE}").text,
        "the change applied",
    )
    assert "is-invalid" not in (lr.get_attribute("class") or "")
    _diverges_and_says_so(dash_duo)
    # The ended run's auto-save message goes with it: a new run does not start under it.
    _wait(lambda: "Auto-saved the run" in _text(dash_duo, ids.TR_NOTICE), what="the auto-save")
    _click_until(
        dash_duo,
        ids.TR_RESET,
        lambda: dash_duo.find_element(f"#{ids.TR_START}").is_enabled(),
        "a reset",
    )
    _wait(lambda: _text(dash_duo, ids.TR_NOTICE) == "", timeout=2, what="the message cleared")
    _wait(
        lambda: dash_duo.find_element(f"#{ids.TR_ADJ_CLIP}").get_attribute("value") == "",
        what="the clip field cleared",
    )
    assert dash_duo.find_element(f"#{ids.TR_ADJ_LR}").get_attribute("value") == "1"


def _text(dash_duo: Any, id_: str) -> str:
    return str(dash_duo.find_element(f"#{id_}").text).strip()


def _diverges_and_says_so(dash_duo: Any) -> None:
    """LR x20 on top of x2, resumed: the run diverges. The banner's NaN step is the step the
    run ended on (KPI), the newest event's and the chart's last point's; it says the run has
    ended and points to Reset, which is the control left enabled (it said "paused", and the
    loss was still finite at the step it named)."""
    _type(dash_duo, ids.TR_ADJ_LR, "20")
    _click_until(
        dash_duo,
        ids.TR_ADJ_APPLY,
        lambda: "lr_peak = 0.012" in _text(dash_duo, ids.TR_NOTICE),
        "the LR x20 applied",
    )
    _click_until(
        dash_duo,
        ids.TR_PAUSE,
        lambda: _text(dash_duo, ids.STATUS_BADGE) in ("Running", "Diverged"),
        "the run resumed",
    )
    _wait(lambda: _text(dash_duo, ids.STATUS_BADGE) == "Diverged", what="the divergence")
    _wait(lambda: "Training diverged" in _text(dash_duo, ids.TR_DIVERGED), what="the banner")
    step = _text(dash_duo, ids.tr_kpi("step"))
    banner = _text(dash_duo, ids.TR_DIVERGED)
    assert f"was NaN at step {step}" in banner, (step, banner)
    assert "paused" not in banner and "cannot be resumed" in banner and "Reset" in banner
    assert _text(dash_duo, ids.tr_kpi("loss")) == "NaN"
    newest = dash_duo.find_element(f"#{ids.TR_EVENTS} .tr-event")
    assert newest.text.startswith(step) and "ended" in newest.text
    raw = dash_duo.driver.execute_script(
        "const g = document.querySelector(arguments[0] + ' .js-plotly-plot');"
        "const t = g.data.find(d => d.name === 'train (raw)');"
        "return [t.x[t.x.length - 1], t.y[t.y.length - 1],"
        " Math.max(...t.x.filter((x, i) => Number.isFinite(t.y[i])))];",
        f"#{ids.tr_graph('loss')}",
    )
    last_x, last_y, last_finite_x = raw
    assert f"{int(last_x):,}" == step and last_y is None and last_finite_x < last_x
    for control, enabled in ((ids.TR_RESET, True), (ids.TR_PAUSE, False), (ids.TR_START, False)):
        assert dash_duo.find_element(f"#{control}").is_enabled() is enabled, control
    assert _text(dash_duo, ids.TR_PAUSE).endswith("Pause")  # no Resume is offered
