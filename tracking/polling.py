"""The watcher's folders and pace, kept apart from the readers so the command line can check
a folder (and show its defaults) without importing them.

A root must be a folder this process can list: a missing path, a file, or a folder it may
not read is refused before anything is read, with the path, what is wrong and what to do.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Iterable
from pathlib import Path

DEFAULT_INTERVAL = 2.0
"""Seconds between polls: a new point shows within a few seconds, and an idle poll of 1,000
runs costs a few milliseconds (benchmarks/bench_ingest.py)."""
FIND_EVERY = 60
"""Polls between two ``find`` runs when no folder mtime changed (2 min at 2 s): a network
file system may show a folder's new mtime late."""
MAX_BACKOFF = 60.0
"""Longest wait between two tries while the store is unavailable."""


class BadRoot(ValueError):
    """A folder to watch that is missing, not a folder, or not readable."""


def check_root(path: str | os.PathLike[str]) -> Path:
    """``path`` resolved, if it is a folder this process can list.

    Raises:
        BadRoot: naming the path, what is wrong and what is expected.
    """
    given = Path(path)
    try:
        resolved = given.resolve(strict=True)
    except (FileNotFoundError, RuntimeError):
        raise BadRoot(
            f"{path}: no such folder; give the folder your training writes its logs to "
            "(it may be empty; runs appear as they are written)"
        ) from None
    except OSError as exc:
        raise BadRoot(f"{path}: cannot be reached ({exc.strerror or exc})") from None
    if not resolved.is_dir():
        raise BadRoot(
            f"{path}: not a folder; give the folder that holds your runs (for a single file, "
            f"its folder: {given.parent})"
        )
    try:
        with os.scandir(resolved) as it:
            next(it, None)
    except OSError as exc:
        raise BadRoot(
            f"{path}: cannot be listed by user {getpass.getuser()} ({exc.strerror or exc}); "
            "give it read and execute permission (chmod a+rx) or run as its owner"
        ) from None
    return resolved


def check_roots(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Every path checked (``check_root``), duplicates dropped; all problems in one error."""
    roots: list[Path] = []
    errors: list[str] = []
    for p in paths:
        try:
            root = check_root(p)
        except BadRoot as exc:
            errors.append(str(exc))
            continue
        if root not in roots:
            roots.append(root)
    if errors:
        raise BadRoot("\n".join(errors))
    if not roots:
        raise BadRoot("no folder given to read runs from")
    return roots
