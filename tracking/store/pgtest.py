"""A throwaway PostgreSQL cluster for the tests and the benchmark: never for production.

``Cluster.start()`` runs Debian's ``initdb`` into a new temporary folder and starts
``postgres`` on a free loopback port with its socket in that folder; leaving the ``with``
block stops the server (fast shutdown) and deletes the folder. PostgreSQL refuses to run as
root, so when this process is root both run as the ``postgres`` user (which Debian's package
creates) in a folder it owns.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

#: what the tests ask of a server that is thrown away: no fsync (much faster, and nothing
#: here must survive a power cut); the benchmark keeps PostgreSQL's defaults
FAST = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")


def find_binaries() -> Path | None:
    """The newest installed ``/usr/lib/postgresql/<version>/bin`` with initdb and postgres."""
    found = [
        Path(p).parent
        for p in glob.glob("/usr/lib/postgresql/*/bin/postgres")
        if Path(p).with_name("initdb").exists()
    ]
    found.sort(key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)
    return found[-1] if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cluster:
    """A running throwaway server; ``url`` connects as its superuser ``postgres``."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, folder: Path) -> None:
        self.process = process
        self.port = port
        self.folder = folder
        self.url = f"postgresql://postgres@127.0.0.1:{port}/postgres"

    @classmethod
    @contextmanager
    def start(cls, settings: tuple[str, ...] = FAST, wait: float = 30.0) -> Iterator[Cluster]:
        binaries = find_binaries()
        if binaries is None:
            raise FileNotFoundError(
                "PostgreSQL is not installed: apt-get install postgresql (make system-deps)"
            )
        folder = Path(tempfile.mkdtemp(prefix="store-pg-"))
        uid = gid = None
        if os.geteuid() == 0:
            account = pwd.getpwnam("postgres")
            uid, gid = account.pw_uid, account.pw_gid
            os.chown(folder, uid, gid)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "LANG": "C"}
        data = folder / "data"
        process = None
        try:
            subprocess.run(
                [
                    binaries / "initdb",
                    "-D",
                    data,
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C",
                    "--no-sync",
                ],
                check=True,
                capture_output=True,
                env=env,
                cwd=folder,
                user=uid,
                group=gid,
            )
            port = _free_port()
            options = [arg for setting in settings for arg in ("-c", setting)]
            process = subprocess.Popen(
                [
                    binaries / "postgres",
                    "-D",
                    data,
                    "-k",
                    folder,
                    "-p",
                    str(port),
                    "-h",
                    "127.0.0.1",
                    *options,
                ],
                stdout=subprocess.DEVNULL,
                stderr=(folder / "server.log").open("wb"),
                env=env,
                cwd=folder,
                user=uid,
                group=gid,
            )
            cluster = cls(process, port, folder)
            cluster._wait_ready(wait)
            yield cluster
        finally:
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGINT)  # fast shutdown
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            shutil.rmtree(folder, ignore_errors=True)

    def _wait_ready(self, wait: float) -> None:
        deadline = time.monotonic() + wait
        while True:
            if self.process.poll() is not None:
                log = (self.folder / "server.log").read_text(errors="replace")
                raise RuntimeError(f"postgres exited with {self.process.returncode}: {log}")
            try:
                with psycopg.connect(self.url, connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def fresh_schema(self, name: str) -> str:
        """A URL whose tables go into a new empty schema ``name`` (one per test)."""
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
            conn.execute(f'CREATE SCHEMA "{name}"')
        return f"{self.url}?options=-csearch_path%3D{name}"
