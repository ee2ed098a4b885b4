"""A server outage while a browser watches a run: real chromium -> real nginx -> real gunicorn.

What a person would see: gunicorn is stopped mid-run (``systemctl stop``), nginx answers
502 to the page's callback requests, the page says the connection is lost and keeps its run;
gunicorn comes back on the same port, the banner says "Reconnected" and goes, and the same
run carries on from the step it had reached. The same when the browser itself loses the
network (no response at all, which without assets/js/connection.js stops the Interval for
good: dash-renderer does not undo ``running=`` after a network error).

``dash_br`` is dash.testing's browser without a server: the page is opened at nginx's URL.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from stack import Stack

from layouts import ids, training

pytestmark = [pytest.mark.deploy, pytest.mark.browser]

BANNER = f"#{ids.CONNECTION_BANNER}"


def _wait(pred: Callable[[], Any], timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _step(br: Any) -> int:
    text = br.find_element(f"#{ids.tr_kpi('step')}").text.replace(",", "")
    return int(text) if text.isdigit() else 0


def _run(br: Any) -> dict[str, Any]:
    raw = br.driver.execute_script(
        "return window.sessionStorage.getItem(arguments[0]);", ids.RUN_STORE
    )
    return json.loads(raw) if raw else {}


def _identity(br: Any) -> tuple[Any, Any, str]:
    """What makes a run that run: its seed, its config, the title the page shows for it."""
    run = _run(br)
    return run.get("seed"), run.get("config"), br.find_element(f"#{ids.TR_RUN_TITLE}").text


def _banner(br: Any) -> tuple[str, bool, str]:
    """(data-state, shown, text) of the connection banner."""
    state, hidden, text = br.driver.execute_script(
        "const b = document.querySelector(arguments[0]);"
        "return [b.getAttribute('data-state'), b.hidden, b.textContent];",
        BANNER,
    )
    return str(state or ""), not hidden, str(text)


def _error_alerts(br: Any) -> str:
    return " ".join(
        el.text for el in br.find_elements(f"#{ids.ALERT_AREA} .alert, #{ids.TR_NOTICE} .alert")
    )


def _open_and_start(br: Any, stack: Stack) -> None:
    br.driver.get(stack.base + "/")
    br.wait_for_element(f"#{ids.TR_START}", timeout=20)
    # Clicks that land while a tick is in flight are ignored on purpose (running= in
    # callbacks/training.py); before the first Start there is none, but the page may still be
    # settling, so click until the run is running.
    for _ in range(10):
        br.find_element(f"#{ids.TR_START}").click()
        try:
            _wait(lambda: _run(br).get("status") == "running", 2.0, "the run to start")
            break
        except AssertionError:
            continue
    _wait(lambda: _step(br) > 0, 15, "the first ticks")


def _callback_errors(br: Any) -> list[str]:
    """Errors dash-renderer logged (it console.errors every failed callback, as an Error or
    an object, from its own script; the browser's own "Failed to load resource: 502" lines
    for the retried requests are not counted)."""
    return [e["message"] for e in br.driver.get_log("browser") if "dash_renderer" in e["message"]]


@pytest.mark.parametrize("prefix", ["/", "/dashboard/"], ids=["root", "sub-path"])
def test_gunicorn_stop_and_restart_keeps_the_run(
    make_stack: Callable[..., Stack], dash_br: Any, prefix: str
) -> None:
    """Under a sub-path too: the script finds the callback URL from Dash's own config."""
    stack = make_stack(env={"DASH_URL_BASE_PATHNAME": prefix}, url_prefix=prefix)
    br = dash_br
    _open_and_start(br, stack)
    _wait(lambda: _step(br) > 0 and _identity(br)[0] is not None, 10, "a ticking run")
    before = _identity(br)
    assert _banner(br)[1] is False, "no banner while the server answers"

    stack.stop_gunicorn()
    stopped_at = time.monotonic()
    _wait(lambda: _banner(br)[1] and _banner(br)[0] == "lost", 8, "the outage banner")
    state, _, text = _banner(br)
    assert "Connection to the server lost" in text
    assert "Your run is kept in this tab" in text
    held = _step(br)
    assert held > 0
    time.sleep(2.0)
    assert _step(br) == held, "no tick completes without a server, and nothing resets"
    assert _identity(br) == before, "the page keeps its run during the outage"
    assert _run(br)["status"] == "running"
    assert "for " in _banner(br)[2], "the banner says how long the outage has lasted"
    assert _error_alerts(br) == ""

    stack.start_gunicorn()  # same port: nginx's upstream is back
    outage = time.monotonic() - stopped_at
    _wait(lambda: _step(br) > held, 15, "ticking to resume")
    resumed = _step(br)
    # From the step it had reached: the pending tick completes (+1 tick), not a jump.
    assert resumed - held <= 3 * training.DEFAULT_SPEED, (held, resumed)
    _wait(lambda: _step(br) > resumed, 10, "ticking to keep going")
    assert _identity(br) == before, "the same run continues, not a new one"
    state, shown, text = _banner(br)
    assert not shown or state == "reconnected", (state, text)
    _wait(lambda: not _banner(br)[1], 8, "the banner to clear")
    assert _error_alerts(br) == "", "no error message after the outage"
    assert _callback_errors(br) == [], "Dash saw no failed callback"
    assert outage < 40


def test_browser_offline_then_online_keeps_the_run(
    make_stack: Callable[..., Stack], dash_br: Any
) -> None:
    """No response at all (the browser's network is down): the case that used to stop the
    Interval for good, because dash-renderer skips running='s reset after a network error."""
    stack = make_stack()
    br = dash_br
    _open_and_start(br, stack)
    before = _identity(br)

    def network(offline: bool) -> None:
        br.driver.execute_cdp_cmd("Network.enable", {})
        br.driver.execute_cdp_cmd(
            "Network.emulateNetworkConditions",
            {"offline": offline, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
        )

    network(True)
    _wait(lambda: _banner(br)[0] == "lost" and _banner(br)[1], 8, "the outage banner")
    held = _step(br)
    time.sleep(1.5)
    assert _step(br) == held
    network(False)
    _wait(lambda: _step(br) > held, 15, "ticking to resume after the network returns")
    resumed = _step(br)
    _wait(lambda: _step(br) > resumed, 10, "ticking to keep going")
    assert _identity(br) == before
    _wait(lambda: not _banner(br)[1], 8, "the banner to clear")
    assert _error_alerts(br) == ""
    assert _callback_errors(br) == []


def test_a_refused_request_is_not_retried(stack: Stack, dash_br: Any) -> None:
    """A 4xx is the request's fault, not the network's: it reaches Dash at once, no banner."""
    br = dash_br
    br.driver.get(stack.base + "/")
    br.wait_for_element(f"#{ids.TR_START}", timeout=20)
    status, elapsed = br.driver.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        const t0 = performance.now();
        fetch(arguments[0], {method: "POST", headers: {"Content-Type": "application/json"},
                             body: "{not json"})
            .then(r => done([r.status, performance.now() - t0]),
                  e => done([String(e), performance.now() - t0]));
        """,
        stack.base + "/_dash-update-component",
    )
    assert 400 <= status < 500, status
    assert elapsed < 2000
    time.sleep(1.2)  # longer than the banner's grace period
    assert _banner(br)[1] is False
