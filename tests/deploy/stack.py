"""The production stack on loopback, as a test can drive it: gunicorn, nginx, and faults.

``Stack`` starts real ``gunicorn -c deploy/gunicorn.conf.py app:server`` and real nginx from a
rendering of deploy/nginx.conf in a scratch prefix, each on a free port, and can stop,
restart and kill them the way an operator or a crash would. The deploy tests use it through
the fixtures in tests/deploy/conftest.py; nothing here is shared between processes.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
import requests

ROOT = Path(__file__).resolve().parents[2]


def write_htpasswd(path: Path, user: str, password: str) -> None:
    """An htpasswd file with one login, in the salted-SHA1 scheme nginx reads ({SSHA}),
    readable by nginx's workers (another user when the tests run as root)."""
    salt = os.urandom(8)
    digest = hashlib.sha1(password.encode() + salt).digest()
    path.write_text(f"{user}:{{SSHA}}{base64.b64encode(digest + salt).decode()}\n")
    path.chmod(0o644)


def nginx_binary() -> str:
    """Debian's nginx (``make test`` installs it)."""
    found = shutil.which("nginx") or "/usr/sbin/nginx"
    assert os.access(found, os.X_OK), "nginx is missing: `make test` installs it"
    return found


def _stop(proc: subprocess.Popen[bytes] | None, sig: int) -> None:
    if proc is not None and proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def settled_log(path: Path, quiet_s: float = 0.3, timeout_s: float = 5.0) -> str:
    """``path``'s text once it has stopped growing for ``quiet_s``: gunicorn writes a
    request's access-log line after the answer has left, so a test that reads the log at
    once can miss the last lines or see a previous test's late ones."""
    deadline = time.monotonic() + timeout_s
    size = -1
    while time.monotonic() < deadline:
        now = path.stat().st_size
        if now == size:
            break
        size = now
        time.sleep(quiet_s)
    return path.read_text(errors="replace")


class Stack:
    """gunicorn (``workers`` gthread workers) behind nginx, on two free loopback ports.

    Args:
        upstream: gunicorn's ``host:port``.
        listen: nginx's ``host:port``.
        workers: gunicorn worker processes.
        env: extra environment for gunicorn (e.g. ``DASH_URL_BASE_PATHNAME``).
        url_prefix: where nginx serves the app (must match ``DASH_URL_BASE_PATHNAME``).
        with_nginx: False for gunicorn alone.
        nginx_args: more deploy/render_nginx.py options (``--auth-file``, ``--trusted-proxy``).
    """

    def __init__(
        self,
        upstream: str,
        listen: str,
        workers: int = 2,
        env: dict[str, str] | None = None,
        url_prefix: str = "/",
        with_nginx: bool = True,
        nginx_args: list[str] | None = None,
    ) -> None:
        self.upstream, self.listen, self.workers = upstream, listen, workers
        self.env, self.url_prefix, self.with_nginx = dict(env or {}), url_prefix, with_nginx
        self.nginx_args = list(nginx_args or [])
        self.prefix = Path(tempfile.mkdtemp(prefix="llm-dashboard-deploy-"))
        self.gunicorn_log = self.prefix / "gunicorn.log"
        self.nginx_error_log = self.prefix / "logs" / "error.log"
        self.gunicorn: subprocess.Popen[bytes] | None = None
        self.nginx: subprocess.Popen[bytes] | None = None
        self.session = requests.Session()
        self.session.trust_env = False  # never send loopback traffic through a configured proxy

    # ------------------------------------------------------------------ addresses
    @property
    def base(self) -> str:
        """The URL a browser uses: nginx's, with the app's prefix, without the final slash."""
        host = self.listen if self.with_nginx else self.upstream
        return f"http://{host}{self.url_prefix.rstrip('/')}"

    @property
    def upstream_base(self) -> str:
        """gunicorn's URL, skipping nginx (as nginx itself talks to it)."""
        return f"http://{self.upstream}{self.env.get('DASH_URL_BASE_PATHNAME', '/').rstrip('/')}"

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> Stack:
        """Start gunicorn, then nginx; return once ``/healthz`` answers through the front."""
        if self.with_nginx:
            subprocess.run(
                [
                    sys.executable,
                    "deploy/render_nginx.py",
                    str(self.prefix),
                    "--listen",
                    self.listen,
                    "--upstream",
                    self.upstream,
                    "--url-prefix",
                    self.url_prefix,
                    *self.nginx_args,
                ],
                cwd=ROOT,
                check=True,
                capture_output=True,
            )
        self.start_gunicorn()
        if self.with_nginx:
            self.nginx = subprocess.Popen(
                [
                    nginx_binary(),
                    "-p",
                    str(self.prefix),
                    "-c",
                    str(self.prefix / "nginx.conf"),
                    "-e",
                    str(self.nginx_error_log),
                    "-g",
                    "daemon off;",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            self.wait_healthy(self.base + "/healthz")
        return self

    def start_gunicorn(self) -> None:
        """Start (or restart after ``stop_gunicorn``) gunicorn and wait until it answers."""
        env = {**os.environ, **self.env}
        with self.gunicorn_log.open("ab") as log:
            self.gunicorn = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "-c",
                    "deploy/gunicorn.conf.py",
                    "--bind",
                    self.upstream,
                    "--workers",
                    str(self.workers),
                    "app:server",
                ],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.wait_healthy(self.upstream_base + "/healthz")
        self.wait_workers(self.workers)

    def stop_gunicorn(self) -> None:
        """Graceful stop (SIGTERM), as ``systemctl stop`` does."""
        _stop(self.gunicorn, signal.SIGTERM)

    def stop(self) -> None:
        """Stop nginx and gunicorn gracefully and remove the scratch prefix."""
        _stop(self.nginx, signal.SIGQUIT)
        self.stop_gunicorn()
        self.session.close()
        shutil.rmtree(self.prefix, ignore_errors=True)

    def __enter__(self) -> Stack:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # ------------------------------------------------------------------ inspection
    def worker_pids(self) -> list[int]:
        """The gunicorn master's current worker processes."""
        assert self.gunicorn is not None
        return [p.pid for p in psutil.Process(self.gunicorn.pid).children()]

    def wait_workers(self, count: int, exclude: tuple[int, ...] = (), timeout: float = 30) -> None:
        """Wait until ``count`` workers run, none of them in ``exclude`` (e.g. a killed one)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pids = [p for p in self.worker_pids() if p not in exclude]
            if len(pids) >= count:
                return
            time.sleep(0.05)
        raise TimeoutError(f"gunicorn never had {count} workers:\n{self.logs()}")

    def kill_worker(self) -> int:
        """SIGKILL one worker, as the OOM killer would; returns its pid."""
        pid = self.worker_pids()[0]
        os.kill(pid, signal.SIGKILL)
        return pid

    def logs(self) -> str:
        """The tail of gunicorn's and nginx's logs (for assertion messages)."""
        parts = []
        for path in (self.gunicorn_log, self.nginx_error_log):
            if path.exists():
                parts.append(f"--- {path.name}\n" + path.read_text(errors="replace")[-4000:])
        return "\n".join(parts)

    def wait_healthy(self, url: str, timeout: float = 30) -> None:
        """Poll ``url`` until it answers 200; fail early if a process died."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for proc in (self.gunicorn, self.nginx):
                if proc is not None and proc.poll() is not None:
                    name, code = proc.args[0], proc.returncode
                    raise RuntimeError(f"{name} exited with {code}:\n{self.logs()}")
            try:
                if self.session.get(url, timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"{url} never answered 200:\n{self.logs()}")
