"""The page as a person's browser loads it: bytes on the wire, requests, when charts are drawn.

Shared by ``benchmarks/bench_page.py`` (which prints the figures) and the tests that hold the
first load's weight and check every chart type draws (tests/browser/test_page_weight_browser.py,
tests/deploy/test_page_weight.py). Everything is measured inside headless Chromium:

- Bytes and requests from the Navigation and Resource Timing entries: ``transferSize`` is what
  came over the wire (headers plus the body as sent, so compressed when it was), for a cold
  cache (a fresh profile, or the cache cleared over DevTools before the load).
- When the charts are drawn, from a script installed before the page's own
  (``Page.addScriptToEvaluateOnNewDocument``): a MutationObserver watches the page, and when
  every chart of the open tab has been drawn by Plotly with a figure from the server, the
  next animation frame's time (the frame that shows it) is taken: ``performance.now()``,
  milliseconds since the navigation started. A chart counts as drawn once Plotly has laid it
  out (``_fullLayout``), drawn its SVG, and the figure carries the app's template (every
  figure the app builds does; the placeholder a Graph starts with does not).
- A tab switch or a comparison change is timed the same way, from the click (made by the
  page script itself, so no WebDriver round trip is counted) to the frame that shows the
  result.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from typing import Any

from selenium import webdriver
from selenium.webdriver.chrome.options import Options

from layouts import ids

# The charts each tab shows, by the tab's URL slug (layouts/shell.py TABS).
TAB_GRAPHS: dict[str, tuple[str, ...]] = {
    "training": tuple(ids.tr_graph(c) for c in ids.TR_CHARTS),
    "comparison": (
        ids.CMP_CURVES_GRAPH,
        ids.CMP_EFFICIENCY_GRAPH,
        ids.CMP_BENCH_BARS,
        ids.CMP_BENCH_RADAR,
    ),
    "configuration": (ids.CFG_MEMORY, ids.CFG_LR),
}

# The viewport of the person in issue 17; a fresh profile each time, so the cache is cold.
BROWSER_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1440,900",
)

WATCH = """
(() => {
  const S = (window.__speed = {});
  S.drawn = (id) => {
    const el = document.getElementById(id);
    const g = el && el.querySelector('.js-plotly-plot');
    return !!(g && g._fullLayout && g.layout && g.layout.template &&
              g.querySelector('svg.main-svg') && el.offsetParent !== null);
  };
  // Resolves with the time of the frame that first shows pred() true.
  S.when = (pred) => new Promise((resolve) => {
    let done = false;
    const check = () => {
      if (done || !pred()) return;
      done = true;
      observer.disconnect();
      clearInterval(poll);
      requestAnimationFrame(() => resolve(performance.now()));
    };
    const observer = new MutationObserver(check);
    const poll = setInterval(check, 50);  // a change that adds no node (a restyle)
    const start = () => {
      observer.observe(document.documentElement, {childList: true, subtree: true});
      check();
    };
    if (document.documentElement) start();
    else document.addEventListener('readystatechange', start);
  });
  S.allDrawn = (graphs) => () => graphs.every(S.drawn);
  const graphs = GRAPHS;
  S.first = S.when(() => graphs.some(S.drawn)).then((t) => {
    performance.mark('first-chart-drawn');
    return (S.firstChart = t);
  });
  S.charts = S.when(S.allDrawn(graphs)).then((t) => {
    performance.mark('charts-drawn');
    return (S.allCharts = t);
  });
})();
"""

# From a click made here to the frame that shows every chart of the tab drawn.
SWITCH_TAB = """
const [tabs, label, graphs, done] = arguments;
const tab = [...document.querySelectorAll('#' + tabs + ' .app-tab')].find(
  (el) => el.textContent.trim() === label);
const t0 = performance.now();
tab.click();
window.__speed.when(window.__speed.allDrawn(graphs)).then((t) => done(t - t0));
"""

# Add a recipe to the comparison: choose it, then click Add (timed from the click) until the
# curves chart shows one more trace.
ADD_RECIPE = """
const [choice, button, value, graph, done] = arguments;
window.dash_clientside.set_props(choice, {value});
const gd = () => document.querySelector('#' + graph + ' .js-plotly-plot');
const count = () => (gd() && gd().data ? gd().data.length : 0);
const before = count();
setTimeout(() => {
  const t0 = performance.now();
  document.getElementById(button).click();
  window.__speed.when(() => count() > before && window.__speed.drawn(graph))
    .then((t) => done(t - t0));
}, 300);
"""

# Change the comparison's x-axis by clicking its radio label, until the chart's axis title says so.
SET_X_AXIS = """
const [axes, label, graph, done] = arguments;
const radio = [...document.querySelectorAll('#' + axes + ' label')].find(
  (el) => el.textContent.trim() === label);
const title = () => {
  const g = document.querySelector('#' + graph + ' .js-plotly-plot');
  const t = g && g._fullLayout && g._fullLayout.xaxis && g._fullLayout.xaxis.title;
  return t ? t.text : '';
};
const t0 = performance.now();
radio.click();
window.__speed.when(() => title() === label).then((t) => done(t - t0));
"""

ENTRIES = """
const nav = performance.getEntriesByType('navigation')[0];
const paint = Object.fromEntries(
  performance.getEntriesByType('paint').map((p) => [p.name, p.startTime]));
const row = (e) => [e.name.replace(location.origin, ''), e.initiatorType, e.transferSize,
                    e.decodedBodySize, e.startTime, e.responseEnd];
return {
  entries: [row(nav), ...performance.getEntriesByType('resource').map(row)],
  dcl: nav.domContentLoadedEventEnd,
  paint,
  firstChart: window.__speed.firstChart ?? null,
  allCharts: window.__speed.allCharts ?? null,
};
"""


@dataclass(frozen=True)
class Transfer:
    """One request of the page load, as the browser saw it."""

    url: str  # path and query, without the origin
    kind: str  # navigation, script, link, fetch, css ...
    transferred: int  # bytes over the wire: headers and the (compressed) body
    decoded: int  # body bytes after decompression
    start_ms: float
    end_ms: float


@dataclass(frozen=True)
class PageLoad:
    """A first load: every request, and when the page and its charts showed."""

    transfers: tuple[Transfer, ...]
    dom_content_loaded_ms: float
    first_contentful_paint_ms: float | None
    first_chart_ms: float | None
    charts_ms: float | None
    main_thread_cpu_ms: float  # the page's main thread, until its charts were drawn

    @property
    def requests(self) -> int:
        return len(self.transfers)

    @property
    def transferred(self) -> int:
        return sum(t.transferred for t in self.transfers)

    @property
    def decoded(self) -> int:
        return sum(t.decoded for t in self.transfers)

    def largest(self, n: int = 6) -> list[Transfer]:
        return sorted(self.transfers, key=lambda t: -t.transferred)[:n]


def browser(extra_flags: tuple[str, ...] = ()) -> webdriver.Chrome:
    """Debian's headless Chromium with a fresh profile (cold cache)."""
    options = Options()
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary:
        options.binary_location = binary
    for flag in (*BROWSER_FLAGS, *extra_flags):
        options.add_argument(flag)
    return webdriver.Chrome(options=options)


def watch(driver: Any, graphs: tuple[str, ...] = TAB_GRAPHS["training"]) -> None:
    """Install the timing script for every document ``driver`` opens from now on."""
    source = WATCH.replace("GRAPHS", json.dumps(list(graphs)))
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": source})


def cold_cache(driver: Any) -> None:
    """Forget every cached response, so the next load fetches everything again."""
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.clearBrowserCache", {})


def load(driver: Any, url: str, timeout: float = 60.0, settle: float = 1.0) -> PageLoad:
    """Open ``url`` (``watch`` installed, cache cold), wait for the open tab's charts to be
    drawn and the network to go quiet for ``settle`` seconds, and return what it cost."""
    driver.set_script_timeout(timeout)
    driver.execute_cdp_cmd("Performance.enable", {"timeDomain": "threadTicks"})
    driver.get(url)
    driver.execute_async_script(
        "const done = arguments[0]; window.__speed.charts.then(() => done(true));"
    )
    # CPU time of the page's main thread so far: unlike the times above, barely changed by
    # other work on the machine, so levers can be compared on a busy one.
    metrics = driver.execute_cdp_cmd("Performance.getMetrics", {})["metrics"]
    cpu_ms = 1000 * next(m["value"] for m in metrics if m["name"] == "ThreadTime")
    count, quiet_since, end = -1, time.monotonic(), time.monotonic() + timeout
    while time.monotonic() < end:
        now = driver.execute_script("return performance.getEntriesByType('resource').length;")
        if now != count:
            count, quiet_since = now, time.monotonic()
        elif time.monotonic() - quiet_since >= settle:
            break
        time.sleep(0.1)
    got = driver.execute_script(ENTRIES)
    return PageLoad(
        transfers=tuple(
            Transfer(str(u), str(k), int(t), int(d), float(s), float(e))
            for u, k, t, d, s, e in got["entries"]
        ),
        dom_content_loaded_ms=float(got["dcl"]),
        first_contentful_paint_ms=got["paint"].get("first-contentful-paint"),
        first_chart_ms=got["firstChart"],
        charts_ms=got["allCharts"],
        main_thread_cpu_ms=cpu_ms,
    )


def switch_tab(driver: Any, label: str, slug: str) -> float:
    """Milliseconds from a click on the tab labelled ``label`` to its charts shown drawn."""
    graphs = list(TAB_GRAPHS[slug])
    return float(driver.execute_async_script(SWITCH_TAB, ids.TABS, label, graphs))


def add_recipe(driver: Any, value: str) -> float:
    """Milliseconds from Add (with ``value`` chosen) to the curves chart showing it."""
    return float(
        driver.execute_async_script(
            ADD_RECIPE, ids.CMP_ADD_CHOICE, ids.CMP_ADD_BUTTON, value, ids.CMP_CURVES_GRAPH
        )
    )


def set_x_axis(driver: Any, label: str) -> float:
    """Milliseconds from a click on the x-axis choice ``label`` to the curves redrawn on it."""
    return float(
        driver.execute_async_script(SET_X_AXIS, ids.CMP_X_AXIS, label, ids.CMP_CURVES_GRAPH)
    )
