"""The push API through real nginx in front of real gunicorn, with a login configured.

One stack for the module: nginx asks for a login (auth_basic), the app lives under /dash/,
and the run store is a SQLite file in the stack's scratch folder. A script pushes with its
bearer token and no login (nginx lets writes past the login; the app checks the token);
reads stay behind the login like the page. Requests that test the per-address limits go out
from their own loopback address (127.0.0.x), as in test_nginx_hardening.py.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from stack import ROOT, Stack, write_htpasswd

from callbacks import security
from tracking.client import Run

pytestmark = pytest.mark.deploy

PREFIX = "/dash/"
USER, PASSWORD = "team", "correct horse"
POINTS = {"points": [{"step": 0, "time": 1.7e9, "metrics": {"loss": 2.0}}]}


@pytest.fixture(scope="module")
def api(free_port: Callable[[], int]) -> Iterator[tuple[Stack, str]]:
    """The stack and a write token made with the command line on its store."""
    stack = Stack(
        f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}", workers=1, url_prefix=PREFIX
    )
    db = f"sqlite:///{stack.prefix}/runs.sqlite3"
    stack.env = {"DASH_URL_BASE_PATHNAME": PREFIX, "DASHBOARD_DB": db}
    htpasswd = stack.prefix / "htpasswd"
    write_htpasswd(htpasswd, USER, PASSWORD)
    stack.nginx_args = ["--auth-file", str(htpasswd)]
    with stack as running:
        made = subprocess.run(
            [sys.executable, "-m", "tracking", "token", "create", "deploy", "--db", db],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        yield running, made.stdout.strip()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_script_pushes_with_its_token_and_no_login(api: tuple[Stack, str]) -> None:
    stack, token = api
    base = stack.base + "/api/v1"
    put = stack.session.put(
        base + "/runs/pushed", json={"name": "pushed run"}, headers=bearer(token), timeout=10
    )
    assert put.status_code == 201, put.text
    posted = stack.session.post(
        base + "/runs/pushed/points", json=POINTS, headers=bearer(token), timeout=10
    )
    assert posted.status_code == 200 and posted.json()["new"] == 1, posted.text
    read = stack.session.get(
        base + "/runs/pushed/series/loss", auth=(USER, PASSWORD), timeout=10
    ).json()
    assert (read["step"], read["value"]) == ([0], [2.0])


def test_a_push_without_a_token_is_refused_by_the_app(api: tuple[Stack, str]) -> None:
    stack, _ = api
    url = stack.base + "/api/v1/runs/pushed/points"
    for auth in (None, (USER, PASSWORD)):  # a login is not a write credential
        refused = stack.session.post(url, json=POINTS, auth=auth, timeout=10)
        assert refused.status_code == 401
        assert refused.headers["WWW-Authenticate"].startswith("Bearer ")
        assert "token create" in refused.json()["error"]
        for name, value in security.STATIC_HEADERS.items():
            assert refused.headers.get(name) == value


def test_reads_need_the_login(api: tuple[Stack, str]) -> None:
    stack, token = api
    url = stack.base + "/api/v1/runs"
    anonymous = stack.session.get(url, timeout=10)
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"].startswith("Basic ")
    # a write token does not open reads either: it is write-only
    assert stack.session.get(url, headers=bearer(token), timeout=10).status_code == 401
    signed_in = stack.session.get(url, auth=(USER, PASSWORD), timeout=10)
    assert signed_in.status_code == 200 and isinstance(signed_in.json()["runs"], list)


def test_a_body_over_1_mb_is_refused_by_nginx(api: tuple[Stack, str]) -> None:
    stack, token = api
    reply = stack.session.post(
        stack.base + "/api/v1/runs/pushed/points",
        data=b" " * (1024 * 1024 + 1),
        headers={**bearer(token), "Content-Type": "application/json"},
        timeout=10,
    )
    assert reply.status_code == 413
    assert "the limit is 1 MB" in reply.json()["error"]


def _post_from(stack: Stack, source: str, token: str) -> http.client.HTTPResponse:
    host, port = stack.listen.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10, source_address=(source, 0))
    conn.request(
        "POST",
        PREFIX + "api/v1/runs/flood/points",
        body=json.dumps(POINTS),
        headers={**bearer(token), "Content-Type": "application/json"},
    )
    response = conn.getresponse()
    response.read()
    conn.close()
    return response


def test_the_client_is_never_rate_limited_but_a_flood_of_writes_is(
    api: tuple[Stack, str], tmp_path: Path
) -> None:
    stack, token = api
    run = Run(stack.base, token, "steady", spill_dir=tmp_path, interval=1.0)
    started = time.monotonic()
    step = 0
    while time.monotonic() - started < 4.0:  # a training loop logging 50 steps a second
        run.log(step, loss=1.0 / (step + 1))
        step += 1
        time.sleep(0.02)
    assert run.close(timeout=10) is True
    assert 429 not in run.stats.statuses and run.stats.requests >= 4, run.stats
    series = stack.session.get(
        stack.base + "/api/v1/runs/steady/series/loss?points=10000",
        auth=(USER, PASSWORD),
        timeout=10,
    ).json()
    assert series["step"] == list(range(step))

    statuses = [_post_from(stack, "127.0.0.61", token).status for _ in range(40)]
    assert statuses.count(200) >= 20 and statuses[-1] == 429, statuses
    limited = _post_from(stack, "127.0.0.61", token)
    assert limited.status == 429 and limited.headers["Retry-After"] == "1"
    # another address has its own allowance
    assert _post_from(stack, "127.0.0.62", token).status == 200
