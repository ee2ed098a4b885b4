"""Keyboard use of the app in real headless Chromium (issue 17, item 2).

What a keyboard user does: Tab from the top of the page to the tab strip, arrows and Enter or
Space to open the other tabs, Tab into the open panel, and at each stop a visible focus ring,
in both colour modes. The axe-core audit of every tab: test_axe_audit_browser.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dash
import pytest
from polling import wait
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys

from layouts import ids, shell

pytestmark = pytest.mark.browser

LOAD_TIMEOUT = 45

# What has focus now: its id, role, the tab panel it sits in, and whether the ring shows.
FOCUSED = """
const el = document.activeElement;
const css = getComputedStyle(el);
const ring = (css.outlineStyle !== 'none' && parseFloat(css.outlineWidth) > 0) ||
             css.boxShadow !== 'none';
const panel = el.closest('[role=tabpanel]');
return {id: el.id, role: el.getAttribute('role'), text: (el.innerText || '').trim(),
        selected: el.getAttribute('aria-selected'), controls: el.getAttribute('aria-controls'),
        tabindex: el.getAttribute('tabindex'), ring: ring, outline: css.outlineColor,
        list: el.parentElement && el.parentElement.getAttribute('role'),
        panel: panel ? panel.id : null,
        labelledby: panel ? panel.getAttribute('aria-labelledby') : null,
        tag: el.tagName.toLowerCase(), type: el.getAttribute('type')};
"""


def test_the_keyboard_reaches_the_tabs_opens_each_and_shows_where_it_is(
    dash_duo: Any, make_app: Callable[[], dash.Dash], free_port: Callable[[], int]
) -> None:
    driver = dash_duo.driver
    dash_duo.start_server(make_app(), port=free_port())
    dash_duo.wait_for_element(f"#{ids.TAB_PANEL.format('training')}", timeout=LOAD_TIMEOUT)

    def press(*keys: str) -> dict[str, Any]:
        ActionChains(driver).send_keys(*keys).perform()
        return driver.execute_script(FOCUSED)

    def mode() -> str:
        return driver.execute_script("return document.documentElement.dataset.bsTheme")

    # From the top of the page, Tab goes through the top bar's one control, the colour-mode
    # switch (Space flips it: the rest runs in dark mode, the ring is checked in both)...
    driver.execute_script("document.activeElement && document.activeElement.blur()")
    focus = press(Keys.TAB)
    assert focus["id"] == ids.THEME_SWITCH, focus
    assert focus["ring"], f"no visible focus on the switch in light mode: {focus}"
    start = mode()
    focus = press(Keys.SPACE)
    wait(lambda: mode() != start, what="the colour mode to flip by keyboard")

    # ...then to the tab strip: the open tab, selected, the only one in the Tab order.
    focus = press(Keys.TAB)
    training, comparison, configuration = (ids.TAB_ELEMENT.format(s) for _, _, s, _ in shell.TABS)
    assert focus["id"] == training, f"Tab went from the switch to {focus}, not the tabs"
    assert focus["role"] == "tab" and focus["list"] == "tablist", focus
    assert focus["selected"] == "true" and focus["tabindex"] == "0", focus
    assert focus["controls"] == ids.TAB_PANEL.format("training"), focus
    assert focus["ring"], f"no visible focus on the tab in {mode()} mode: {focus}"

    # Arrows move focus along the strip (wrapping); Enter and Space open the focused tab.
    for key, tab_id, slug in (
        (Keys.ENTER, comparison, "comparison"),
        (Keys.SPACE, configuration, "configuration"),
    ):
        focus = press(Keys.ARROW_RIGHT)
        assert focus["id"] == tab_id and focus["selected"] == "false", focus
        assert focus["ring"], focus
        press(key)
        panel = ids.TAB_PANEL.format(slug)
        dash_duo.wait_for_element(f"#{panel}")
        focus = wait(
            lambda: (f := driver.execute_script(FOCUSED))["selected"] == "true" and f,
            what=f"{slug} selected",
        )
        assert focus["id"] == tab_id and focus["controls"] == panel, focus
        assert driver.execute_script("return location.hash") == f"#{slug}"
    focus = press(Keys.ARROW_RIGHT)
    assert focus["id"] == training, "ArrowRight on the last tab wraps to the first"
    focus = press(Keys.ARROW_LEFT)
    assert focus["id"] == configuration, focus

    # Tab leaves the strip into the open panel (the other tabs are not Tab stops), and what
    # it reaches shows a ring too.
    focus = press(Keys.TAB)
    assert focus["panel"] == ids.TAB_PANEL.format("configuration"), focus
    assert focus["labelledby"] == configuration, focus
    assert focus["ring"], f"no visible focus on the first control of Configuration: {focus}"
    assert dash_duo.get_logs() == []
