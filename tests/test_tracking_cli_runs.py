"""``python -m tracking ingest | list | watch`` as a user runs them: real processes on real
folders and a real SQLite store."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

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


def llmc(steps: range) -> str:
    return "".join(f"s:{s} trl:{4 - s / 100:.3f} lr:0.0006 norm:1.0\n" for s in steps)


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/runs.sqlite3"


def test_ingest_prints_each_run_and_list_json_shows_them(tmp_path: Path, db: str) -> None:
    runs = tmp_path / "runs"
    (runs / "gpt2").mkdir(parents=True)
    (runs / "gpt2" / "main.log").write_text(llmc(range(1, 101)))
    (runs / "broken").mkdir()
    (runs / "broken" / "main.log").write_text(
        llmc(range(1, 3)) + "s:3 trl:" + "1" * (2 << 20) + "\n"
    )

    first = tracking("ingest", str(runs), db=db)
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    assert any(
        line.startswith("new run gpt2 (textlog") and "300 new, 0 same, 0 replaced" in line
        for line in lines
    ), first.stdout
    assert any(line.startswith("new run broken") and "1 problem(s)" in line for line in lines)
    assert any(line.startswith("    ! main.log: line at byte") for line in lines), first.stdout

    with open(runs / "gpt2" / "main.log", "a") as f:
        f.write(llmc(range(101, 111)))
    second = tracking("ingest", str(runs), db=db)
    assert "run gpt2 (textlog" in second.stdout and "30 new, 0 same" in second.stdout

    listed = tracking("list", "--json", db=db)
    assert listed.returncode == 0, listed.stderr
    rows = {r["run_id"]: r for r in json.loads(listed.stdout)}
    assert rows["gpt2"]["metrics"] == ["lr", "norm", "trl"]
    assert (rows["gpt2"]["last_step"], rows["gpt2"]["status"], rows["gpt2"]["problems"]) == (
        110,
        "live",
        [],
    )
    assert (rows["gpt2"]["reported_status"], rows["gpt2"]["open_alerts"]) == ("ok", 0)
    assert rows["gpt2"]["source"] == str((runs / "gpt2").resolve())
    assert rows["broken"]["reported_status"] == "problems" and rows["broken"]["status"] == "live"
    assert "line limit" in rows["broken"]["problems"][0]

    table = tracking("list", db=db)
    assert table.stdout.splitlines()[0].split() == [
        "ID",
        "NAME",
        "KIND",
        "METRICS",
        "LAST",
        "STEP",
        "STATUS",
        "ALERTS",
        "PROBLEMS",
    ]
    assert "broken:" in table.stdout and "line limit" in table.stdout


def test_bad_folders_are_refused_with_the_reason(tmp_path: Path, db: str) -> None:
    (tmp_path / "train.log").write_text(llmc(range(1, 3)))
    for command in ("ingest", "watch"):
        done = tracking(command, str(tmp_path / "nope"), str(tmp_path / "train.log"), db=db)
        assert done.returncode == 1
        assert f"{tmp_path / 'nope'}: no such folder" in done.stderr
        assert f"{tmp_path / 'train.log'}: not a folder" in done.stderr
    assert tracking("list", "--json", db=db).stdout.strip() == "[]"  # nothing was written


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every folder: no unreadable one here")
def test_an_unreadable_folder_is_refused(tmp_path: Path, db: str) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0)
    try:
        done = tracking("ingest", str(locked), db=db)
    finally:
        locked.chmod(0o755)
    assert done.returncode == 1 and "cannot be listed" in done.stderr


def test_watch_runs_until_sigterm_and_stores_new_runs(tmp_path: Path, db: str) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tracking", "watch", str(runs), "--interval", "0.1", "--db", db],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(0.5)
        (runs / "late").mkdir()
        (runs / "late" / "main.log").write_text(llmc(range(1, 21)))
        deadline = time.monotonic() + 30
        rows: list[dict[str, object]] = []
        while time.monotonic() < deadline and not rows:
            rows = json.loads(tracking("list", "--json", db=db).stdout or "[]")
            time.sleep(0.2)
        assert rows and rows[0]["run_id"] == "late" and rows[0]["last_step"] == 20
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "new run late" in err and err.rstrip().endswith("stopped")
