"""Readers: the logs training already writes -> ``tracking.records.Read``.

One module per kind of source, each with ``detect(path) -> bool`` and
``read(path, position=0, *, root=None) -> Read`` (docs/tracking.md, "Interfaces"):

- ``tfevents`` (+ ``tfrecord``, ``crc32c``, ``protowire``, ``eventproto``): TensorBoard event
  files (``events.out.tfevents.*``);
- ``trainer_state``: HF Trainer's ``trainer_state.json`` (+ ``config.json``,
  ``adapter_config.json``);
- ``textlog``: llm.c, modded-nanogpt and nanoGPT text logs, and user line patterns;
- ``tabular``: Lightning ``metrics.csv`` (+ ``hparams.yaml``) and JSONL logs;
- ``mlflow``: MLflow's file store run folders and SQLite store;
- ``wandb``: W&B run folders kept on disk (config and summary only).

Readers are pure and never raise on bad content: what they skip is named in
``Read.problems``. They raise ``OutsideRoot`` (a ``ValueError``) only for a path that
resolves outside the root they were given.

``find(root)`` walks a folder and yields its runs (``Source``): each run folder with the
files that belong to it and the reader kind for each. ``read_file`` reads one of them.
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from tracking.readers import mlflow, tabular, textlog, wandb
from tracking.readers._common import OutsideRoot, inside
from tracking.records import Read

__all__ = ["KINDS", "OutsideRoot", "Source", "SourceFile", "find", "read_file", "reader"]

KINDS = ("tfevents", "trainer_state", "textlog", "tabular", "mlflow", "wandb")
"""Reader kinds, each the name of its module in this package."""
TFEVENTS_PREFIX = "events.out.tfevents."
TEXT_SUFFIXES = (".log", ".txt", ".out")
MAX_DEPTH = 16
"""Folders deeper than this under a root are not visited."""
MAX_ENTRIES = 200_000
"""Directory entries visited per ``find``; a root larger than this is cut with a problem."""
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
_SKIP_DIRS = frozenset({"__pycache__", "node_modules", "site-packages"})


@dataclass(frozen=True)
class SourceFile:
    """One file (or MLflow/W&B run folder) a reader reads, and which reader.

    ``run_id`` picks a run inside a file holding several (an MLflow SQLite database).
    """

    path: Path
    kind: str
    run_id: str | None = None


@dataclass(frozen=True)
class Source:
    """One run found under a root.

    ``run_dir`` is the run's folder (resolved); ``name`` is its path relative to the root
    (``exp1/version_0``; for a run inside an MLflow database, ``mlflow.db/<run_id>``), stable
    across passes, so it can key the run. ``problems`` name what was refused while finding it
    (a symlink out of the root, a folder too deep).
    """

    run_dir: Path
    name: str
    files: tuple[SourceFile, ...]
    problems: tuple[str, ...] = ()


def reader(kind: str) -> ModuleType:
    """The reader module of ``kind`` (one of ``KINDS``).

    Raises:
        ValueError: for a kind that is not one of ``KINDS``.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown reader kind {kind!r}; one of {', '.join(KINDS)}")
    return importlib.import_module(f"tracking.readers.{kind}")


def read_file(file: SourceFile, position: int = 0, *, root: Path | None = None) -> Read:
    """Read one ``SourceFile`` with its reader, passing ``run_id`` where the kind takes one."""
    module = reader(file.kind)
    if file.run_id is not None:
        return module.read(file.path, position, root=root, run_id=file.run_id)  # type: ignore[no-any-return]
    return module.read(file.path, position, root=root)  # type: ignore[no-any-return]


def find(root: Path) -> Iterator[Source]:
    """The runs under ``root``, in a stable order (sorted by path).

    A folder is a run when it holds source files: event files (by name: ``events.out.
    tfevents.*``), ``trainer_state.json``, ``.csv``/``.jsonl`` tables with a step column or
    key, text logs of a known format; an MLflow file-store run folder and a W&B run folder
    are runs as a whole (their subfolders are theirs, not other runs). An MLflow SQLite file
    gives one run per run inside it. HF ``checkpoint-N`` folders belong to the output folder
    above them: their newest ``trainer_state.json`` holds every point so far, so that one is
    read (older checkpoints hold the same points). An MLflow run's ``artifacts/`` is not
    searched (it holds copies, such as a checkpoint's ``trainer_state.json``).

    Symlinks are resolved; one that leads out of the root is not followed and becomes a
    problem on the run (or folder) where it was found. Hidden folders (``.git``, MLflow's
    ``.trash``) are skipped. The walk is bounded by ``MAX_DEPTH`` and ``MAX_ENTRIES``.

    Raises:
        FileNotFoundError / NotADirectoryError: ``root`` is not a folder.
    """
    base = Path(root).resolve(strict=True)
    if not base.is_dir():
        raise NotADirectoryError(f"{root} is not a folder")
    walk = _Walk(base)
    yield from walk.folder(base, 0)
    if walk.cut:
        yield Source(base, ".", (), (walk.cut,))


class _Walk:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.entries = 0
        self.cut = ""
        self.seen: set[Path] = set()

    def _name(self, path: Path) -> str:
        rel = path.relative_to(self.base).as_posix()
        return rel or "."

    def _entries(self, folder: Path, problems: list[str]) -> list[tuple[str, Path, bool]]:
        """(name, resolved path, is_dir) of the folder's entries, symlinks checked."""
        try:
            with os.scandir(folder) as it:
                raw = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            problems.append(f"{self._name(folder)}: could not be listed ({exc.strerror or exc})")
            return []
        out: list[tuple[str, Path, bool]] = []
        for e in raw:
            self.entries += 1
            if self.entries > MAX_ENTRIES:
                self.cut = (
                    f"stopped after {MAX_ENTRIES:,} entries under {self.base}; not all runs found"
                )
                return out
            path = Path(e.path)
            try:
                if e.is_symlink():
                    path = inside(path, self.base)
                    is_dir = path.is_dir()
                else:
                    is_dir = e.is_dir(follow_symlinks=False)
            except OutsideRoot as exc:
                problems.append(str(exc))
                continue
            except OSError:
                continue
            out.append((e.name, path, is_dir))
        return out

    def folder(self, folder: Path, depth: int) -> Iterator[Source]:
        if folder in self.seen or self.cut:
            return
        self.seen.add(folder)
        problems: list[str] = []
        if mlflow.detect(folder) and (folder.parent / "meta.yaml").is_file():
            yield Source(folder, self._name(folder), (SourceFile(folder, "mlflow"),))
            return
        if wandb.detect(folder):
            yield self._wandb(folder)
            return
        entries = self._entries(folder, problems)
        files: list[SourceFile] = []
        subdirs: list[Path] = []
        checkpoints: list[tuple[int, Path]] = []
        sqlite_runs: list[Source] = []
        for name, path, is_dir in entries:
            if is_dir:
                m = _CHECKPOINT.match(name)
                if m and (path / "trainer_state.json").is_file():
                    checkpoints.append((int(m.group(1)), path / "trainer_state.json"))
                elif not name.startswith(".") and name not in _SKIP_DIRS:
                    subdirs.append(path)
                continue
            kind = _file_kind(name, path)
            if kind == "mlflow":
                sqlite_runs.extend(self._sqlite(path))
            elif kind is not None:
                files.append(SourceFile(path, kind))
        if checkpoints:
            files.append(SourceFile(max(checkpoints)[1], "trainer_state"))
        if files or problems:
            yield Source(folder, self._name(folder), tuple(files), tuple(problems))
        yield from sqlite_runs
        if depth >= MAX_DEPTH:
            if subdirs:
                yield Source(
                    folder,
                    self._name(folder),
                    (),
                    (f"{self._name(folder)}: {MAX_DEPTH} folders deep; subfolders not searched",),
                )
            return
        for sub in subdirs:
            yield from self.folder(sub, depth + 1)

    def _wandb(self, folder: Path) -> Source:
        files = [SourceFile(folder, "wandb")]
        log = folder / "files" / "output.log"
        if log.is_file() and textlog.detect(log):
            files.append(SourceFile(log, "textlog"))
        return Source(folder, self._name(folder), tuple(files))

    def _sqlite(self, path: Path) -> list[Source]:
        name = self._name(path)
        return [
            Source(path.parent, f"{name}/{run}", (SourceFile(path, "mlflow", run),))
            for run in mlflow.runs(path, root=self.base)
        ]


def _file_kind(name: str, path: Path) -> str | None:
    """Which reader takes this file, by name first, by its first bytes when names are not
    enough (a ``.log`` may be anything)."""
    if name.startswith(TFEVENTS_PREFIX):
        return "tfevents"
    if name == "trainer_state.json":
        return "trainer_state"
    lower = name.lower()
    if lower.endswith(tabular.CSV_SUFFIXES + tabular.JSONL_SUFFIXES):
        return "tabular" if tabular.detect(path) else None
    if lower.endswith(mlflow.SQLITE_SUFFIXES):
        return "mlflow" if mlflow.detect(path) else None
    if lower.endswith(TEXT_SUFFIXES) or lower in ("stdout", "stderr"):
        return "textlog" if textlog.detect(path) else None
    return None
