"""The run store: runs, their points in chunks, superseded segments, file progress, tokens.

Written once against ``tracking.store.db.Db``; ``tracking.store.sqlite`` and
``tracking.store.postgres`` supply the engines. A ``Store`` holds no per-request state: any
thread of any gunicorn worker may call any method (each call has its own transaction).

Writes: ``Store.put_run``, ``add``, ``add_read``, ``set_file_state``, ``delete_run`` each run
in their own transaction, retried while another writer holds the lock, up to the engine's
timeout, then ``StoreUnavailable``. Several writes that must land together go through
``with store.transaction() as tx:`` (the same methods on ``tx``; all or nothing; not
retried, since the block is the caller's code).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import secrets
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from tracking.records import Read, Series, Steps
from tracking.store import chunks, controls, downsample
from tracking.store.chunks import CHUNK, Points
from tracking.store.controls import Control, UnknownRun
from tracking.store.db import Db, Engine, Row
from tracking.store.errors import BadInput, StoreBusy, TokenExists
from tracking.store.names import check_metric, check_run_id, check_token_name
from tracking.store.rows import Added, Curve, Event, FileState, MetricInfo, RunInfo, TokenInfo

T = TypeVar("T")

#: most points one read may ask for (a chart draws a few thousand)
MAX_POINTS = 100_000
#: most superseded segments one call returns (the newest)
MAX_SEGMENTS = 100
#: chunks fetched per statement when merging (keeps SQLite's parameter count small)
_BATCH = 500
#: most events one ``events`` call returns
MAX_EVENTS = 1000
#: most points ``recent`` returns (the detectors' trailing window is far smaller)
MAX_RECENT = 4096
EVENT_STATES = ("open", "closed", "event")

_RUN_COLUMNS = (
    "r.run_id, r.name, r.source, r.kind, r.tags, r.notes, r.status, r.problems, r.created, "
    "r.updated, a.open_alerts, a.log_interval"
)
_EVENT_COLUMNS = (
    "run_id, seq, time, step, kind, severity, text, state, alert_key, metric, value, "
    "closed_step, closed_time"
)
#: params under this prefix are saved by users on the page (recipe corrections,
#: tracking/recipe/corrections.py); ``put_run`` keeps them, ``update_params`` changes them
DASHBOARD_PARAMS = "dashboard."

_CHUNK_COLUMNS = (
    "run_id, metric, chunk, points, first_step, last_step, first_value, last_value, "
    "vmin, vmax, min_step, max_step, nan_count, inf_count, blocks, steps, vals, times"
)
_UPSERT_CHUNK = (
    f"INSERT INTO chunks ({_CHUNK_COLUMNS}) VALUES ({', '.join('?' * 18)}) "
    "ON CONFLICT (run_id, metric, chunk) DO UPDATE SET "
    + ", ".join(
        f"{c} = excluded.{c}"
        for c in _CHUNK_COLUMNS.split(", ")
        if c not in ("run_id", "metric", "chunk")
    )
)


def _real(value: float | None) -> float | None:
    """A float for a REAL column: SQLite stores NaN as NULL, so NaN is written as NULL."""
    if value is None or math.isnan(value):
        return None
    return value


def _chunk_row(run_id: str, metric: str, chunk: int, points: Points) -> tuple[object, ...]:
    s = chunks.summarise(points)
    return (
        run_id,
        metric,
        chunk,
        s.count,
        s.first_step,
        s.last_step,
        _real(s.first_value),
        _real(s.last_value),
        s.vmin,
        s.vmax,
        s.min_step,
        s.max_step,
        s.nan_count,
        s.inf_count,
        chunks.encode_blocks(chunks.block_summary(chunk, points)),
        chunks.encode_offsets(chunk, points.step),
        chunks.encode_floats(points.value),
        chunks.encode_floats(points.time),
    )


def _json_list(value: Sequence[str] | None, what: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, str) or not all(isinstance(v, str) for v in value):
        raise BadInput(f"{what} must be a list of strings, got {value!r:.200}")
    return json.dumps(list(value))


def _json_params(value: Mapping[str, str] | None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise BadInput(f"params must map text keys to text values, got {value!r:.200}")
    return json.dumps(dict(value))


def _text(value: str | None, what: str, limit: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise BadInput(f"{what} must be text of at most {limit} characters")
    return value


def _int(value: object) -> int | None:
    return None if value is None else int(value)  # type: ignore[call-overload]


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _fetch_points(db: Db, run_id: str, metric: str, ids: Sequence[int]) -> dict[int, Points]:
    """Steps, values and wall times of the chunks ``ids``."""
    found: dict[int, Points] = {}
    for i in range(0, len(ids), _BATCH):
        batch = list(ids[i : i + _BATCH])
        rows = db.all(
            "SELECT chunk, points, steps, vals, times FROM chunks WHERE run_id = ? AND metric = ? "
            f"AND chunk IN ({', '.join('?' * len(batch))}) ORDER BY chunk",
            [run_id, metric, *batch],
        )
        if not rows:
            continue
        counts = np.fromiter((r[1] for r in rows), dtype=np.int64, count=len(rows))
        bases = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows)) * CHUNK
        step = np.frombuffer(b"".join(r[2] for r in rows), dtype="<u2").astype(np.int64)
        step += np.repeat(bases, counts)
        value = np.frombuffer(b"".join(r[3] for r in rows), dtype="<f8")
        wall = np.frombuffer(b"".join(r[4] for r in rows), dtype="<f8")
        ends = np.cumsum(counts)
        for (chunk, *_), end, count in zip(rows, ends, counts, strict=True):
            part = slice(end - count, end)
            found[int(chunk)] = Points(step[part], value[part], wall[part])
    return found


def _read_range(
    db: Db,
    run_id: str,
    metric: str,
    heads: list[Row],
    start: int | None,
    stop: int | None,
    points: int,
) -> Curve:
    """``Store.series`` once the range's chunk heads (chunk, points, first_step, last_step,
    non-finite count, blocks) are known. A chunk the range cuts is read whole and trimmed;
    the rest are read from their block summaries when the buckets are whole blocks, from
    their points otherwise (see ``tracking.store.downsample``)."""
    first, last = heads[0], heads[-1]
    cut_ids = []
    if start is not None and start > first[2]:
        cut_ids.append(int(first[0]))
    if stop is not None and stop < last[3] and int(last[0]) not in cut_ids:
        cut_ids.append(int(last[0]))
    cut = _fetch_points(db, run_id, metric, cut_ids)
    for chunk, p in cut.items():
        lo = 0 if start is None else int(np.searchsorted(p.step, start, side="left"))
        hi = len(p) if stop is None else int(np.searchsorted(p.step, stop, side="right"))
        cut[chunk] = p.take(slice(lo, hi))
    whole = [h for h in heads if int(h[0]) not in cut]
    total = sum(int(h[1]) for h in whole) + sum(len(p) for p in cut.values())
    if total == 0:
        return Curve.empty()
    spans = [(int(h[2]), int(h[3])) for h in whole]
    spans += [(int(p.step[0]), int(p.step[-1])) for p in cut.values() if len(p)]
    lo_step = min(s for s, _ in spans)
    hi_step = max(e for _, e in spans)
    edges, aligned = downsample.bucket_edges(lo_step, hi_step, points)
    if total <= points or not aligned:
        stored = _fetch_points(db, run_id, metric, [int(h[0]) for h in whole])
        stored.update(cut)
        order = sorted(stored)
        step = np.concatenate([stored[c].step for c in order])
        value = np.concatenate([stored[c].value for c in order])
        time = np.concatenate([stored[c].time for c in order])
        return downsample.reduce(step, value, points, time)
    summaries = {int(h[0]): chunks.decode_blocks(bytes(h[5])) for h in whole}
    # chunks with non-finite values, and any whose blocks predate kept times, in one query
    need = [int(h[0]) for h in whole if h[4] or summaries[int(h[0])] is None]
    odd = _fetch_points(db, run_id, metric, need)
    for chunk, p in odd.items():
        if summaries[chunk] is None:
            summaries[chunk] = chunks.block_summary(chunk, p)
    odd.update(cut)
    return _reduce_summaries(summaries, cut, odd, edges)


def _reduce_summaries(
    summaries: Mapping[int, npt.NDArray[np.void] | None],
    cut: dict[int, Points],
    odd: dict[int, Points],
    edges: Steps,
) -> Curve:
    """``downsample.reduce_blocks`` over the block summaries of the ``whole`` chunks (stored,
    or computed from points for blobs written before times were kept) and those computed
    from the ``cut`` chunks' points; non-finite points from ``odd``."""
    parts: list[tuple[int, npt.NDArray[np.void]]] = [
        (c, b) for c, b in summaries.items() if b is not None
    ]
    parts += [(c, chunks.block_summary(c, p)) for c, p in cut.items() if len(p)]
    parts.sort(key=lambda part: part[0])
    blocks = np.concatenate([b for _, b in parts])
    base = np.repeat(np.array([c for c, _ in parts], np.int64) * CHUNK, [len(b) for _, b in parts])
    non_finite = [p.take(~np.isfinite(p.value)) for _, p in sorted(odd.items())]
    odd_points = Points.concat(non_finite)
    return downsample.reduce_blocks(
        base + blocks["block"].astype(np.int64) * downsample.BLOCK,
        base + blocks["imin"],
        blocks["min"],
        base + blocks["imax"],
        blocks["max"],
        odd_points.step,
        odd_points.value,
        edges,
        blocks["tmin"],
        blocks["tmax"],
        odd_points.time,
    )


def _event(r: Row) -> Event:
    return Event(
        run_id=r[0],
        seq=int(r[1]),
        time=float(r[2]),
        step=_int(r[3]),
        kind=r[4],
        severity=r[5],
        text=r[6],
        state=r[7],
        key=r[8],
        metric=r[9],
        value=None if r[10] is None else float(r[10]),
        closed_step=_int(r[11]),
        closed_time=None if r[12] is None else float(r[12]),
    )


def _check_read(run_id: str, metric: str, start: int | None, stop: int | None, points: int) -> None:
    """The checks of ``Store.series``' arguments (``BadInput`` naming the rule)."""
    check_run_id(run_id)
    check_metric(metric)
    for what, bound in (("start", start), ("stop", stop)):
        if bound is not None and (isinstance(bound, bool) or not isinstance(bound, int)):
            raise BadInput(f"{what} must be a whole number or omitted, got {bound!r}")
    if start is not None and stop is not None and start > stop:
        raise BadInput(f"start ({start}) is after stop ({stop})")
    if isinstance(points, bool) or not isinstance(points, int) or not 2 <= points <= MAX_POINTS:
        raise BadInput(f"points must be a whole number from 2 to {MAX_POINTS}, got {points!r}")


def _series_in(
    db: Db, run_id: str, metric: str, start: int | None, stop: int | None, points: int
) -> Curve:
    """``Store.series`` inside an open read transaction (arguments checked)."""
    where = "run_id = ? AND metric = ?"
    args: list[object] = [run_id, metric]
    if start is not None:
        where += " AND chunk >= ?"
        args.append(start // CHUNK)
    if stop is not None:
        where += " AND chunk <= ?"
        args.append(stop // CHUNK)
    heads = db.all(
        "SELECT chunk, points, first_step, last_step, nan_count + inf_count, blocks "
        f"FROM chunks WHERE {where} ORDER BY chunk",
        args,
    )
    if not heads:
        return Curve.empty()
    return _read_range(db, run_id, metric, heads, start, stop, points)


class Transaction:
    """Writes inside one transaction (``Store.transaction``): all land or none do."""

    def __init__(self, db: Db) -> None:
        self._db = db
        self._now = time.time()

    def put_run(
        self,
        run_id: str,
        *,
        name: str | None = None,
        source: str | None = None,
        kind: str | None = None,
        tags: Sequence[str] | None = None,
        params: Mapping[str, str] | None = None,
        notes: str | None = None,
        status: str | None = None,
        problems: Sequence[str] | None = None,
    ) -> None:
        """Create or update a run; a field left None keeps what the run had (a new run gets
        its id as name, empty text and lists otherwise). ``params`` replace the run's
        params, except the keys under ``dashboard.`` (``DASHBOARD_PARAMS``: what users
        saved on the page), which only ``update_params`` changes: a watcher or a script
        rewriting the run's settings never drops them."""
        check_run_id(run_id)
        if params is not None and isinstance(params, Mapping):
            params = {**self._dashboard_params(run_id), **params}
        fields = {
            "name": _text(name, "name", 200),
            "source": _text(source, "source", 4096),
            "kind": _text(kind, "kind", 64),
            "tags": _json_list(tags, "tags"),
            "params": _json_params(params),
            "notes": _text(notes, "notes", 100_000),
            "status": _text(status, "status", 64),
            "problems": _json_list(problems, "problems"),
        }
        self._ensure_run(run_id)
        given = {k: v for k, v in fields.items() if v is not None}
        sets = ", ".join(f"{k} = ?" for k in given)
        self._db.run(
            f"UPDATE runs SET {sets}{', ' if sets else ''}updated = ? WHERE run_id = ?",
            [*given.values(), self._now, run_id],
        )

    def _dashboard_params(self, run_id: str) -> dict[str, str]:
        row = self._db.one("SELECT params FROM runs WHERE run_id = ?", (run_id,))
        if row is None:
            return {}
        return {k: v for k, v in json.loads(row[0]).items() if k.startswith(DASHBOARD_PARAMS)}

    def update_params(self, run_id: str, changes: Mapping[str, str | None]) -> dict[str, str]:
        """Set (or, with None, remove) some of an existing run's params, keeping the others;
        returns the params now stored. ``UnknownRun`` if there is no such run (a run
        deleted meanwhile is not made again)."""
        check_run_id(run_id)
        row = self._db.one("SELECT params FROM runs WHERE run_id = ?", (run_id,))
        if row is None:
            raise UnknownRun(f"no run {run_id!r} in the store")
        self._ensure_run(run_id)  # the run's lock (PostgreSQL), then read again under it
        row = self._db.one("SELECT params FROM runs WHERE run_id = ?", (run_id,))
        params = dict(json.loads(row[0])) if row is not None else {}
        for key, value in changes.items():
            if value is None:
                params.pop(key, None)
            else:
                params[key] = value
        text = _json_params(params)
        self._db.run(
            "UPDATE runs SET params = ?, updated = ? WHERE run_id = ?", (text, self._now, run_id)
        )
        return params

    def _ensure_run(self, run_id: str) -> None:
        """The run's row exists and this transaction holds its lock (PostgreSQL: writers of
        one run queue here, in one order, so two of them never deadlock)."""
        self._db.run(
            "INSERT INTO runs (run_id, name, source, kind, tags, params, notes, status, "
            "problems, created, updated) VALUES (?, ?, '', '', '[]', '{}', '', '', '[]', ?, ?) "
            "ON CONFLICT (run_id) DO NOTHING",
            (run_id, run_id, self._now, self._now),
        )
        self._db.one(f"SELECT run_id FROM runs WHERE run_id = ?{self._db.for_update}", (run_id,))

    def add(self, run_id: str, series: Series) -> Added:
        """Upsert one series' points (docs/tracking.md, decision 4; ``tracking.store.chunks``)."""
        check_run_id(run_id)
        metric = check_metric(series.metric)
        if not len(series):
            return Added()
        prepared = chunks.prepare(series)
        self._ensure_run(run_id)
        parts = chunks.split(prepared.final)
        stored = self._load(run_id, metric, [c for c, _ in parts])
        rows: list[tuple[object, ...]] = []
        old: list[Points] = []
        new = same = replaced = 0
        for chunk, points in parts:
            merged = chunks.merge(stored.get(chunk), points)
            new += merged.new
            same += merged.same
            replaced += merged.replaced
            if merged.points is not None:
                rows.append(_chunk_row(run_id, metric, chunk, merged.points))
            if len(merged.replaced_old):
                old.append(merged.replaced_old)
        if rows:
            self._db.many(_UPSERT_CHUNK, rows)
        segments = chunks.segments(Points.concat(old), prepared.superseded)
        if segments:
            self._db.many(
                "INSERT INTO superseded (run_id, metric, points, first_step, last_step, "
                "created, steps, vals, times) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        run_id,
                        metric,
                        len(seg),
                        int(seg.step[0]),
                        int(seg.step[-1]),
                        self._now,
                        chunks.encode_steps(seg.step),
                        chunks.encode_floats(seg.value),
                        chunks.encode_floats(seg.time),
                    )
                    for seg in segments
                ],
            )
        added = Added(
            new=new,
            same=same + prepared.same,
            replaced=replaced + len(prepared.superseded),
        )
        if added.new or added.replaced:
            self._count(run_id, metric, prepared.final, new)
        return added

    def _load(self, run_id: str, metric: str, ids: list[int]) -> dict[int, Points]:
        """The stored points of the chunks ``ids`` that exist."""
        found: dict[int, Points] = {}
        for i in range(0, len(ids), _BATCH):
            batch = ids[i : i + _BATCH]
            for chunk, steps, vals, times in self._db.all(
                "SELECT chunk, steps, vals, times FROM chunks WHERE run_id = ? AND metric = ? "
                f"AND chunk IN ({', '.join('?' * len(batch))})",
                [run_id, metric, *batch],
            ):
                found[int(chunk)] = Points(
                    chunks.decode_offsets(int(chunk), bytes(steps)),
                    chunks.decode_floats(bytes(vals)),
                    chunks.decode_floats(bytes(times)),
                )
        return found

    def _count(self, run_id: str, metric: str, final: Points, new: int) -> None:
        row = self._db.one(
            "SELECT points, first_step, last_step FROM metrics WHERE run_id = ? AND metric = ?",
            (run_id, metric),
        )
        first, last = int(final.step[0]), int(final.step[-1])
        if row is None:
            self._db.run(
                "INSERT INTO metrics (run_id, metric, points, first_step, last_step, updated) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (run_id, metric, new, first, last, self._now),
            )
        else:
            self._db.run(
                "UPDATE metrics SET points = ?, first_step = ?, last_step = ?, updated = ? "
                "WHERE run_id = ? AND metric = ?",
                (
                    int(row[0]) + new,
                    min(first, int(row[1])),
                    max(last, int(row[2])),
                    self._now,
                    run_id,
                    metric,
                ),
            )
        self._db.run("UPDATE runs SET updated = ? WHERE run_id = ?", (self._now, run_id))

    def set_file_state(self, path: str, inode: int, size: int, position: int, run_id: str) -> None:
        """Record how far the watcher read ``path`` (commit it with that read's points)."""
        check_run_id(run_id)
        for what, number in (("inode", inode), ("size", size), ("position", position)):
            if not isinstance(number, int) or number < 0:
                raise BadInput(f"file {what} must be a whole number >= 0, got {number!r}")
        self._db.run(
            "INSERT INTO files (path, inode, size, position, run_id, updated) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (path) DO UPDATE SET inode = excluded.inode, "
            "size = excluded.size, position = excluded.position, run_id = excluded.run_id, "
            "updated = excluded.updated",
            (path, inode, size, position, run_id, self._now),
        )

    def add_read(self, run_id: str, read: Read, file_state: FileState | None = None) -> Added:
        """Every series of ``read``, and the file's new state, in this transaction."""
        total = Added()
        for series in read.series:
            total += self.add(run_id, series)
        if file_state is not None:
            self.set_file_state(
                file_state.path,
                file_state.inode,
                file_state.size,
                file_state.position,
                file_state.run_id,
            )
        return total

    # -- events and alerts ---------------------------------------------------------------

    def add_event(
        self,
        run_id: str,
        kind: str,
        text: str,
        *,
        step: int | None = None,
        severity: str = "info",
        state: str = "event",
        key: str | None = None,
        metric: str | None = None,
        value: float | None = None,
        time: float | None = None,
    ) -> int:
        """Record an event (or, with ``state="open"`` and a ``key``, an alert) on the run;
        returns its ``seq``. Events are numbered under the run's lock, so two writers never
        give the same number."""
        check_run_id(run_id)
        _text(kind, "kind", 64)
        _text(severity, "severity", 16)
        _text(text, "text", 4000)
        if state not in EVENT_STATES:
            raise BadInput(f"state must be one of {', '.join(EVENT_STATES)}, got {state!r}")
        if step is not None and (isinstance(step, bool) or not isinstance(step, int)):
            raise BadInput(f"step must be a whole number or None, got {step!r}")
        self._ensure_run(run_id)
        row = self._db.one("SELECT MAX(seq) FROM events WHERE run_id = ?", (run_id,))
        seq = 1 + (int(row[0]) if row is not None and row[0] is not None else 0)
        self._db.run(
            f"INSERT INTO events ({_EVENT_COLUMNS}) VALUES ({', '.join('?' * 13)})",
            (
                run_id,
                seq,
                self._now if time is None else time,
                step,
                kind,
                severity,
                text,
                state,
                key,
                metric,
                None if value is None else _real(value),
                None,
                None,
            ),
        )
        return seq

    def lock_run(self, run_id: str) -> None:
        """Create the run's row if missing and hold its lock until this transaction ends
        (the alert evaluation reads and writes the detectors' state under it)."""
        check_run_id(run_id)
        self._ensure_run(run_id)

    def close_alert(self, run_id: str, key: str, step: int, time: float | None = None) -> int:
        """Close the run's open alert ``key`` at ``step``; how many were closed (0 or 1)."""
        check_run_id(run_id)
        return self._db.run(
            "UPDATE events SET state = 'closed', closed_step = ?, closed_time = ? "
            "WHERE run_id = ? AND alert_key = ? AND state = 'open'",
            (step, self._now if time is None else time, run_id, key),
        )

    def alert_state(self, run_id: str) -> dict[str, Any]:
        """The detectors' state for the run (``{}`` before its first evaluation), read
        under this transaction (call after a write to the run, which holds its lock)."""
        check_run_id(run_id)
        row = self._db.one("SELECT state FROM alert_state WHERE run_id = ?", (run_id,))
        return {} if row is None else dict(json.loads(row[0]))

    def set_alert_state(
        self, run_id: str, state: Mapping[str, Any], log_interval: float | None
    ) -> None:
        """Store the detectors' state, and the open-alert count the run list shows."""
        check_run_id(run_id)
        self._ensure_run(run_id)
        (count,) = self._db.one(
            "SELECT COUNT(*) FROM events WHERE run_id = ? AND state = 'open'", (run_id,)
        ) or (0,)
        self._db.run(
            "INSERT INTO alert_state (run_id, state, open_alerts, log_interval, updated) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (run_id) DO UPDATE SET state = excluded.state, "
            "open_alerts = excluded.open_alerts, log_interval = excluded.log_interval, "
            "updated = excluded.updated",
            (run_id, json.dumps(state), int(count), log_interval, self._now),
        )

    def recent(
        self, run_id: str, metric: str, before: int | None = None, limit: int = 256
    ) -> Series:
        """The last ``limit`` points of a metric with steps below ``before`` (all when None),
        with their wall times: the detectors' trailing window. Reads only the chunks that
        hold them (their summaries first, to know how many)."""
        check_run_id(run_id)
        check_metric(metric)
        if not 1 <= limit <= MAX_RECENT:
            raise BadInput(f"limit must be from 1 to {MAX_RECENT}, got {limit!r}")
        where = "run_id = ? AND metric = ?"
        args: list[object] = [run_id, metric]
        if before is not None:
            where += " AND first_step < ?"
            args.append(before)
        heads = self._db.all(
            f"SELECT chunk, points FROM chunks WHERE {where} ORDER BY chunk DESC LIMIT ?",
            [*args, limit],
        )
        ids, total = [], 0
        for i, (chunk, points) in enumerate(heads):
            ids.append(int(chunk))
            if before is None or i > 0:  # the newest chunk may hold steps past ``before``
                total += int(points)
            if total >= limit:
                break
        found = self._load(run_id, metric, ids)
        if not found:
            empty = np.empty(0)
            return Series(metric, np.empty(0, np.int64), empty, empty)
        p = Points.concat([found[c] for c in sorted(found)])
        if before is not None:
            p = p.take(p.step < before)
        p = p.take(slice(max(len(p) - limit, 0), len(p)))
        return Series(metric, p.step, p.value, p.time)

    def delete_run(self, run_id: str) -> bool:
        """Remove the run, its points, superseded segments, control history and file states.
        A run whose files are still watched is read again from the start on the watcher's
        next pass."""
        check_run_id(run_id)
        # a new run under the same id must not start stopped
        self._db.run("DELETE FROM controls WHERE run_id = ?", (run_id,))
        for table in ("chunks", "superseded", "metrics", "files", "events", "alert_state"):
            self._db.run(f"DELETE FROM {table} WHERE run_id = ?", (run_id,))
        return self._db.run("DELETE FROM runs WHERE run_id = ?", (run_id,)) > 0


class Store:
    """The run store on one engine (``tracking.store.open`` makes one from a URL)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @property
    def url(self) -> str:
        """Where the data is (a PostgreSQL password is never shown)."""
        return self._engine.display

    def close(self) -> None:
        self._engine.close()

    # -- writes ------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """Several writes that land together or not at all; waits up to the engine's timeout
        for the write lock, then ``StoreUnavailable``."""
        with self._engine.write(self._engine.timeout) as db:
            yield Transaction(db)

    def _write(self, work: Callable[[Transaction], T]) -> T:
        """Run ``work`` in its own transaction, again while another writer holds the lock."""
        deadline = time.monotonic() + self._engine.timeout
        attempt = 0
        while True:
            try:
                with self._engine.write(deadline - time.monotonic()) as db:
                    return work(Transaction(db))
            except StoreBusy:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(min(0.005 * 2**attempt, 0.1, max(deadline - time.monotonic(), 0)))
                attempt += 1

    def put_run(
        self,
        run_id: str,
        *,
        name: str | None = None,
        source: str | None = None,
        kind: str | None = None,
        tags: Sequence[str] | None = None,
        params: Mapping[str, str] | None = None,
        notes: str | None = None,
        status: str | None = None,
        problems: Sequence[str] | None = None,
    ) -> None:
        """See ``Transaction.put_run``."""
        check_run_id(run_id)
        self._write(
            lambda tx: tx.put_run(
                run_id,
                name=name,
                source=source,
                kind=kind,
                tags=tags,
                params=params,
                notes=notes,
                status=status,
                problems=problems,
            )
        )

    def update_params(self, run_id: str, changes: Mapping[str, str | None]) -> dict[str, str]:
        """See ``Transaction.update_params``."""
        check_run_id(run_id)
        return self._write(lambda tx: tx.update_params(run_id, changes))

    def add(self, run_id: str, series: Series) -> Added:
        """See ``Transaction.add``."""
        check_run_id(run_id)
        check_metric(series.metric)
        return self._write(lambda tx: tx.add(run_id, series))

    def add_read(self, run_id: str, read: Read, file_state: FileState | None = None) -> Added:
        """A read's points and the file's new state, atomically (see ``Transaction``)."""
        check_run_id(run_id)
        return self._write(lambda tx: tx.add_read(run_id, read, file_state))

    def set_file_state(self, path: str, inode: int, size: int, position: int, run_id: str) -> None:
        self._write(lambda tx: tx.set_file_state(path, inode, size, position, run_id))

    def delete_run(self, run_id: str) -> bool:
        """See ``Transaction.delete_run``; False when there was no such run."""
        check_run_id(run_id)
        return self._write(lambda tx: tx.delete_run(run_id))

    # -- reads -------------------------------------------------------------------------

    def runs(self) -> list[RunInfo]:
        """Every run, most recently updated first."""
        with self._engine.read() as db:
            rows = db.all(
                f"SELECT {_RUN_COLUMNS} FROM runs r LEFT JOIN alert_state a "
                "ON a.run_id = r.run_id ORDER BY r.updated DESC, r.run_id"
            )
            metric_rows = db.all(
                "SELECT run_id, metric, first_step, last_step FROM metrics ORDER BY run_id, metric"
            )
        by_run: dict[str, list[Row]] = {}
        for row in metric_rows:
            by_run.setdefault(row[0], []).append(row)
        return [self._run_info(row, by_run.get(row[0], [])) for row in rows]

    def run(self, run_id: str) -> RunInfo | None:
        """One run, or None."""
        check_run_id(run_id)
        with self._engine.read() as db:
            found = self._run_in(db, run_id)
        return None if found is None else found[0]

    @classmethod
    def _run_in(cls, db: Db, run_id: str) -> tuple[RunInfo, dict[str, int]] | None:
        """The run and each metric's last step, read in ``db``'s transaction; None when
        there is no such run."""
        row = db.one(
            f"SELECT {_RUN_COLUMNS} FROM runs r LEFT JOIN alert_state a "
            "ON a.run_id = r.run_id WHERE r.run_id = ?",
            (run_id,),
        )
        if row is None:
            return None
        metric_rows = db.all(
            "SELECT run_id, metric, first_step, last_step FROM metrics WHERE run_id = ? "
            "ORDER BY metric",
            (run_id,),
        )
        lasts = {r[1]: int(r[3]) for r in metric_rows if r[3] is not None}
        return cls._run_info(row, metric_rows), lasts

    @staticmethod
    def _run_info(row: Row, metric_rows: list[Row]) -> RunInfo:
        firsts = [int(r[2]) for r in metric_rows if r[2] is not None]
        lasts = [int(r[3]) for r in metric_rows if r[3] is not None]
        return RunInfo(
            run_id=row[0],
            name=row[1],
            source=row[2],
            kind=row[3],
            tags=tuple(json.loads(row[4])),
            notes=row[5],
            status=row[6],
            problems=tuple(json.loads(row[7])),
            metrics=tuple(r[1] for r in metric_rows),
            first_step=min(firsts) if firsts else None,
            last_step=max(lasts) if lasts else None,
            created=float(row[8]),
            updated=float(row[9]),
            open_alerts=int(row[10] or 0),
            log_interval=None if row[11] is None else float(row[11]),
        )

    def live_read(
        self,
        run_id: str,
        plan: Callable[
            [RunInfo, dict[str, int]], Sequence[tuple[str, int | None, int | None, int]]
        ],
    ) -> tuple[RunInfo, list[Curve]] | None:
        """The run, then the ``series`` reads ``plan(run, last step per metric)`` asks for
        (``(metric, start, stop, points)`` each), in one read transaction: one connection and
        one snapshot, so a live chart's tick costs one round trip and its status, steps and
        points agree. None when there is no such run."""
        check_run_id(run_id)
        with self._engine.read() as db:
            found = self._run_in(db, run_id)
            if found is None:
                return None
            info, lasts = found
            curves = []
            for metric, start, stop, points in plan(info, lasts):
                _check_read(run_id, metric, start, stop, points)
                curves.append(_series_in(db, run_id, metric, start, stop, points))
        return info, curves

    def version(self, run_id: str) -> float | None:
        """The run's ``updated`` time (Unix s), moved by every write to the run: a live
        chart's cheap "anything new?" (one indexed row, no metric read). None: no such run."""
        check_run_id(run_id)
        with self._engine.read() as db:
            row = db.one("SELECT updated FROM runs WHERE run_id = ?", (run_id,))
        return None if row is None else float(row[0])

    def params(self, run_id: str) -> dict[str, str]:
        """The run's recorded settings (empty for an unknown run)."""
        check_run_id(run_id)
        with self._engine.read() as db:
            row = db.one("SELECT params FROM runs WHERE run_id = ?", (run_id,))
        return {} if row is None else dict(json.loads(row[0]))

    def metrics(self, run_id: str) -> list[MetricInfo]:
        """The run's metrics by name, with their point counts and step spans."""
        check_run_id(run_id)
        with self._engine.read() as db:
            rows = db.all(
                "SELECT metric, points, first_step, last_step FROM metrics WHERE run_id = ? "
                "ORDER BY metric",
                (run_id,),
            )
        return [
            MetricInfo(
                r[0],
                int(r[1]),
                None if r[2] is None else int(r[2]),
                None if r[3] is None else int(r[3]),
            )
            for r in rows
        ]

    def series(
        self,
        run_id: str,
        metric: str,
        start: int | None = None,
        stop: int | None = None,
        points: int = 4000,
    ) -> Curve:
        """Points with ``start <= step <= stop`` (either end open when None): every one when
        there are at most ``points``, else each bucket's extremes (``downsample.reduce``)."""
        _check_read(run_id, metric, start, stop, points)
        with self._engine.read() as db:
            return _series_in(db, run_id, metric, start, stop, points)

    def since(self, run_id: str, metric: str, after_step: int, points: int = 4000) -> Curve:
        """The points after ``after_step`` (a live chart's newest points): ``series`` from
        ``after_step + 1`` on, so a chart far behind gets buckets, not everything."""
        if isinstance(after_step, bool) or not isinstance(after_step, int):
            raise BadInput(f"after_step must be a whole number, got {after_step!r}")
        return self.series(run_id, metric, start=after_step + 1, points=points)

    def superseded(
        self, run_id: str, metric: str, points: int = 4000, limit: int = MAX_SEGMENTS
    ) -> list[Curve]:
        """The segments restarts replaced, oldest first (at most the newest ``limit``),
        each reduced to ``points`` like ``series``."""
        check_run_id(run_id)
        check_metric(metric)
        if isinstance(points, bool) or not isinstance(points, int) or not 2 <= points <= MAX_POINTS:
            raise BadInput(f"points must be a whole number from 2 to {MAX_POINTS}, got {points!r}")
        if not 1 <= limit <= MAX_SEGMENTS:
            raise BadInput(f"limit must be from 1 to {MAX_SEGMENTS}, got {limit!r}")
        with self._engine.read() as db:
            rows = db.all(
                "SELECT steps, vals, times FROM superseded WHERE run_id = ? AND metric = ? "
                "ORDER BY id DESC LIMIT ?",
                (run_id, metric, limit),
            )
        return [
            downsample.reduce(
                chunks.decode_steps(bytes(steps)),
                chunks.decode_floats(bytes(vals)),
                points,
                chunks.decode_floats(bytes(times)),
            )
            for steps, vals, times in reversed(rows)
        ]

    def file_state(self, path: str) -> FileState | None:
        """How far the watcher read ``path``, or None if it never did."""
        with self._engine.read() as db:
            row = db.one(
                "SELECT path, inode, size, position, run_id FROM files WHERE path = ?", (path,)
            )
        if row is None:
            return None
        return FileState(row[0], int(row[1]), int(row[2]), int(row[3]), row[4])

    # -- control -----------------------------------------------------------------------

    def set_control(self, run_id: str, state: str, who: str, note: str = "") -> Control:
        """Set the run's control state (``running``, ``paused``, ``stopped``) and record who
        did it, when, the state before and the run's last step (``tracking.store.controls``
        has the rules: the run must exist, a stop is final, the same state again records
        nothing). Returns the state after the call."""
        check_run_id(run_id)
        state = controls.check_state(state)
        who = controls.check_who(who)
        note = controls.check_note(note)

        def work(tx: Transaction) -> Control:
            control, changed = controls.record(tx._db, run_id, state, who, note, time.time())
            if changed:  # the run's events panel shows who paused, resumed or stopped it
                tx.add_event(
                    run_id,
                    "control",
                    controls.event_text(control),
                    step=control.step,
                    time=control.time,
                )
            return control

        return self._write(work)

    def control(self, run_id: str) -> Control:
        """The run's current control state (``running`` if never set); ``UnknownRun`` for a
        run the store does not hold."""
        check_run_id(run_id)
        with self._engine.read() as db:
            if db.one("SELECT run_id FROM runs WHERE run_id = ?", (run_id,)) is None:
                raise controls.UnknownRun(f"no run {run_id!r} in the store")
            return controls.latest(db, run_id)

    def control_history(self, run_id: str, limit: int = 100) -> list[Control]:
        """The run's control changes, newest first (at most ``limit``, 1 to 1,000); empty
        for a run never controlled or not in the store."""
        check_run_id(run_id)
        if (
            isinstance(limit, bool)
            or not isinstance(limit, int)
            or not 1 <= limit <= controls.MAX_HISTORY
        ):
            raise BadInput(f"limit must be a whole number from 1 to {controls.MAX_HISTORY}")
        with self._engine.read() as db:
            return controls.history(db, run_id, limit)

    # -- events and alerts ---------------------------------------------------------------

    def add_event(self, run_id: str, kind: str, text: str, **fields: Any) -> int:
        """See ``Transaction.add_event`` (its own transaction)."""
        check_run_id(run_id)
        return self._write(lambda tx: tx.add_event(run_id, kind, text, **fields))

    def alerts(self, run_id: str, open_only: bool = False) -> list[Event]:
        """The run's alerts, newest first: open ones only, or open and closed (at most
        ``MAX_EVENTS``, the newest)."""
        check_run_id(run_id)
        states = "('open')" if open_only else "('open', 'closed')"
        with self._engine.read() as db:
            rows = db.all(
                f"SELECT {_EVENT_COLUMNS} FROM events WHERE run_id = ? AND state IN {states} "
                "ORDER BY seq DESC LIMIT ?",
                (run_id, MAX_EVENTS),
            )
        return [_event(r) for r in rows]

    def events(self, run_id: str, after_seq: int = 0, limit: int = 200) -> list[Event]:
        """The run's events and alerts with ``seq > after_seq``, oldest first, at most
        ``limit`` (1 to ``MAX_EVENTS``): a panel asks again from the last seq it holds. An
        alert is listed once, as it is now (open, or closed with where it closed)."""
        check_run_id(run_id)
        if isinstance(after_seq, bool) or not isinstance(after_seq, int) or after_seq < 0:
            raise BadInput(f"after_seq must be a whole number >= 0, got {after_seq!r}")
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_EVENTS:
            raise BadInput(f"limit must be a whole number from 1 to {MAX_EVENTS}, got {limit!r}")
        with self._engine.read() as db:
            rows = db.all(
                f"SELECT {_EVENT_COLUMNS} FROM events WHERE run_id = ? AND seq > ? "
                "ORDER BY seq LIMIT ?",
                (run_id, after_seq, limit),
            )
        return [_event(r) for r in rows]

    def alert_state(self, run_id: str) -> dict[str, Any]:
        """See ``Transaction.alert_state`` (a read of its own)."""
        check_run_id(run_id)
        with self._engine.read() as db:
            row = db.one("SELECT state FROM alert_state WHERE run_id = ?", (run_id,))
        return {} if row is None else dict(json.loads(row[0]))

    # -- tokens ------------------------------------------------------------------------

    def create_token(self, name: str) -> str:
        """A new write token's secret, shown once: only its SHA-256 is stored. A revoked
        name may be reused; a live one may not (``TokenExists``)."""
        check_token_name(name)
        secret = secrets.token_urlsafe(32)

        def work(tx: Transaction) -> None:
            db = tx._db
            row = db.one(f"SELECT revoked FROM tokens WHERE name = ?{db.for_update}", (name,))
            if row is not None and row[0] is None:
                raise TokenExists(f"a token named {name!r} exists; revoke it first")
            db.run(
                "INSERT INTO tokens (name, sha256, created, revoked) VALUES (?, ?, ?, NULL) "
                "ON CONFLICT (name) DO UPDATE SET sha256 = excluded.sha256, "
                "created = excluded.created, revoked = NULL",
                (name, _hash(secret), time.time()),
            )

        self._write(work)
        return secret

    def check_token(self, secret: str) -> str | None:
        """The name of the live token whose secret this is, or None. Compares against every
        live token in constant time each, so timing tells nothing about near misses."""
        if not isinstance(secret, str) or not 0 < len(secret) <= 256:
            return None
        digest = _hash(secret)
        with self._engine.read() as db:
            rows = db.all("SELECT name, sha256 FROM tokens WHERE revoked IS NULL")
        found = None
        for name, stored in rows:
            if hmac.compare_digest(digest, stored):
                found = name
        return found

    def token_for(self, secret: str) -> TokenInfo | None:
        """The token, live or revoked, whose secret this is, or None: the push API answers a
        revoked token 403 ("revoked, make a new one") and an unknown one 401. Constant time
        per token, as ``check_token``. A name revoked and then created again holds the new
        secret only, so the old one is unknown from then on."""
        if not isinstance(secret, str) or not 0 < len(secret) <= 256:
            return None
        digest = _hash(secret)
        with self._engine.read() as db:
            rows = db.all("SELECT name, sha256, created, revoked FROM tokens")
        found = None
        for name, stored, created, revoked in rows:
            if hmac.compare_digest(digest, stored):
                found = TokenInfo(name, float(created), None if revoked is None else float(revoked))
        return found

    def revoke_token(self, name: str) -> bool:
        """Revoke a live token; False when there is none by that name."""
        check_token_name(name)
        return self._write(
            lambda tx: (
                tx._db.run(
                    "UPDATE tokens SET revoked = ? WHERE name = ? AND revoked IS NULL",
                    (time.time(), name),
                )
                > 0
            )
        )

    def tokens(self) -> list[TokenInfo]:
        """Every token's name, creation and revocation time; never a secret."""
        with self._engine.read() as db:
            rows = db.all("SELECT name, created, revoked FROM tokens ORDER BY name")
        return [TokenInfo(r[0], float(r[1]), None if r[2] is None else float(r[2])) for r in rows]
