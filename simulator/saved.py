"""Saved runs: a bounded list of compact run states, as kept in the browser's local storage.

A saved run is its ``RunState`` (about a kilobyte whatever its length); its curves are
recomputed on demand. The list is bounded (``MAX_SAVED``): saving one more drops the oldest
and says so. Entries carry a short id derived from their content, so a rename or delete
addresses the run, not its position in a list the browser may have reordered.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from simulator.run import RunState, StateError

MAX_SAVED = 20
MAX_NAME = 80


def entry_id(state_dict: dict[str, Any]) -> str:
    """A stable 10-hex-digit id for a saved state (its content hash)."""
    blob = json.dumps(state_dict, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.blake2b(blob, digest_size=5).hexdigest()


def make_entry(state: RunState, name: str | None = None) -> dict[str, Any]:
    """A saved-run entry ``{"id", "state"}`` for ``state``, optionally renamed."""
    d = state.to_dict()
    if name is not None:
        d["name"] = name.strip()[:MAX_NAME]
    return {"id": entry_id(d), "state": d}


def add_run(
    saved: Sequence[dict[str, Any]] | None, state: RunState, name: str | None = None
) -> tuple[list[dict[str, Any]], str | None]:
    """Append ``state`` to the saved list; returns the new list and a notice if one was dropped.

    Saving the same state twice keeps one copy.
    """
    entry = make_entry(state, name)
    kept = [e for e in (saved or []) if isinstance(e, dict) and e.get("id") != entry["id"]]
    kept.append(entry)
    notice = None
    if len(kept) > MAX_SAVED:
        dropped = kept[: len(kept) - MAX_SAVED]
        kept = kept[len(kept) - MAX_SAVED :]
        names = ", ".join(repr(e.get("state", {}).get("name") or e.get("id")) for e in dropped)
        notice = f"Kept the newest {MAX_SAVED} saved runs; dropped the oldest: {names}"
    return kept, notice


def load_saved(raw: Any) -> tuple[list[tuple[str, RunState]], list[str]]:
    """Parse a saved list from the browser: valid entries, and one message per bad entry.

    Bad entries are reported, never fatal, so one tampered entry does not lose the others.
    """
    if raw is None:
        return [], []
    if not isinstance(raw, list):
        return [], ["saved runs were not a list; ignored"]
    good: list[tuple[str, RunState]] = []
    errors: list[str] = []
    for i, e in enumerate(raw[: MAX_SAVED * 2]):
        if not isinstance(e, dict) or set(e) != {"id", "state"} or not isinstance(e["id"], str):
            errors.append(f"saved run {i + 1}: not an {{id, state}} entry")
            continue
        try:
            good.append((e["id"][:16], RunState.from_dict(e["state"])))
        except StateError as exc:
            errors.append(f"saved run {i + 1}: {exc}")
    return good[-MAX_SAVED:], errors
