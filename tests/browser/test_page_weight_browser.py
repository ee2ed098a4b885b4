"""The first load stays light and every chart type still draws (issue 17, "Speed a user feels").

One cold page load in headless Chromium against Flask's own server (what ``make run`` starts):
every byte the browser transferred until the Training charts were drawn and the network went
quiet (tests/pageload.py) must stay within ``BUDGET_BYTES``. Then, in the same page, every
tab's charts are checked: the page's plotly.js is a partial bundle with only the trace types
the app makes (assets/00-vendor/plotly-*), so each trace must come out of Plotly as the type
it was asked to be (plotly.js draws an unknown type as an empty scatter, with a warning only)
and be drawn; together the charts must use every type the bundle was built for.
The same budget through nginx: tests/deploy/test_page_weight_nginx.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dash
import pageload
import pytest

pytestmark = pytest.mark.browser

BUDGET_BYTES = 1_500_000  # issue 17: at most 1.5 MB transferred on a first load
TRACE_TYPES = {"scatter", "bar", "scatterpolar"}  # scripts/build_plotly_bundle.sh builds these

# For each chart of the open tab: (requested type, type Plotly used, visible) per trace, and
# how many trace groups Plotly drew. A trace with no points yet (an idle run) is not visible.
CHART_TRACES = """
return arguments[0].map((id) => {
  const g = document.querySelector('#' + id + ' .js-plotly-plot');
  if (!g || !g._fullData) return [id, null, 0];
  const full = Object.fromEntries(g._fullData.map((t) => [t.index, t]));
  const traces = g.data.map((t, i) => [
    t.type || 'scatter', full[i] ? full[i].type : null, full[i] ? full[i].visible : null]);
  return [id, traces, g.querySelectorAll('g.trace').length];
});
"""


def budget_message(page: pageload.PageLoad) -> str:
    largest = ", ".join(f"{t.url[:60]} {t.transferred:,} B" for t in page.largest())
    return f"{page.transferred:,} B in {page.requests} requests; largest: {largest}"


def chart_types(driver: Any, slug: str) -> set[str]:
    """The trace types the tab's charts draw with data; fails on a trace drawn as another
    type, or a visible trace Plotly drew nothing for."""
    seen: set[str] = set()
    for graph, traces, groups in driver.execute_script(CHART_TRACES, pageload.TAB_GRAPHS[slug]):
        assert traces is not None, f"#{graph} was not drawn"
        for asked, used, _ in traces:
            assert used == asked, f"#{graph}: a {asked} trace came out as {used}"
        shown = [asked for asked, _, visible in traces if visible is True]
        assert groups >= len(shown), f"#{graph}: {groups} of {len(shown)} traces drawn"
        seen.update(shown)
    return seen


def test_a_cold_first_load_is_light_and_every_chart_type_draws(
    dash_thread_server: Any,
    dash_br: Any,
    make_app: Callable[[], dash.Dash],
    free_port: Callable[[], int],
) -> None:
    dash_thread_server(make_app(), port=free_port())
    driver = dash_br.driver
    pageload.watch(driver)  # a fresh browser: its cache is cold
    page = pageload.load(driver, dash_thread_server.url + "/")
    assert page.charts_ms is not None
    assert page.transferred <= BUDGET_BYTES, budget_message(page)
    assert not any("plotly.min.js" in t.url for t in page.transfers)  # Dash's full bundle

    seen = chart_types(driver, "training")
    pageload.switch_tab(driver, "Model Comparison", "comparison")
    seen |= chart_types(driver, "comparison")
    pageload.switch_tab(driver, "Configuration", "configuration")
    seen |= chart_types(driver, "configuration")
    assert seen == TRACE_TYPES
    assert dash_br.get_logs() == []
