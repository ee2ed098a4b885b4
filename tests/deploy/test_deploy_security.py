"""Security through the real stack: headers on every response, nginx's own errors, the rate
limit, auth_basic and serving under a sub-path (gunicorn + nginx on loopback).

The app sends its headers on everything it answers (callbacks/security.py) and nginx passes
them through once; the replies nginx makes itself (413, 429, 502, 401, a path outside the
app) are JSON with the same headers and a stricter CSP (deploy/nginx.conf, @nginx_error).
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from stack import ROOT, Stack, write_htpasswd

from callbacks import security
from layouts import ids

pytestmark = pytest.mark.deploy

NGINX_CSP = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"


def _tab_sync(
    url_hash: str = "", tab: str = ids.TAB_TRAINING, changed: str = f"{ids.TABS}.value"
) -> dict[str, Any]:
    return {
        "output": f"..{ids.URL}.hash...{ids.TABS}.value..",
        "outputs": [
            {"id": ids.URL, "property": "hash"},
            {"id": ids.TABS, "property": "value"},
        ],
        "inputs": [
            {"id": ids.URL, "property": "hash", "value": url_hash},
            {"id": ids.TABS, "property": "value", "value": tab},
        ],
        "changedPropIds": [changed],
        "state": [],
    }


def _assert_app_headers(response: requests.Response) -> None:
    """The app's headers, each exactly once (nginx adds none of its own to proxied replies)."""
    raw = response.raw.headers
    for name, value in security.STATIC_HEADERS.items():
        assert raw.getlist(name) == [value], (name, response.url, response.status_code)
    csp = raw.getlist("Content-Security-Policy")
    assert len(csp) == 1 and csp[0].startswith("default-src 'self'; script-src 'self' 'sha256-")
    assert "frame-ancestors 'none'" in csp[0]


def _assert_nginx_error(response: requests.Response, status: int) -> None:
    """A reply nginx made: JSON saying what happened, the security headers, never cached."""
    assert response.status_code == status, response.text[:200]
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["status"] == status and len(body["error"]) > 20
    raw = response.raw.headers
    for name, value in security.STATIC_HEADERS.items():
        assert raw.getlist(name) == [value], (name, status)
    assert raw.getlist("Content-Security-Policy") == [NGINX_CSP]
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers.get("Server") == "nginx"  # server_tokens off: no version


def test_every_proxied_response_carries_the_app_headers_once(stack: Stack) -> None:
    s, base = stack.session, stack.base
    page = s.get(base + "/", timeout=10)
    asset = s.get(base + "/assets/js/shell.js", timeout=10)
    bundle_url = re.search(r'src="(/_dash-component-suites/[^"]+)"', page.text).group(1)
    bundle = s.get(f"http://{stack.listen}{bundle_url}", timeout=10)
    callback = s.post(base + "/_dash-update-component", json=_tab_sync(), timeout=10)
    health = s.get(base + "/healthz", timeout=10)
    missing = s.get(base + "/assets/no-such-file.js", timeout=10)
    refused = s.get(base + "/_dash-update-component", timeout=10)  # the guard's 405
    statuses = [r.status_code for r in (page, asset, bundle, callback, health, missing, refused)]
    assert statuses == [200, 200, 200, 200, 200, 404, 405]
    for response in (page, asset, bundle, callback, health, missing, refused):
        _assert_app_headers(response)
    # The CSP a browser gets through nginx is the one gunicorn sends.
    direct = s.get(stack.upstream_base + "/", timeout=10)
    assert page.headers["Content-Security-Policy"] == direct.headers["Content-Security-Policy"]


def test_a_body_over_the_limit_is_nginx_413_json(stack: Stack) -> None:
    response = stack.session.post(
        stack.base + "/_dash-update-component",
        data=b"x" * (2 << 20),
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    _assert_nginx_error(response, 413)


def test_fresh_workers_answer_concurrent_callbacks(make_stack: Callable[..., Stack]) -> None:
    """No callback is refused while a new worker wires itself (gunicorn.conf.py's hook)."""
    s = make_stack(workers=2, with_nginx=False)
    deadline = time.monotonic() + 15  # the second worker may still be booting: the hook ran
    while s.logs().count(" wired (healthz 200)") < 2:  # before it accepts, so this is safe
        assert time.monotonic() < deadline, s.logs()
        time.sleep(0.05)
    url = s.upstream_base + "/_dash-update-component"

    def post(_: int) -> int:
        with requests.Session() as session:
            session.trust_env = False
            return session.post(url, json=_tab_sync(), timeout=10).status_code

    with ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(post, range(64)))
    assert codes == [200] * 64, sorted(set(codes))


def test_a_callback_burst_is_rate_limited_while_the_page_and_healthz_answer(
    make_stack: Callable[..., Stack],
) -> None:
    stack = make_stack(workers=1)
    url = stack.base + "/_dash-update-component"

    def post(_: int) -> int:
        return stack.session.post(url, json=_tab_sync(), timeout=10).status_code

    with ThreadPoolExecutor(8) as pool:
        burst = pool.map(post, range(200))
        page = stack.session.get(stack.base + "/", timeout=10)
        health = stack.session.get(stack.base + "/healthz", timeout=10)
        codes = list(burst)
    assert set(codes) <= {200, 429}
    assert codes.count(429) >= 50, codes.count(429)  # 20 r/s + a burst of 40
    assert codes.count(200) >= 40
    assert page.status_code == 200 and health.status_code == 200
    limited = stack.session.post(url, json=_tab_sync(), timeout=10)
    while limited.status_code != 429:  # the bucket may have refilled a little
        limited = stack.session.post(url, json=_tab_sync(), timeout=10)
    _assert_nginx_error(limited, 429)
    assert limited.headers["Retry-After"] == "1"


def test_gunicorn_down_is_nginx_502_json_and_recovers(make_stack: Callable[..., Stack]) -> None:
    s = make_stack(workers=1)
    s.stop_gunicorn()
    page = s.session.get(s.base + "/", timeout=10)
    _assert_nginx_error(page, 502)
    assert page.headers["Retry-After"] == "5"
    callback = s.session.post(s.base + "/_dash-update-component", json=_tab_sync(), timeout=10)
    _assert_nginx_error(callback, 502)
    s.start_gunicorn()
    assert s.session.get(s.base + "/", timeout=10).status_code == 200


def test_sub_path_end_to_end(make_stack: Callable[..., Stack]) -> None:
    """The page, its assets and bundles, the layout and a callback, all under /dashboard/."""
    s = make_stack(
        workers=1, env={"DASH_URL_BASE_PATHNAME": "/dashboard/"}, url_prefix="/dashboard/"
    )
    front = f"http://{s.listen}"
    page = s.session.get(front + "/dashboard/", timeout=10)
    assert page.status_code == 200
    _assert_app_headers(page)
    urls = re.findall(r'(?:src|href)="(/[^"]+)"', page.text)
    assert urls and all(u.startswith("/dashboard/") for u in urls), urls
    config = re.search(
        r'<script id="_dash-config" type="application/json">(.*?)</script>', page.text
    )
    assert json.loads(config.group(1))["requests_pathname_prefix"] == "/dashboard/"
    for url in urls:
        got = s.session.get(front + url, timeout=10)
        assert got.status_code == 200, url
        _assert_app_headers(got)
    layout = s.session.get(front + "/dashboard/_dash-layout", timeout=10)
    deps = s.session.get(front + "/dashboard/_dash-dependencies", timeout=10)
    assert layout.status_code == 200 and deps.status_code == 200
    callback = s.session.post(
        front + "/dashboard/_dash-update-component",
        json=_tab_sync("#comparison", changed=f"{ids.URL}.hash"),
        timeout=10,
    )
    assert callback.status_code == 200
    assert callback.json()["response"] == {ids.TABS: {"value": ids.TAB_COMPARISON}}
    assert s.session.get(front + "/dashboard/healthz", timeout=10).status_code == 200
    # Outside the app nginx answers itself (nothing reaches gunicorn).
    _assert_nginx_error(s.session.get(front + "/", timeout=10), 404)


def test_auth_basic_guards_everything_but_healthz(make_stack: Callable[..., Stack]) -> None:
    s = make_stack(workers=1)
    htpasswd = s.prefix / "htpasswd"
    write_htpasswd(htpasswd, "team", "correct horse")
    subprocess.run(
        [
            sys.executable,
            "deploy/render_nginx.py",
            str(s.prefix),
            "--listen",
            s.listen,
            "--upstream",
            s.upstream,
            "--auth-file",
            str(htpasswd),
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    assert s.nginx is not None
    s.nginx.send_signal(signal.SIGHUP)  # reload the configuration
    s.session.close()  # connections kept alive to the old nginx workers close on reload
    deadline = time.monotonic() + 10
    while True:
        try:
            if s.session.get(s.base + "/", timeout=10).status_code == 401:
                break
        except requests.ConnectionError:
            pass
        assert time.monotonic() < deadline, s.logs()
        time.sleep(0.1)

    anonymous = s.session.get(s.base + "/", timeout=10)
    _assert_nginx_error(anonymous, 401)
    assert anonymous.headers["WWW-Authenticate"] == 'Basic realm="LLM Training Dashboard"'
    wrong = s.session.get(s.base + "/", auth=("team", "wrong"), timeout=10)
    assert wrong.status_code == 401
    callback = s.session.post(s.base + "/_dash-update-component", json=_tab_sync(), timeout=10)
    assert callback.status_code == 401

    signed_in = s.session.get(s.base + "/", auth=("team", "correct horse"), timeout=10)
    assert signed_in.status_code == 200
    _assert_app_headers(signed_in)
    assert s.session.get(s.base + "/healthz", timeout=10).status_code == 200


def test_render_refuses_a_relative_or_odd_auth_file() -> None:
    sys.path.insert(0, str(ROOT / "deploy"))
    try:
        import render_nginx
    finally:
        sys.path.remove(str(ROOT / "deploy"))
    with pytest.raises(ValueError, match="absolute"):
        render_nginx.render("127.0.0.1:1", "127.0.0.1:2", auth_file="htpasswd")
    with pytest.raises(ValueError, match="misread"):
        render_nginx.render("127.0.0.1:1", "127.0.0.1:2", auth_file="/etc/x; evil")
    text = render_nginx.render("127.0.0.1:1", "127.0.0.1:2", auth_file="/etc/nginx/htpasswd")
    assert "auth_basic_user_file /etc/nginx/htpasswd;" in text
    assert "auth_basic_user_file" not in render_nginx.render("127.0.0.1:1", "127.0.0.1:2")


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_the_systemd_unit_verifies(tmp_path: Path) -> None:
    """systemd's own checker, on a copy pointed at this checkout: no error, no warning."""
    unit = (ROOT / "deploy" / "llm-training-dashboard.service").read_text()
    exec_start = "/opt/llm-training-dashboard/.venv/bin/gunicorn -c deploy/gunicorn.conf.py"
    assert f"ExecStart={exec_start} app:server" in unit
    # The push API writes the run store; everything else stays read-only (ProtectSystem).
    assert "ProtectSystem=strict" in unit
    assert "ReadWritePaths=/opt/llm-training-dashboard/data" in unit
    copy = tmp_path / "llm-training-dashboard.service"
    copy.write_text(unit.replace("/opt/llm-training-dashboard", str(ROOT)))
    result = subprocess.run(
        ["systemd-analyze", "verify", str(copy)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and result.stderr.strip() == "", result.stderr
