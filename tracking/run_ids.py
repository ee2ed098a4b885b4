"""Run ids for runs found on disk: readable, stable across passes and restarts, unique.

A run found under a root is named by its folder's path relative to that root
(``exp1/version_0``; ``tracking.readers.Source.name``). The id is that name made to fit the
store's run-id rule (1 to 128 of ``[A-Za-z0-9._-]``, starting with a letter or digit), so a
user recognises it in ``python -m tracking list`` and in API URLs: ``exp1-version_0``.

Two different folders can give the same text (``exp1/version_0`` and a folder literally named
``exp1-version_0``; ``exp1`` under two roots; a run pushed over HTTP as ``exp1``), so every
run remembers where it came from (its *key*: the folder's resolved path, ``runs.source`` in
the store) and the plain id is used only while no other source holds it. Otherwise, and when
the name has nothing usable or is too long, the id gets ``-`` and 8 hex digits of the key's
SHA-256. Which of two runs gets the plain id depends on which was stored first; either way
the choice is the same on every pass and after a restart, since it is read from the store.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from tracking.store.names import MAX_RUN_ID

_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9._-]+")
_HASH_CHARS = 8


def slug(name: str) -> str:
    """``name`` with every run of characters the rule forbids (``/``, spaces, non-ASCII)
    replaced by ``-`` and leading ``.``, ``_``, ``-`` removed; may be empty."""
    return _NOT_ALLOWED.sub("-", name).lstrip("._-")


def display_name(name: str, root: Path) -> str:
    """What a run found as ``name`` under ``root`` is called: its relative path, or the
    root's own folder name when the root itself is the run (``name == "."``)."""
    if name in ("", "."):
        return root.name or "root"
    return name


def choices(key: str, name: str) -> tuple[str | None, str]:
    """(plain id or None when the name gives none that fits, id with the key's hash)."""
    digest = hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()[:_HASH_CHARS]
    text = slug(name)
    plain = text if text and len(text) <= MAX_RUN_ID else None
    stem = (text or "run")[: MAX_RUN_ID - _HASH_CHARS - 1].rstrip("-")
    return plain, f"{stem or 'run'}-{digest}"
