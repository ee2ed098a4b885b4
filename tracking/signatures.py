"""A file's change signature: what one ``stat`` says about whether it needs reading again.

The watcher compares each file's signature with the one it saw last; the same signature
means nothing to do (no read, no store query), which is what keeps an idle poll of
thousands of files to a few milliseconds. The signature is (inode, size, mtime, ctime):
a write changes size or mtime, a replaced file changes the inode, a ``chmod`` (a file
that could not be read and now can) changes ctime. Two kinds need more than one ``stat``:

- an MLflow SQLite database writes through its ``-wal`` file first, so that file's size
  and mtime are added;
- a run that is a folder (an MLflow file-store run, a W&B run) changes in the files under
  it: their count, total size and newest mtime/ctime, three levels deep and at most
  ``FOLDER_ENTRIES`` entries (``artifacts/``, MLflow's copies and checkpoints, skipped).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

from tracking.readers import SourceFile

FOLDER_ENTRIES = 2_000
FOLDER_DEPTH = 3

Signature = tuple[int, ...]


@dataclass(frozen=True)
class Stat:
    """``inode`` and ``size`` for the store's file state; ``sig`` to compare passes."""

    inode: int
    size: int
    sig: Signature


def signature(file: SourceFile) -> Stat:
    """Raises ``OSError`` when the file is gone or cannot be looked at."""
    st = os.stat(file.path)
    if stat.S_ISDIR(st.st_mode):
        return _folder(str(file.path), st)
    sig: Signature = (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    if file.kind == "mlflow":
        try:
            wal = os.stat(f"{file.path}-wal")
            sig += (wal.st_size, wal.st_mtime_ns)
        except OSError:
            sig += (-1, -1)
    return Stat(st.st_ino, st.st_size, sig)


def _folder(folder: str, st: os.stat_result) -> Stat:
    count = total = newest = 0
    stack = [(folder, 0)]
    while stack and count < FOLDER_ENTRIES:
        path, depth = stack.pop()
        try:
            with os.scandir(path) as it:
                for entry in it:
                    count += 1
                    if count >= FOLDER_ENTRIES:
                        break
                    try:
                        est = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    total += est.st_size
                    newest = max(newest, est.st_mtime_ns, est.st_ctime_ns)
                    if (
                        stat.S_ISDIR(est.st_mode)
                        and depth < FOLDER_DEPTH
                        and entry.name != "artifacts"
                    ):
                        stack.append((entry.path, depth + 1))
        except OSError:
            continue
    return Stat(st.st_ino, 0, (st.st_ino, st.st_mtime_ns, count, total, newest))
