"""The push API through real nginx in front of real gunicorn, with a login configured.

One stack for the module: nginx asks for a login (auth_basic), the app lives under /dash/,
and the run store is a SQLite file in the stack's scratch folder. A script pushes with its
bearer token and no login (nginx lets writes past the login; the app checks the token);
reads stay behind the login like the page. Requests that test the per-address limits go out
from their own loopback address (127.0.0.x), as in test_nginx_hardening.py.

Control (docs/tracking.md, "Control"): the script's poll passes nginx with its token and no
login, and the operator trusts nginx's X-Remote-User (DASHBOARD_TRUST_REMOTE_USER=1), so the
name the app would record is the login nginx checked. Where nginx sends that header at all
is tested against an upstream that echoes it back (the app has no route that shows it for
a write).
"""

from __future__ import annotations

import base64
import http.client
import http.server
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from stack import ROOT, Stack, _stop, nginx_binary, write_htpasswd

from callbacks import security
from deploy import render_nginx
from tracking import store as store_module
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
    stack.env = {
        "DASH_URL_BASE_PATHNAME": PREFIX,
        "DASHBOARD_DB": db,
        "DASHBOARD_TRUST_REMOTE_USER": "1",
    }
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

    statuses = [_post_from(stack, "127.0.0.61", token).status for _ in range(80)]
    assert statuses.count(200) >= 40 and statuses[-1] == 429, statuses
    limited = _post_from(stack, "127.0.0.61", token)
    assert limited.status == 429 and limited.headers["Retry-After"] == "1"
    # another address has its own allowance
    assert _post_from(stack, "127.0.0.62", token).status == 200


# --------------------------------------------------------------------------- control
def test_a_script_reads_its_control_state_through_nginx_with_its_token(
    api: tuple[Stack, str], tmp_path: Path
) -> None:
    stack, token = api
    store = store_module.open(f"sqlite:///{stack.prefix}/runs.sqlite3")
    run = Run(stack.base, token, "steered", spill_dir=tmp_path, interval=0.1)
    try:
        run.log(0, loss=2.0)
        deadline = time.monotonic() + 15
        while not store.metrics("steered"):
            assert time.monotonic() < deadline, "the point never arrived"
            time.sleep(0.05)
        store.set_control("steered", "paused", "team")
        poll = stack.base + "/api/v1/runs/steered/control/poll"
        polled = stack.session.post(poll, headers=bearer(token), timeout=10)
        assert polled.status_code == 200, polled.text
        assert polled.json() == {"run_id": "steered", "control": "paused"}
        assert stack.session.post(poll, timeout=10).status_code == 401  # no token
        # the script waits, asking through nginx, until the page resumes it
        ended: list[str] = []
        waiter = threading.Thread(target=lambda: ended.append(run.wait_while_paused(poll=0.1)))
        run.log(1, loss=1.9)  # its reply says "paused"
        deadline = time.monotonic() + 15
        while run.control != "paused":
            assert time.monotonic() < deadline, "the pause was never heard"
            time.sleep(0.05)
        waiter.start()
        time.sleep(0.3)
        assert waiter.is_alive() and not ended
        store.set_control("steered", "running", "team")
        waiter.join(15)
        assert ended == ["running"]
        assert 429 not in run.stats.statuses
    finally:
        run.close(timeout=10)
        store.close()
    control = stack.base + "/api/v1/runs/steered/control"
    assert stack.session.get(control, headers=bearer(token), timeout=10).status_code == 401
    read = stack.session.get(
        control, auth=(USER, PASSWORD), headers={"X-Remote-User": "mallory"}, timeout=10
    )
    assert read.status_code == 200, read.text
    body = read.json()
    assert [h["state"] for h in body["history"]] == ["running", "paused"]
    # the login nginx checked, not the header the client forged
    assert body["as"] == USER


class _Echo(http.server.BaseHTTPRequestHandler):
    """An upstream that answers every request with the X-Remote-User it was sent."""

    protocol_version = "HTTP/1.1"
    seen: dict[str, str | None]

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        body = json.dumps({"user": self.headers.get("X-Remote-User")}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = _answer

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def echo_nginx(free_port: Callable[[], int]) -> Iterator[Callable[[bool], str]]:
    """nginx from deploy/nginx.conf (with or without a login) in front of ``_Echo``, in a
    scratch folder nginx's workers can read (pytest's tmp_path is root's alone)."""
    scratch = Path(tempfile.mkdtemp(prefix="llm-dashboard-echo-"))
    scratch.chmod(0o755)
    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), _Echo)
    threading.Thread(target=upstream.serve_forever, args=(0.05,), daemon=True).start()
    started: list[subprocess.Popen[bytes]] = []

    def start(login: bool) -> str:
        prefix = scratch / f"nginx-{len(started)}"
        htpasswd = prefix / "htpasswd"
        prefix.mkdir()
        write_htpasswd(htpasswd, USER, PASSWORD)
        listen = f"127.0.0.1:{free_port()}"
        render_nginx.write(
            prefix,
            listen=listen,
            upstream=f"127.0.0.1:{upstream.server_address[1]}",
            url_prefix=PREFIX,
            auth_file=str(htpasswd) if login else None,
        )
        started.append(
            subprocess.Popen(
                [
                    nginx_binary(),
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
        )
        deadline = time.monotonic() + 15
        while True:
            try:
                http.client.HTTPConnection(*listen.split(":"), timeout=1).connect()
                return listen
            except OSError:
                assert time.monotonic() < deadline, "nginx did not start"
                time.sleep(0.05)

    yield start
    for proc in started:
        _stop(proc, 3)  # SIGQUIT: nginx's graceful stop
    upstream.shutdown()
    upstream.server_close()
    shutil.rmtree(scratch, ignore_errors=True)


def _user_seen(listen: str, method: str, path: str, user: str, password: str) -> Any:
    """What the upstream was sent as X-Remote-User (None: no header), or nginx's status."""
    host, port = listen.rsplit(":", 1)
    login = base64.b64encode(f"{user}:{password}".encode()).decode()
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request(
            method,
            path,
            body=b"{}" if method != "GET" else None,
            headers={
                "Authorization": f"Basic {login}",
                "X-Remote-User": "forged",
                "Content-Type": "application/json",
            },
        )
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    return json.loads(body)["user"] if response.status == 200 else response.status


def test_nginx_names_only_a_login_it_checked(echo_nginx: Callable[[bool], str]) -> None:
    guarded = echo_nginx(True)
    assert _user_seen(guarded, "GET", PREFIX, USER, PASSWORD) == USER
    assert _user_seen(guarded, "GET", PREFIX + "api/v1/runs/r/control", USER, PASSWORD) == USER
    assert _user_seen(guarded, "GET", PREFIX, USER, "wrong") == 401
    # the login is off for writes under api/v1/ and for healthz: a name there is unchecked
    for method, path in (("POST", "api/v1/runs/r/control/poll"), ("PUT", "api/v1/runs/r")):
        assert _user_seen(guarded, method, PREFIX + path, "alice", "anything") is None
    assert _user_seen(guarded, "GET", PREFIX + "healthz", "alice", "anything") is None
    # no login configured: nothing is checked, so no name is sent, whatever the client says
    open_door = echo_nginx(False)
    assert _user_seen(open_door, "GET", PREFIX, "alice", "anything") is None
