"""Attacks on nginx itself (issue 16), through real nginx in front of real gunicorn.

One stack for most of the module: a login (auth_basic), the app under /dash/, and 127.0.0.2
configured as the TLS proxy in front (``--trusted-proxy``). All of 127/8 is loopback, so
each test sends from its own source address (127.0.0.x) and the per-address limits of one
test never spill into another's. Requests go out through ``http.client`` on a fresh
connection each, because requests/urllib3 would normalise ``x/../`` away before sending.
"""

from __future__ import annotations

import base64
import http.client
import json
import re
import socket
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest
from stack import ROOT, Stack, write_htpasswd

from callbacks import security

pytestmark = pytest.mark.deploy

PREFIX = "/dash/"
USER, PASSWORD = "team", "correct horse"
PROXY = "127.0.0.2"  # the trusted TLS proxy of the module's stack
NGINX_CSP = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def _auth(password: str = PASSWORD) -> dict[str, str]:
    token = base64.b64encode(f"{USER}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def _send(
    listen: str,
    path: str,
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    source: str = "127.0.0.1",
) -> Reply:
    """One request, sent exactly as written (no path normalisation), from ``source``."""
    host, port = listen.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10, source_address=(source, 0))
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return Reply(response.status, response.headers, response.read())
    finally:
        conn.close()


def _send_raw(listen: str, data: bytes) -> Reply:
    """Bytes no HTTP client would send (a malformed request line), and nginx's reply."""
    host, port = listen.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(data)
        response = http.client.HTTPResponse(sock)
        response.begin()
        return Reply(response.status, response.headers, response.read())


def _assert_nginx_json(reply: Reply, status: int) -> None:
    """A reply nginx made: JSON that says what happened, with every security header once."""
    assert reply.status == status, (reply.status, reply.body[:300])
    assert reply.headers["Content-Type"].startswith("application/json"), reply.body[:300]
    body = reply.json()
    assert body["status"] == status and len(body["error"]) > 20, body
    for name, value in security.STATIC_HEADERS.items():
        assert reply.headers.get_all(name) == [value], (name, status)
    assert reply.headers.get_all("Content-Security-Policy") == [NGINX_CSP]
    assert reply.headers["Cache-Control"] == "no-store"


@pytest.fixture(scope="module")
def guarded(free_port: Callable[[], int]) -> Iterator[Stack]:
    """Login + /dash/ prefix + a trusted proxy at 127.0.0.2, 2 workers."""
    stack = Stack(
        f"127.0.0.1:{free_port()}",
        f"127.0.0.1:{free_port()}",
        env={"DASH_URL_BASE_PATHNAME": PREFIX},
        url_prefix=PREFIX,
    )
    # In the stack's prefix, which nginx's workers (another user when run as root) can read.
    htpasswd = stack.prefix / "htpasswd"
    stack.nginx_args = ["--auth-file", str(htpasswd), "--trusted-proxy", f"{PROXY}/32"]
    write_htpasswd(htpasswd, USER, PASSWORD)
    # Stack.start polls /dash/healthz, which answers without a login.
    with stack as running:
        yield running


def _access_log(stack: Stack) -> str:
    return (stack.prefix / "logs" / "access.log").read_text(errors="replace")


# --------------------------------------------------------------------------- 3: healthz bypass
@pytest.mark.parametrize(
    "path", ["/dash/x/../healthz", "/dash/_dash-layout/../healthz", "/dash/%2e%2e/dash/healthz"]
)
def test_a_dot_segment_path_to_healthz_reaches_healthz_not_the_app(
    guarded: Stack, path: str
) -> None:
    """``curl --path-as-is http://HOST/dash/x/../healthz`` with no password: nginx matched the
    normalised /dash/healthz (no login there) and used to forward the raw path, for which the
    app answered its index page. Now it forwards /dash/healthz itself, and logs the probe."""
    reply = _send(guarded.listen, path, source="127.0.0.10")
    assert reply.status == 200, reply.body[:200]
    assert reply.headers["Content-Type"].startswith("application/json"), reply.body[:200]
    assert reply.json()["status"] == "ok"
    assert b"<html" not in reply.body.lower() and b"_dash-config" not in reply.body
    time.sleep(0.2)  # nginx writes its access log line after the reply
    assert f'GET {path} HTTP/1.1" 200' in _access_log(guarded)


def test_anything_but_healthz_still_asks_for_the_login(guarded: Stack) -> None:
    for path in ("/dash/", "/dash/healthz/../", "/dash/healthz/..%2f", "/dash/_dash-layout"):
        reply = _send(guarded.listen, path, source="127.0.0.10")
        assert reply.status in (401, 404), (path, reply.status, reply.body[:200])
        assert b"_dash-config" not in reply.body and b'"layout"' not in reply.body, path
    assert _send(guarded.listen, "/dash/", headers=_auth(), source="127.0.0.10").status == 200


# --------------------------------------------------------------------------- 9: failed logins
def _burst(
    listen: str, count: int, path: str, headers: Callable[[int], dict[str, str]], source: str
) -> tuple[list[Reply], float]:
    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        replies = list(
            pool.map(lambda i: _send(listen, path, headers=headers(i), source=source), range(count))
        )
    return replies, time.monotonic() - started


@pytest.mark.parametrize(
    ("path", "source"),
    [("/dash/", "127.0.0.20"), ("/dash/_dash-component-suites/x.js", "127.0.0.21")],
    ids=["page", "bundle"],
)
def test_wrong_passwords_are_throttled_and_the_right_one_still_works(
    guarded: Stack, path: str, source: str
) -> None:
    """200 guesses in about 2 s from one address: a handful are checked (401), the rest get
    the JSON 429 with Retry-After; the right password right after still signs in."""
    replies, elapsed = _burst(guarded.listen, 200, path, lambda i: _auth(f"guess-{i}"), source)
    statuses = [r.status for r in replies]
    assert set(statuses) <= {401, 429}, sorted(set(statuses))
    assert elapsed < 5, elapsed
    assert statuses.count(401) <= 10 + 1 + int(elapsed) + 1, (statuses.count(401), elapsed)
    assert statuses.count(429) >= 180, statuses.count(429)
    limited = next(r for r in replies if r.status == 429)
    _assert_nginx_json(limited, 429)
    assert limited.headers["Retry-After"] == "1"
    assert "failed logins" in limited.json()["error"]
    refused = next(r for r in replies if r.status == 401)
    _assert_nginx_json(refused, 401)
    assert refused.headers["WWW-Authenticate"] == 'Basic realm="LLM Training Dashboard"'

    signed_in = _send(guarded.listen, "/dash/", headers=_auth(), source=source)
    assert signed_in.status == 200 and b"_dash-config" in signed_in.body


def test_wrong_passwords_on_the_callback_url_are_throttled_too(guarded: Stack) -> None:
    """The callback URL has its own rate limit (20/s, burst 40); the failed-login limit must
    apply there as well, not be skipped because nginx runs one limit_req per request."""
    source = "127.0.0.22"
    replies, elapsed = _burst(
        guarded.listen,
        200,
        "/dash/_dash-update-component",
        lambda i: {**_auth(f"guess-{i}"), "Content-Type": "application/json"},
        source,
    )
    statuses = [r.status for r in replies]
    assert statuses.count(401) <= 10 + 1 + int(elapsed) + 1, (statuses.count(401), elapsed)
    assert statuses.count(429) >= 180, statuses.count(429)
    page = _send(guarded.listen, "/dash/", headers=_auth(), source=source)
    assert page.status == 200


def test_a_missing_login_is_not_counted_as_a_failure(guarded: Stack) -> None:
    """A browser's first request carries no credentials (the 401 makes it ask): 50 of them
    are 50 prompts, not 50 failed logins."""
    replies, _ = _burst(guarded.listen, 50, "/dash/", lambda i: {}, "127.0.0.23")
    assert [r.status for r in replies] == [401] * 50


# --------------------------------------------------------------------------- 9: trusted proxy
def _callback_burst(stack: Stack, source: str, forwarded_for: str, count: int = 120) -> list[int]:
    headers = {**_auth(), "Content-Type": "application/json", "X-Forwarded-For": forwarded_for}
    replies, _ = _burst(
        stack.listen, count, "/dash/_dash-update-component", lambda i: headers, source
    )
    return [r.status for r in replies]


def test_behind_the_trusted_proxy_each_client_has_its_own_bucket(guarded: Stack) -> None:
    """Through the TLS proxy every request comes from its address: one client's burst used
    to give everyone behind it 429. The limit now keys on the client the proxy names."""
    statuses = _callback_burst(guarded, PROXY, "198.51.100.7")
    assert statuses.count(429) >= 40, statuses.count(429)  # that client is throttled...
    other = _callback_burst(guarded, PROXY, "198.51.100.8", count=10)
    assert 429 not in other, other  # ...another one behind the same proxy is not
    # The client is the rightmost address the proxy did not add: a client cannot pick its own
    # bucket by sending X-Forwarded-For to the proxy, which appends the address it saw.
    spoofed = _callback_burst(guarded, PROXY, "203.0.113.99, 198.51.100.7", count=10)
    assert spoofed.count(429) >= 5, spoofed


def test_an_untrusted_sender_cannot_choose_its_bucket(guarded: Stack) -> None:
    """X-Forwarded-For from any address but the configured proxy is ignored."""
    source = "127.0.0.30"
    statuses = _callback_burst(guarded, source, "198.51.100.20")
    assert statuses.count(429) >= 40, statuses.count(429)
    fresh_name = _callback_burst(guarded, source, "198.51.100.21", count=10)
    assert fresh_name.count(429) >= 5, fresh_name


def test_render_refuses_a_malformed_trusted_proxy() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("render_nginx", ROOT / "deploy/render_nginx.py")
    assert spec and spec.loader
    render_nginx = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(render_nginx)
    for bad in ("10.0.0.1/8", "example.com", "10.0.0.0/8; allow all"):
        with pytest.raises(ValueError, match="--trusted-proxy takes"):
            render_nginx.render("127.0.0.1:1", "127.0.0.1:2", trusted_proxies=[bad])
    plain = render_nginx.render("127.0.0.1:1", "127.0.0.1:2")
    assert "set_real_ip_from" not in plain.split("# no trusted proxy")[1].split("\n")[0]
    assert not re.search(r"^\s*set_real_ip_from", plain, flags=re.M)  # nothing by default
    text = render_nginx.render("127.0.0.1:1", "127.0.0.1:2", trusted_proxies=["10.0.0.0/8", "::1"])
    assert "set_real_ip_from 10.0.0.0/8;" in text and "set_real_ip_from ::1/128;" in text
    assert "real_ip_header X-Forwarded-For;" in text and "real_ip_recursive on;" in text


# --------------------------------------------------------------------------- 10: nginx's own
def test_a_malformed_request_line_is_json_400(guarded: Stack) -> None:
    _assert_nginx_json(_send_raw(guarded.listen, b"GARBAGE\r\n\r\n"), 400)
    _assert_nginx_json(_send_raw(guarded.listen, b"GET /dash/ HTTP/1.1\r\n\r\n"), 400)  # no Host


def test_headers_too_large_is_json_400(guarded: Stack) -> None:
    reply = _send(guarded.listen, "/dash/", headers={"X-Big": "a" * 9000}, source="127.0.0.40")
    _assert_nginx_json(reply, 400)


def test_trace_is_json_405(guarded: Stack) -> None:
    _assert_nginx_json(_send(guarded.listen, "/dash/", method="TRACE", source="127.0.0.40"), 405)


def test_a_10_kb_uri_is_json_414(guarded: Stack) -> None:
    reply = _send(guarded.listen, "/dash/?q=" + "a" * 10_240, source="127.0.0.40")
    _assert_nginx_json(reply, 414)


# --------------------------------------------------------------------------- 6: bundle paths
def test_unknown_bundle_paths_are_rate_limited_but_a_page_load_is_not(guarded: Stack) -> None:
    """A page load asks for all its bundles at once (13 in headless Chromium: the 10 the page
    names and the chunks they load; here the page's 10 for five tabs opened together from
    one address): none is refused, and limit_req's nodelay never holds one back. A script
    asking for unknown bundle paths gets 429 after the burst, so it cannot make the app look
    up (and log) hundreds of paths a second."""
    source = "127.0.0.50"
    page = _send(guarded.listen, "/dash/", headers=_auth(), source=source)
    bundles = re.findall(r'src="(/dash/_dash-component-suites/[^"]+)"', page.body.decode())
    assert len(bundles) >= 8, len(bundles)
    with ThreadPoolExecutor(16) as pool:
        loads = list(
            pool.map(
                lambda url: _send(guarded.listen, url, headers=_auth(), source=source).status,
                bundles * 5,
            )
        )
    assert loads == [200] * len(loads), sorted(set(loads))

    unknown, _ = _burst(
        guarded.listen,
        300,
        "/dash/_dash-component-suites/dash/nothing-here.js",
        lambda i: _auth(),
        "127.0.0.51",
    )
    statuses = [r.status for r in unknown]
    assert statuses.count(429) >= 150, statuses.count(429)
    assert set(statuses) <= {404, 429, 500}, sorted(set(statuses))  # 404 once the app's fix lands
