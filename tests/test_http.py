"""The app over HTTP, through Flask's test client: the requests a browser makes."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import dash
import pytest

from layouts import ids


@pytest.fixture
def client(make_app: Callable[[], dash.Dash]) -> Any:
    return make_app().server.test_client()


def deps(client: Any) -> list[dict[str, Any]]:
    """The app's callbacks as the page loads them, for ``tab_sync_body``."""
    return list(client.get("/_dash-dependencies").json)


def test_index_page_loads_only_from_its_own_origin(client: Any) -> None:
    page = client.get("/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<title>LLM Training Dashboard</title>" in html
    refs = re.findall(r'(?:href|src)="([^"]+)"', html)
    assert refs, "the page links its CSS and scripts"
    for ref in refs:
        assert ref.startswith("/") and not ref.startswith("//"), ref
    assert "cdn" not in html.lower()


def test_index_page_does_not_repeat_the_layout(client: Any) -> None:
    html = client.get("/").get_data(as_text=True)
    config = json.loads(re.search(r'id="_dash-config"[^>]*>(.*?)</script>', html, re.S)[1])
    assert "validation_layout" not in config  # the layout comes once, from /_dash-layout
    assert len(html) < 20_000


def test_bootstrap_loads_before_our_css(client: Any) -> None:
    html = client.get("/").get_data(as_text=True)
    sheets = re.findall(r'<link rel="stylesheet" href="([^"?]+)', html)
    names = [s.rsplit("/", 1)[-1] for s in sheets]
    assert names.index("bootstrap.min.css") < names.index("app.css")
    assert "/assets/js/shell.js" in html
    assert re.search(r'<link rel="icon"[^>]+href="/assets/favicon.ico', html)


def test_healthz_is_small_json(client: Any) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.is_json and r.json["status"] == "ok"
    assert len(r.data) < 200
    assert r.headers["Cache-Control"] == "no-store"


def test_layout_endpoint_serves_the_shell(client: Any) -> None:
    r = client.get("/_dash-layout")
    assert r.status_code == 200 and r.is_json
    text = r.get_data(as_text=True)
    for label in ("Training", "Model Comparison", "Configuration", "LLM Training Dashboard"):
        assert label in text


def test_theme_and_badge_run_in_the_browser(client: Any) -> None:
    deps = client.get("/_dash-dependencies").json
    clientside = {
        d["clientside_function"]["function_name"]
        for d in deps
        if (d.get("clientside_function") or {}).get("namespace") == "shell"
    }
    assert {"syncTheme", "statusBadge"} <= clientside


def test_clicking_a_tab_writes_the_url_hash(client: Any, tab_sync_body: Any) -> None:
    body = tab_sync_body(deps(client), "", ids.TAB_COMPARISON, f"{ids.TABS}.value")
    r = client.post("/_dash-update-component", json=body)
    assert r.status_code == 200
    assert r.json["response"] == {ids.URL: {"hash": "#comparison"}}


def test_a_link_to_a_tab_opens_it(client: Any, tab_sync_body: Any) -> None:
    body = tab_sync_body(deps(client), "#configuration", ids.TAB_TRAINING, f"{ids.URL}.hash")
    r = client.post("/_dash-update-component", json=body)
    assert r.status_code == 200
    assert r.json["response"] == {ids.TABS: {"value": ids.TAB_CONFIGURATION}}


@pytest.mark.parametrize("junk", ["#nope", "#" + "a" * 5000, "<script>"])
def test_an_unknown_hash_changes_nothing(client: Any, tab_sync_body: Any, junk: str) -> None:
    body = tab_sync_body(deps(client), junk, ids.TAB_TRAINING, f"{ids.URL}.hash")
    r = client.post("/_dash-update-component", json=body)
    assert r.status_code == 200
    assert r.json["response"] == {}  # nothing updated: the tab stays, the hash is not rewritten


def test_the_app_can_live_under_a_sub_path(
    make_app: Callable[[], dash.Dash], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DASH_URL_BASE_PATHNAME", "/dash/")
    client = make_app().server.test_client()
    html = client.get("/dash/").get_data(as_text=True)
    for ref in re.findall(r'(?:href|src)="([^"]+)"', html):
        assert ref.startswith("/dash/"), ref
    assert client.get("/dash/healthz").status_code == 200
    assert client.get("/dash/_dash-layout").status_code == 200
