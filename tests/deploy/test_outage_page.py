"""Opening or reloading the page while gunicorn is down (issue 16 #11): real nginx, gunicorn
stopped, then real headless Chromium.

A browser navigation (a GET that accepts text/html) gets deploy/outage.html: it says what
happened, that the run is kept in the tab, and reloads itself every 5 s with a <meta>
refresh (no script), under a CSP that allows only its own style by hash. Everything else
keeps nginx's JSON 502, which assets/js/connection.js retries for callbacks.
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests
from stack import ROOT, Stack

from callbacks import security
from layouts import ids

pytestmark = [pytest.mark.deploy, pytest.mark.browser]

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
NGINX_CSP = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"


def _assert_json_502(response: requests.Response) -> None:
    assert response.status_code == 502
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json()["status"] == 502
    assert response.headers["Content-Security-Policy"] == NGINX_CSP


def test_a_page_load_during_an_outage_explains_and_retries(
    make_stack: Callable[..., Stack], dash_br: Any
) -> None:
    stack = make_stack(workers=1, env={"DASH_URL_BASE_PATHNAME": "/dash/"}, url_prefix="/dash/")
    stack.stop_gunicorn()
    s = stack.session

    page = s.get(stack.base + "/", headers={"Accept": BROWSER_ACCEPT}, timeout=10)
    assert page.status_code == 502
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    text = re.sub(r"\s+", " ", page.text)
    assert "The dashboard's server is restarting" in text
    assert "retries every few seconds" in text
    assert "Your run is kept in this tab" in text
    assert '<meta http-equiv="refresh" content="5">' in page.text
    assert "<script" not in page.text and "http" not in page.text.replace("http-equiv", "")
    raw = page.raw.headers
    for name, value in security.STATIC_HEADERS.items():
        assert raw.getlist(name) == [value], name
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["Retry-After"] == "5"
    # The CSP allows the page's one <style> by its hash and nothing else.
    style = re.search(r"<style>(.*?)</style>", page.text, flags=re.S).group(1)
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    assert raw.getlist("Content-Security-Policy") == [
        f"default-src 'none'; style-src 'sha256-{digest}'; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    ]
    assert page.text == (ROOT / "deploy" / "outage.html").read_text()

    # Anything but a navigation keeps the JSON: callbacks, Dash's own fetches, bundles, assets.
    _assert_json_502(s.post(stack.base + "/_dash-update-component", json={}, timeout=10))
    _assert_json_502(s.get(stack.base + "/_dash-layout", timeout=10))
    _assert_json_502(
        s.get(stack.base + "/_dash-layout", headers={"Accept": BROWSER_ACCEPT}, timeout=10)
    )
    _assert_json_502(s.get(stack.base + "/assets/js/shell.js", timeout=10))
    _assert_json_502(s.get(stack.base + "/", headers={"Accept": "application/json"}, timeout=10))

    # A real browser: it shows the page, raises no CSP violation, and once gunicorn is back
    # its own refresh brings up the app.
    br = dash_br
    br.driver.get(stack.base + "/")
    br.wait_for_element("#outage", timeout=10)
    assert "restarting" in br.find_element("#outage h1").text
    max_width = br.driver.execute_script(
        "return getComputedStyle(document.querySelector('main')).maxWidth"
    )
    assert max_width != "none", "the inline style applied (allowed by its hash)"
    console = [e["message"] for e in br.driver.get_log("browser")]
    assert not [m for m in console if "Content Security Policy" in m], console

    stack.start_gunicorn()
    back = time.monotonic()
    br.wait_for_element(f"#{ids.TR_START}", timeout=20)
    assert time.monotonic() - back < 15
    assert br.driver.current_url.rstrip("/") == stack.base
