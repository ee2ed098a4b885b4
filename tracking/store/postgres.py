"""The PostgreSQL engine (psycopg 3): for a dashboard served from several hosts.

One connection per thread per ``Store``, opened on first use and kept: a new connection
costs milliseconds (more than ``since`` may take), and a thread never shares one. A
connection is never used in a process other than the one that opened it (a gunicorn worker
forked after the store was opened makes its own), and one that failed is dropped and made
again on the next call.

Writers of one run queue on the run's row lock (``SELECT ... FOR UPDATE``, taken first in
every write), so two writers never interleave a read-merge-write of the same chunks.
``lock_timeout`` bounds that wait; a lock timeout or a deadlock is ``StoreBusy`` and the
store retries it. Blobs are ``bytea`` with ``STORAGE EXTERNAL``: not compressed (float data
barely compresses), so reads copy them without inflating. Rows come back in binary format:
no hex text to decode.
"""

from __future__ import annotations

import contextlib
import os
import threading
import urllib.parse
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import psycopg
from psycopg import errors as pg_errors

from tracking.store import schema
from tracking.store.db import Row
from tracking.store.errors import StoreBusy, StoreUnavailable

_BUSY = (
    pg_errors.LockNotAvailable,
    pg_errors.DeadlockDetected,
    pg_errors.SerializationFailure,
)


class PostgresDb:
    for_update = " FOR UPDATE"

    def __init__(self, conn: psycopg.Connection[Row]) -> None:
        self._conn = conn

    def all(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        return self._conn.execute(sql.replace("?", "%s"), params, binary=True).fetchall()

    def one(self, sql: str, params: Sequence[object] = ()) -> Row | None:
        return self._conn.execute(sql.replace("?", "%s"), params, binary=True).fetchone()

    def run(self, sql: str, params: Sequence[object] = ()) -> int:
        return self._conn.execute(sql.replace("?", "%s"), params).rowcount

    def many(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        with self._conn.cursor() as cursor:
            cursor.executemany(sql.replace("?", "%s"), rows)


def _display(url: str) -> str:
    """``url`` without its password."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


class PostgresEngine:
    def __init__(self, url: str, timeout: float) -> None:
        self._url = url
        self.timeout = timeout
        self.display = _display(url)
        self._local = threading.local()
        self._create()

    def _create(self) -> None:
        with self.write(self.timeout) as db:
            # several workers starting at once: one creates the tables, the others wait
            db.one("SELECT pg_advisory_xact_lock(7140914)")
            for statement in schema.statements(
                blob="BYTEA", id_column="BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"
            ):
                db.run(statement)
            new = db.run(
                "INSERT INTO meta (key, value) VALUES ('schema_version', ?) "
                "ON CONFLICT (key) DO NOTHING",
                (str(schema.VERSION),),
            )
            if new:  # tables just made: no compression for the blobs (see above)
                for table, column in (
                    ("chunks", "blocks"),
                    ("chunks", "steps"),
                    ("chunks", "vals"),
                    ("chunks", "times"),
                    ("superseded", "steps"),
                    ("superseded", "vals"),
                    ("superseded", "times"),
                ):
                    db.run(f"ALTER TABLE {table} ALTER COLUMN {column} SET STORAGE EXTERNAL")
            row = db.one("SELECT value FROM meta WHERE key = 'schema_version'")
        version = None if row is None else row[0]
        if version != str(schema.VERSION):
            raise StoreUnavailable(
                f"{self.display} has store schema version {version}; this code reads "
                f"version {schema.VERSION}"
            )

    def _connection(self) -> psycopg.Connection[Row]:
        conn: psycopg.Connection[Row] | None = getattr(self._local, "conn", None)
        if conn is not None and (conn.closed or self._local.pid != os.getpid()):
            conn = None  # another process's socket is never touched, not even to close it
        if conn is None:
            try:
                conn = psycopg.connect(
                    self._url,
                    autocommit=True,
                    connect_timeout=max(1, round(self.timeout)),
                    application_name="llm-dashboard-store",
                )
                # 0 would mean "wait forever": the shortest wait is 1 ms
                conn.execute(f"SET lock_timeout = {max(1, int(self.timeout * 1000))}")
            except psycopg.Error as exc:
                raise self._unavailable(exc) from exc
            self._local.conn = conn
            self._local.pid = os.getpid()
        return conn

    def _drop(self) -> None:
        conn: psycopg.Connection[Row] | None = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None and self._local.pid == os.getpid():
            with contextlib.suppress(psycopg.Error):
                conn.close()

    @contextmanager
    def _transaction(self) -> Iterator[PostgresDb]:
        conn = self._connection()
        try:
            with conn.transaction():
                yield PostgresDb(conn)
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            if not isinstance(exc, _BUSY):
                self._drop()
            raise self._unavailable(exc) from exc
        except psycopg.DatabaseError as exc:
            if conn.closed or conn.broken:
                self._drop()
                raise self._unavailable(exc) from exc
            raise

    def read(self) -> contextlib.AbstractContextManager[PostgresDb]:
        return self._transaction()

    def write(self, wait: float) -> contextlib.AbstractContextManager[PostgresDb]:
        return self._transaction()

    def close(self) -> None:
        """Close this thread's connection (other threads' close with their Store)."""
        self._drop()

    def _unavailable(self, exc: BaseException) -> StoreUnavailable:
        where = self.display
        if isinstance(exc, _BUSY):
            return StoreBusy(
                f"the run store {where} is locked by another writer and stayed locked for "
                f"{self.timeout:g} s; try again"
            )
        if isinstance(exc, pg_errors.DiskFull):
            return StoreUnavailable(f"the disk holding the run store {where} is full")
        if isinstance(exc, pg_errors.InsufficientResources):
            return StoreUnavailable(f"the run store {where} is out of resources: {exc}")
        return StoreUnavailable(f"the run store {where} cannot be reached: {exc}")
