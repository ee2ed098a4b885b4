"""The watcher's systemd unit (deploy/llm-dashboard-watch.service), checked the way the
gunicorn unit is: systemd's own verifier on a copy pointed at this checkout."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "deploy" / "llm-dashboard-watch.service"
INSTALLED = "/opt/llm-training-dashboard"


def test_the_unit_runs_the_watcher_on_the_checkouts_runs_folder() -> None:
    unit = UNIT.read_text()
    assert f"ExecStart={INSTALLED}/.venv/bin/python -m tracking watch {INSTALLED}/runs" in unit
    assert f"WorkingDirectory={INSTALLED}" in unit
    # the store's folder is the only one it may write (the default DASHBOARD_DB is there)
    assert f"ReadWritePaths={INSTALLED}/data" in unit and "ProtectSystem=strict" in unit


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_the_watch_unit_verifies(tmp_path: Path) -> None:
    """No error and no warning. The venv is this interpreter's (a worktree has none of its
    own); the data folder must exist, as the install steps say."""
    (tmp_path / "data").mkdir()
    unit = UNIT.read_text().replace(f"{INSTALLED}/.venv", sys.prefix)
    unit = unit.replace(f"{INSTALLED}/data", str(tmp_path / "data"))
    copy = tmp_path / "llm-dashboard-watch.service"
    copy.write_text(unit.replace(INSTALLED, str(ROOT)))
    result = subprocess.run(
        ["systemd-analyze", "verify", str(copy)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and result.stderr.strip() == "", result.stderr
