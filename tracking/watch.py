"""``watch``: follow folders of training logs into the run store, polling every few seconds.

Polling, not inotify: inotify does not fire for writes made on another host of an NFS
share or through most FUSE file systems, which is where cluster jobs write their logs.
What a poll costs while nothing changes (docs/tracking.md, "Watcher"):

- one ``stat`` per file the runs hold (``tracking.ingest.Follower``: an unchanged file's
  signature means no read and no store query);
- one ``stat`` per folder under each root: ``tracking.readers.find`` opens files to sniff
  what they are, so its result is kept and it runs again only when a folder's mtime
  changed (a file or folder was added, removed or renamed in it: a new run, a new event
  file) or every ``find_every`` polls (a network file system may cache folder mtimes).

``ingest`` (``tracking.ingest``) is the same pass once. Store failures
(``StoreUnavailable``: locked past its timeout, disk full, database gone) pause the loop
with a doubling wait (``interval`` up to ``MAX_BACKOFF``) and a clear log line; nothing is
lost, since positions are stored with their points, and once the store answers the
watcher checks every file against it again.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tracking.ingest import Follower, RunReport
from tracking.polling import (
    DEFAULT_INTERVAL,
    FIND_EVERY,
    MAX_BACKOFF,
    BadRoot,
    check_root,
    check_roots,
)
from tracking.readers import MAX_DEPTH, Source, find
from tracking.store import Store, StoreUnavailable

__all__ = [
    "DEFAULT_INTERVAL",
    "FIND_EVERY",
    "BadRoot",
    "Poll",
    "check_root",
    "check_roots",
    "folder_mtimes",
    "scan",
    "watch",
]

log = logging.getLogger("tracking.watch")

MAX_FOLDERS = 50_000
"""Folders whose mtime is watched per root; past that only the periodic ``find`` sees
new runs in the rest."""
_SKIP = frozenset({"__pycache__", "node_modules", "site-packages"})


def folder_mtimes(root: Path) -> dict[str, int]:
    """mtime (ns) of ``root`` and the folders under it that ``find`` would visit (hidden
    ones and an MLflow run's ``artifacts/`` not), bounded by depth and ``MAX_FOLDERS``;
    symlinked folders only when they resolve under the root."""
    found: dict[str, int] = {}
    seen: set[str] = set()
    stack = [(str(root), 0)]
    while stack and len(found) < MAX_FOLDERS:
        path, depth = stack.pop()
        if path in seen:
            continue
        seen.add(path)
        try:
            found[path] = os.stat(path).st_mtime_ns
            entries = list(os.scandir(path))
        except OSError:
            continue
        if depth >= MAX_DEPTH:
            continue
        mlflow_run = any(e.name == "meta.yaml" for e in entries)
        for e in entries:
            if e.name.startswith(".") or e.name in _SKIP or (mlflow_run and e.name == "artifacts"):
                continue
            try:
                if not e.is_dir():
                    continue
                target = os.path.realpath(e.path) if e.is_symlink() else e.path
            except OSError:
                continue
            if Path(target).is_relative_to(root):
                stack.append((target, depth + 1))
    return found


@dataclass
class _Scan:
    """One root's ``find`` result and the folder mtimes it was taken at."""

    root: Path
    sources: list[Source]
    mtimes: dict[str, int]

    def changed(self) -> bool:
        for path, mtime in self.mtimes.items():
            try:
                if os.stat(path).st_mtime_ns != mtime:
                    return True
            except OSError:
                return True
        return False


def scan(root: Path) -> _Scan:
    """``find`` under ``root``; the mtimes are taken first, so a change during ``find``
    shows on the next poll."""
    mtimes = folder_mtimes(root)
    return _Scan(root, list(find(root)), mtimes)


@dataclass(frozen=True)
class Poll:
    """One poll as ``on_poll`` sees it: its number (0 first), whether ``find`` ran, and
    the runs' reports (None when the store was unavailable)."""

    number: int
    found: bool
    reports: list[RunReport] | None


def watch(
    store: Store,
    roots: Sequence[str | os.PathLike[str]],
    *,
    interval: float = DEFAULT_INTERVAL,
    find_every: int = FIND_EVERY,
    stop: threading.Event | None = None,
    on_poll: Callable[[Poll], None] | None = None,
) -> None:
    """Poll ``roots`` every ``interval`` s until ``stop`` is set (forever without one).

    Raises ``BadRoot`` before the first poll for a root that is not a readable folder; a
    root that goes away later is logged and looked for again each poll.
    """
    if not interval > 0 or find_every < 1:
        raise ValueError("interval must be > 0 seconds and find_every >= 1 polls")
    folders = check_roots(roots)
    stop = stop or threading.Event()
    follower = Follower(store)
    scans: dict[Path, _Scan] = {}
    failures = 0
    number = 0
    log.info("watching %s into %s every %g s", ", ".join(map(str, folders)), store.url, interval)
    while not stop.is_set():
        delay = interval
        periodic = number % find_every == 0
        found = False
        reports: list[RunReport] | None = None
        try:
            pairs: list[tuple[Path, Source]] = []
            for root in folders:
                current = scans.get(root)
                if current is None or periodic or current.changed():
                    current = _rescan(root, scans)
                    found = True
                if current is not None:
                    pairs.extend((root, s) for s in current.sources)
            if periodic and number:
                follower.drop_deleted()
            reports = follower.run_pass(pairs, stop=stop)
            if failures:
                log.info("the run store answers again; carrying on")
            failures = 0
            _log_reports(reports)
        except StoreUnavailable as exc:
            delay = min(interval * 2**failures, MAX_BACKOFF)
            failures += 1
            log.warning("%s (next try in %.3g s; nothing was lost)", exc, delay)
            follower.forget()
        if on_poll is not None:
            on_poll(Poll(number, found, reports))
        number += 1
        stop.wait(delay)
    log.info("stopped")


def _rescan(root: Path, scans: dict[Path, _Scan]) -> _Scan | None:
    try:
        current = scan(root)
    except OSError as exc:
        if root in scans:
            log.warning("%s cannot be read (%s); looking again each poll", root, exc)
        scans.pop(root, None)
        return None
    if root not in scans:
        log.info("%s: %d runs", root, len(current.sources))
    scans[root] = current
    return current


def _log_reports(reports: list[RunReport]) -> None:
    for r in reports:
        if r.created:
            log.info("new run %s (%s, %s)", r.run_id, r.kind, r.source)
        a = r.added
        if a.new or a.replaced:
            log.info("%s: %d new points, %d replaced", r.run_id, a.new, a.replaced)
        for p in r.new_problems:
            log.warning("%s: %s", r.run_id, p)
