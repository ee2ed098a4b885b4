"""The run store: one schema on two engines, SQLite (the embedded default) and PostgreSQL.

``open(url)`` picks the engine from one URL (``DASHBOARD_DB`` when no URL is given):

- ``sqlite:///relative/path.sqlite3`` or ``sqlite:////absolute/path.sqlite3`` (a fourth slash
  for an absolute path, as SQLAlchemy writes it); ``?timeout=S`` sets how long a write waits
  for another writer's lock (default 10 s). The default is ``data/runs.sqlite3`` under the
  project, its folder created on first use. WAL mode: readers never wait for the writer.
- ``postgresql://user:password@host:port/dbname`` (``postgres://`` too; libpq's own
  parameters pass through, ``?timeout=S`` as above) for a dashboard on several hosts:
  SQLite's WAL needs one host's shared memory and does not work over a network file system.

Decisions (docs/tracking.md, "Store"):

- Upsert on (run, metric, step): the same value again (NaN equals NaN) changes nothing; a
  different value replaces it and the replaced point is kept in a superseded segment.
  Within one series the last point logged at a step wins.
- Points live in chunks of 4,096 steps (``chunk = step // 4096``), one row per (run,
  metric, chunk): steps as uint16 offsets, values and times as float64, little-endian, and
  beside them the chunk's count, first/last step and value, finite min/max (with their
  steps), NaN and inf counts, and a summary per 64-step block (first finite min and max).
  Not compressed: zlib kept 83% of the size of a loss curve's blobs and added tens of ms to
  a 1M-point read (benchmarks/bench_store.py prints both).
- ``series`` returns every point when they fit, else each bucket's finite min and max in
  step order, plus the first NaN / +inf / -inf of a bucket that has them (a divergence is
  never hidden); see ``tracking.store.downsample``. Buckets of 64 steps or wider are whole
  blocks, so a zoomed-out read uses the block summaries (about 1.3 KB a chunk instead of
  40 KB of points) and reads points only for the chunks the range cuts and the chunks
  holding non-finite values: 1M points to 4,000 in a few ms on either engine.
- ``since(run, metric, step)`` is ``series`` from ``step + 1``: the live tail, bounded
  like any read.
- Failures that are not the caller's (locked past the timeout, disk full, database gone)
  raise ``StoreUnavailable`` with a message saying which; the API answers 503 and the
  watcher retries. Bad names and arguments raise ``BadInput`` subclasses naming the rule.
- No module-level mutable state; a ``Store`` may be shared by every thread of a worker.

The tables are described in ``tracking.store.schema``.
"""

from __future__ import annotations

import os
import urllib.parse
from pathlib import Path

from tracking.store.controls import Control, ControlRefused, UnknownRun
from tracking.store.errors import (
    BadInput,
    BadName,
    BadRunId,
    BadStoreUrl,
    StoreBusy,
    StoreError,
    StoreUnavailable,
    TokenExists,
)
from tracking.store.rows import (
    Added,
    Curve,
    Event,
    FileState,
    MetricInfo,
    RunInfo,
    TokenInfo,
)
from tracking.store.store import Store, Transaction

__all__ = [
    "Added",
    "BadInput",
    "BadName",
    "BadRunId",
    "BadStoreUrl",
    "Control",
    "ControlRefused",
    "Curve",
    "Event",
    "FileState",
    "MetricInfo",
    "RunInfo",
    "Store",
    "StoreBusy",
    "StoreError",
    "StoreUnavailable",
    "TokenExists",
    "TokenInfo",
    "Transaction",
    "UnknownRun",
    "default_url",
    "open",
]

ENV = "DASHBOARD_DB"
DEFAULT_TIMEOUT = 10.0
PROJECT = Path(__file__).resolve().parents[2]


def default_url() -> str:
    """``DASHBOARD_DB`` if set, else the SQLite file ``data/runs.sqlite3`` under the project."""
    return os.environ.get(ENV) or f"sqlite:///{PROJECT / 'data' / 'runs.sqlite3'}"


def _timeout(query: dict[str, list[str]], url: str) -> float:
    values = query.pop("timeout", None)
    if not values:
        return DEFAULT_TIMEOUT
    try:
        timeout = float(values[-1])
    except ValueError:
        timeout = -1.0
    if not 0 <= timeout <= 600:
        raise BadStoreUrl(f"timeout in {url!r} must be seconds from 0 to 600")
    return timeout


def open(url: str | None = None) -> Store:
    """The store at ``url`` (default ``default_url()``), its schema created if missing."""
    url = url or default_url()
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
    if parts.scheme == "sqlite":
        timeout = _timeout(query, url)
        if query:
            raise BadStoreUrl(f"{url!r}: a sqlite URL takes only ?timeout=SECONDS")
        if parts.netloc or not parts.path.startswith("/") or parts.path == "/":
            raise BadStoreUrl(
                f"{url!r} is not a SQLite URL: write sqlite:///relative/file.sqlite3 or "
                "sqlite:////absolute/file.sqlite3"
            )
        from tracking.store.sqlite import SqliteEngine

        return Store(SqliteEngine(Path(urllib.parse.unquote(parts.path[1:])), timeout))
    if parts.scheme in ("postgresql", "postgres"):
        timeout = _timeout(query, url)
        conninfo = urllib.parse.urlunsplit(
            parts._replace(query=urllib.parse.urlencode(query, doseq=True))
        )
        from tracking.store.postgres import PostgresEngine

        return Store(PostgresEngine(conninfo, timeout))
    raise BadStoreUrl(
        f"{url!r} names no store engine: use sqlite:///path/to/file.sqlite3 or "
        "postgresql://user@host:port/dbname"
    )
