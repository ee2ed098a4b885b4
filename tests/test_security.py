"""Security headers on every kind of response, and no stack trace in any reply (Flask level)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable
from typing import Any

import dash
import pytest

import app as app_module
from callbacks import security
from layouts import ids

INLINE_SCRIPT = re.compile(r"<script(?P<attrs>[^>]*)>(?P<body>.*?)</script>", re.S)


@pytest.fixture
def app(make_app: Callable[[], dash.Dash]) -> dash.Dash:
    return make_app()


def _assert_headers(response: Any) -> None:
    for name, value in security.STATIC_HEADERS.items():
        assert response.headers.get(name) == value, (name, response.status_code)
    csp = response.headers.get("Content-Security-Policy", "")
    assert "default-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "object-src 'none'" in csp
    assert re.search(r"script-src 'self'( 'sha256-[A-Za-z0-9+/=]+')+;", csp), csp
    assert "unsafe-eval" not in csp
    assert "'unsafe-inline'" not in csp.split("script-src", 1)[1].split(";", 1)[0]


def test_every_kind_of_response_carries_the_headers(app: dash.Dash, tab_sync_body: Any) -> None:
    client = app.server.test_client()
    page = client.get("/")
    asset = client.get("/assets/js/shell.js")
    bundle_url = re.search(r'src="(/_dash-component-suites/[^"]+)"', page.text).group(1)
    bundle = client.get(bundle_url)
    deps = client.get("/_dash-dependencies").json
    callback = client.post(
        "/_dash-update-component",
        json=tab_sync_body(deps, "", ids.TAB_TRAINING, f"{ids.TABS}.value"),
    )
    health = client.get("/healthz")
    missing = client.get("/assets/no-such-file.js")
    wrong_method = client.post("/healthz")
    guard_405 = client.get("/_dash-update-component")
    malformed = client.post(
        "/_dash-update-component", data=b"{not json", content_type="application/json"
    )
    too_large = client.post(
        "/_dash-update-component", data=b"x" * (2 << 20), content_type="application/json"
    )
    statuses = [
        r.status_code
        for r in (
            page,
            asset,
            bundle,
            callback,
            health,
            missing,
            wrong_method,
            guard_405,
            malformed,
            too_large,
        )
    ]
    assert statuses == [200, 200, 200, 200, 200, 404, 405, 405, 400, 413]
    for response in (
        page,
        asset,
        bundle,
        callback,
        health,
        missing,
        wrong_method,
        guard_405,
        malformed,
        too_large,
    ):
        _assert_headers(response)


def test_every_inline_script_on_the_page_is_allowed_by_hash(app: dash.Dash) -> None:
    """A script the policy does not name would be refused by the browser: a dead page."""
    page = app.server.test_client().get("/")
    allowed = page.headers["Content-Security-Policy"]
    inline = [
        m["body"]
        for m in INLINE_SCRIPT.finditer(page.text)
        if "src=" not in m["attrs"] and "application/json" not in m["attrs"]
    ]
    # The renderer bootstrap; every clientside callback is a named function in assets/js/.
    assert inline == ["var renderer = new DashRenderer();"]
    for body in inline:
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in allowed, body[:120]


def test_a_callback_registered_after_the_app_was_built_is_hashed_too(app: dash.Dash) -> None:
    client = app.server.test_client()
    client.get("/")
    dash.clientside_callback(
        "function(v) { return v; /* late */ }",
        dash.Output("late-out", "children"),
        dash.Input("late-in", "value"),
    )
    page = client.get("/")
    late = [m["body"] for m in INLINE_SCRIPT.finditer(page.text) if "/* late */" in m["body"]]
    assert len(late) == 1
    digest = base64.b64encode(hashlib.sha256(late[0].encode()).digest()).decode()
    assert f"'sha256-{digest}'" in page.headers["Content-Security-Policy"]


def _boom() -> str:
    raise RuntimeError("secret detail /etc/passwd")


def test_an_exception_in_a_request_shows_no_traceback(
    make_app: Callable[[], dash.Dash], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Even with Flask's debug switched on from the environment.
    monkeypatch.setenv("FLASK_DEBUG", "1")
    app = make_app()
    app.server.add_url_rule("/boom", endpoint="boom", view_func=_boom)
    response = app.server.test_client().get("/boom")
    assert response.status_code == 500
    assert response.get_json() == {
        "error": "internal server error: the failure is logged; retry or reload",
        "status": 500,
    }
    for leak in ("Traceback", "RuntimeError", "secret", ".py", "/work"):
        assert leak not in response.text
    _assert_headers(response)


def test_a_raising_callback_answers_a_generic_500(
    app: dash.Dash, tab_sync_body: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug in a callback reaches the log, never the browser."""
    client = app.server.test_client()
    # Dash moves the registered callbacks into the app on its first request.
    deps = client.get("/_dash-dependencies").json
    body = tab_sync_body(deps, "", ids.TAB_TRAINING, f"{ids.TABS}.value")
    key = body["output"]

    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise KeyError("internal detail")

    monkeypatch.setitem(app.callback_map[key], "callback", broken)
    response = client.post("/_dash-update-component", json=body)
    assert response.status_code == 500
    assert "Traceback" not in response.text and "internal detail" not in response.text
    assert json.loads(response.text)["status"] == 500


def test_debug_is_off_unless_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    """DASH_DEBUG in the environment does not turn on debug; only ``--debug`` does."""
    calls: list[dict[str, Any]] = []
    monkeypatch.setenv("DASH_DEBUG", "true")
    monkeypatch.setattr(app_module.app, "run", lambda **kw: calls.append(kw))
    app_module.main([])
    app_module.main(["--debug"])
    assert [c["debug"] for c in calls] == [False, True]
    assert app_module.server.debug is False


def test_dash_dev_tools_stay_off_under_gunicorn_even_with_dash_debug(
    make_app: Callable[[], dash.Dash], monkeypatch: pytest.MonkeyPatch
) -> None:
    """gunicorn never calls app.run, so DASH_DEBUG in its environment enables nothing."""
    monkeypatch.setenv("DASH_DEBUG", "true")
    page = make_app().server.test_client().get("/")
    config = re.search(
        r'<script id="_dash-config" type="application/json">(.*?)</script>', page.text
    )
    assert config is not None
    settings = json.loads(config.group(1))
    assert settings["ui"] is False and settings["props_check"] is False
