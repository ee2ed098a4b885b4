"""The Training charts come first: the other tabs are filled only after them (issue 17).

A page load on the Training tab used to fire the Comparison and Configuration callbacks
(views, diff, saved runs, chips, the estimate and its plan marks) before the Training charts
were drawn, costing them about 0.7 s (benchmarks/bench_page.py). Now those tabs wait for their
opened Store (layouts/shell.py ``_opened_stores``), set just after the Training charts are
first drawn. One page, in headless Chromium, with a comparison list and a saved run in local
storage as a returning user has them:

- every callback request is recorded as the page makes it (a ``fetch`` wrapper installed
  before the page's own scripts); none for the Comparison or Configuration tab starts before
  the Training charts' render has answered;
- the Comparison tab then shows the stored comparison and saved run, drawn before it was
  opened (its switch asks for no view again), and the Configuration tab its estimate;
- a ``?config=`` link opened on the Training tab is still read, just after the charts (a
  bad one is reported there and taken out of the address);
- a recipe of another family added there (a new frontier line: not appendable) is drawn from
  the add's own answer: the redraw its new list fires answers nothing (it used to compute the
  run again and send the views a second time).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dash
import pageload
import pytest
from polling import wait

import simulator as sim
from layouts import ids
from simulator import saved

pytestmark = pytest.mark.browser

# Each callback request: [ms since navigation when sent, ms when answered, its output key,
# how many components its answer updates (once read)].
RECORD = """
(() => {
  const log = (window.__callbacks = []);
  const original = window.fetch;
  window.fetch = function (url, options) {
    if (!String(url).includes('_dash-update-component')) return original.apply(this, arguments);
    let output = '';
    try { output = String(JSON.parse(options.body).output); } catch (e) {}
    const row = [performance.now(), null, output, null];
    log.push(row);
    return original.apply(this, arguments).then((r) => {
      row[1] = performance.now();
      r.clone().json()
        .then((body) => { row[3] = Object.keys(body.response || {}).length; })
        .catch(() => { row[3] = -1; });
      return r;
    });
  };
})();
"""

# What only the Comparison and Configuration tabs show: their ids' prefixes (layouts/ids.py).
OTHER_TABS = ("cmp-", "cfg-")
RENDER = ids.tr_graph(ids.TR_CHARTS[0]) + ".figure"  # the Training charts' render
CURVES = "#" + ids.CMP_CURVES_GRAPH
CURVE_NAMES = """
const g = document.querySelector(arguments[0] + ' .js-plotly-plot');
return g && g.data && g.data.map((t) => t.name).join(' | ');
"""


def _requests(driver: Any) -> list[tuple[float, float | None, str, int | None]]:
    return [tuple(r) for r in driver.execute_script("return window.__callbacks")]


def _tab(driver: Any, label: str) -> None:
    for tab in driver.find_elements("css selector", f"#{ids.TABS} .app-tab"):
        if tab.text.strip() == label:
            tab.click()
            return
    raise AssertionError(f"no tab labelled {label!r}")


def test_other_tabs_wait_for_the_training_charts_then_open_filled(
    dash_thread_server: Any,
    dash_br: Any,
    make_app: Callable[[], dash.Dash],
    free_port: Callable[[], int],
) -> None:
    dash_thread_server(make_app(), port=free_port())
    driver = dash_br.driver
    driver.get(dash_thread_server.url + "/")
    run = sim.stop(sim.advance(sim.start(sim.new_run(sim.preset("llama-2-7b"))), 200))
    entry = saved.make_entry(run, name="my-deferred-run")
    driver.execute_script(
        "localStorage.setItem(arguments[0], JSON.stringify(arguments[1]));"
        "localStorage.setItem(arguments[2], JSON.stringify(arguments[3]));",
        ids.CMP_SELECTION,
        [{"kind": "preset", "ref": "mistral-7b"}, {"kind": "saved", "ref": entry["id"]}],
        ids.SAVED_RUNS_STORE,
        [entry],
    )
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": RECORD})
    pageload.watch(driver)
    driver.set_script_timeout(60)
    driver.get(dash_thread_server.url + "/")
    driver.execute_async_script("window.__speed.charts.then(() => arguments[0](true))")

    # The other tabs' requests all start after the Training render answered, and they do
    # start without the tabs being opened (so a switch only shows what they drew).
    def other_tabs_answered() -> Any:
        got = _requests(driver)
        others = [r for r in got if any(p in r[2] for p in OTHER_TABS)]
        views = [r for r in others if ids.CMP_CURVES_GRAPH in r[2] and r[1] is not None]
        estimate = [r for r in others if ids.CFG_ESTIMATE in r[2] and r[1] is not None]
        return (got, others) if views and estimate else None

    got, others = wait(other_tabs_answered, what="the other tabs filled after the charts")
    render = [r for r in got if RENDER in r[2]]
    assert render and render[0][1] is not None, got
    early = [r[2][:80] for r in others if r[0] < render[0][1]]
    assert early == [], f"requests for hidden tabs before the Training charts: {early}"
    sent = len(got)

    # The Comparison tab shows the stored list and saved run at once, drawn beforehand.
    _tab(driver, "Model Comparison")
    chips = wait(
        lambda: driver.find_element("css selector", f"#{ids.CMP_CHIPS}").text,
        what="the comparison's chips",
    )
    assert "Mistral" in chips and "my-deferred-run" in chips, chips
    wait(
        lambda: (
            "my-deferred-run" in driver.find_element("css selector", f"#{ids.CMP_SAVED_TABLE}").text
        ),
        what="the saved run in its table",
    )
    names = wait(lambda: driver.execute_script(CURVE_NAMES, CURVES), what="the comparison curves")
    assert "my-deferred-run" in names and "Mistral" in names, names
    again = [r[2][:80] for r in _requests(driver)[sent:] if ids.CMP_CURVES_GRAPH in r[2]]
    assert again == [], f"the switch drew the views again: {again}"

    # Add LLaMA 7B (its family's frontier is not drawn yet): drawn with the add's answer.
    sent = len(_requests(driver))
    driver.execute_script(
        "window.dash_clientside.set_props(arguments[0], {value: arguments[1]});",
        ids.CMP_ADD_CHOICE,
        "preset:llama-7b",
    )
    wait(
        lambda: driver.execute_script(
            "return document.getElementById(arguments[0]).textContent.includes('LLaMA 7B')",
            ids.CMP_ADD_CHOICE,
        ),
        what="the recipe chosen",
    )
    driver.find_element("css selector", f"#{ids.CMP_ADD_BUTTON}").click()
    wait(
        lambda: "LLaMA 7B recipe" in (driver.execute_script(CURVE_NAMES, CURVES) or ""),
        what="the added recipe's curves",
    )
    redraws = wait(
        lambda: [
            r
            for r in _requests(driver)[sent:]
            if r[2].startswith(f"..{ids.CMP_CURVES_GRAPH}.figure..") and r[3] is not None
        ],
        what="the redraw the new list fires",
    )
    assert [r[3] for r in redraws] == [0], redraws  # nothing left to send

    # The Configuration tab shows its estimate (computed before it was opened).
    _tab(driver, "Configuration")
    wait(
        lambda: driver.find_element("css selector", f"#{ids.CFG_ESTIMATE}").text.strip(),
        what="the Configuration estimate",
    )
    wait(
        lambda: driver.execute_script("return window.__speed.drawn(arguments[0])", ids.CFG_MEMORY),
        what="the memory chart drawn",
    )

    # A shared config link opened on the Training tab is still read (after the charts): a
    # bad one is reported in the app-wide alert and taken out of the address.
    driver.get(dash_thread_server.url + "/?config=@@@")
    wait(
        lambda: (
            "could not be used" in driver.find_element("css selector", f"#{ids.ALERT_AREA}").text
        ),
        what="the bad link reported on the Training tab",
    )
    wait(lambda: "config=" not in driver.current_url, what="the link taken out of the address")
    assert dash_br.get_logs() == []
