"""``python -m tracking token ...`` as an operator runs it: a real process on a real store,
and the token it prints works against the app's push API."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import dash
import pytest

ROOT = Path(__file__).resolve().parents[1]


def tracking(*args: str, db: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tracking", *args, "--db", db],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path}/runs.sqlite3"
    monkeypatch.setenv("DASHBOARD_DB", url)
    return url


def test_a_token_is_created_listed_used_and_revoked(
    db: str, make_app: Callable[[], dash.Dash]
) -> None:
    made = tracking("token", "create", "trainer", db=db)
    assert made.returncode == 0, made.stderr
    secret = made.stdout.strip()
    assert made.stdout == secret + "\n" and len(secret) >= 40  # the secret alone on stdout
    assert "shown this once" in made.stderr

    listed = tracking("token", "list", "--json", db=db)
    (row,) = json.loads(listed.stdout)
    assert row["name"] == "trainer" and row["revoked"] is None
    assert secret not in listed.stdout and secret not in tracking("token", "list", db=db).stdout

    client = make_app().server.test_client()
    body = {"points": [{"step": 0, "time": 1.0, "metrics": {"loss": 2.0}}]}
    headers = {"Authorization": f"Bearer {secret}"}
    assert client.post("/api/v1/runs/r/points", json=body, headers=headers).status_code == 200

    revoked = tracking("token", "revoke", "trainer", db=db)
    assert revoked.returncode == 0 and "revoked" in revoked.stdout
    assert client.post("/api/v1/runs/r/points", json=body, headers=headers).status_code == 403
    (row,) = json.loads(tracking("token", "list", "--json", db=db).stdout)
    assert row["revoked"] is not None


def test_refusals_exit_1_with_the_reason(db: str) -> None:
    assert tracking("token", "create", "trainer", db=db).returncode == 0
    again = tracking("token", "create", "trainer", db=db)
    assert again.returncode == 1 and "exists; revoke it first" in again.stderr
    bad = tracking("token", "create", "a name", db=db)
    assert bad.returncode == 1 and "letters, digits" in bad.stderr
    missing = tracking("token", "revoke", "nobody", db=db)
    assert missing.returncode == 1 and "no live token named 'nobody'" in missing.stderr
    url = tracking("token", "list", db="sqlite:///")
    assert url.returncode == 1 and "is not a SQLite URL" in url.stderr
    usage = subprocess.run(
        [sys.executable, "-m", "tracking"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert usage.returncode == 2 and "COMMAND" in usage.stderr
