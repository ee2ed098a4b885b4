"""Production on loopback: real ``gunicorn app:server`` (2 gthread workers) behind real nginx.

Started once for the module from deploy/gunicorn.conf.py and a rendering of deploy/nginx.conf
into a scratch prefix, each on a free port, and always torn down. Checks what a deployment
relies on: nginx passes the page, the layout and callbacks through, compresses JSON, caches
fingerprinted files, hides its version, bounds request bodies, and health checks answer.
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import requests

from layouts import ids

pytestmark = pytest.mark.deploy

ROOT = Path(__file__).resolve().parents[2]


def _nginx() -> str:
    found = shutil.which("nginx") or "/usr/sbin/nginx"
    assert os.access(found, os.X_OK), "nginx is missing: `make test` installs it"
    return found


def _wait_healthy(url: str, procs: list[subprocess.Popen[bytes]], logs: list[Path]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for proc in procs:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"{proc.args[0]} exited with {proc.returncode}:\n"
                    + "\n".join(p.read_text(errors="replace")[-3000:] for p in logs if p.exists())
                )
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} never answered 200")


def _stop(proc: subprocess.Popen[bytes], sig: int) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@pytest.fixture(scope="module")
def stack(free_port: Callable[[], int]) -> Iterator[dict[str, Any]]:
    prefix = Path(tempfile.mkdtemp(prefix="llm-dashboard-deploy-"))
    upstream = f"127.0.0.1:{free_port()}"
    listen = f"127.0.0.1:{free_port()}"
    gunicorn_log = prefix / "gunicorn.log"
    procs: list[subprocess.Popen[bytes]] = []
    stop_signals: list[int] = []  # graceful: SIGTERM for gunicorn, SIGQUIT for nginx
    try:
        subprocess.run(
            [
                sys.executable,
                "deploy/render_nginx.py",
                str(prefix),
                "--listen",
                listen,
                "--upstream",
                upstream,
            ],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        with gunicorn_log.open("wb") as log:
            gunicorn = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "-c",
                    "deploy/gunicorn.conf.py",
                    "--bind",
                    upstream,
                    "--workers",
                    "2",
                    "app:server",
                ],
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        procs.append(gunicorn)
        stop_signals.append(signal.SIGTERM)
        nginx = subprocess.Popen(
            [
                _nginx(),
                "-p",
                str(prefix),
                "-c",
                str(prefix / "nginx.conf"),
                "-e",
                str(prefix / "logs" / "error.log"),
                "-g",
                "daemon off;",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        procs.append(nginx)
        stop_signals.append(signal.SIGQUIT)
        base = f"http://{listen}"
        _wait_healthy(f"{base}/healthz", procs, [gunicorn_log, prefix / "logs" / "error.log"])
        session = requests.Session()
        session.trust_env = False  # never send loopback traffic through a configured proxy
        yield {"base": base, "session": session, "gunicorn": gunicorn}
    finally:
        for proc, sig in reversed(list(zip(procs, stop_signals, strict=True))):
            _stop(proc, sig)
        shutil.rmtree(prefix, ignore_errors=True)


def test_page_is_served_through_nginx(stack: dict[str, Any]) -> None:
    r = stack["session"].get(stack["base"] + "/")
    assert r.status_code == 200
    assert "<title>LLM Training Dashboard</title>" in r.text
    assert r.headers["Server"] == "nginx"  # server_tokens off: no version


def test_layout_is_gzip_compressed_json(stack: dict[str, Any]) -> None:
    r = stack["session"].get(
        stack["base"] + "/_dash-layout", headers={"Accept-Encoding": "gzip"}, stream=True
    )
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.headers["Content-Encoding"] == "gzip"
    raw = r.raw.read()
    body = gzip.decompress(raw)
    assert b"Model Comparison" in body
    assert len(raw) < len(body)


def test_a_callback_round_trips(stack: dict[str, Any], tab_sync_body: Any) -> None:
    body = tab_sync_body("", ids.TAB_CONFIGURATION, f"{ids.TABS}.value")
    r = stack["session"].post(stack["base"] + "/_dash-update-component", json=body)
    assert r.status_code == 200
    assert r.json()["response"] == {ids.URL: {"hash": "#configuration"}}


def test_health_check_answers_small_json(stack: dict[str, Any]) -> None:
    r = stack["session"].get(stack["base"] + "/healthz")
    assert r.status_code == 200
    assert r.json()["status"] == "ok"
    assert len(r.content) < 200


def test_two_gthread_workers_serve(stack: dict[str, Any]) -> None:
    master = psutil.Process(stack["gunicorn"].pid)
    deadline = time.monotonic() + 10  # the master forks workers one after the other
    while len(master.children()) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(master.children()) == 2


def test_fingerprinted_files_are_cached_for_a_year(stack: dict[str, Any]) -> None:
    s, base = stack["session"], stack["base"]
    page = s.get(base + "/").text
    suite = re.search(r'src="(/_dash-component-suites/[^"]+\.js)"', page)
    asset = re.search(r'href="(/assets/theme/app\.css\?m=[^"]+)"', page)
    assert suite and asset
    for url in (suite.group(1), asset.group(1)):
        r = s.get(base + url, headers={"Accept-Encoding": "gzip"})
        assert r.status_code == 200
        assert "max-age=31536000" in r.headers["Cache-Control"], url
        assert r.headers.get("Content-Encoding") == "gzip", url


def test_oversized_request_bodies_are_refused(stack: dict[str, Any]) -> None:
    r = stack["session"].post(
        stack["base"] + "/_dash-update-component",
        data=b"x" * (2 * 1024 * 1024),
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 413
