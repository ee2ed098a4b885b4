"""One pass over the runs found on disk: read what is new in each file, store it with the
file's new position in one transaction, and keep each run's settings, recipe guess and
problems up to date (docs/tracking.md, "Watcher").

``Follower`` is the watcher's memory between passes and ``ingest`` is one pass on its own
(``python -m tracking ingest``). What makes following safe:

- **Positions live in the store, with the points.** Each file's (path, inode, size,
  position) is written in the same transaction as the points read up to that position, so
  a crash or a store failure at any moment leaves either both or neither: a restarted
  watcher resumes exactly there, and the store's upsert on (run, metric, step) makes a
  re-read of the same bytes change nothing. Nothing is advanced in memory before the
  commit.
- **A replaced or shortened file is read from 0**: its inode differs from the stored one,
  or it is smaller than the stored size or position (rotated, truncated, rewritten by an
  editor). Files rewritten in place (``trainer_state.json``, Lightning ``metrics.csv``,
  MLflow, W&B; their reads return position 0) are read whole each time they change.
- **Unchanged files cost one ``stat``** (``tracking.signatures``): the same signature as
  last pass means nothing to do, with no store query. The memory is only a shortcut: after
  a restart, or after the store failed, each file is checked against its stored state
  again (and files rewritten in place are read once more, which the upsert makes
  harmless). An append-only file whose stored position is its unchanged size is not read.
- **One write per file read.** The points, the file's state and the run's row (settings,
  recipe guess, status, problems) go in one transaction; a run's row is written on its own
  only when its problems, status or kind changed without a read.
- **Alerts are computed here, once** (``tracking.alerting``): after a read's transaction
  commits, the detectors run over its new points in a transaction of their own; they never
  raise into the pass (a failure is logged and recorded as an event on the run).
- **Bad input stays on its run.** A reader's problems (bad CRC, a 10 MB line, deep JSON)
  become the run's ``problems`` and ``status = "problems"``; a file that may not be read
  (a symlink out of the root) or whose reader raised (a bug: logged with the path and the
  traceback) is a problem on its run and is tried again when it changes. Other runs carry
  on. Only ``StoreUnavailable`` stops a pass: the caller backs off and retries, and since
  positions move only with their points, nothing is lost.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tracking import alerting, run_ids
from tracking.readers import OutsideRoot, Source, SourceFile, find, read_file
from tracking.readers._common import inside
from tracking.recipe_params import (
    dashboard_params,
    merged,
    recipe_only,
    recipe_params,
    settings_only,
    stored_curves,
)
from tracking.records import Read, Series
from tracking.signatures import Signature, Stat, signature
from tracking.store import Added, BadInput, FileState, Store, StoreUnavailable
from tracking.store.names import check_metric

log = logging.getLogger("tracking.watch")

MAX_PROBLEMS_PER_FILE = 50
"""Problems kept per file; a file damaged throughout shows its first fifty, and its reader's
own count of the rest."""
MAX_NAME = 200
MAX_SOURCE = 4_096
_RETRIED = "; tried again when the file changes"
"""Ends the watcher's own messages about a file it could not read this time: they are not
restored after a restart (the file is simply read again)."""
_TRANSIENT = (_RETRIED, "will retry")


@dataclass(frozen=True)
class RunReport:
    """What a pass did for one run.

    ``files_read``: files read this pass (unchanged ones are not); ``added``: points new,
    the same as stored, and replaced; ``problems``: everything the run shows now;
    ``new_problems``: those it did not show before this pass; ``created``: the run was not
    in the store before.
    """

    run_id: str
    name: str
    source: str
    kind: str
    status: str
    files_read: int
    added: Added
    problems: tuple[str, ...]
    new_problems: tuple[str, ...]
    created: bool


Row = tuple[str, str, tuple[str, ...]]
"""(kind, status, problems) of a run's row in the store."""


@dataclass
class _Run:
    """The watcher's memory of one run (keyed by its source key)."""

    run_id: str
    key: str
    name: str
    root: Path
    run_dir: Path
    stored: bool
    """the run has a row in the store"""
    row: Row = ("", "", ())
    """what the store's row says (kind, status, problems), to write it only when it changes"""
    settings: dict[str, str] = field(default_factory=dict)
    recipe: dict[str, str] = field(default_factory=dict)
    find_problems: tuple[str, ...] = ()
    kept: dict[str, list[str]] = field(default_factory=dict)
    """per file key: problems of reads that moved past them (they stay)"""
    latest: dict[str, list[str]] = field(default_factory=dict)
    """per file key: problems of the latest read when it did not move (they may go)"""
    source_files: tuple[SourceFile, ...] = ()
    files: tuple[str, ...] = ()
    """file keys of ``source_files``"""
    kind: str = ""
    shown: tuple[str, ...] = ()

    def problems(self) -> tuple[str, ...]:
        if not self.find_problems and not any(self.kept.values()) and not any(self.latest.values()):
            return ()
        out = list(self.find_problems)
        seen = set(out)
        for key in self.files:
            for p in (*self.kept.get(key, ()), *self.latest.get(key, ())):
                if p not in seen:
                    seen.add(p)
                    out.append(p)
        return tuple(out)

    def desired(self) -> Row:
        problems = self.problems()
        return (self.kind, "problems" if problems else "ok", problems)


@dataclass
class _Tally:
    files_read: int = 0
    added: Added = field(default_factory=Added)
    created: bool = False


def source_key(root: Path, name: str) -> str:
    """Where a found run is, independent of the root it was found under: the run folder's
    resolved path, or for a run inside an MLflow database ``<db path>/<run id>``. (Made by
    string concatenation: this runs for every run on every poll.)"""
    base = str(root)
    if name in ("", "."):
        return base
    return f"{base.rstrip('/')}/{name}"


def file_key(file: SourceFile) -> str:
    """The file's row in the store's ``files`` table (one per run for a shared database)."""
    return str(file.path) if file.run_id is None else f"{file.path}#{file.run_id}"


def label(file: SourceFile, run_dir: Path) -> str:
    """How a problem names the file: its path in the run folder."""
    if file.run_id is not None:
        return f"{file.path.name} run {file.run_id}"
    try:
        rel = file.path.relative_to(run_dir).as_posix()
    except ValueError:
        rel = file.path.name
    return f"{file.kind} run folder" if rel == "." else rel


def _named(message: str, name: str, path: Path) -> str:
    if message.startswith((f"{name}:", f"{name} ", str(path))):
        return message
    return f"{name}: {message}"


def _belongs(message: str, name: str, path: Path) -> bool:
    return message.startswith((f"{name}:", f"{name} ", f"{path}:", f"{path} "))


class Follower:
    """Reads what is new in the runs it is shown and writes it to ``store``.

    Holds, between passes, each file's last signature and each run's id, settings, recipe
    and problems; never anything the store does not also have (``forget`` drops it all, and
    the next pass rebuilds it from the store). One ``Follower`` per watcher; not shared
    between threads.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self._sigs: dict[str, Signature] = {}
        self._runs: dict[str, _Run] = {}
        self._tally: dict[str, _Tally] = {}
        self._logged: dict[str, str] = {}

    def forget(self) -> None:
        """Drop every signature and run memory: the next pass checks every file against
        the store's state and reloads each run from the store."""
        self._sigs.clear()
        self._runs.clear()

    def drop_deleted(self) -> None:
        """Forget runs deleted from the store (``Store.delete_run``), so their files are
        read again from the start, as the store promises."""
        ids = {r.run_id for r in self.store.runs()}
        for key, run in list(self._runs.items()):
            if run.stored and run.run_id not in ids:
                for fk in run.files:
                    self._sigs.pop(fk, None)
                del self._runs[key]

    def run_pass(
        self,
        found: Iterable[tuple[Path, Source]],
        *,
        carry: bool = False,
        stop: threading.Event | None = None,
    ) -> list[RunReport]:
        """Read every run in ``found`` ((resolved root, source) pairs) and store what is new.

        ``carry``: add to the counts of an earlier pass that failed part-way (so a retried
        ``ingest`` reports each point once). ``stop``: once set, the pass ends after the
        run being read (a first pass over many runs may take a while; the rest are read
        on the next start). Raises ``StoreUnavailable`` when the store cannot be written;
        what was committed before stays committed.
        """
        if not carry:
            self._tally.clear()
        groups: dict[str, tuple[Path, Source, tuple[SourceFile, ...], tuple[str, ...]]] = {}
        for root, source in found:
            key = source_key(root, source.name)
            group = groups.get(key)
            if group is None:  # the usual case: the source's own tuples, kept as they are
                groups[key] = (root, source, source.files, source.problems)
                continue
            have = {file_key(f) for f in group[2]}
            files = group[2] + tuple(f for f in source.files if file_key(f) not in have)
            problems = group[3] + tuple(p for p in source.problems if p not in group[3])
            groups[key] = (group[0], group[1], files, problems)
        reports = []
        for key, (root, source, files, problems) in groups.items():
            if stop is not None and stop.is_set():
                break
            try:
                reports.append(self._run(key, root, source, files, problems))
            except BadInput as exc:  # a name or path the store refuses: this run only
                self._log_once(key, f"run at {key} cannot be stored: {exc}")
        return reports

    # -- one run -------------------------------------------------------------------------

    def _run(
        self,
        key: str,
        root: Path,
        source: Source,
        files: tuple[SourceFile, ...],
        find_problems: tuple[str, ...],
    ) -> RunReport:
        run = self._runs.get(key) or self._load(key, root, source, files)
        tally = self._tally.setdefault(key, _Tally(created=not run.stored))
        if files is not run.source_files:  # a new find result: what the run holds
            run.source_files = files
            run.files = tuple(file_key(f) for f in files)
            run.kind = "+".join(sorted({f.kind for f in files})) or "none"
        run.find_problems = find_problems
        for file in files:
            self._file(run, file, tally)
        row = run.desired()
        if not run.stored or row != run.row:
            self._update(run)
        shown = row[2]
        new_problems = tuple(p for p in shown if p not in run.shown) if shown else ()
        run.shown = shown
        return RunReport(
            run_id=run.run_id,
            name=run.name,
            source=key,
            kind=run.kind,
            status=run.row[1],
            files_read=tally.files_read,
            added=tally.added,
            problems=shown,
            new_problems=new_problems,
            created=tally.created,
        )

    def _load(self, key: str, root: Path, source: Source, files: tuple[SourceFile, ...]) -> _Run:
        """The run's id (see ``tracking.run_ids``) and what the store has of it."""
        if len(key) > MAX_SOURCE:
            raise BadInput(f"its path is over {MAX_SOURCE} characters")
        shown = run_ids.display_name(source.name, root)[:MAX_NAME]
        plain, hashed = run_ids.choices(key, shown)
        candidates = [c for c in (plain, hashed) if c] + [f"{hashed}-{i}" for i in range(2, 10)]
        for run_id in candidates:
            info = self.store.run(run_id)
            if info is None:
                run = _Run(run_id, key, shown, root, source.run_dir, stored=False)
                break
            if info.source == key:
                run = _Run(run_id, key, info.name, root, source.run_dir, stored=True)
                run.row = (info.kind, info.status, info.problems)
                params = self.store.params(run_id)
                run.settings = settings_only(params)
                run.recipe = recipe_only(params)
                self._restore_problems(run, info.problems, files)
                run.shown = info.problems
                break
        else:  # pragma: no cover - ten hash collisions in a row
            raise BadInput(f"no free run id for {key}")
        self._runs[key] = run
        return run

    @staticmethod
    def _restore_problems(
        run: _Run, problems: Sequence[str], files: tuple[SourceFile, ...]
    ) -> None:
        """Stored problems back to their files (those a re-read will find again, and the
        run folder's own, are not kept: the pass makes them anew)."""
        for p in problems:
            if p.endswith(_TRANSIENT):
                continue
            for f in files:
                if _belongs(p, label(f, run.run_dir), f.path):
                    run.kept.setdefault(file_key(f), []).append(p)
                    break

    def _file(self, run: _Run, file: SourceFile, tally: _Tally) -> None:
        fk = file_key(file)
        try:
            st = signature(file)
        except FileNotFoundError:  # deleted since the last find (an old checkpoint): the
            return  # next find, due now that its folder changed, drops it
        except OSError as exc:
            name = label(file, run.run_dir)
            run.latest[fk] = [f"{name}: cannot be seen ({exc.strerror or exc}){_RETRIED}"]
            return
        if self._sigs.get(fk) == st.sig:
            return
        name = label(file, run.run_dir)
        state = self.store.file_state(fk)
        start = 0
        if (
            state is not None
            and state.run_id == run.run_id
            and state.inode == st.inode
            and st.size >= max(state.size, state.position)
        ):
            start = state.position
            if start > 0 and st.size == state.size == start:  # nothing appended since
                self._sigs[fk] = st.sig
                return
        try:
            inside(file.path, run.root)
            read = read_file(file, start, root=run.root)
        except (OutsideRoot, ValueError) as exc:
            run.latest[fk] = [_named(f"{exc}{_RETRIED}", name, file.path)]
            self._sigs[fk] = st.sig
            return
        except OSError as exc:
            run.latest[fk] = [f"{name}: could not be read ({exc.strerror or exc}){_RETRIED}"]
            self._log_once(fk, f"{file.path}: could not be read: {exc}")
            return
        except Exception as exc:  # a reader bug: this file only, the watcher carries on
            log.exception("the %s reader failed on %s (a bug; file skipped)", file.kind, file.path)
            run.latest[fk] = [
                f"{name}: the {file.kind} reader failed ({type(exc).__name__}: {exc}){_RETRIED}"
            ]
            self._sigs[fk] = st.sig
            return
        self._commit(run, file, fk, name, st, start, read, tally)

    def _commit(
        self,
        run: _Run,
        file: SourceFile,
        fk: str,
        name: str,
        st: Stat,
        start: int,
        read: Read,
        tally: _Tally,
    ) -> None:
        """The read's points, the file's new state and the run's row (with the recipe
        guessed again when points or settings came) in one transaction; memory is
        updated only once it committed."""
        problems = [_named(p, name, file.path) for p in read.problems]
        series: list[Series] = []
        for s in read.series:
            try:
                check_metric(s.metric)
                series.append(s)
            except BadInput as exc:
                problems.append(f"{name}: {exc}; its {len(s):,} points not stored")
        kept = [] if start == 0 else list(run.kept.get(fk, []))
        latest: list[str] = []
        if read.position > start:
            kept.extend(p for p in problems if p not in kept)
            kept = kept[:MAX_PROBLEMS_PER_FILE]
        else:
            latest = problems[:MAX_PROBLEMS_PER_FILE]
        settings = {**run.settings, **read.params}
        if run.stored:  # corrections saved on the page since this run was loaded
            settings.update(dashboard_params(self.store.params(run.run_id)))
        recipe = run.recipe
        if any(len(s) for s in series) or settings != run.settings or not recipe:
            stored = stored_curves(self.store, run.run_id) if run.stored else []
            recipe = recipe_params(settings, merged(stored, series))
        old = run.kept.get(fk), run.latest.get(fk)
        run.kept[fk], run.latest[fk] = kept, latest
        try:
            row = run.desired()
            state = FileState(fk, st.inode, max(st.size, read.position), read.position, run.run_id)
            with self.store.transaction() as tx:
                added = tx.add_read(run.run_id, Read(series=series), state)
                tx.put_run(
                    run.run_id,
                    name=None if run.stored else run.name,
                    source=run.key,
                    kind=row[0],
                    params={**settings, **recipe},
                    status=row[1],
                    problems=row[2],
                )
        except BaseException:
            run.kept[fk], run.latest[fk] = old[0] or [], old[1] or []
            raise
        run.stored = True
        run.row = row
        run.settings, run.recipe = settings, recipe
        self._sigs[fk] = st.sig
        tally.files_read += 1
        tally.added += added
        self._logged.pop(fk, None)
        if added.new or added.replaced:  # committed: now the alerts (never raises)
            alerting.safe_evaluate(
                self.store, run.run_id, series, name=run.name, params={**settings, **recipe}
            )

    def _update(self, run: _Run) -> None:
        """The run's row alone: its problems, status or kind changed without a read (or
        nothing of it could be read)."""
        recipe = run.recipe or recipe_params(
            run.settings, stored_curves(self.store, run.run_id) if run.stored else []
        )
        row = run.desired()
        self.store.put_run(
            run.run_id,
            name=None if run.stored else run.name,
            source=run.key,
            kind=row[0],
            params={**run.settings, **recipe},
            status=row[1],
            problems=row[2],
        )
        run.recipe = recipe
        run.stored = True
        run.row = row

    def _log_once(self, key: str, message: str) -> None:
        if self._logged.get(key) != message:
            self._logged[key] = message
            log.warning("%s", message)


def ingest(
    store: Store,
    roots: Sequence[Path],
    *,
    retries: int = 6,
    backoff: float = 1.0,
    follower: Follower | None = None,
) -> list[RunReport]:
    """Find the runs under ``roots`` (resolved folders; see ``tracking.watch.check_roots``)
    and read what is new in each, once.

    The store unavailable (locked, disk full, gone): retried ``retries`` times, waiting
    ``backoff`` s and doubling, each retry resuming from the stored positions; then
    ``StoreUnavailable``. Nothing committed is lost either way.
    """
    found = [(root, source) for root in roots for source in find(root)]
    follower = follower or Follower(store)
    for attempt in range(retries + 1):
        try:
            return follower.run_pass(found, carry=attempt > 0)
        except StoreUnavailable as exc:
            if attempt == retries:
                raise
            wait = backoff * 2**attempt
            log.warning("%s (next try in %.3g s; nothing was lost)", exc, wait)
            follower.forget()
            time.sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover
