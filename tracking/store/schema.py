"""The one schema, written once for both engines (only the blob and id types differ).

Tables (all times Unix seconds, float):

- ``meta(key, value)``: ``schema_version``.
- ``runs``: one row a run: ``run_id`` (primary key), ``name``, ``source`` (where it was read
  from, or ``push``), ``kind`` (reader kind), ``tags`` / ``params`` / ``problems`` as JSON
  text, ``notes``, ``status``, ``created``, ``updated``.
- ``controls``: a run's control changes (pause, resume, stop), one row each, oldest first by
  ``id``: the new ``state``, the ``previous`` one, ``who``, ``note``, the run's last ``step``
  then, ``created``; the newest row is the current state (``tracking.store.controls``).
- ``metrics``: one row per (run, metric): point count and first/last step, kept up to date
  by every add so the run list needs no blob.
- ``chunks``: one row per (run, metric, chunk = step // 4096): the summary (points,
  first/last step and value, finite min/max and their steps, NaN and inf counts), the
  ``blocks`` summary (per 64-step block: its first finite min and max, their offsets and
  their wall times, 37 bytes a block after a leading ``0xff``, at most 2.4 KB a chunk,
  ``tracking.store.chunks.BLOCK_DTYPE``; older rows hold 21-byte blocks without times,
  still read) and three
  blobs, ``steps`` (uint16 offsets), ``vals`` and ``times`` (float64), little-endian. The
  small columns come first and ``times`` last, so a zoomed-out read touches only the
  summaries and a read of steps and values never walks past them to the times.
- ``superseded``: points a restart replaced, one row per segment (unique steps, int64 steps).
- ``files``: the watcher's progress per file (inode, size, position, run).
- ``tokens``: write tokens by name: SHA-256 of the secret, created, revoked.
- ``events``: a run's events and alerts, numbered per run (``seq`` from 1): when recorded,
  the step, ``kind``, ``severity``, ``text``; an alert also has its ``alert_key`` (kind and
  metric), ``metric``, ``value`` and ``state`` ``open`` or ``closed`` (with ``closed_step``
  and ``closed_time``); a plain event has ``state = 'event'``.
- ``alert_state``: per run, the detectors' memory between passes (``tracking.alerts``
  state as JSON, with each metric's last evaluated step), the count of open alerts (so the
  run list reads it in its one query) and the run's logging interval in wall seconds.

Added after version 1 without a version change: ``CREATE TABLE IF NOT EXISTS`` adds them to a
database made before them the first time it is opened, and nothing else changed.
"""

from __future__ import annotations

VERSION = 1

_TABLES = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    source TEXT NOT NULL,
    kind TEXT NOT NULL,
    tags TEXT NOT NULL,
    params TEXT NOT NULL,
    notes TEXT NOT NULL,
    status TEXT NOT NULL,
    problems TEXT NOT NULL,
    created DOUBLE PRECISION NOT NULL,
    updated DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS controls (
    id {id},
    run_id TEXT NOT NULL,
    state TEXT NOT NULL,
    previous TEXT NOT NULL,
    who TEXT NOT NULL,
    note TEXT NOT NULL,
    step BIGINT,
    created DOUBLE PRECISION NOT NULL
);
CREATE INDEX IF NOT EXISTS controls_run ON controls (run_id, id);
CREATE TABLE IF NOT EXISTS metrics (
    run_id TEXT NOT NULL,
    metric TEXT NOT NULL,
    points BIGINT NOT NULL,
    first_step BIGINT,
    last_step BIGINT,
    updated DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (run_id, metric)
);
CREATE TABLE IF NOT EXISTS chunks (
    run_id TEXT NOT NULL,
    metric TEXT NOT NULL,
    chunk BIGINT NOT NULL,
    points INTEGER NOT NULL,
    first_step BIGINT NOT NULL,
    last_step BIGINT NOT NULL,
    first_value DOUBLE PRECISION,
    last_value DOUBLE PRECISION,
    vmin DOUBLE PRECISION,
    vmax DOUBLE PRECISION,
    min_step BIGINT,
    max_step BIGINT,
    nan_count INTEGER NOT NULL,
    inf_count INTEGER NOT NULL,
    blocks {blob} NOT NULL,
    steps {blob} NOT NULL,
    vals {blob} NOT NULL,
    times {blob} NOT NULL,
    PRIMARY KEY (run_id, metric, chunk)
);
CREATE TABLE IF NOT EXISTS superseded (
    id {id},
    run_id TEXT NOT NULL,
    metric TEXT NOT NULL,
    points INTEGER NOT NULL,
    first_step BIGINT NOT NULL,
    last_step BIGINT NOT NULL,
    created DOUBLE PRECISION NOT NULL,
    steps {blob} NOT NULL,
    vals {blob} NOT NULL,
    times {blob} NOT NULL
);
CREATE INDEX IF NOT EXISTS superseded_series ON superseded (run_id, metric, id);
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY,
    inode BIGINT NOT NULL,
    size BIGINT NOT NULL,
    position BIGINT NOT NULL,
    run_id TEXT NOT NULL,
    updated DOUBLE PRECISION NOT NULL
);
CREATE INDEX IF NOT EXISTS files_run ON files (run_id);
CREATE TABLE IF NOT EXISTS tokens (
    name TEXT PRIMARY KEY,
    sha256 TEXT NOT NULL,
    created DOUBLE PRECISION NOT NULL,
    revoked DOUBLE PRECISION
);
CREATE TABLE IF NOT EXISTS events (
    run_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    time DOUBLE PRECISION NOT NULL,
    step BIGINT,
    kind TEXT NOT NULL,
    severity TEXT NOT NULL,
    text TEXT NOT NULL,
    alert_key TEXT,
    metric TEXT,
    value DOUBLE PRECISION,
    state TEXT NOT NULL,
    closed_step BIGINT,
    closed_time DOUBLE PRECISION,
    PRIMARY KEY (run_id, seq)
);
CREATE INDEX IF NOT EXISTS events_state ON events (run_id, state);
CREATE TABLE IF NOT EXISTS alert_state (
    run_id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    open_alerts INTEGER NOT NULL,
    log_interval DOUBLE PRECISION,
    updated DOUBLE PRECISION NOT NULL
);
"""


def statements(*, blob: str, id_column: str) -> list[str]:
    """The DDL as single statements for an engine's blob type and id column."""
    text = _TABLES.format(blob=blob, id=id_column)
    return [s.strip() for s in text.split(";") if s.strip()]
