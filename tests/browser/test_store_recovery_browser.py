"""Stores of the wrong shape in the browser's storage, in real Chromium (issue 16, items 7-8).

Every Store the page keeps in session or local storage survives a reload, so a value written
by another version, by hand or by a script must never leave the page stuck: each case below
puts one such value into storage *before* the app loads (a cheap same-origin page first, then
one load of the app) and asserts what a person sees: a message saying what was wrong, and a
tab that works.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from polling import wait as _wait

import simulator as sim
from layouts import ids
from simulator import saved as saved_runs

pytestmark = pytest.mark.browser

BIG = "x" * 400_000  # a string Store under the limit the page checks on load
HUGE = json.dumps(["x" * 1_200_000])  # over the 1 MB a request may carry
SCRIPT_CONNECTION = (
    Path(__file__).resolve().parents[2] / "assets" / "js" / "connection.js"
).read_text()


def _open_seeded(
    dash_duo: Any,
    make_app: Callable[[], Any],
    free_port: Callable[[], int],
    session: dict[str, str] | None = None,
    local: dict[str, str] | None = None,
    path: str = "/",
) -> Any:
    """Start the app, write raw strings into storage from a cheap page of the same origin,
    then load the app once."""
    dash_duo.start_server(make_app(), navigate=False, port=free_port())
    driver = dash_duo.driver
    driver.get(dash_duo.server.url + "/_favicon.ico")
    driver.execute_script(
        "sessionStorage.clear(); localStorage.clear();"
        "for (const [k, v] of Object.entries(arguments[0])) sessionStorage.setItem(k, v);"
        "for (const [k, v] of Object.entries(arguments[1])) localStorage.setItem(k, v);",
        session or {},
        local or {},
    )
    driver.get(dash_duo.server.url + path)
    dash_duo.wait_for_element(f"#{ids.TR_START}", timeout=30)
    return driver


def _alerts(dash_duo: Any) -> str:
    return " ".join(el.text for el in dash_duo.find_elements(f"#{ids.ALERT_AREA} .alert"))


def _badge(dash_duo: Any) -> str:
    return str(dash_duo.find_element(f"#{ids.STATUS_BADGE}").text)


def _enabled(dash_duo: Any, id_: str) -> bool:
    return dash_duo.find_element(f"#{id_}").get_attribute("disabled") is None


def _start_works(dash_duo: Any) -> None:
    """Start is enabled and starts a run: the badge says Running."""
    _wait(lambda: _enabled(dash_duo, ids.TR_START), 10, "Start to be enabled")
    for _ in range(20):
        dash_duo.find_element(f"#{ids.TR_START}").click()
        try:
            _wait(lambda: _badge(dash_duo) == "Running", 1.5, "the badge to say Running")
            return
        except AssertionError:
            continue  # a click that landed while a request was in flight: click again
    raise AssertionError(f"Start did not start a run; badge {_badge(dash_duo)!r}")


def _notice(dash_duo: Any) -> str:
    return str(
        dash_duo.driver.execute_script(
            "const n = document.getElementById(arguments[0]);"
            "return n && !n.hidden ? n.textContent : '';",
            ids.PAGE_NOTICE,
        )
    )


def _stored(driver: Any, storage: str, key: str) -> Any:
    return driver.execute_script(f"return {storage}Storage.getItem(arguments[0])", key)


def _reload_is_clean(dash_duo: Any, *, running: bool) -> None:
    """A reload brings back neither the bad value nor a message about it."""
    dash_duo.driver.refresh()
    dash_duo.wait_for_element(f"#{ids.TR_START}", timeout=30)
    if running:
        _wait(lambda: _badge(dash_duo) == "Running", 10, "the run to carry on after a reload")
    time.sleep(0.5)
    assert "could not be used" not in _alerts(dash_duo), "the bad state came back"
    assert _notice(dash_duo) == "", "the notice came back"


def _run_is_reset(dash_duo: Any, raw: str) -> None:
    _wait(lambda: "could not be used" in _alerts(dash_duo), 15, "the reset message")
    assert "press Start" in _alerts(dash_duo)
    assert _badge(dash_duo) == "Idle"
    _start_works(dash_duo)
    stored = json.loads(_stored(dash_duo.driver, "session", ids.RUN_STORE))
    assert isinstance(stored, dict) and stored.get("status") == "running", stored
    _reload_is_clean(dash_duo, running=True)


def _cleared_on_load(label: str) -> Callable[[Any, str], None]:
    """A value too large to send is cleared before Dash reads it, and the page says so."""

    def check(dash_duo: Any, raw: str) -> None:
        _wait(lambda: label in _notice(dash_duo), 5, f"the notice naming {label}")
        assert "over the 512 KB" in _notice(dash_duo)
        _start_works(dash_duo)
        dash_duo.find_element(f"#{ids.PAGE_NOTICE} .page-notice-close").click()
        assert _notice(dash_duo) == ""
        _reload_is_clean(dash_duo, running=True)

    return check


def _downloaded(dash_duo: Any) -> str:
    folder = Path(dash_duo.download_path)
    _wait(lambda: [p for p in folder.iterdir() if p.suffix == ".json"], 10, "the download")
    path = next(p for p in folder.iterdir() if p.suffix == ".json")
    _wait(lambda: path.stat().st_size > 0, 5, "the file to be written")
    return path.read_text()


def _saved_set_aside(why: str) -> Callable[[Any, str], None]:
    """Saved runs that cannot be loaded are set aside byte for byte, offered as a download,
    then cleared on request; meanwhile the page works (a run can be saved)."""

    def check(dash_duo: Any, raw: str) -> None:
        driver = dash_duo.driver
        _wait(lambda: why in _notice(dash_duo), 5, f"the notice saying {why!r}")
        assert "Your saved runs could not be read" in _notice(dash_duo)
        assert _stored(driver, "local", ids.SAVED_RUNS_ASIDE) == raw, "kept byte for byte"
        buttons = dash_duo.find_elements(f"#{ids.PAGE_NOTICE} .page-notice-action")
        assert [b.text for b in buttons] == ["Download them (JSON)", "Clear saved runs"]
        buttons[0].click()
        assert _downloaded(dash_duo) == raw
        _start_works(dash_duo)
        dash_duo.find_element(f"#{ids.TR_SAVE}").click()
        _wait(lambda: "Saved" in dash_duo.find_element(f"#{ids.TR_NOTICE}").text, 10, "Save")
        buttons[1].click()
        assert _stored(driver, "local", ids.SAVED_RUNS_ASIDE) is None
        assert _notice(dash_duo) == ""
        saved = json.loads(_stored(driver, "local", ids.SAVED_RUNS_STORE))
        assert len(saved) == 1, "the run saved meanwhile is kept"
        _reload_is_clean(dash_duo, running=True)

    return check


def _start_only(dash_duo: Any, raw: str) -> None:
    """A config of the wrong shape is not used: Start runs the default recipe and says why,
    and the stored config is cleared (the next Start says nothing)."""
    _start_works(dash_duo)
    _wait(lambda: "could not be used" in _alerts(dash_duo), 10, "the message about the config")
    assert "Configuration tab" in _alerts(dash_duo)
    _wait(lambda: _stored(dash_duo.driver, "local", ids.CONFIG_STORE) in (None, "null"), 5, "clear")


def _open_tab(dash_duo: Any, tab_hash: str, ready: str) -> None:
    dash_duo.driver.execute_script("window.location.hash = arguments[0]", tab_hash)
    dash_duo.wait_for_element(ready, timeout=15)


def _saved_entries_unreadable(dash_duo: Any, raw: str) -> None:
    """A saved list with unreadable entries: the Comparison tab says so, offers the list as
    stored for download, and clears only what cannot be read."""
    _open_tab(dash_duo, "#comparison", f"#{ids.CMP_SAVED_TABLE}")
    problem = f"#{ids.CMP_SAVED_PROBLEM}"
    _wait(lambda: "could not be read" in dash_duo.find_element(problem).text, 15, "the problem")
    dash_duo.find_element(f"#{ids.CMP_SAVED_BACKUP}").click()
    assert _downloaded(dash_duo) == raw
    dash_duo.find_element(f"#{ids.CMP_SAVED_PURGE}").click()
    _wait(
        lambda: "Cleared 2 unreadable" in dash_duo.find_element(f"#{ids.CMP_MESSAGE}").text,
        10,
        "the purge message",
    )
    _wait(lambda: not dash_duo.find_element(problem).is_displayed(), 5, "the problem to go")
    saved = json.loads(_stored(dash_duo.driver, "local", ids.SAVED_RUNS_STORE))
    assert [e["state"]["name"] for e in saved] == ["kept"]
    assert "1 of at most" in dash_duo.find_element(f"#{ids.CMP_SAVED_COUNT}").text


def _comparison_list_reset(dash_duo: Any, raw: str) -> None:
    _open_tab(dash_duo, "#comparison", f"#{ids.CMP_ADD_BUTTON}")
    _wait(
        lambda: "comparison list" in dash_duo.find_element(f"#{ids.CMP_VIEW_NOTES}").text,
        15,
        "the note about the comparison list",
    )


def _theme_falls_back(dash_duo: Any, raw: str) -> None:
    mode = dash_duo.driver.execute_script("return document.documentElement.dataset.bsTheme")
    assert mode in ("light", "dark")
    dash_duo.find_element(".theme-toggle .form-check-input").click()
    _wait(
        lambda: _stored(dash_duo.driver, "local", ids.THEME_STORE) in ('"light"', '"dark"'),
        5,
        "the switch to store a mode",
    )


def _saved_list(*extra: Any) -> str:
    good, _ = saved_runs.add_run([], sim.new_run(sim.preset("llama-2-7b")), name="kept")
    return json.dumps([*good, *extra])


CASES: dict[str, tuple[str, str, str, Callable[[Any, str], None]]] = {
    # the run Store (session storage): the three values of issue 16, wrong field types, big
    "run-negative-step": (
        "session",
        ids.RUN_STORE,
        '{"version":1,"step":-5,"status":"running"}',
        _run_is_reset,
    ),
    "run-number": ("session", ids.RUN_STORE, "5", _run_is_reset),
    "run-list": ("session", ids.RUN_STORE, "[]", _run_is_reset),
    "run-wrong-types": (
        "session",
        ids.RUN_STORE,
        '{"version":"1","config":[],"changes":{},"seed":"x","step":"3","status":"running"}',
        _run_is_reset,
    ),
    "run-big-string": ("session", ids.RUN_STORE, json.dumps(BIG), _run_is_reset),
    "run-too-large": ("session", ids.RUN_STORE, HUGE, _cleared_on_load("the run kept in this tab")),
    # the next run's config and the form draft (local storage): too large to send
    "config-too-large": (
        "local",
        ids.CONFIG_STORE,
        HUGE,
        _cleared_on_load("the config applied for the next run"),
    ),
    "draft-too-large": (
        "local",
        ids.CFG_DRAFT,
        HUGE,
        _cleared_on_load("the Configuration form's unapplied edits"),
    ),
    "config-wrong-shape": ("local", ids.CONFIG_STORE, '{"model": 5}', _start_only),
    # saved runs (local storage): too large, not JSON, unreadable entries
    "saved-too-large": ("local", ids.SAVED_RUNS_STORE, HUGE, _saved_set_aside("1.1 MB")),
    "saved-not-json": (
        "local",
        ids.SAVED_RUNS_STORE,
        '[{"id": "abc", "state": {',
        _saved_set_aside("not valid JSON"),
    ),
    "saved-bad-entries": (
        "local",
        ids.SAVED_RUNS_STORE,
        _saved_list(5, {"id": 1}),
        _saved_entries_unreadable,
    ),
    # the comparison list and the colour mode (local storage)
    "selection-number": ("local", ids.CMP_SELECTION, "5", _comparison_list_reset),
    "theme-object": ("local", ids.THEME_STORE, '{"mode": "dark"}', _theme_falls_back),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_stored_value_is_reset_with_a_message_and_the_page_works(
    dash_duo: Any, make_app: Callable[[], Any], free_port: Callable[[], int], case: str
) -> None:
    storage, key, raw, check = CASES[case]
    seed = {key: raw}
    _open_seeded(
        dash_duo,
        make_app,
        free_port,
        session=seed if storage == "session" else None,
        local=seed if storage == "local" else None,
    )
    check(dash_duo, raw)
    severe = [e for e in dash_duo.get_logs() or [] if e.get("level") == "SEVERE"]
    assert not severe, severe


# ------------------------------------------------------------------- 413 and 429 replies
def test_a_request_refused_as_too_large_says_what_was_too_large_and_a_reload_recovers(
    dash_duo: Any, make_app: Callable[[], Any], free_port: Callable[[], int]
) -> None:
    """Saved runs grow past 1 MB while the page is open (another tab writes them): the app's
    request guard answers the callbacks that carry them with 413. The page names the saved
    runs and their size; its Reload sets them aside (downloadable) and the tab works again."""
    driver = _open_seeded(dash_duo, make_app, free_port)
    driver.execute_script(
        "localStorage.setItem(arguments[0], arguments[1]);"
        "window.dispatchEvent(new StorageEvent('storage', {key: arguments[0], "
        "oldValue: null, newValue: arguments[1], storageArea: localStorage}));",
        ids.SAVED_RUNS_STORE,
        HUGE,
    )
    _wait(lambda: "Request too large" in _notice(dash_duo), 15, "the 413 notice")
    text = _notice(dash_duo)
    assert "your saved runs (1.1 MB)" in text and "at most 1 MB" in text, text
    button = dash_duo.find_element(f"#{ids.PAGE_NOTICE} .page-notice-action")
    assert button.text == "Reload the page"
    button.click()
    _wait(lambda: "Your saved runs could not be read" in _notice(dash_duo), 30, "the set-aside")
    assert _stored(driver, "local", ids.SAVED_RUNS_ASIDE) == HUGE
    _start_works(dash_duo)


def test_a_rate_limited_request_says_so_at_once_and_can_be_dismissed(
    dash_duo: Any, make_app: Callable[[], Any], free_port: Callable[[], int]
) -> None:
    """A 429 with Retry-After: 3 (nginx's limit_req or the guard) shows "Too many requests"
    and the wait at once, not after the grace period a network blip gets; the close button
    hides it while the retries go on; the request goes through once the wait is over."""
    driver = _open_seeded(dash_duo, make_app, free_port)
    driver.execute_script(
        """
        const real = window.fetch;
        window.__tries = 0;
        window.fetch = function (input, init) {
          if (init && typeof init.body === "string" && init.body.indexOf('"__probe"') >= 0) {
            window.__tries += 1;
            const status = window.__tries === 1 ? 429 : 204;
            const headers = status === 429 ? {"Retry-After": "3"} : {};
            return Promise.resolve(new Response(null, {status: status, headers: headers}));
          }
          return real.apply(window, arguments);
        };
        """
    )
    driver.execute_script(SCRIPT_CONNECTION)  # a copy of connection.js over the stub
    driver.execute_script(
        "const url = JSON.parse(document.getElementById('_dash-config').textContent)"
        ".requests_pathname_prefix + '_dash-update-component';"
        "window.fetch(url, {method: 'POST', body: JSON.stringify({__probe: 1, output: 'p.c',"
        " outputs: {id: 'p', property: 'c'}, inputs: []})})"
        ".then(function (r) { window.__done = r.status; });"
    )
    banner = f"#{ids.CONNECTION_BANNER}"
    _wait(lambda: "Too many requests" in dash_duo.find_element(banner).text, 0.8, "the banner")
    assert "retrying in 3 s" in dash_duo.find_element(banner).text
    dash_duo.find_element(f"{banner} .conn-banner-close").click()
    assert not dash_duo.find_element(banner).is_displayed()
    _wait(lambda: driver.execute_script("return window.__done") == 204, 6, "the retry")
    assert driver.execute_script("return window.__tries") == 2
