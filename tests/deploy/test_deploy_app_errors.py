"""What the app tells a stranger through the real stack, behind nginx's login.

gunicorn (1 worker) behind nginx rendered with ``--auth-file``, once for the module: probes
reach ``/healthz`` without a password and learn only that it answers; the version is at
``/version``, behind the login; the app's own errors (an unknown Dash bundle, a missing
asset, a wrong method, the dev-only ``/_reload-hash``) are JSON 404/405 with the app's
headers, and none leaves a traceback in gunicorn's log (each one was a 3 KB logged 500).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import requests
from stack import Stack, settled_log, write_htpasswd

import simulator
from callbacks import health, security

pytestmark = pytest.mark.deploy

LOGIN = ("team", "correct horse")


@pytest.fixture(scope="module")
def guarded(free_port: Callable[[], int]) -> Iterator[Stack]:
    """The stack with nginx asking for ``LOGIN`` everywhere but ``/healthz``."""
    stack = Stack(f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}", workers=1)
    htpasswd = stack.prefix / "htpasswd"
    write_htpasswd(htpasswd, *LOGIN)
    stack.nginx_args = ["--auth-file", str(htpasswd)]
    # Stack.start polls /healthz, which answers without a login.
    with stack as s:
        yield s


def _assert_app_error(r: requests.Response, status: int) -> None:
    """An error the app made: JSON, the app's headers once each."""
    assert r.status_code == status, r.text[:200]
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.json()["status"] == status and len(r.json()["error"]) > 20
    raw = r.raw.headers
    for name, value in security.STATIC_HEADERS.items():
        assert raw.getlist(name) == [value], (name, r.url)
    assert raw.getlist("Content-Security-Policy")[0].startswith("default-src 'self'")


def test_healthz_tells_an_anonymous_probe_only_that_it_answers(guarded: Stack) -> None:
    r = guarded.session.get(guarded.base + "/healthz", timeout=10)
    assert r.status_code == 200 and r.json() == {"status": "ok"}


def test_the_version_is_behind_the_login(guarded: Stack) -> None:
    s = guarded
    assert s.session.get(s.base + "/version", timeout=10).status_code == 401
    r = s.session.get(s.base + "/version", auth=LOGIN, timeout=10)
    assert r.status_code == 200
    assert r.json() == {"version": health.version(), "state_schema": simulator.SCHEMA_VERSION}


def test_reload_hash_is_not_served_in_production(guarded: Stack) -> None:
    s = guarded
    assert s.session.get(s.base + "/_reload-hash", timeout=10).status_code == 401
    r = s.session.get(s.base + "/_reload-hash", auth=LOGIN, timeout=10)
    _assert_app_error(r, 404)
    assert "packages" not in r.text


def test_missing_files_and_wrong_methods_are_json(guarded: Stack) -> None:
    s = guarded
    _assert_app_error(s.session.get(s.base + "/assets/nope.js", auth=LOGIN, timeout=10), 404)
    r = s.session.delete(s.base + "/healthz", timeout=10)  # healthz: no login needed
    _assert_app_error(r, 405)
    assert "GET" in r.json()["error"]


def test_unknown_bundles_are_404s_that_leave_no_traceback(guarded: Stack) -> None:
    s = guarded
    settled_log(s.gunicorn_log)  # the previous test's last access-log lines are in
    before = s.gunicorn_log.stat().st_size
    paths = [
        "/_dash-component-suites/nope/x.js",
        "/_dash-component-suites/dash/nope.js",
        "/_dash-component-suites/dash/dcc/async-mathjax.js.map",  # registered, not shipped
    ]
    for k in range(60):
        r = s.session.get(s.base + paths[k % len(paths)], auth=LOGIN, timeout=10)
        _assert_app_error(r, 404)
        assert "registered" not in r.text
        assert r.headers["Cache-Control"] == "no-store"  # a browser must not keep the 404
    # The real bundles still load through nginx.
    page = s.session.get(s.base + "/", auth=LOGIN, timeout=10).text
    bundle = page.split('src="/_dash-component-suites/', 1)[1].split('"', 1)[0]
    got = s.session.get(s.base + "/_dash-component-suites/" + bundle, auth=LOGIN, timeout=10)
    assert got.status_code == 200 and len(got.content) > 1000
    assert got.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    with s.gunicorn_log.open("rb") as log:
        log.seek(before)
        grown = log.read()
    assert b"Traceback" not in grown and b"DependencyException" not in grown, grown[-2000:]
    lines = grown.decode(errors="replace").splitlines()
    # Only the access log's line per request (it was that plus a 3 KB traceback each).
    assert all('" 404 ' in line or '" 200 ' in line for line in lines), lines[:5]
    assert len(grown) < 61 * 300
