"""The ``store_url`` fixture: each store test runs on SQLite and on a real PostgreSQL.

The PostgreSQL cluster is started once per session by ``tracking.store.pgtest`` (Debian's
``postgresql`` package, installed by ``make system-deps``) and each test gets a schema of its
own in it, so tests never see each other's rows.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from tracking.store import pgtest


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[pgtest.Cluster]:
    """One throwaway PostgreSQL server for the session; skipped only if none is installed."""
    if pgtest.find_binaries() is None:
        pytest.skip("PostgreSQL is not installed: make system-deps installs Debian's postgresql")
    with pgtest.Cluster.start() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def pg_schema_numbers() -> Iterator[int]:
    return itertools.count()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL to an empty store: a new SQLite file, or a new schema on the session's server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/runs.sqlite3"
    cluster: pgtest.Cluster = request.getfixturevalue("pg_cluster")
    numbers: Iterator[int] = request.getfixturevalue("pg_schema_numbers")
    return cluster.fresh_schema(f"test_{next(numbers)}")
