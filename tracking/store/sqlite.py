"""The SQLite engine: one file in WAL mode, a connection per call.

WAL lets readers go on while one writer writes. Writes start with ``BEGIN IMMEDIATE`` so a
transaction takes the write lock before it reads what it will change (a deferred one that
upgrades later can fail at once with "database is locked" instead of waiting), and SQLite's
busy timeout makes it wait for the lock up to the store's timeout. ``synchronous=NORMAL`` is
safe in WAL mode: a power cut can lose the last commits, never corrupt the file.

A connection per call, not one kept open: it costs well under a millisecond, nothing is
shared between gunicorn's threads, and a database file deleted or moved away is noticed
(``mode=rw`` refuses to create a new empty one) instead of writes going to a file nobody
can open again.
"""

from __future__ import annotations

import contextlib
import sqlite3
import urllib.parse
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from tracking.store import schema
from tracking.store.db import Row
from tracking.store.errors import StoreBusy, StoreUnavailable

#: larger pages than SQLite's 4 KB default: a chunk's values (32 KB) span 2 overflow pages
#: instead of 8, which makes a 1M-point read measurably faster (benchmarks/bench_store.py)
PAGE_SIZE = 16384

_BUSY = ("SQLITE_BUSY", "SQLITE_LOCKED")


class SqliteDb:
    for_update = ""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def all(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        return self._conn.execute(sql, params).fetchall()

    def one(self, sql: str, params: Sequence[object] = ()) -> Row | None:
        row: Row | None = self._conn.execute(sql, params).fetchone()
        return row

    def run(self, sql: str, params: Sequence[object] = ()) -> int:
        return self._conn.execute(sql, params).rowcount

    def many(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        self._conn.executemany(sql, rows)


class SqliteEngine:
    """``path`` is created (with its folder and the schema) if missing."""

    def __init__(self, path: Path, timeout: float) -> None:
        self.path = path
        self.timeout = timeout
        self.display = f"sqlite:///{path}"
        self._uri = f"file:{urllib.parse.quote(str(path))}?mode=rw"
        self._create()

    def _create(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                self.path, timeout=self.timeout, isolation_level=None, check_same_thread=True
            )
        except (OSError, sqlite3.Error) as exc:
            raise self._unavailable(exc) from exc
        try:
            conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")  # only takes effect on a new file
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("BEGIN IMMEDIATE")
            for statement in schema.statements(
                blob="BLOB", id_column="INTEGER PRIMARY KEY AUTOINCREMENT"
            ):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', ?) "
                "ON CONFLICT (key) DO NOTHING",
                (str(schema.VERSION),),
            )
            (version,) = conn.execute(
                "SELECT value FROM meta WHERE key = 'schema_version'"
            ).fetchone()
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise self._unavailable(exc) from exc
        finally:
            conn.close()
        if version != str(schema.VERSION):
            raise StoreUnavailable(
                f"{self.display} has store schema version {version}; this code reads "
                f"version {schema.VERSION}"
            )

    def _connect(self, wait: float) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self._uri,
            uri=True,
            timeout=max(wait, 0.0),
            isolation_level=None,
            check_same_thread=True,
        )
        conn.execute("PRAGMA synchronous = NORMAL")
        return conn

    @contextmanager
    def read(self) -> Iterator[SqliteDb]:
        """A read transaction: every statement in it sees the same snapshot."""
        with self._transaction("BEGIN", self.timeout) as db:
            yield db

    @contextmanager
    def write(self, wait: float) -> Iterator[SqliteDb]:
        """A write transaction holding the write lock; waits up to ``wait`` s for it.
        Committed when the block ends, rolled back (nothing written) if it raises."""
        with self._transaction("BEGIN IMMEDIATE", wait) as db:
            yield db

    @contextmanager
    def _transaction(self, begin: str, wait: float) -> Iterator[SqliteDb]:
        """One connection, one transaction; the database's failures as ``StoreUnavailable``."""
        try:
            conn = self._connect(wait)
        except sqlite3.Error as exc:
            raise self._unavailable(exc) from exc
        try:
            conn.execute(begin)
            yield SqliteDb(conn)
            conn.execute("COMMIT")
        except (sqlite3.IntegrityError, sqlite3.ProgrammingError, sqlite3.InterfaceError):
            raise  # a bug in the store, not the database's state: let it show
        except (sqlite3.OperationalError, sqlite3.DatabaseError) as exc:
            raise self._unavailable(exc) from exc
        finally:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):  # closing rolls back the rest
                    conn.rollback()
            conn.close()

    def close(self) -> None:
        """Nothing is kept open between calls."""

    def _unavailable(self, exc: BaseException) -> StoreUnavailable:
        name = getattr(exc, "sqlite_errorname", "") or ""
        where = str(self.path)
        if name.startswith(_BUSY):
            return StoreBusy(
                f"the run store {where} is locked by another writer and stayed locked for "
                f"{self.timeout:g} s; try again"
            )
        if name.startswith("SQLITE_FULL"):
            return StoreUnavailable(f"the disk holding the run store {where} is full")
        if name.startswith("SQLITE_CANTOPEN") or isinstance(exc, OSError):
            return StoreUnavailable(
                f"the run store {where} cannot be opened (deleted, moved, or its folder is "
                f"not writable): {exc}"
            )
        if name.startswith("SQLITE_READONLY"):
            return StoreUnavailable(f"the run store {where} is read-only: {exc}")
        if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")):
            return StoreUnavailable(f"the run store {where} is damaged or not a database: {exc}")
        return StoreUnavailable(f"the run store {where} failed: {exc}")
