"""What the app answers outside its happy paths, and what it tells a stranger.

Every error reply is ``{"error", "status"}`` JSON with the security headers (as nginx's own
are); an unknown Dash bundle path is a 404 that logs nothing (it was a 500 with a 3 KB
traceback each); ``/_reload-hash`` exists only while hot reload runs (it listed the
installed component packages); ``/healthz`` says only that the worker answers, the version is
at ``/version``, which nginx puts behind the login like every path but ``/healthz``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

import dash
import pytest

import simulator
from callbacks import health, security


@pytest.fixture
def client(make_app: Callable[[], dash.Dash]) -> Any:
    return make_app().server.test_client()


def _assert_json_error(r: Any, status: int, *words: str) -> str:
    """A JSON error naming what was wrong, with every security header, never cached."""
    assert r.status_code == status, r.data[:200]
    assert r.is_json, r.data[:200]
    body = r.json
    assert body["status"] == status and len(body["error"]) > 20
    for word in words:
        assert word in body["error"], body
    for name, value in security.STATIC_HEADERS.items():
        assert r.headers[name] == value, name
    assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
    assert r.headers["Cache-Control"] == "no-store"
    return str(body["error"])


@pytest.mark.parametrize("path", ["/assets/no-such-file.js", "/assets/../app.py"])
def test_a_missing_file_is_a_json_404(client: Any, path: str) -> None:
    _assert_json_error(client.get(path), 404, "not found")


def test_a_wrong_method_is_a_json_405_naming_the_allowed_ones(client: Any) -> None:
    r = client.post("/healthz")
    _assert_json_error(r, 405, "POST", "GET")
    assert "GET" in r.headers["Allow"]


@pytest.mark.parametrize(
    "path",
    [
        "/_dash-component-suites/nope/x.js",
        "/_dash-component-suites/dash/nope.js",
        "/_dash-component-suites/dash/deps/react@18.3.1.v9_9_9m1.min.js.bak",
        "/_dash-component-suites/plotly/" + "a/" * 300 + "x.js",
        "/_dash-component-suites/dash/dcc/async-mathjax.js.map",  # registered, not shipped
    ],
)
def test_an_unknown_bundle_is_a_404_that_logs_nothing(
    client: Any, caplog: pytest.LogCaptureFixture, path: str
) -> None:
    with caplog.at_level(logging.DEBUG):
        r = client.get(path)
    error = _assert_json_error(r, 404, "not found")
    assert "registered" not in error  # Dash's message lists every bundle; it stays inside
    assert len(r.data) < 300
    loud = [rec for rec in caplog.records if rec.levelno >= logging.WARNING or rec.exc_info]
    assert loud == [], [rec.getMessage()[:200] for rec in loud]


def test_the_real_bundles_still_load(client: Any) -> None:
    page = client.get("/").get_data(as_text=True)
    bundles = re.findall(r'src="(/_dash-component-suites/[^"]+)"', page)
    assert len(bundles) >= 5
    for url in bundles:
        r = client.get(url)
        assert r.status_code == 200 and len(r.data) > 1000, url


def test_reload_hash_is_not_served_without_hot_reload(client: Any) -> None:
    r = client.get("/_reload-hash")
    error = _assert_json_error(r, 404, "not found")
    assert "dash_bootstrap_components" not in r.get_data(as_text=True), error


def test_reload_hash_still_serves_the_dev_server_with_hot_reload(
    make_app: Callable[[], dash.Dash],
) -> None:
    """``python app.py --debug`` turns hot reload on (``app.run`` -> ``enable_dev_tools``)."""
    app = make_app()
    # A long watch interval: the watcher thread walks the folders once, then sleeps.
    app.enable_dev_tools(debug=True, dev_tools_hot_reload_watch_interval=3600)
    r = app.server.test_client().get("/_reload-hash")
    assert r.status_code == 200 and "reloadHash" in r.json


def test_healthz_says_only_ok(client: Any) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json == {"status": "ok"}


def test_the_version_is_at_its_own_route(client: Any) -> None:
    r = client.get("/version")
    assert r.status_code == 200
    assert r.json == {"version": health.version(), "state_schema": simulator.SCHEMA_VERSION}
    assert r.headers["Cache-Control"] == "no-store"


def test_under_a_sub_path_errors_and_routes_follow_the_prefix(
    make_app: Callable[[], dash.Dash], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DASH_URL_BASE_PATHNAME", "/dash/")
    client = make_app().server.test_client()
    assert client.get("/dash/healthz").json == {"status": "ok"}
    assert client.get("/dash/version").json["state_schema"] == simulator.SCHEMA_VERSION
    _assert_json_error(client.get("/dash/_reload-hash"), 404)
    _assert_json_error(client.get("/dash/_dash-component-suites/nope/x.js"), 404)
    _assert_json_error(client.get("/elsewhere"), 404)  # outside the app's prefix
