"""MLflow runs, from its file store (``mlruns/``) or its SQLite store (``mlflow.db``).

No ``mlflow`` package is needed: both layouts are plain.

**File store**: a run is ``mlruns/<experiment_id>/<run_id>/`` with ``meta.yaml``,
``metrics/<key>`` files of ``timestamp value step`` lines (milliseconds; Python's spelling of
the value, so ``nan`` and ``inf`` appear; old files have no step, read as 0), ``params/<key>``
files holding the value as text (MLflow writes empty files for empty values; they are
kept as ``""``) and ``tags/<key>`` files. Keys with ``/`` are subfolders (``metrics/train/loss``
is ``train/loss``). ``read`` takes the run folder.

**SQLite store**: tables ``runs``, ``metrics`` (``key, value, timestamp, step, is_nan,
run_uuid``), ``params`` and ``tags``. The database is opened read-only (``file:...?mode=ro``)
and never written. One file holds many runs, so ``read`` takes ``run_id=``; ``runs(path)``
lists them. MLflow stores a NaN as 0 with ``is_nan = 1`` and an infinity as +-1.797e308
(SQL has no infinities); both are turned back into what was logged.

Either way the store is rewritten in place from the reader's point of view (many files, or
one database), so every pass reads the run whole and ``position`` is 0. Points keep their
wall time (MLflow's millisecond timestamps, as Unix seconds). Params are kept under their own
keys; tags as ``tags.<key>``; the run's own fields as ``mlflow.run_id``, ``mlflow.run_name``,
``mlflow.status``, ``mlflow.experiment_id``, ``mlflow.experiment_name``... A run's
``artifacts/`` folder (checkpoints, copies of ``trainer_state.json``) is not read: it holds
outputs, not the run's log.
"""

from __future__ import annotations

import math
import os
import sqlite3
from collections.abc import Mapping
from pathlib import Path

from tracking.readers._common import (
    MAX_PARAM_TEXT,
    MAX_PARAMS,
    Lines,
    Problems,
    SeriesBuilder,
    inside,
    load_yaml_file,
    param_text,
)
from tracking.records import Read

RUN_FOLDERS = ("metrics", "params", "tags")
SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")
MAX_METRIC_FILES = 10_000
SQLITE_TIMEOUT_S = 2.0
_SQLITE_MAGIC = b"SQLite format 3\x00"
_MLFLOW_TABLES = frozenset({"runs", "metrics", "params"})
_DBL_MAX = 1.7976931348623157e308
_RUN_FIELDS = ("name", "status", "start_time", "end_time", "lifecycle_stage", "experiment_id")
_STATUS = {1: "RUNNING", 2: "SCHEDULED", 3: "FINISHED", 4: "FAILED", 5: "KILLED"}


def detect(path: Path) -> bool:
    """A file-store run folder (``meta.yaml`` and ``metrics/``, ``params/`` or ``tags/``), or
    an SQLite file with MLflow's ``runs``, ``metrics`` and ``params`` tables."""
    p = Path(path)
    if p.is_dir():
        return (p / "meta.yaml").is_file() and any((p / d).is_dir() for d in RUN_FOLDERS)
    return p.suffix.lower() in SQLITE_SUFFIXES and _is_mlflow_db(p)


def runs(path: Path, *, root: Path | None = None) -> list[str]:
    """The run ids in an MLflow SQLite file, oldest first (``[]`` when it cannot be read)."""
    path = inside(path, root)
    try:
        with _connect(path) as db:
            rows = db.execute("SELECT run_uuid FROM runs ORDER BY start_time, run_uuid").fetchall()
    except sqlite3.Error:
        return []
    return [str(r[0]) for r in rows]


def read(
    path: Path, position: int = 0, *, root: Path | None = None, run_id: str | None = None
) -> Read:
    """One run, whole: a file-store run folder, or run ``run_id`` of an SQLite file (which may
    be left out when the file holds a single run). ``position`` is ignored (always 0).

    Raises:
        OutsideRoot: ``path`` (or a file in the run folder) resolves outside ``root``.
    """
    path = inside(path, root)
    if path.is_dir():
        return _read_folder(path, root)
    return _read_sqlite(path, run_id)


# ------------------------------------------------------------------------------ file store
def _read_folder(run_dir: Path, root: Path | None) -> Read:
    problems = Problems()
    params: dict[str, str] = {}
    builder = SeriesBuilder()
    meta = load_yaml_file(run_dir / "meta.yaml", problems, "meta.yaml")
    if isinstance(meta, Mapping):
        _meta_params(meta, params)
    experiment = run_dir.parent / "meta.yaml"
    if experiment.is_file():
        exp = load_yaml_file(experiment, problems, "experiment meta.yaml")
        if isinstance(exp, Mapping) and "name" in exp:
            params["mlflow.experiment_name"] = param_text(exp["name"])
    for key, file in _key_files(run_dir / "params", root, problems):
        params[key] = _small_text(file, problems, f"params/{key}")
    for key, file in _key_files(run_dir / "tags", root, problems):
        params[f"tags.{key}"] = _small_text(file, problems, f"tags/{key}")
    for key, file in _key_files(run_dir / "metrics", root, problems):
        _metric_file(key, file, builder, problems)
    return Read(series=builder.build(), params=params, position=0, problems=problems.to_list())


def _key_files(folder: Path, root: Path | None, problems: Problems) -> list[tuple[str, Path]]:
    """(key, file) under ``folder``, keys with ``/`` for subfolders, sorted, bounded."""
    if not folder.is_dir():
        return []
    found: list[tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        for name in sorted(filenames):
            file = Path(dirpath) / name
            try:
                inside(file, root)
            except ValueError as exc:
                problems.add(str(exc))
                continue
            found.append((file.relative_to(folder).as_posix(), file))
            if len(found) >= MAX_METRIC_FILES:
                problems.add(
                    f"{folder.name}/: more than {MAX_METRIC_FILES:,} files; the rest not read"
                )
                return found
    return found


def _small_text(file: Path, problems: Problems, what: str) -> str:
    try:
        with open(file, "rb") as f:
            data = f.read(MAX_PARAM_TEXT * 4)
    except OSError as exc:
        problems.add(f"{what}: could not be read ({exc.strerror or exc})")
        return ""
    return param_text(data.decode("utf-8", errors="replace"))


def _metric_file(key: str, file: Path, builder: SeriesBuilder, problems: Problems) -> None:
    lines = Lines(file, 0, problems)
    try:
        for offset, raw in lines:
            parts = raw.split()
            if not parts:
                continue
            try:
                if len(parts) == 3:
                    step = int(parts[2])
                elif len(parts) == 2:
                    step = 0
                else:
                    raise ValueError
                time_ms = float(parts[0])
                value = float(parts[1])
            except ValueError:
                problems.once(
                    f"metric-line:{key}",
                    f"metrics/{key}: line at byte {offset:,} is not `timestamp value step`; "
                    "skipped",
                )
                continue
            builder.add(key, step, value, time_ms / 1000.0)
    except OSError as exc:
        problems.add(f"metrics/{key}: could not be read ({exc.strerror or exc})")


def _meta_params(meta: Mapping[object, object], params: dict[str, str]) -> None:
    for key in ("run_id", "run_uuid", "run_name", "experiment_id", "lifecycle_stage", "user_id"):
        if key in meta and meta[key] not in (None, ""):
            params[f"mlflow.{key}"] = param_text(meta[key])
    status = meta.get("status")
    if isinstance(status, int) and not isinstance(status, bool):
        params["mlflow.status"] = _STATUS.get(status, str(status))
    for key in ("start_time", "end_time"):
        value = meta.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            params[f"mlflow.{key}"] = param_text(value / 1000.0)


# ----------------------------------------------------------------------------------- SQLite
def _connect(path: Path) -> sqlite3.Connection:
    """Read-only: the URI form with ``mode=ro`` refuses every write, so the user's database
    is never changed, whatever a query does."""
    return sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=SQLITE_TIMEOUT_S)


def _is_mlflow_db(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            if f.read(16) != _SQLITE_MAGIC:
                return False
        with _connect(path) as db:
            names = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except (OSError, sqlite3.Error):
        return False
    return names >= _MLFLOW_TABLES


def _read_sqlite(path: Path, run_id: str | None) -> Read:
    problems = Problems()
    params: dict[str, str] = {}
    builder = SeriesBuilder()
    try:
        with _connect(path) as db:
            run = _pick_run(db, run_id, problems, path.name)
            if run is not None:
                _sqlite_run(db, run, params, builder, problems)
    except sqlite3.Error as exc:
        problems.add(f"{path.name}: SQLite error ({exc}); will retry")
    return Read(series=builder.build(), params=params, position=0, problems=problems.to_list())


def _pick_run(
    db: sqlite3.Connection, run_id: str | None, problems: Problems, name: str
) -> str | None:
    if run_id is not None:
        row = db.execute("SELECT run_uuid FROM runs WHERE run_uuid = ?", (run_id,)).fetchone()
        if row is None:
            problems.add(f"{name}: no run {run_id[:64]!r}")
            return None
        return str(row[0])
    ids = [r[0] for r in db.execute("SELECT run_uuid FROM runs LIMIT 2")]
    if len(ids) == 1:
        return str(ids[0])
    problems.add(
        f"{name}: holds {'no runs' if not ids else 'several runs'}; read one with run_id= "
        "(tracking.readers.mlflow.runs lists them)"
    )
    return None


def _sqlite_run(
    db: sqlite3.Connection,
    run: str,
    params: dict[str, str],
    builder: SeriesBuilder,
    problems: Problems,
) -> None:
    cols = {r[1] for r in db.execute("PRAGMA table_info(runs)")}
    fields = [c for c in _RUN_FIELDS if c in cols]
    row = db.execute(f"SELECT {', '.join(fields)} FROM runs WHERE run_uuid = ?", (run,)).fetchone()
    params["mlflow.run_id"] = run
    for field, value in zip(fields, row or (), strict=False):
        if value in (None, ""):
            continue
        if field in ("start_time", "end_time") and isinstance(value, (int, float)):
            value = value / 1000.0
        params[f"mlflow.{'run_name' if field == 'name' else field}"] = param_text(value)
    if "experiment_id" in fields and _has_table(db, "experiments"):
        exp = db.execute(
            "SELECT e.name FROM experiments e JOIN runs r ON r.experiment_id = e.experiment_id "
            "WHERE r.run_uuid = ?",
            (run,),
        ).fetchone()
        if exp and exp[0]:
            params["mlflow.experiment_name"] = param_text(exp[0])
    for table, prefix in (("params", ""), ("tags", "tags.")):
        if not _has_table(db, table):
            continue
        rows = db.execute(
            f"SELECT key, value FROM {table} WHERE run_uuid = ? ORDER BY key LIMIT ?",
            (run, MAX_PARAMS + 1),
        ).fetchall()
        if len(rows) > MAX_PARAMS:
            problems.add(f"{table}: more than {MAX_PARAMS:,}; the rest not kept")
        for key, value in rows[:MAX_PARAMS]:
            params[f"{prefix}{key}"] = param_text("" if value is None else value)
    has_nan = "is_nan" in {r[1] for r in db.execute("PRAGMA table_info(metrics)")}
    query = (
        f"SELECT key, step, value, timestamp, {'is_nan' if has_nan else '0'} FROM metrics "
        "WHERE run_uuid = ? ORDER BY key, timestamp, step"
    )
    for key, step, value, timestamp, is_nan in db.execute(query, (run,)):
        if step is None or value is None:
            problems.once("sqlite-null", f"metrics: a `{key}` row has no step or value; skipped")
            continue
        if is_nan:
            x = math.nan
        elif value >= _DBL_MAX:
            x = math.inf
        elif value <= -_DBL_MAX:
            x = -math.inf
        else:
            x = float(value)
        t = float(timestamp) / 1000.0 if timestamp is not None else math.nan
        builder.add(str(key), int(step), x, t)


def _has_table(db: sqlite3.Connection, name: str) -> bool:
    row = db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name = ?", (name,))
    return row.fetchone() is not None
