"""TensorBoard event files (``events.out.tfevents.*``): scalars and text summaries.

Written by PyTorch's ``SummaryWriter`` (HF Trainer, Lightning, Megatron-LM, NeMo,
torchtitan), tensorboardX, TensorFlow and JAX. Our own reader, not the ``tensorboard``
package's: its loader takes ~190 s on a 1M-step file (one protobuf object per record); this
one reads such a file in a few seconds (``benchmarks/bench_tfevents.py``) and needs neither
``tensorboard`` nor ``protobuf`` at run time. ``tensorboard`` is the test oracle.

What it returns (``tracking.records.Read``):

- one ``Series`` per scalar tag, in source order: step (``Event.step``, 0 when absent),
  value (float64 of the logged float32/float64/int; NaN and infinities kept), wall time
  (``Event.wall_time``, Unix seconds). Both scalar forms are read: ``simple_value`` and
  one-element numeric tensors (see ``eventproto.py`` for the exact rule). Repeated and
  rewound steps (a restart) are kept as logged: the store decides what they mean.
- ``params`` from text summaries, keyed by tag without PyTorch's ``/text_summary`` suffix.
  A text that is a JSON object (HF Trainer's ``args`` and ``model_config``) is flattened
  to dotted keys (``args.learning_rate``, ``model_config.quantization_config.load_in_4bit``);
  strings are kept as they are, other JSON values as JSON (``true``, ``null``, ``[1, 2]``).
  Any other text (Megatron-LM writes each argument as its own text summary: ``lr`` ->
  ``"0.0003"``) is kept whole. A tag written twice keeps its last text. Bounded: texts over
  ``MAX_TEXT`` bytes, JSON nested deeper than ``MAX_DEPTH`` and keys past ``MAX_PARAMS``
  are not taken as parameters (a problem says so).
- ``position``: just past the last complete, CRC-valid record; ``problems``: each skipped
  record by file and offset (framing decisions in ``tfrecord.py``: bounded records, cut-off
  last record, bad CRCs). A record that is not a valid Event is skipped and named.

Each event file is read on its own (a run folder may hold several: restarts, several
writers); merging them is the store's job.

Speed: the records of a chunk are framed and CRC-checked together (``tfrecord.py``,
``crc32c.py``), then every Event of the common shape (wall time, step, a summary holding one
value) is parsed with numpy: wall time, step and the value's tag and length, for all events
at once. Events are grouped by tag and layout; the first of each group is decoded by the
full decoder (``eventproto.py``), which says where its value's bytes are; group members whose
bytes equal it everywhere else are read straight from those bytes, and every other record
goes through the full decoder. So the full decoder is the only definition of what a record
means, and the fast path can only agree with it.
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from tracking.readers.eventproto import WireError, decode_event, decode_value
from tracking.readers.protowire import varint_many
from tracking.readers.tfrecord import HEADER, Chunk, Problems, RecordFile
from tracking.records import Read, Series

PREFIX = "events.out.tfevents."
TEXT_SUFFIX = "/text_summary"
MAX_TEXT = 1024 * 1024
MAX_DEPTH = 32
MAX_PARAMS = 10_000

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


def detect(path: Path) -> bool:
    """Whether ``path`` is named like a TensorBoard event file."""
    return Path(path).name.startswith(PREFIX)


def read(path: Path, position: int = 0, *, root: Path | None = None) -> Read:
    """Read the event file at ``path`` from byte ``position`` (0 or a previous ``position``).

    Raises only for a path it may not read (outside ``root`` once symlinks are resolved, or
    an OS error opening it) or a negative position; bad content becomes ``problems``.
    """
    path = Path(path)
    opened = path if root is None else _under(path, root)
    if position < 0:
        raise ValueError(f"position {position}: must be 0 or a position a previous read returned")
    problems = Problems(path)
    found = _Found()
    with open(opened, "rb") as file:
        size = os.fstat(file.fileno()).st_size
        if position > size:
            problems.add(
                position,
                f"position is past the end of the file ({size} bytes): it shrank or was "
                "replaced; read it again from 0",
            )
            return Read(position=position, problems=problems.result())
        records = RecordFile(file, size, position, problems)
        for chunk in records.chunks():
            _decode_chunk(chunk, found, problems)
    return Read(
        series=found.series(),
        params=found.params,
        position=records.position,
        problems=problems.result(),
    )


def _under(path: Path, root: Path) -> Path:
    """``path`` with symlinks resolved, if that is under ``root`` (resolved too); the
    resolved path is what gets opened, so a link swapped after the check is not followed."""
    resolved, base = path.resolve(), Path(root).resolve()
    if not resolved.is_relative_to(base):
        raise ValueError(
            f"{path} resolves to {resolved}, outside {base}: only files under the given "
            "roots are read"
        )
    return resolved


@dataclass
class _Found:
    """What one pass has found so far, chunk by chunk."""

    parts: dict[str, list[tuple[I64, F64, F64]]] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    text_tags: set[str] = field(default_factory=set)
    params_full: bool = False

    def series(self) -> list[Series]:
        out = []
        for tag, parts in self.parts.items():
            steps, values, times = zip(*parts, strict=True)
            out.append(
                Series(tag, np.concatenate(steps), np.concatenate(values), np.concatenate(times))
            )
        return out

    def add_text(self, tag: str, text: str, offset: int, problems: Problems) -> None:
        key = tag.removesuffix(TEXT_SUFFIX)
        if len(text) > MAX_TEXT:
            problems.add(
                offset,
                f"text summary {key!r} is {len(text)} characters, over the "
                f"{MAX_TEXT} limit for parameters; not read as parameters",
            )
            return
        flat: dict[str, str] = {}
        parsed = _json_object(text)
        too_deep = False
        if parsed is not None:
            try:
                too_deep = _flatten(key, parsed, flat, 1)
            except (ValueError, RecursionError):  # json.dumps of a subtree near the limit
                flat, too_deep = {}, True
        if not flat:
            flat[key] = text
        if too_deep:
            problems.add(
                offset,
                f"text summary {key!r}: JSON nested deeper than "
                f"{MAX_DEPTH} levels; deeper parts kept as JSON text",
            )
        for k, v in flat.items():
            if k not in self.params and len(self.params) >= MAX_PARAMS:
                if not self.params_full:
                    problems.add(
                        offset, f"more than {MAX_PARAMS} parameters; the rest are not read"
                    )
                    self.params_full = True
                return
            self.params[k] = v


def _json_object(text: str) -> dict[str, object] | None:
    if not text.lstrip().startswith("{"):
        return None
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return parsed if isinstance(parsed, dict) else None


def _flatten(prefix: str, obj: dict[str, object], out: dict[str, str], depth: int) -> bool:
    """Dotted keys for nested objects; True if some part was nested past ``MAX_DEPTH``."""
    too_deep = False
    for k, v in obj.items():
        key = f"{prefix}.{k}"
        if isinstance(v, dict) and v:
            if depth >= MAX_DEPTH:
                out[key] = json.dumps(v)
                too_deep = True
            else:
                too_deep |= _flatten(key, v, out, depth + 1)
        elif isinstance(v, str):
            out[key] = v
        else:
            out[key] = json.dumps(v)
    return too_deep


@dataclass
class _Events:
    """The common Event shape parsed for all records of a chunk at once.

    ``ok`` marks records that are exactly: wall_time, optional step, and a summary holding
    one value that starts with its tag and has more fields after it. For those, ``value``
    is the offset of the value's first byte, ``tag``/``tag_len`` its tag's bytes and
    ``end`` the record's end (the value runs to it).
    """

    ok: npt.NDArray[np.bool_]
    wall: F64
    step: I64
    value: I64
    tag: I64
    tag_len: I64
    end: I64


def _parse_events(buf: npt.NDArray[np.uint8], d: I64, length: I64) -> _Events:
    n = len(d)
    end = d + length
    ok = (length >= 9) & (buf[d] == 0x09)  # Event.wall_time, fixed64
    wall = np.lib.stride_tricks.sliding_window_view(buf, 8)[d + 1].view("<f8").ravel()
    p = d + 9
    step = np.zeros(n, dtype=np.uint64)
    q = p.copy()
    has_step = np.flatnonzero(buf[p] == 0x10)  # Event.step, varint
    if has_step.size:
        value, size, good = varint_many(buf, p[has_step] + 1)
        step[has_step] = value
        q[has_step] = p[has_step] + 1 + size
        ok[has_step] &= good
    ok &= buf[q] == 0x2A  # Event.summary
    sum_len, size, good = varint_many(buf, q + 1)
    r0 = q + 1 + size
    ok &= good & (r0 + sum_len.astype(np.int64) == end)
    ok &= buf[r0] == 0x0A  # Summary.value
    val_len, size, good = varint_many(buf, r0 + 1)
    r = r0 + 1 + size
    ok &= good & (r + val_len.astype(np.int64) == end)
    ok &= buf[r] == 0x0A  # Value.tag
    tag_len, size, good = varint_many(buf, r + 1)
    tag = r + 1 + size
    tlen = tag_len.astype(np.int64)
    ok &= good & (tlen > 0) & (tag + tlen < end)
    return _Events(ok, wall, step.view(np.int64), r, tag, tlen, end)


def _fingerprint(buf: npt.NDArray[np.uint8], ev: _Events, rows: I64) -> npt.NDArray[np.uint64]:
    """A key equal for records with the same tag and value length (collisions only cost
    speed: group members are compared byte for byte before their values are taken)."""
    tag, tlen, end = ev.tag[rows], ev.tag_len[rows], ev.end[rows]
    windows = np.lib.stride_tricks.sliding_window_view(buf, 8)
    short = tlen < 8
    first = windows[tag].view("<u8").ravel().copy()
    keep = np.where(
        short, (np.uint64(1) << (tlen.clip(0, 7) * 8).astype(np.uint64)) - 1, ~np.uint64(0)
    )
    first &= keep.astype(np.uint64)
    last = windows[np.where(short, tag, tag + tlen - 8)].view("<u8").ravel().copy()
    last[short] = 0
    shape = (tlen.astype(np.uint64) << np.uint64(32)) ^ (end - tag - tlen).astype(np.uint64)
    with np.errstate(over="ignore"):
        return (
            first * np.uint64(0x9E3779B97F4A7C15)
            ^ last * np.uint64(0xC2B2AE3D27D4EB4F)
            ^ shape * np.uint64(0x165667B19E3779F9)
        )


def _take_values(raw: npt.NDArray[np.uint8], dtype: str) -> F64:
    raw = np.ascontiguousarray(raw)
    if dtype == "bf16":
        halves = raw.view("<u2").ravel().astype(np.uint32) << np.uint32(16)
        return halves.view("<f4").astype(np.float64)
    return raw.view(dtype).ravel().astype(np.float64)


def _decode_chunk(chunk: Chunk, found: _Found, problems: Problems) -> None:
    buf, d, length = chunk.buf, chunk.starts, chunk.lengths
    ev = _parse_events(buf, d, length)
    # Fast path: tag -> [(record indices, values)]
    fast: dict[str, list[tuple[I64, F64]]] = {}
    slow: list[I64] = [np.flatnonzero(~ev.ok)]
    rows = np.flatnonzero(ev.ok)
    if rows.size:
        codes, _ = pd.factorize(_fingerprint(buf, ev, rows))
        order = np.argsort(codes, kind="stable")
        bounds = np.cumsum(np.bincount(codes))
        for a, b in zip(np.append(0, bounds[:-1]).tolist(), bounds.tolist(), strict=True):
            members = rows[order[a:b]]
            taken = _fast_group(buf, d, ev, members, fast)
            if taken is None:
                slow.append(members)
            elif taken.size < members.size:
                slow.append(np.setdiff1d(members, taken, assume_unique=True))
    per_tag: dict[str, list[tuple[I64, I64, F64, F64]]] = {}
    for tag, fast_parts in fast.items():
        for idx, values in fast_parts:
            per_tag.setdefault(tag, []).append((idx, ev.step[idx], values, ev.wall[idx]))
    _decode_slow(chunk, np.sort(np.concatenate(slow)), found, problems, per_tag)
    firsts = sorted((min(int(p[0][0]) for p in parts), tag) for tag, parts in per_tag.items())
    for _, tag in firsts:
        parts = per_tag[tag]
        idx = np.concatenate([p[0] for p in parts])
        step = np.concatenate([p[1] for p in parts])
        value = np.concatenate([p[2] for p in parts])
        wall = np.concatenate([p[3] for p in parts])
        if len(parts) > 1:
            o = np.argsort(idx, kind="stable")
            step, value, wall = step[o], value[o], wall[o]
        found.parts.setdefault(tag, []).append((step, value, wall))


def _fast_group(
    buf: npt.NDArray[np.uint8],
    d: I64,
    ev: _Events,
    members: I64,
    fast: dict[str, list[tuple[I64, F64]]],
) -> I64 | None:
    """Take the values of the group's records that match its first one byte for byte
    outside the value; None when the first is not a fixed-width scalar."""
    x = int(members[0])
    start, stop = int(d[x]), int(ev.end[x])
    record = buf[start:stop].tobytes()
    value_at = int(ev.value[x]) - start
    try:
        value = decode_value(record, value_at, len(record))
    except (WireError, ValueError, struct.error):
        return None  # the full decoder names it, record by record
    if value.kind != "scalar" or value.span is None or value.dtype is None:
        return None
    width = stop - int(ev.value[x])
    lo, hi = value.span[0] - value_at, value.span[1] - value_at
    # Compare 8 bytes at a time: read each value rounded up to whole words (the buffer is
    # padded) and mask out the value's own bytes and those past its end.
    words = -(-width // 8)
    rows = np.lib.stride_tricks.sliding_window_view(buf, words * 8)[ev.value[members]]
    mask = np.zeros(words * 8, dtype=np.uint8)
    mask[:width] = 0xFF
    mask[lo:hi] = 0
    wide = rows.view("<u8")
    masks = mask.view("<u8")
    differs = np.zeros(len(members), dtype=np.uint64)
    for w in range(words):
        differs |= (wide[:, w] ^ wide[0, w]) & masks[w]
    same = differs == 0
    taken: I64 = members[same]
    fast.setdefault(value.tag, []).append((taken, _take_values(rows[same, lo:hi], value.dtype)))
    return taken


def _decode_slow(
    chunk: Chunk,
    indices: I64,
    found: _Found,
    problems: Problems,
    per_tag: dict[str, list[tuple[I64, I64, F64, F64]]],
) -> None:
    """Decode records one at a time with the full decoder, in file order."""
    scalars: dict[str, tuple[list[int], list[int], list[float], list[float]]] = {}
    for i in indices.tolist():
        start, size = int(chunk.starts[i]), int(chunk.lengths[i])
        offset = chunk.base + start - HEADER
        try:
            event = decode_event(chunk.buf[start : start + size].tobytes(), found.text_tags)
        except (WireError, ValueError, struct.error) as exc:
            problems.add(offset, f"record is not a valid Event ({exc}); skipped")
            continue
        for value in event.values:
            if value.kind == "scalar":
                lists = scalars.setdefault(value.tag, ([], [], [], []))
                lists[0].append(i)
                lists[1].append(event.step)
                lists[2].append(value.number)
                lists[3].append(event.wall_time)
            elif value.kind == "text":
                found.text_tags.add(value.tag)
                found.add_text(value.tag, value.text, offset, problems)
    for tag, (idx, step, number, wall) in scalars.items():
        per_tag.setdefault(tag, []).append(
            (
                np.array(idx, dtype=np.int64),
                np.array(step, dtype=np.int64),
                np.array(number, dtype=np.float64),
                np.array(wall, dtype=np.float64),
            )
        )
