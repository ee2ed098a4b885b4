"""The Content-Security-Policy holds in a real browser: nothing the app needs is refused.

Chromium enforces the header the app sends (callbacks/security.py). The page records every
``securitypolicyviolation`` event from before its first script runs (a script injected over
DevTools, which CSP does not govern), and the console is checked for Chromium's "Refused to"
messages too, while a run ticks and all three tabs draw their charts.
"""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest
from controls import select as _select

from layouts import ids

pytestmark = pytest.mark.browser

RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__cspViolations.push(
    [e.effectiveDirective, e.blockedURI, (e.sample || '').slice(0, 80)].join(' | '));
});
"""

# A chart counts as drawn when Plotly has laid it out and drawn its SVG (a comparison chart
# with no run chosen yet has no traces, and is drawn all the same).
DRAWN_CHARTS = """
return Array.from(document.querySelectorAll(arguments[0] + ' .js-plotly-plot')).filter(
  (g) => g._fullLayout && g.querySelector('svg.main-svg')).length;
"""


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(pred: Any, timeout: float = 40.0, what: str = "condition") -> None:
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _drawn(dash_duo: Any, selector: str) -> int:
    return int(dash_duo.driver.execute_script(DRAWN_CHARTS, selector))


def _open_tab(dash_duo: Any, label: str) -> None:
    for tab in dash_duo.find_elements(f"#{ids.TABS} .app-tab"):
        if tab.text.strip() == label:
            tab.click()
            return
    raise AssertionError(f"no tab labelled {label!r}")


def test_nothing_is_refused_while_a_run_draws_on_every_tab(dash_duo: Any, make_app: Any) -> None:
    dash_duo.start_server(make_app(), port=_port())
    driver = dash_duo.driver
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": RECORD_VIOLATIONS})
    driver.get(dash_duo.server_url)
    dash_duo.wait_for_element(f"#{ids.TR_START}")
    csp = driver.execute_script(
        "return fetch(location.href).then(r => r.headers.get('content-security-policy'))"
    )
    assert csp and "default-src 'self'" in csp  # the policy is really in force

    _select(dash_duo, ids.TR_SPEED, "1000")
    _select(dash_duo, ids.TR_INTERVAL, "250")
    dash_duo.find_element(f"#{ids.TR_START}").click()
    _wait(lambda: _drawn(dash_duo, f"#{ids.tr_graph('loss')}") == 1, what="the loss chart")
    _wait(
        lambda: (
            driver.execute_script(
                "const g = document.querySelector(arguments[0] + ' .js-plotly-plot');"
                "return g && g.data ? g.data[0].x.length : 0;",
                f"#{ids.tr_graph('loss')}",
            )
            > 3
        ),
        what="loss points from the running run",
    )
    training_charts = _drawn(dash_duo, "body")
    assert training_charts >= 2

    for label, graphs in (
        ("Configuration", (ids.CFG_MEMORY, ids.CFG_LR)),
        ("Model Comparison", (ids.CMP_CURVES_GRAPH, ids.CMP_EFFICIENCY_GRAPH)),
    ):
        _open_tab(dash_duo, label)
        for graph in graphs:
            _wait(lambda g=graph: _drawn(dash_duo, f"#{g}") == 1, what=f"#{graph} on {label}")
        # Let the tab settle (its other callbacks answer, Plotly finishes drawing).
        time.sleep(1.0)
    _open_tab(dash_duo, "Training")
    time.sleep(1.0)

    violations = driver.execute_script("return window.__cspViolations")
    assert violations == [], violations
    console = [
        str(entry.get("message", ""))
        for entry in dash_duo.get_logs() or []
        if "Content Security Policy" in str(entry.get("message", ""))
        or "Refused to" in str(entry.get("message", ""))
    ]
    assert console == [], console
