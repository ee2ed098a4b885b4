"""The live-adjustment panel in headless Chromium: a refused value is marked and explained,
and a new run starts with an empty panel (issue 17, items 4 and 5)."""

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
    _click_until(
        dash_duo,
        ids.TR_RESET,
        lambda: dash_duo.find_element(f"#{ids.TR_START}").is_enabled(),
        "a reset",
    )
    _wait(
        lambda: dash_duo.find_element(f"#{ids.TR_ADJ_CLIP}").get_attribute("value") == "",
        what="the clip field cleared",
    )
    assert dash_duo.find_element(f"#{ids.TR_ADJ_LR}").get_attribute("value") == "1"
