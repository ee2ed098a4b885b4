"""A run name carrying HTML is drawn as text by Plotly (headless Chromium).

The attack: import a saved-runs file whose run is named
``<a href="http://evil.example">x</a><span style="position:fixed;inset:0">`` (or rename a run
to it) and compare it. plotly.js renders a subset of HTML in legends, marker text and hover
labels, so the name became a clickable SVG link over the chart and a styled box. Here the
chart's SVG must hold no ``a`` element and no styled text, and show the name's characters.
A rename to a hover-template lookup (``%{y}``) must show those characters, not a number.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dash
import pytest
from polling import wait as _wait

import simulator as sim
from layouts import ids
from simulator import saved

pytestmark = pytest.mark.browser

LINK = '<a href="http://evil.example">x</a><span style="position:fixed;inset:0">'
LOOKUP = "<b>%{y}</b> 100% & {x}"

# What plotly.js drew for each chart: links, styled text, legend labels, marker labels.
_SVG = """
const root = document.getElementById(arguments[0]);
if (!root || !root.querySelector('.main-svg')) return null;
const text = sel => [...root.querySelectorAll(sel)].map(e => e.textContent);
return {
  links: root.querySelectorAll('svg a').length,
  styled: [...root.querySelectorAll('svg tspan[style], svg text [style]')]
    .map(e => e.getAttribute('style')).filter(s => /position|inset|fixed/.test(s)),
  legend: text('.legendtext'),
  points: text('.textpoint text'),
};
"""

# Hover the first point of trace ``arguments[1]`` (Plotly throttles hovers to one per 100 ms,
# so the label is read by a second script, after a pause).
_HOVER = """
const gd = document.querySelector('#' + arguments[0] + ' .js-plotly-plot');
if (!gd || !window.Plotly || !gd.data || !gd.data[arguments[1]]) return false;
window.Plotly.Fx.hover(gd, [{curveNumber: arguments[1], pointNumber: 0}]);
return true;
"""
# The curves a reader hovers: named ones (the faint raw curves behind them take no hover).
_NAMED = """
const gd = document.querySelector('#' + arguments[0] + ' .js-plotly-plot');
if (!gd || !gd.data) return [];
return gd.data.map((t, i) => [i, t])
  .filter(([i, t]) => t.name && t.showlegend !== false && t.hoverinfo !== 'skip')
  .map(([i]) => i);
"""
_HOVER_LABEL = """
const layer = document.querySelector('#' + arguments[0] + ' .hoverlayer');
if (!layer) return null;
return {text: layer.textContent, links: layer.querySelectorAll('a').length};
"""


def _drawn(dash_duo: Any, graph: str) -> dict[str, Any] | None:
    got = dash_duo.driver.execute_script(_SVG, graph)
    return dict(got) if got else None


def _hover(dash_duo: Any, graph: str, trace: int) -> dict[str, Any] | None:
    if not dash_duo.driver.execute_script(_HOVER, graph, trace):
        return None
    time.sleep(0.3)
    got = dash_duo.driver.execute_script(_HOVER_LABEL, graph)
    return dict(got) if got else None


def _hovers(dash_duo: Any) -> dict[str, Any] | None:
    """The hover labels of both loss curves, one after the other."""
    named = dash_duo.driver.execute_script(_NAMED, ids.CMP_CURVES_GRAPH)
    got = [_hover(dash_duo, ids.CMP_CURVES_GRAPH, k) for k in named]
    if len(got) != 2 or not all(got):
        return None
    return {
        "text": " | ".join(h["text"] for h in got if h),
        "links": sum(h["links"] for h in got if h),
    }


def _export_file(folder: Path) -> Path:
    listed: list[dict[str, Any]] = []
    # Two runs (Plotly draws no legend for a single trace), different seeds: the same recipe
    # under two names is one run, which an import keeps once.
    for seed, name in enumerate((LINK, "plain")):
        run = sim.new_run(sim.preset("vicuna-7b", seed=seed), name=name)
        listed, _ = saved.add_run(listed, sim.stop(sim.advance(sim.start(run), 400)))
    path = folder / "saved-runs.json"
    path.write_text(saved.export_document(listed))
    return path


def test_a_hostile_name_is_drawn_as_text_in_legend_labels_and_hover(
    dash_duo: Any, make_app: Callable[[], dash.Dash], free_port: Callable[[], int], tmp_path: Path
) -> None:
    dash_duo.start_server(make_app(), port=free_port())
    dash_duo.wait_for_element(f"#{ids.TABS}")
    for tab in dash_duo.find_elements(f"#{ids.TABS} .app-tab"):
        if tab.text.strip() == "Model Comparison":
            tab.click()
            break
    dash_duo.wait_for_element(f"#{ids.CMP_ADD_BUTTON}")

    # Import a file whose run carries the markup, then compare it.
    upload = dash_duo.find_element(f"#{ids.CMP_IMPORT_UPLOAD} input[type=file]")
    upload.send_keys(str(_export_file(tmp_path)))
    table = f"#{ids.CMP_SAVED_TABLE}"
    _wait(lambda: LINK in dash_duo.find_element(table).text, what="the imported run's row")
    for box in dash_duo.find_elements(f"{table} input[type=checkbox]"):
        box.click()
    dash_duo.driver.execute_script(
        "arguments[0].click();", dash_duo.find_element(f"#{ids.CMP_COMPARE_SAVED_BUTTON}")
    )

    curves = _wait(
        lambda: (d := _drawn(dash_duo, ids.CMP_CURVES_GRAPH)) and d["legend"] and d,
        what="the run in the legend",
    )
    assert curves["links"] == 0 and curves["styled"] == [], curves
    gpus = " · " + saved.hardware(sim.new_run(sim.preset("vicuna-7b")))  # a saved run's label
    assert sorted(curves["legend"]) == sorted([LINK + gpus, "plain" + gpus])
    points = _wait(
        lambda: (d := _drawn(dash_duo, ids.CMP_EFFICIENCY_GRAPH)) and d["points"] and d,
        what="the run's point on the efficiency chart",
    )
    assert points["links"] == 0 and points["styled"] == [], points
    assert sorted(points["points"]) == sorted([LINK + gpus, "plain" + gpus])
    hover = _wait(lambda: _hovers(dash_duo), what="the hover labels")
    assert LINK in hover["text"] and hover["links"] == 0, hover

    # Rename it to a hover-template lookup: the characters are shown, not the y value.
    for row in dash_duo.find_elements(f"{table} tr"):
        if "plain" in row.text:  # rename exactly one run: the hostile one stays selected
            row.find_element("css selector", "input[type=checkbox]").click()
    dash_duo.find_element(f"#{ids.CMP_RENAME_INPUT}").send_keys(LOOKUP)
    dash_duo.driver.execute_script(
        "arguments[0].click();", dash_duo.find_element(f"#{ids.CMP_RENAME_BUTTON}")
    )
    _wait(
        lambda: (d := _drawn(dash_duo, ids.CMP_CURVES_GRAPH)) and LOOKUP + gpus in d["legend"],
        what="the renamed legend, as text",
    )
    hover = _wait(
        lambda: (h := _hovers(dash_duo)) and "%{y}" in h["text"] and h,
        what="the renamed hover label, as text",
    )
    assert LOOKUP in hover["text"] and hover["links"] == 0, hover
    logs = [e for e in dash_duo.get_logs() if "favicon" not in e.get("message", "")]
    assert logs == [], f"browser errors: {logs}"
