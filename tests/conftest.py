"""Fixtures shared by the three tiers: unit (here), browser/ (headless Chromium), deploy/.

Apps are built fresh with ``app.create_app()``. Dash keeps callbacks registered with
``dash.callback`` in a process-wide registry and *moves* them into the first app that serves
a request, so a second app in the same process would have none. ``make_app`` puts the
registry back before each build (as Dash's own test suite does), so every test gets a fully
wired app. This touches ``dash._callback`` on purpose and only here: production runs one app
per process.

Several engineers run the suite on one machine at once, so every server binds a free
loopback port (``free_port``), never a fixed one.
"""

from __future__ import annotations

import shutil
import socket
from collections.abc import Callable, Iterator
from typing import Any

import dash
import pytest
from dash import _callback
from renderer import Callbacks
from selenium.webdriver.chrome.options import Options

import app as app_module  # the entry point under test; importing it registers every callback
from callbacks import limits
from layouts import ids

_REGISTRY = (
    dict(_callback.GLOBAL_CALLBACK_MAP),
    list(_callback.GLOBAL_CALLBACK_LIST),
    list(_callback.GLOBAL_INLINE_SCRIPTS),
)

CHROME_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1280,900",
)


def pytest_configure(config: pytest.Config) -> None:
    # There is no display on CI or on these machines: dash_duo always runs headless.
    if hasattr(config.option, "headless"):
        config.option.headless = True
    # selenium 4.2 (pinned by dash[testing]) calls a urllib3 API deprecated since 2.0, once
    # per WebDriver command: hundreds of lines that say nothing about this project.
    config.addinivalue_line(
        "filterwarnings", "ignore:HTTPResponse.getheader:DeprecationWarning:selenium"
    )


def pytest_setup_options() -> Options:
    """Chrome options for dash_duo: Debian's chromium + chromium-driver, nothing downloaded."""
    options = Options()
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary:
        options.binary_location = binary
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    return options


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def free_port() -> Callable[[], int]:
    """A function returning a loopback port nobody listens on right now."""
    return _free_port


@pytest.fixture
def make_app() -> Iterator[Callable[[], dash.Dash]]:
    """A factory for fresh, fully wired apps (see the module docstring). Each app's heavy-job
    helper process is ended with the test, so helpers do not pile up over the session."""
    made: list[dash.Dash] = []

    def factory() -> dash.Dash:
        callback_map, callback_list, inline_scripts = _REGISTRY
        _callback.GLOBAL_CALLBACK_MAP.clear()
        _callback.GLOBAL_CALLBACK_MAP.update(callback_map)
        _callback.GLOBAL_CALLBACK_LIST[:] = callback_list
        _callback.GLOBAL_INLINE_SCRIPTS[:] = inline_scripts
        made.append(app_module.create_app())
        return made[-1]

    yield factory
    for app in made:
        limits.work(app.server).close()


@pytest.fixture
def tab_sync_body() -> Callable[..., dict[str, Any]]:
    """The JSON the browser POSTs to /_dash-update-component for the shell's tab <-> hash
    callback, built by tests/renderer.py from the app's ``/_dash-dependencies`` (``deps``):
    the page holds ``url_hash`` and ``tab``, and ``changed`` (``"url.hash"`` for a link or
    Back, ``"tabs.value"`` for a click) fired it."""

    def body(deps: list[dict[str, Any]], url_hash: str, tab: str, changed: str) -> dict[str, Any]:
        callbacks = Callbacks(deps)
        values = {f"{ids.URL}.hash": url_hash, f"{ids.TABS}.value": tab}
        return callbacks.request(callbacks.find_output(f"{ids.URL}.hash"), values, [changed])

    return body
