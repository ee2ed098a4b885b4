"""assets/js/connection.js in real Chromium, against a scripted server.

The end-to-end outage (real nginx, real gunicorn stopped and restarted) is in
tests/deploy/test_outage_browser.py. Here the policy is pinned down where it is cheap to
script every answer: on the app's own page, a stub takes the place of the network
(``window.fetch``), and a second copy of connection.js is loaded on top of it, so the copy
under test talks to the stub. Dash's own requests pass through the stub untouched.

What a person would notice: requests made during an outage are neither lost nor doubled nor
reordered, a superseded one is not sent at all, a bug answer (4xx/500) is not hidden behind
retries, and the banner tells the truth.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from layouts import ids

pytestmark = pytest.mark.browser

SCRIPT = (Path(__file__).resolve().parents[2] / "assets" / "js" / "connection.js").read_text()

# The stub "server": window.__server.mode is "down" (502), "net" (no answer at all), or a
# status to answer with; requests are recorded by name in window.__server.log.
HARNESS = """
const passThrough = window.fetch;
const server = { mode: "down", log: [], retryAfter: null };
window.__server = server;
window.fetch = function (input, init) {
  const body = init && typeof init.body === "string" ? init.body : "";
  if (body.indexOf('"__test"') < 0) {
    return passThrough.apply(window, arguments);
  }
  const name = JSON.parse(body).__test;
  server.log.push(name);
  if (server.mode === "net") {
    return Promise.reject(new TypeError("Failed to fetch"));
  }
  const status = server.mode === "down" ? 502 : Number(server.mode);
  const headers = { "Content-Type": "application/json" };
  if (status === 429 && server.retryAfter !== null) {
    headers["Retry-After"] = String(server.retryAfter);
  }
  const text = status === 204 ? null : JSON.stringify({ name: name });
  return Promise.resolve(new Response(text, { status: status, headers: headers }));
};
const t = { results: {}, order: [] };
window.__t = t;
t.url = JSON.parse(document.getElementById("_dash-config").textContent)
  .requests_pathname_prefix + "_dash-update-component";
t.req = function (name, callback, url) {
  const body = JSON.stringify({
    __test: name,
    output: callback + ".children",
    outputs: { id: callback, property: "children" },
    inputs: [{ id: callback + "-in", property: "value", value: name }],
    changedPropIds: [],
  });
  const started = performance.now();
  window.fetch(url || t.url, { method: "POST", headers: {}, body: body }).then(
    function (r) {
      t.order.push(name);
      t.results[name] = [r.status, performance.now() - started];
    },
    function (e) {
      t.order.push(name);
      t.results[name] = ["error", performance.now() - started];
    }
  );
};
"""


def _page(dash_duo: Any, make_app: Callable[[], Any], free_port: Callable[[], int]) -> Any:
    dash_duo.start_server(make_app(), port=free_port())
    dash_duo.wait_for_element(f"#{ids.TR_START}", timeout=30)
    driver = dash_duo.driver
    driver.execute_script(HARNESS)
    driver.execute_script(SCRIPT)  # the copy under test wraps the stub
    return driver


def _js(driver: Any, expr: str) -> Any:
    return driver.execute_script(f"return {expr};")


def _wait(pred: Callable[[], Any], timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _banner(driver: Any) -> tuple[str, bool, str]:
    state, hidden, text = driver.execute_script(
        "const b = document.getElementById(arguments[0]);"
        "return [b.getAttribute('data-state'), b.hidden, b.textContent];",
        ids.CONNECTION_BANNER,
    )
    return str(state or ""), not hidden, str(text)


def test_an_outage_queues_requests_in_order_and_drops_superseded_ones(
    dash_duo: Any, make_app: Callable[[], Any], free_port: Callable[[], int]
) -> None:
    driver = _page(dash_duo, make_app, free_port)
    driver.execute_script(
        """
        __t.req("tick", "tick");          // in flight when the server went away
        setTimeout(function () {
          __t.req("tab-1", "tabs");       // a click during the outage...
          __t.req("save", "save");
          __t.req("tab-2", "tabs");       // ...and a second click on the same control
        }, 100);
        """
    )
    _wait(lambda: _banner(driver)[1], 4, "the banner")
    state, _, text = _banner(driver)
    assert state == "lost"
    assert "Connection to the server lost" in text and "Your run is kept in this tab" in text
    # Only the oldest request is retried while the server is away; nothing has completed,
    # except the superseded click, answered "no update" (204) without being sent.
    log = _js(driver, "__server.log.slice()")
    assert set(log) == {"tick"} and len(log) >= 2, log
    assert _js(driver, "__t.order.slice()") == ["tab-1"]
    assert _js(driver, "__t.results['tab-1'][0]") == 204

    # "Retry now" tries at once (the stub answers synchronously, so the count moves at once).
    retry_now = (
        "const n = __server.log.length;"
        f"document.querySelector('#{ids.CONNECTION_BANNER} .conn-banner-retry').click();"
        "return __server.log.length - n;"
    )
    assert driver.execute_script(retry_now) == 1
    assert _js(driver, "__t.order.length") == 1, "still down: nothing more completed"
    driver.execute_script("__server.mode = '200';")
    assert driver.execute_script(retry_now) == 1
    _wait(lambda: len(_js(driver, "__t.order")) == 4, 3, "every request to complete")
    log = _js(driver, "__server.log.slice()")
    assert "tab-1" not in log, "the superseded click is never sent"
    assert [n for n in log if n != "tick"] == ["save", "tab-2"], log
    assert log.index("save") > len(log) - 1 - log[::-1].index("tick"), "oldest first"
    assert _js(driver, "__t.order.slice()") == ["tab-1", "tick", "save", "tab-2"]
    assert _js(driver, "[__t.results.tick[0], __t.results.save[0], __t.results['tab-2'][0]]") == [
        200,
        200,
        200,
    ]
    assert _banner(driver)[0] == "reconnected"
    assert "Reconnected" in _banner(driver)[2]
    _wait(lambda: not _banner(driver)[1], 5, "the banner to clear")


def test_two_requests_on_the_wire_for_one_callback_resend_only_the_newer(
    dash_duo: Any, make_app: Callable[[], Any], free_port: Callable[[], int]
) -> None:
    """Both fail as the server goes; the older is answered "no update", the newer resent."""
    driver = _page(dash_duo, make_app, free_port)
    driver.execute_script("__t.req('old', 'tabs'); __t.req('new', 'tabs');")
    _wait(lambda: _js(driver, "__t.order.length") == 1, 3, "the older answered")
    assert _js(driver, "[__t.order[0], __t.results.old[0]]") == ["old", 204]
    driver.execute_script("__server.mode = '200';")
    _wait(lambda: _js(driver, "__t.order.length") == 2, 5, "the newer resent")
    assert _js(driver, "__t.results.new[0]") == 200
    log = _js(driver, "__server.log.slice()")
    assert log[:2] == ["old", "new"] and set(log[2:]) == {"new"}, log


def test_a_lost_network_is_retried_like_a_502(
    dash_duo: Any, make_app: Callable[[], Any], free_port: Callable[[], int]
) -> None:
    driver = _page(dash_duo, make_app, free_port)
    driver.execute_script("__server.mode = 'net'; __t.req('tick', 'tick');")
    _wait(lambda: _banner(driver)[1], 4, "the banner")
    assert _js(driver, "__t.order.length") == 0, "Dash is not told about a network error"
    driver.execute_script("__server.mode = '200';")
    _wait(lambda: _js(driver, "__t.order.length") == 1, 8, "the request to get through")
    assert _js(driver, "__t.results.tick[0]") == 200


def test_a_bug_answer_reaches_dash_at_once(
    dash_duo: Any, make_app: Callable[[], Any], free_port: Callable[[], int]
) -> None:
    """A 4xx or 500 is the request's fault or the app's, not the network's: never retried."""
    driver = _page(dash_duo, make_app, free_port)
    statuses = [400, 404, 413, 500]
    for n, status in enumerate(statuses, start=1):
        driver.execute_script(f"__server.mode = '{status}'; __t.req('bad-{status}', 'bad');")
        _wait(lambda n=n: _js(driver, "__t.order.length") == n, 3, f"the {status} answer")
        assert _js(driver, f"__t.results['bad-{status}'][0]") == status
    assert _js(driver, "__server.log.length") == len(statuses), "none retried"
    time.sleep(1.2)  # past the banner's grace period
    assert not _banner(driver)[1]


def test_rate_limited_request_waits_for_retry_after(
    dash_duo: Any, make_app: Callable[[], Any], free_port: Callable[[], int]
) -> None:
    driver = _page(dash_duo, make_app, free_port)
    driver.execute_script(
        "__server.mode = '429'; __server.retryAfter = 2; __t.req('tick', 'tick');"
        "setTimeout(function () { __server.mode = '200'; }, 300);"
    )
    _wait(lambda: _js(driver, "__t.order.length") == 1, 6, "the retried request")
    status, elapsed_ms = _js(driver, "__t.results.tick")
    assert status == 200
    assert elapsed_ms >= 1900, "Retry-After: 2 is honoured"
    assert _js(driver, "__server.log.length") == 2


def test_other_urls_are_left_alone(
    dash_duo: Any, make_app: Callable[[], Any], free_port: Callable[[], int]
) -> None:
    driver = _page(dash_duo, make_app, free_port)
    driver.execute_script(
        "__server.mode = 'down'; __t.req('layout', 'layout', '/_dash-layout');"
        "__t.req('elsewhere', 'x', 'http://127.0.0.1:9/_dash-update-component');"
    )
    _wait(lambda: _js(driver, "__t.order.length") == 2, 3, "both answers")
    assert _js(driver, "[__t.results.layout[0], __t.results.elsewhere[0]]") == [502, 502]
    assert _js(driver, "__server.log.length") == 2, "not retried"
