"""What only a browser shows: the real page in headless Chromium (dash_duo).

Few and broad on purpose: each test starts a browser, so each one checks everything a user
would notice about one moment (first load, moving between tabs, changing the colour mode).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import dash
import pytest
from dash import dcc, html
from selenium.webdriver.support.ui import WebDriverWait

import simulator as sim
from layouts import ids, shell
from layouts.figures.theme import base_layout

pytestmark = pytest.mark.browser

# Waits return as soon as their condition holds; the long limit only matters on a machine
# busy with other work, where a first page load (a few MB of JavaScript) can take seconds.
LOAD_TIMEOUT = 30

FONT_STATUS_JS = """
const done = arguments[arguments.length - 1];
document.fonts.ready
  .then(() => Promise.all([
    document.fonts.load("16px 'Inter Variable'"),
    document.fonts.load("16px 'JetBrains Mono Variable'"),
  ]))
  .then((loaded) => done(loaded.map((faces) => faces.map((f) => f.status))))
  .catch((err) => done(String(err)));
"""


def tab_element(dash_duo: Any, label: str) -> Any:
    for tab in dash_duo.find_elements(f"#{ids.TABS} .app-tab"):
        if tab.text.strip() == label:
            return tab
    raise AssertionError(f"no tab labelled {label!r}")


def visible_panels(dash_duo: Any) -> list[str]:
    return [
        p.get_attribute("data-tab")
        for p in dash_duo.find_elements(".tab-panel")
        if p.is_displayed()
    ]


def test_first_load_is_styled_offline_and_clean(
    dash_duo: Any, make_app: Callable[[], dash.Dash], free_port: Callable[[], int]
) -> None:
    dash_duo.start_server(make_app(), port=free_port())
    dash_duo.wait_for_text_to_equal(f"#{ids.STATUS_BADGE}", "Idle", timeout=LOAD_TIMEOUT)
    assert dash_duo.driver.title == shell.PRODUCT_NAME

    styles = dash_duo.driver.execute_script(
        """
        const body = getComputedStyle(document.body);
        const sw = getComputedStyle(document.querySelector('.form-switch .form-check-input'));
        const hidden = getComputedStyle(document.querySelector('.theme-toggle .visually-hidden'));
        return {font: body.fontFamily, margin: body.margin, boxSizing: body.boxSizing,
                switchWidth: sw.width, switchRadius: sw.borderRadius,
                hiddenPosition: hidden.position};
        """
    )
    # Bootstrap's reboot and components, and our type on top.
    assert styles["margin"] == "0px" and styles["boxSizing"] == "border-box"
    assert styles["switchRadius"] == styles["switchWidth"]  # the pill-shaped .form-switch
    assert styles["hiddenPosition"] == "absolute"  # .visually-hidden
    assert styles["font"].startswith('"Inter Variable"')

    # Both fonts load from our own assets.
    statuses = dash_duo.driver.execute_async_script(FONT_STATUS_JS)
    assert statuses == [["loaded"], ["loaded"]], statuses

    # Nothing came from another host: no CDN, no font service.
    origin, urls = dash_duo.driver.execute_script(
        "return [location.origin, performance.getEntriesByType('resource').map((e) => e.name)];"
    )
    assert any(u.endswith(".woff2") for u in urls) and any("bootstrap" in u for u in urls)
    foreign = [u for u in urls if not u.startswith(origin + "/")]
    assert foreign == []

    # The badge follows the run Store (a real paused run, then a fresh one).
    run = sim.new_run(sim.preset("llama-2-7b"))
    set_run = "window.dash_clientside.set_props(arguments[0], {data: arguments[1]});"
    dash_duo.driver.execute_script(set_run, ids.RUN_STORE, sim.pause(sim.start(run)).to_dict())
    dash_duo.wait_for_text_to_equal(f"#{ids.STATUS_BADGE}", "Paused")
    badge_class = dash_duo.find_element(f"#{ids.STATUS_BADGE}").get_attribute("class")
    assert "status-paused" in badge_class
    dash_duo.driver.execute_script(set_run, ids.RUN_STORE, run.to_dict())
    dash_duo.wait_for_text_to_equal(f"#{ids.STATUS_BADGE}", "Idle")

    assert dash_duo.get_logs() == []


def test_tabs_switch_show_their_content_and_live_in_the_url(
    dash_duo: Any, make_app: Callable[[], dash.Dash], free_port: Callable[[], int]
) -> None:
    dash_duo.start_server(make_app(), port=free_port())
    dash_duo.wait_for_element(".tab-panel[data-tab='training']", timeout=LOAD_TIMEOUT)

    # Training is open first; visit the others, then come back to it.
    for label, _, slug, _ in (*shell.TABS[1:], shell.TABS[0]):
        tab_element(dash_duo, label).click()
        panel = dash_duo.wait_for_element(f".tab-panel[data-tab='{slug}']")
        assert panel.is_displayed() and panel.text.strip(), f"{label} shows nothing"
        assert visible_panels(dash_duo) == [slug]
        selected = tab_element(dash_duo, label)
        assert "app-tab--selected" in selected.get_attribute("class")
        assert selected.value_of_css_property("border-top-width") == "0px"  # no jump
        assert _wait_for_hash(dash_duo, f"#{slug}")

    # A link opens its tab; the back button walks back through tabs.
    dash_duo.driver.get("about:blank")
    dash_duo.driver.get(f"{dash_duo.server_url}/#comparison")
    dash_duo.wait_for_element(".tab-panel[data-tab='comparison']", timeout=LOAD_TIMEOUT)
    tab_element(dash_duo, "Configuration").click()
    dash_duo.wait_for_element(".tab-panel[data-tab='configuration']")
    assert _wait_for_hash(dash_duo, "#configuration")
    dash_duo.driver.back()
    dash_duo.wait_for_element(".tab-panel[data-tab='comparison']")
    assert visible_panels(dash_duo) == ["comparison"]

    assert dash_duo.get_logs() == []


def _wait_for_hash(dash_duo: Any, expected: str, timeout: float = 10.0) -> bool:
    WebDriverWait(dash_duo.driver, timeout, poll_frequency=0.05).until(
        lambda d: d.execute_script("return location.hash") == expected
    )
    return True


def _app_with_a_chart(make_app: Callable[[], dash.Dash]) -> dash.Dash:
    app = make_app()
    figure = {
        "data": [{"type": "scatter", "y": [3.2, 2.9, 2.7, 2.6]}],
        "layout": base_layout(title={"text": "loss"}, height=260),
    }
    app.layout = lambda: html.Div(
        [shell.build_layout(), dcc.Graph(className="probe-chart", figure=figure)]
    )
    return app


def test_colour_mode_follows_the_os_then_the_switch_and_recolours_charts(
    dash_duo: Any, make_app: Callable[[], dash.Dash], free_port: Callable[[], int]
) -> None:
    driver = dash_duo.driver
    driver.execute_cdp_cmd(
        "Emulation.setEmulatedMedia",
        {"features": [{"name": "prefers-color-scheme", "value": "dark"}]},
    )
    dash_duo.start_server(_app_with_a_chart(make_app), port=free_port())
    dash_duo.wait_for_element(".probe-chart .xtick text", timeout=LOAD_TIMEOUT)

    def mode() -> str:
        return driver.execute_script("return document.documentElement.dataset.bsTheme")

    def tick_fill() -> str:
        return driver.execute_script(
            "return getComputedStyle(document.querySelector('.probe-chart .xtick text')).fill"
        )

    def stored() -> Any:
        return driver.execute_script("return localStorage.getItem(arguments[0])", ids.THEME_STORE)

    # Nothing chosen yet: follow the OS, and store nothing, so it keeps following it.
    assert mode() == "dark"
    assert dash_duo.find_element(f"#{ids.THEME_SWITCH}").is_selected()
    assert stored() is None
    dark_fill = tick_fill()

    dash_duo.find_element(f"#{ids.THEME_SWITCH}").click()
    _wait_until(lambda: mode() == "light")
    light_fill = tick_fill()
    assert light_fill != dark_fill  # the chart followed, with no new figure from the server
    assert stored() == '"light"'

    # The choice outlives a reload, even against the OS preference.
    driver.refresh()
    dash_duo.wait_for_element(".probe-chart .xtick text", timeout=LOAD_TIMEOUT)
    _wait_until(lambda: mode() == "light" and tick_fill() == light_fill)
    assert not dash_duo.find_element(f"#{ids.THEME_SWITCH}").is_selected()

    assert dash_duo.get_logs() == []


def _wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)
