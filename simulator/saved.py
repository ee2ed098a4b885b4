"""Saved runs: a bounded list of compact run states, as kept in the browser's local storage.

A saved run is its ``RunState`` (about a kilobyte whatever its length); its curves are
recomputed on demand. The list is bounded (``MAX_SAVED``): saving one more drops the oldest
and says so. Entries carry a short id derived from their content when saved; a rename keeps
the id, so a comparison that refers to the run still finds it, and a rename or delete
addresses the run, not its position in a list the browser may have reordered.

An entry may also carry ``meta``: the user's notes and tags and when it was saved
(``Meta``), as W&B keeps them beside a run. It is optional (entries saved before it existed
still load, with none) and it is not part of the id or of the run's identity: editing a note
changes nothing about the run. A malformed ``meta`` costs only the meta, never the run.

Export and import use one small JSON document (``EXPORT_FORMAT``). An import is untrusted:
its size is checked before it is decoded or parsed, every entry is validated like a state
from the browser, and a bad file or a bad entry never costs the runs already saved.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from simulator.catalog import GPUS
from simulator.run import MAX_STATE_BYTES, RunState, StateError

MAX_SAVED = 20
MAX_NAME = 80
MAX_NOTES = 500  # characters of a run's notes
MAX_TAGS = 8  # tags per run
MAX_TAG = 24  # characters of a tag
SAVED_AT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?Z")
"""When a run was saved: an ISO 8601 UTC time to the minute or second ("2026-11-30T19:40Z")."""
EXPORT_FORMAT = "llm-dashboard/saved-runs"
EXPORT_VERSION = 1
MAX_IMPORT_BYTES = MAX_SAVED * MAX_STATE_BYTES + 4096
"""Largest import accepted (a full list of the largest states plus the wrapper), ~330 KB."""

Entry = dict[str, Any]


class SavedFileError(ValueError):
    """An imported file cannot be used at all (too large, not JSON, wrong shape)."""


@dataclass(frozen=True)
class Meta:
    """What the user wrote about a saved run (notes, tags) and when it was saved.

    ``saved_at`` is None for runs saved before dates were kept. Read from the browser with
    ``Meta.from_dict``, which keeps what is valid and drops the rest.
    """

    notes: str = ""
    tags: tuple[str, ...] = ()
    saved_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"notes": self.notes, "tags": list(self.tags), "saved_at": self.saved_at}

    @classmethod
    def from_dict(cls, raw: Any) -> Meta:
        """The valid parts of a stored ``meta`` (anything else: an empty one)."""
        if not isinstance(raw, dict):
            return cls()
        notes = raw.get("notes")
        when = raw.get("saved_at")
        return cls(
            notes[:MAX_NOTES] if isinstance(notes, str) else "",
            parse_tags(raw.get("tags")),
            when if isinstance(when, str) and SAVED_AT.fullmatch(when) else None,
        )

    @property
    def empty(self) -> bool:
        return not (self.notes or self.tags or self.saved_at)


def parse_tags(raw: Any) -> tuple[str, ...]:
    """Tags from a list or a comma-separated string: trimmed, de-duplicated in order, at most
    ``MAX_TAGS`` of at most ``MAX_TAG`` characters each (longer ones are cut)."""
    parts = raw.split(",") if isinstance(raw, str) else raw if isinstance(raw, list) else []
    out: list[str] = []
    for t in parts:
        if isinstance(t, str) and (tag := " ".join(t.split())[:MAX_TAG]) and tag not in out:
            out.append(tag)
    return tuple(out[:MAX_TAGS])


def entry_meta(e: Any) -> Meta:
    """The ``Meta`` of a stored entry (an empty one when it has none or it is malformed)."""
    return Meta.from_dict(e.get("meta")) if isinstance(e, dict) else Meta()


def hardware(state: RunState) -> str:
    """The run's GPUs as "64×H100 SXM" (type and count, from its config)."""
    gpu = GPUS.get(state.config.gpu)
    return f"{state.config.num_gpus:,}×{gpu.name if gpu else state.config.gpu}"


def entry_id(state_dict: dict[str, Any]) -> str:
    """A stable 10-hex-digit id for a saved state (its content hash)."""
    blob = json.dumps(state_dict, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.blake2b(blob, digest_size=5).hexdigest()


def make_entry(state: RunState, name: str | None = None, meta: Meta | None = None) -> Entry:
    """A saved-run entry ``{"id", "state"}`` for ``state``, optionally renamed, with ``meta``
    when it says anything."""
    d = state.to_dict()
    if name is not None:
        d["name"] = name.strip()[:MAX_NAME]
    e: Entry = {"id": entry_id(d), "state": d}
    if meta is not None and not meta.empty:
        e["meta"] = meta.to_dict()
    return e


def _is_entry(e: Any) -> bool:
    return (
        isinstance(e, dict)
        and set(e) in ({"id", "state"}, {"id", "state", "meta"})
        and isinstance(e["id"], str)
    )


def _bound(kept: list[Entry]) -> tuple[list[Entry], str | None]:
    """Keep the newest ``MAX_SAVED``; a notice naming the dropped ones, if any."""
    if len(kept) <= MAX_SAVED:
        return kept, None
    dropped = kept[: len(kept) - MAX_SAVED]
    names = ", ".join(repr(entry_label(e)) for e in dropped)
    return (
        kept[len(kept) - MAX_SAVED :],
        f"Kept the newest {MAX_SAVED} saved runs; dropped the oldest: {names}",
    )


def entry_label(e: Entry) -> str:
    """The name a user sees for an entry: its name, else its id."""
    state = e.get("state")
    name = state.get("name") if isinstance(state, dict) else None
    return str(name)[:MAX_NAME] if name else f"run {str(e.get('id'))[:16]}"


def add_run(
    saved: Sequence[Entry] | None,
    state: RunState,
    name: str | None = None,
    saved_at: str | None = None,
) -> tuple[list[Entry], str | None]:
    """Append ``state`` to the saved list; returns the new list and a notice if one was dropped.

    Saving the same state twice keeps one copy (with the notes and tags it had).
    ``saved_at``: when (``SAVED_AT``; the caller's clock, this module has none).
    """
    old = {e.get("id"): entry_meta(e) for e in (saved or []) if isinstance(e, dict)}
    entry = make_entry(state, name)
    prev = old.get(entry["id"], Meta())
    meta = Meta(prev.notes, prev.tags, saved_at if saved_at is not None else prev.saved_at)
    entry = make_entry(state, name, meta)
    kept = [e for e in (saved or []) if isinstance(e, dict) and e.get("id") != entry["id"]]
    kept.append(entry)
    return _bound(kept)


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
        if not _is_entry(e):
            errors.append(f"saved run {i + 1}: not an {{id, state}} entry")
            continue
        try:
            good.append((e["id"][:16], RunState.from_dict(e["state"])))
        except StateError as exc:
            errors.append(f"saved run {i + 1}: {exc}")
    if len(raw) > MAX_SAVED * 2:
        errors.append(f"saved runs: only the first {MAX_SAVED * 2} entries were read")
    return good[-MAX_SAVED:], errors


def rename_run(saved: Any, run_id: str, name: str) -> list[Entry]:
    """The list with run ``run_id`` renamed (trimmed to ``MAX_NAME``); its id is kept.

    Entries that are not ``{id, state}`` dicts are left out, as ``load_saved`` would skip them.
    """
    return edit_run(saved, run_id, name=name)


def edit_run(
    saved: Any,
    run_id: str,
    *,
    name: str | None = None,
    notes: str | None = None,
    tags: Any = None,
) -> list[Entry]:
    """The list with run ``run_id``'s name, notes or tags replaced (None: left as is); its id
    and date are kept. Malformed entries are left out, as ``load_saved`` would skip them."""
    out: list[Entry] = []
    for e in saved if isinstance(saved, list) else []:
        if not _is_entry(e):
            continue
        if e["id"] == run_id and isinstance(e["state"], dict):
            state = dict(e["state"])
            if name is not None:
                state["name"] = name.strip()[:MAX_NAME]
            m = entry_meta(e)
            m = Meta(
                m.notes if notes is None else notes.strip()[:MAX_NOTES],
                m.tags if tags is None else parse_tags(tags),
                m.saved_at,
            )
            e = {"id": e["id"], "state": state} | ({} if m.empty else {"meta": m.to_dict()})
        out.append(e)
    return out


def restore_runs(saved: Any, removed: Any) -> tuple[list[Entry], int]:
    """Undo a delete: put back ``removed`` (``[[index, entry], ...]`` as ``take_runs`` gave
    them) at their old places; returns the list and how many came back.

    An entry saved again meanwhile (same id) is not doubled; malformed ones are ignored; the
    list stays within ``MAX_SAVED`` (the oldest go, as when saving).
    """
    out = [e for e in (saved if isinstance(saved, list) else []) if _is_entry(e)]
    have = {e["id"] for e in out}
    back = 0
    pairs = removed if isinstance(removed, list) else []
    for pair in pairs[:MAX_SAVED]:
        if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], int)):
            continue
        at, e = pair
        if not _is_entry(e) or e["id"] in have:
            continue
        out.insert(max(0, min(at, len(out))), e)
        have.add(e["id"])
        back += 1
    kept, _ = _bound(out)
    return kept, back


def take_runs(saved: Any, run_ids: Sequence[str]) -> tuple[list[Entry], list[list[Any]]]:
    """Delete ``run_ids``: the list without them, and ``[[index, entry], ...]`` of what was
    taken, in list order, so ``restore_runs`` can undo it."""
    out: list[Entry] = []
    taken: list[list[Any]] = []
    for i, e in enumerate(e for e in (saved if isinstance(saved, list) else []) if _is_entry(e)):
        if e["id"] in run_ids:
            taken.append([i, e])
        else:
            out.append(e)
    return out, taken


def delete_run(saved: Any, run_id: str) -> list[Entry]:
    """The list without run ``run_id`` (and without malformed entries)."""
    return [
        e for e in (saved if isinstance(saved, list) else []) if _is_entry(e) and e["id"] != run_id
    ]


def export_document(saved: Any) -> str:
    """The valid saved runs as a JSON export file (the ``import_document`` format)."""
    good, _ = load_saved(saved)
    metas = {e["id"][:16]: entry_meta(e) for e in saved if _is_entry(e)} if good else {}
    runs = []
    for i, s in good:
        m = metas.get(i, Meta())
        runs.append({"id": i, "state": s.to_dict()} | ({} if m.empty else {"meta": m.to_dict()}))
    doc = {"format": EXPORT_FORMAT, "version": EXPORT_VERSION, "runs": runs}
    return json.dumps(doc, indent=1, sort_keys=True)


def decode_upload(contents: Any) -> bytes:
    """The bytes of a ``dcc.Upload`` ``contents`` string (``data:<type>;base64,<data>``).

    The size is checked on the encoded text first, so a huge upload is refused before any
    decoding work.

    Raises:
        SavedFileError: not an upload string, too large, or not base64.
    """
    if not isinstance(contents, str) or "," not in contents[:200]:
        raise SavedFileError("the upload was not a file")
    if len(contents) > MAX_IMPORT_BYTES * 4 // 3 + 200:
        raise SavedFileError(
            f"the file is too large (over {MAX_IMPORT_BYTES // 1024} KB); "
            f"an export of {MAX_SAVED} runs is far smaller"
        )
    data = contents.split(",", 1)[1]
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SavedFileError("the file could not be decoded (not base64 data)") from exc


def parse_document(blob: bytes) -> list[Any]:
    """The raw run entries of an export file, checked for size, JSON and shape.

    A bare list of entries (an older or hand-made export) is accepted too.

    Raises:
        SavedFileError: naming what is wrong with the file as a whole.
    """
    if len(blob) > MAX_IMPORT_BYTES:
        raise SavedFileError(f"the file is too large (over {MAX_IMPORT_BYTES // 1024} KB)")
    try:
        doc = json.loads(blob.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise SavedFileError("the file is not JSON; choose a file exported from this tab") from exc
    except RecursionError as exc:  # json's answer to deep nesting is not a ValueError
        raise SavedFileError("the file nests too deeply to be a saved-runs export") from exc
    runs: Any
    if isinstance(doc, list):
        runs = doc
    elif isinstance(doc, dict) and doc.get("format") == EXPORT_FORMAT:
        if doc.get("version") != EXPORT_VERSION:
            raise SavedFileError(
                f"export version {str(doc.get('version'))[:20]} is not supported; "
                f"expected {EXPORT_VERSION}"
            )
        runs = doc.get("runs")
        if not isinstance(runs, list):
            raise SavedFileError("the file's 'runs' is not a list")
    else:
        raise SavedFileError(f"not a saved-runs export (expected format {EXPORT_FORMAT!r})")
    if len(runs) > MAX_SAVED * 2:
        raise SavedFileError(f"the file holds {len(runs)} runs; at most {MAX_SAVED * 2} are read")
    return list(runs)


def run_identity(state: RunState | dict[str, Any]) -> str:
    """What makes two saved states the same run: its seed, config and mid-run changes.

    Not its name (a rename changes nothing about the run) nor how far it got: the simulator
    is deterministic, so the same seed, config and changes are the same run, and a copy at a
    later step holds the earlier one.
    """
    d = state.to_dict() if isinstance(state, RunState) else state
    key = {"seed": d.get("seed"), "config": d.get("config"), "changes": d.get("changes")}
    blob = json.dumps(_canonical(key), sort_keys=True, separators=(",", ":")).encode()
    return hashlib.blake2b(blob, digest_size=8).hexdigest()


def _canonical(v: Any) -> Any:
    """``v`` with whole floats as ints: the browser stores 1.0 as 1 (``JSON.stringify``), so
    the same config reads back with other number types than the server wrote."""
    if isinstance(v, dict):
        return {k: _canonical(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_canonical(x) for x in v]
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


def _progress(d: dict[str, Any]) -> tuple[int, bool]:
    """How far a saved state got: its step, then whether it ended (a stopped or finished run
    at the same step is further than a paused one)."""
    return int(d.get("step", 0)), d.get("status") in ("stopped", "finished", "diverged")


def _names(labels: Sequence[str]) -> str:
    shown = ", ".join(labels[:5])
    return shown + (f" and {len(labels) - 5} more" if len(labels) > 5 else "")


def import_runs(saved: Any, blob: bytes) -> tuple[list[Entry], list[str]]:
    """Merge the runs of an export file into the saved list, once per run.

    Returns the new list and messages: how many were imported, which were updated or skipped,
    one per rejected entry, and the drop notice if the list overflowed. A run is matched by
    ``run_identity`` (seed, config, changes), not by id or name: a run renamed after it was
    exported is skipped rather than saved twice. A copy that got further than the saved one
    updates it in place (same id, so comparisons still find it; the name given here is kept).
    Ids of new entries are recomputed from content, so an edited file cannot impersonate
    another run.

    Raises:
        SavedFileError: the file as a whole is unusable; the caller keeps the saved list as is.
    """
    runs = parse_document(blob)
    current = [e for e in (saved if isinstance(saved, list) else []) if _is_entry(e)]
    known = {e["id"] for e in current}
    # identity -> index in ``current`` of the furthest copy of that run
    furthest: dict[str, int] = {}
    for i, e in enumerate(current):
        if isinstance(e["state"], dict):
            key = run_identity(e["state"])
            j = furthest.get(key)
            if j is None or _progress(e["state"]) > _progress(current[j]["state"]):
                furthest[key] = i
    messages: list[str] = []
    added = 0
    updated: list[str] = []
    skipped: list[str] = []
    for i, raw in enumerate(runs):
        state_dict = raw.get("state") if isinstance(raw, dict) else None
        try:
            state = RunState.from_dict(state_dict)
        except StateError as exc:
            messages.append(f"run {i + 1} in the file was skipped: {exc}")
            continue
        entry = make_entry(state, meta=entry_meta(raw))
        key = run_identity(entry["state"])
        j = furthest.get(key)
        if j is not None:
            mine = current[j]
            if _progress(entry["state"]) <= _progress(mine["state"]):
                skipped.append(repr(entry_label(mine)))
                continue
            new_state = dict(entry["state"])
            new_state["name"] = mine["state"].get("name") or new_state["name"]
            # the user's notes, tags and date stay; the file's fill in what is missing
            m, theirs = entry_meta(mine), entry_meta(raw)
            m = Meta(m.notes or theirs.notes, m.tags or theirs.tags, m.saved_at or theirs.saved_at)
            current[j] = {"id": mine["id"], "state": new_state} | (
                {} if m.empty else {"meta": m.to_dict()}
            )
            updated.append(
                f"{entry_label(current[j])!r} (now at step {state.step:,}, {state.status})"
            )
            continue
        if entry["id"] in known:
            skipped.append(repr(entry_label(entry)))
            continue
        known.add(entry["id"])
        furthest[key] = len(current)
        current.append(entry)
        added += 1
    out = [f"Imported {added} run{'s' if added != 1 else ''}."]
    if updated:
        out.append(f"Updated {len(updated)} saved run(s) the file has further: {_names(updated)}.")
    if skipped and not (added or updated or messages):
        out.append(f"every run in the file is already saved ({_names(skipped)})")
    elif skipped:
        out.append(f"Skipped {len(skipped)} already saved: {_names(skipped)}.")
    elif not (added or updated or messages):
        out.append("the file holds no runs")
    merged, notice = _bound(current)
    out += messages + ([notice] if notice else [])
    return merged, out
