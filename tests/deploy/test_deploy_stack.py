"""Production on loopback: real ``gunicorn app:server`` (2 gthread workers) behind real nginx.

Started once for the module from deploy/gunicorn.conf.py and a rendering of deploy/nginx.conf
into a scratch prefix, each on a free port, and always torn down. Checks what a deployment
relies on: nginx passes the page, the layout and callbacks through, compresses JSON, caches
fingerprinted files, hides its version, bounds request bodies, and health checks answer.
"""

from __future__ import annotations

import gzip
import re
import time
from typing import Any

import psutil
import pytest
from stack import Stack

from layouts import ids

pytestmark = pytest.mark.deploy


def test_page_is_served_through_nginx(stack: Stack) -> None:
    r = stack.session.get(stack.base + "/")
    assert r.status_code == 200
    assert "<title>LLM Training Dashboard</title>" in r.text
    assert r.headers["Server"] == "nginx"  # server_tokens off: no version


def test_layout_is_gzip_compressed_json(stack: Stack) -> None:
    r = stack.session.get(
        stack.base + "/_dash-layout", headers={"Accept-Encoding": "gzip"}, stream=True
    )
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.headers["Content-Encoding"] == "gzip"
    raw = r.raw.read()
    body = gzip.decompress(raw)
    assert b"Model Comparison" in body
    assert len(raw) < len(body)


def test_a_callback_round_trips(stack: Stack, tab_sync_body: Any) -> None:
    deps = stack.session.get(stack.base + "/_dash-dependencies").json()
    body = tab_sync_body(deps, "", ids.TAB_CONFIGURATION, f"{ids.TABS}.value")
    r = stack.session.post(stack.base + "/_dash-update-component", json=body)
    assert r.status_code == 200
    assert r.json()["response"] == {ids.URL: {"hash": "#configuration"}}


def test_health_check_answers_small_json(stack: Stack) -> None:
    r = stack.session.get(stack.base + "/healthz")
    assert r.status_code == 200
    assert r.json()["status"] == "ok"
    assert len(r.content) < 200


def test_two_gthread_workers_serve(stack: Stack) -> None:
    master = psutil.Process(stack.gunicorn.pid)
    deadline = time.monotonic() + 10  # the master forks workers one after the other
    while len(master.children()) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(master.children()) == 2


def test_fingerprinted_files_are_cached_for_a_year(stack: Stack) -> None:
    s, base = stack.session, stack.base
    page = s.get(base + "/").text
    suite = re.search(r'src="(/_dash-component-suites/[^"]+\.js)"', page)
    asset = re.search(r'href="(/assets/theme/app\.css\?m=[^"]+)"', page)
    assert suite and asset
    for url in (suite.group(1), asset.group(1)):
        r = s.get(base + url, headers={"Accept-Encoding": "gzip"})
        assert r.status_code == 200
        assert "max-age=31536000" in r.headers["Cache-Control"], url
        assert r.headers.get("Content-Encoding") == "gzip", url


def test_oversized_request_bodies_are_refused(stack: Stack) -> None:
    r = stack.session.post(
        stack.base + "/_dash-update-component",
        data=b"x" * (2 * 1024 * 1024),
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 413
