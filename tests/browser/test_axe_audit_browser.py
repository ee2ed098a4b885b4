"""An axe-core audit of every tab in light and dark mode, in real headless Chromium (issue 17).

One page load: axe-core (vendored under tests/browser/vendor/, MPL-2.0, a test asset only: the
app never serves it) is injected with execute_script and run on each tab in turn, then again
in dark mode (colour contrast changes). Any serious or critical violation fails the test, and
the message lists each one with the elements it found.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import dash
import pageload
import pytest
from polling import wait

from layouts import ids, shell

pytestmark = pytest.mark.browser

LOAD_TIMEOUT = 45
AXE = Path(__file__).parent / "vendor" / "axe-core-4.14.1" / "axe.min.js"
LOAD_TIMEOUT = 45

# axe.run on the whole document, after two frames (assets/js/a11y.js names controls on the
# next frame after a change); only what blocks or seriously hinders someone (axe's "serious"
# and "critical"), each as "rule: help (impact) -> up to 3 offending elements".
#
# Left out, two findings in Dash 4.4's own dcc.Dropdown markup that no prop changes:
# - its hidden <input aria-hidden="true" tabindex="0"> before the button, which forwards focus
#   to the button (for Safari) (aria-hidden-focus);
# - a multi-select button named "4 selected" then the values, while it shows the values then
#   "4 selected" (label-content-name-mismatch; the words are all there, in another order).
RUN_AXE = """
const done = arguments[arguments.length - 1];
const context = {exclude: [['.dash-dropdown-focus-target']]};
const dashDropdown = (v, n) => v.id === 'label-content-name-mismatch' &&
  document.querySelector(n.target[0]).matches('button.dash-dropdown');
new Promise((ok) => requestAnimationFrame(() => requestAnimationFrame(ok)))
  .then(() => axe.run(context, {resultTypes: ['violations']}))
  .then((r) => done(r.violations
    .map((v) => Object.assign(v, {nodes: v.nodes.filter((n) => !dashDropdown(v, n))}))
    .filter((v) => v.nodes.length && (v.impact === 'serious' || v.impact === 'critical'))
    .map((v) => v.id + ': ' + v.help + ' (' + v.impact + ') -> ' +
         v.nodes.slice(0, 3).map((n) => n.target.join(' ') + ' ' + n.html.slice(0, 90))
           .join(' | ') +
         (v.nodes.length > 3 ? ' | and ' + (v.nodes.length - 3) + ' more' : ''))))
  .catch((err) => done(['axe failed: ' + err]));
"""

# The tab is ready: its charts drawn, nothing loading, and the components Dash loads on first
# use (sliders, dropdowns, tables: separate scripts) rendered, not their placeholders.
READY = """
const [graphs, parts] = arguments;
return graphs.every((id) => {
  const g = document.querySelector('#' + id + ' .js-plotly-plot');
  return g && g._fullLayout && g.querySelector('.main-svg');
}) && parts.every((sel) => document.querySelector(sel)) &&
  !document.querySelector('[data-dash-is-loading="true"]');
"""
# Two things axe does not ask but a keyboard or screen-reader user needs: every chart has a
# name (axe does not look inside Plotly's <div>s), and no positive tabindex reorders Tab.
OURS = """
const out = [];
document.querySelectorAll('.js-plotly-plot').forEach((g) => {
  const fig = g.closest('[role=figure][aria-label]');
  if (!fig) out.push('chart-name: a chart with no accessible name -> #' +
                     (g.closest('[id]') || {}).id);
});
document.querySelectorAll('[tabindex]').forEach((el) => {
  if (el.tabIndex > 0) out.push('tabindex: positive tabindex reorders Tab -> ' +
                                el.outerHTML.slice(0, 90));
});
return out;
"""

PARTS = {
    "training": ("[role=slider]",),
    "comparison": ("[role=slider]", ".dash-dropdown", ".dash-spreadsheet"),
    "configuration": (".dash-dropdown",),
}


def _open(driver: Any, label: str, slug: str) -> None:
    for tab in driver.find_elements("css selector", f"#{ids.TABS} .app-tab"):
        if tab.text.strip() == label:
            tab.click()
            break
    wait(
        lambda: driver.execute_script(READY, list(pageload.TAB_GRAPHS[slug]), PARTS[slug]),
        what=f"the {label} tab drawn",
    )


def test_every_tab_passes_an_axe_audit_in_light_and_dark(
    dash_duo: Any, make_app: Callable[[], dash.Dash], free_port: Callable[[], int]
) -> None:
    driver = dash_duo.driver
    dash_duo.start_server(make_app(), port=free_port())
    dash_duo.wait_for_text_to_equal(f"#{ids.STATUS_BADGE}", "Idle", timeout=LOAD_TIMEOUT)
    driver.execute_script(AXE.read_text(encoding="utf-8"))

    found: dict[str, list[str]] = {}
    for mode in ("light", "dark"):
        if mode == "dark":
            dash_duo.find_element(f"#{ids.THEME_SWITCH}").click()
            wait(
                lambda: (
                    driver.execute_script("return document.documentElement.dataset.bsTheme")
                    == "dark"
                ),
                what="dark mode",
            )
        for label, _, slug, _ in shell.TABS:
            _open(driver, label, slug)
            violations = driver.execute_async_script(RUN_AXE) + driver.execute_script(OURS)
            if violations:
                found[f"{label} ({mode})"] = violations
    assert found == {}, "axe-core found:\n" + "\n".join(
        f"{where}:\n  " + "\n  ".join(v) for where, v in found.items()
    )
