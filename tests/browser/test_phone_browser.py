"""The app on a 390x844 phone, and Plotly's margin warnings through a run (issue 17, item 16).

At 390 px the Comparison charts were cut off (a 276 px plot with notes running off its right
edge), the legend covered the plot's title and y ticks, and the product name read "L..".
plotly.js also logged "Too many auto-margin redraws" while a run played. One page load: a run
on Training at 390x844 (every console warning recorded from before the page's first script),
then the Comparison tab with three recipes, measured as a user sees it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import dash
import pytest
from controls import select
from polling import wait

from layouts import ids

pytestmark = pytest.mark.browser

# Every console.warn / console.trace (plotly.js logs its warnings with console.trace), kept
# from the first script on.
_HOOK = """
window.__warnings = [];
for (const kind of ['warn', 'trace']) {
  const original = console[kind];
  console[kind] = function (...args) {
    window.__warnings.push(args.map(String).join(' '));
    return original.apply(this, args);
  };
}
"""

# Per chart: its width against the card's content box, whether the legend's box overlaps
# the plot area, and whether the title is drawn inside the chart.
_MEASURE = """
const out = {};
for (const id of arguments[0]) {
  const holder = document.getElementById(id);
  const gd = holder && holder.querySelector('.js-plotly-plot');
  if (!gd || !gd._fullLayout) { out[id] = null; continue; }
  const body = holder.closest('.card-body');
  const cs = getComputedStyle(body);
  const inner = body.getBoundingClientRect().width - parseFloat(cs.paddingLeft)
    - parseFloat(cs.paddingRight);
  const plot = (gd.querySelector('.nsewdrag') || gd.querySelector('.polar .bg') ||
                gd.querySelector('.bglayer rect'));
  const legend = gd.querySelector('.legend');
  const box = (el) => { if (!el) return null; const r = el.getBoundingClientRect();
                        return [r.left, r.top, r.right, r.bottom]; };
  const title = gd.querySelector('.gtitle');
  out[id] = {chart: gd.getBoundingClientRect().width, inner: inner, plot: box(plot),
             legend: box(legend), title: box(title), svg: box(gd.querySelector('svg.main-svg')),
             narrow: !!(gd.layout.meta && gd.layout.meta.narrow)};
}
return out;
"""

CHARTS = (ids.CMP_CURVES_GRAPH, ids.CMP_EFFICIENCY_GRAPH, ids.CMP_BENCH_BARS)


def _overlap(a: list[float], b: list[float]) -> bool:
    return a[0] < b[2] - 1 and b[0] < a[2] - 1 and a[1] < b[3] - 1 and b[1] < a[3] - 1


def test_a_phone_shows_whole_charts_with_the_legend_clear_of_the_plot_and_no_margin_warnings(
    dash_duo: Any, make_app: Callable[[], dash.Dash], free_port: Callable[[], int]
) -> None:
    driver = dash_duo.driver
    driver.set_window_size(390, 844)
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": _HOOK})
    dash_duo.start_server(make_app(), port=free_port())
    dash_duo.wait_for_element(f"#{ids.TR_START}")
    recipes = [{"kind": "preset", "ref": r} for r in ("llama-2-7b", "llama-2-13b", "mistral-7b")]
    driver.execute_script(
        "localStorage.setItem(arguments[0], JSON.stringify(arguments[1]));",
        ids.CMP_SELECTION,
        recipes,
    )
    driver.refresh()
    dash_duo.wait_for_element(f"#{ids.TR_START}")
    assert driver.execute_script("return window.innerWidth") <= 400

    # The product name is shown whole (it was cut to "L..").
    title = driver.execute_script(
        "const t = document.querySelector('.app-title');"
        "return [t.textContent, t.scrollWidth, t.clientWidth, t.getBoundingClientRect().right,"
        " window.innerWidth];"
    )
    assert title[0] == "LLM Training Dashboard" and title[1] <= title[2] and title[3] <= title[4]

    # A run plays for a while: the charts redraw with every tick.
    select(dash_duo, ids.TR_SPEED, "10000")
    dash_duo.find_element(f"#{ids.TR_START}").click()
    wait(
        lambda: dash_duo.find_element(f"#{ids.STATUS_BADGE}").text.lower() == "running",
        what="the run to start",
    )
    time.sleep(8)

    for tab in dash_duo.find_elements(f"#{ids.TABS} .app-tab"):
        if tab.text.strip() == "Model Comparison":
            tab.click()
    got = wait(
        lambda: (
            (m := driver.execute_script(_MEASURE, list(CHARTS)))
            and all(m[c] and m[c]["narrow"] and m[c]["legend"] for c in CHARTS)
            and m
        ),
        what="the comparison charts drawn for a narrow screen",
    )
    for chart, m in got.items():
        assert m["chart"] <= m["inner"] + 1, f"{chart} overflows its card: {m}"
        assert m["svg"][2] <= 390, f"{chart} is cut off at the right: {m}"
        assert not _overlap(m["legend"], m["plot"]), f"{chart}: the legend covers the plot {m}"
        if m["title"]:
            assert not _overlap(m["legend"], m["title"]), f"{chart}: legend over title {m}"
    # The notes moved under the charts, wrapped to the width, not cut off.
    notes = driver.execute_script(
        "return [...document.querySelectorAll('.chart-notes')].filter(n => !n.hidden)"
        ".map(n => [n.textContent, n.scrollWidth, n.clientWidth]);"
    )
    assert any("solid = saved run" in n[0] for n in notes), notes
    assert all(n[1] <= n[2] for n in notes), notes
    # Nothing on the page is wider than the phone.
    assert driver.execute_script(
        "return document.documentElement.scrollWidth <= window.innerWidth"
    ), "the page scrolls sideways"

    warnings = driver.execute_script("return window.__warnings")
    margin = [w for w in warnings if "auto-margin" in w]
    assert margin == [], json.dumps(warnings)[:2000]
