"""TFRecord framing: find the complete, CRC-valid records of a file from a byte offset.

A TFRecord file is a sequence of records, each::

    uint64 length | uint32 masked_crc32c(length) | data[length] | uint32 masked_crc32c(data)

(little-endian; the mask is TFRecord's ``rotr15(crc) + 0xa282ead8``).

Decisions:

- **Bounded.** A record longer than ``MAX_RECORD`` (64 MiB) is never read: event files hold
  scalars, texts and the odd graph or image, all far smaller. Its length is trusted only
  after the length's own CRC matches, so a corrupt header can never make the reader
  allocate what it claims (a header claiming 1 TB is either corrupt, or a CRC-valid
  oversized record, which is skipped unread with a problem when the file holds it whole,
  and ends the pass otherwise). Files are read in chunks of ``CHUNK`` bytes (at least one
  whole record), so memory stays bounded whatever the file's size.
- **A cut-off last record is not a problem.** A writer appends a record in several writes;
  a pass that sees only part of it stops before it, and the next pass, reading from the
  returned position, reads it whole.
- **A bad data CRC skips that record** (its length was CRC-valid, so the next record's
  start is known) and names it.
- **A bad length CRC resynchronises.** The bytes from there on are searched for the next
  offset where a header's length CRC *and* its record's data CRC both match (a false match
  needs two 32-bit CRCs to collide); the bytes in between are skipped and named. If no
  valid record follows, the pass stops at the bad header.
- **The position** returned is just past the last complete, CRC-valid record. A bad or
  oversized record after it is met again (and named again) on the next pass, which also
  reads whatever valid records were appended after it; if a record only *looked* bad
  because its bytes were not all visible yet (network file systems can show a file's new
  size before its data), the next pass reads it whole.

Fast path: the framing is a chain (each record's length gives the next record's offset).
Every offset whose 13th byte is ``0x09`` (an Event starts with its wall time, field 1,
fixed64) is a candidate; all candidates' lengths and length CRCs are checked at once with
numpy, and runs where each candidate's end is the next candidate's start are taken whole.
Anything else (an Event without a wall time, a corrupt region) is walked one record at a
time. Data CRCs are checked for all of a chunk's records at once (``crc32c.py``).
"""

from __future__ import annotations

import io
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

from tracking.readers.crc32c import crc32c_many, mask_many

HEADER = 12  # uint64 length + uint32 masked CRC of the length
FOOTER = 4  # uint32 masked CRC of the data
MAX_RECORD = 64 * 1024 * 1024
CHUNK = 32 * 1024 * 1024
RESYNC_WINDOW = 4 * 1024 * 1024
PAD = 96  # zero bytes after each buffer: fixed-width reads near its end stay inside it
EVENT_FIRST_BYTE = 0x09  # Event.wall_time: field 1, wire type fixed64
MAX_PROBLEMS = 50

Bytes = npt.NDArray[np.uint8]
I64 = npt.NDArray[np.int64]

_U64 = struct.Struct("<Q")


class Problems:
    """The problems of one pass over one file, each naming the file and the byte offset.

    At most ``MAX_PROBLEMS`` are listed; the rest are counted in a last line, so a file
    that is corrupt throughout costs one line per problem at most fifty times.
    """

    def __init__(self, path: os.PathLike[str] | str) -> None:
        self.path = os.fspath(path)
        self.lines: list[str] = []
        self.unlisted = 0

    def add(self, offset: int, reason: str) -> None:
        if len(self.lines) < MAX_PROBLEMS:
            self.lines.append(f"{self.path}: offset {offset}: {reason}")
        else:
            self.unlisted += 1

    def result(self) -> list[str]:
        if not self.unlisted:
            return list(self.lines)
        return [*self.lines, f"{self.path}: {self.unlisted} more problems not listed"]


@dataclass(frozen=True)
class Chunk:
    """The good records found in one chunk of a file.

    ``buf`` holds the file's bytes from offset ``base``, followed by ``PAD`` zero bytes;
    record ``i``'s data is ``buf[starts[i] : starts[i] + lengths[i]]``.
    """

    base: int
    buf: Bytes
    starts: I64
    lengths: I64


Stop = Literal["end", "incomplete", "corrupt", "oversized"]


@dataclass
class Framed:
    """Records framed in one buffer (their header offsets and data lengths), and why the
    framing stopped: ``end`` (exactly at the buffer's end), ``incomplete`` (the record at
    ``at`` needs ``need`` bytes), ``corrupt`` (bad length CRC at ``at``), ``oversized``
    (CRC-valid length ``need`` over ``MAX_RECORD`` at ``at``)."""

    offsets: I64
    lengths: I64
    stop: Stop
    at: int
    need: int = 0


def human(nbytes: int) -> str:
    for unit, size in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if nbytes >= size:
            return f"{nbytes / size:.1f} {unit}"
    return f"{nbytes} bytes"


def _u64_at(buf: Bytes, offsets: I64) -> npt.NDArray[np.uint64]:
    return np.lib.stride_tricks.sliding_window_view(buf, 8)[offsets].view("<u8").ravel()


def _u32_at(buf: Bytes, offsets: I64) -> npt.NDArray[np.uint32]:
    return np.lib.stride_tricks.sliding_window_view(buf, 4)[offsets].view("<u4").ravel()


def header_ok(buf: Bytes, offsets: I64) -> npt.NDArray[np.bool_]:
    """Whether the length CRC of the header at each offset matches."""
    eights = np.full(len(offsets), 8, dtype=np.int64)
    ok: npt.NDArray[np.bool_] = mask_many(crc32c_many(buf, offsets, eights)) == _u32_at(
        buf, offsets + 8
    )
    return ok


def data_ok(buf: Bytes, offsets: I64, lengths: I64) -> npt.NDArray[np.bool_]:
    """Whether the data CRC of the record at each offset matches."""
    crc = mask_many(crc32c_many(buf, offsets + HEADER, lengths))
    ok: npt.NDArray[np.bool_] = crc == _u32_at(buf, offsets + HEADER + lengths)
    return ok


def _candidates(buf: Bytes, n: int) -> tuple[I64, I64]:
    """Offsets that look like Event records with a valid length CRC, and their lengths."""
    if n < HEADER + 1:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    offsets = np.flatnonzero(buf[HEADER:n] == EVENT_FIRST_BYTE).astype(np.int64)
    raw = _u64_at(buf, offsets)
    fits = raw <= MAX_RECORD
    offsets, lengths = offsets[fits], raw[fits].astype(np.int64)
    fits = offsets + HEADER + lengths + FOOTER <= n
    offsets, lengths = offsets[fits], lengths[fits]
    good = header_ok(buf, offsets)
    return offsets[good], lengths[good]


def frame(buf: Bytes, n: int) -> Framed:
    """Frame the records in ``buf[:n]``, from offset 0."""
    cand, cand_len = _candidates(buf, n)
    cand_end = cand + HEADER + cand_len + FOOTER
    # Indices after which the chain of candidates breaks (the last one always does).
    breaks = np.append(np.flatnonzero(cand_end[:-1] != cand[1:]), len(cand) - 1)
    offsets: list[I64] = []
    lengths: list[I64] = []

    def done(stop: Stop, at: int, need: int = 0) -> Framed:
        off = np.concatenate(offsets) if offsets else np.zeros(0, dtype=np.int64)
        lens = np.concatenate(lengths) if lengths else np.zeros(0, dtype=np.int64)
        return Framed(off, lens, stop, at, need)

    p = 0
    while True:
        if p == n:
            return done("end", p)
        j = int(np.searchsorted(cand, p))
        if j < len(cand) and cand[j] == p:
            b = int(breaks[np.searchsorted(breaks, j)])
            offsets.append(cand[j : b + 1])
            lengths.append(cand_len[j : b + 1])
            p = int(cand_end[b])
            continue
        target = int(cand[j]) if j < len(cand) else n
        walked, walked_len, p, stop = _walk(buf, p, n, target)
        if walked:
            w_off = np.array(walked, dtype=np.int64)
            w_len = np.array(walked_len, dtype=np.int64)
            bad = np.flatnonzero(~header_ok(buf, w_off))
            if bad.size:
                first = int(bad[0])
                offsets.append(w_off[:first])
                lengths.append(w_len[:first])
                return done("corrupt", int(w_off[first]))
            offsets.append(w_off)
            lengths.append(w_len)
        if stop is None:
            continue
        kind, need = stop
        if kind == "incomplete" and need == HEADER:
            return done("incomplete", p, need)  # not even a whole header yet
        if not header_ok(buf, np.array([p], dtype=np.int64))[0]:
            return done("corrupt", p)
        return done(kind, p, need)


def _walk(
    buf: Bytes, p: int, n: int, target: int
) -> tuple[list[int], list[int], int, tuple[Stop, int] | None]:
    """Step record by record from ``p`` (length CRCs unchecked: the caller checks them all
    at once) until reaching ``target`` or a record that does not fit."""
    walked: list[int] = []
    walked_len: list[int] = []
    unpack = _U64.unpack_from
    while p < target:
        if p + HEADER > n:
            return walked, walked_len, p, ("incomplete", HEADER)
        (length,) = unpack(buf.data, p)
        if length > MAX_RECORD:
            return walked, walked_len, p, ("oversized", length)
        end = p + HEADER + length + FOOTER
        if end > n:
            return walked, walked_len, p, ("incomplete", end - p)
        walked.append(p)
        walked_len.append(length)
        p = end
    return walked, walked_len, p, None


class _Shrank(Exception):
    """The file ended before the size it had when the pass began."""

    def __init__(self, at: int) -> None:
        super().__init__(at)
        self.at = at


@dataclass
class RecordFile:
    """One pass over an open event file from ``position``.

    Iterate ``chunks()``; afterwards ``position`` is just past the last complete, CRC-valid
    record (or where the pass started if there was none) and ``problems`` names what was
    skipped.
    """

    file: io.BufferedReader
    size: int
    position: int
    problems: Problems
    _start: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self._start = self.position

    def _read(self, offset: int, n: int) -> Bytes:
        raw = bytearray(n + PAD)
        self.file.seek(offset)
        got = self.file.readinto(memoryview(raw)[:n])
        if got != n:
            raise _Shrank(offset + (got or 0))
        return np.frombuffer(raw, dtype=np.uint8)

    def chunks(self) -> Iterator[Chunk]:
        try:
            yield from self._chunks()
        except _Shrank as shrank:
            self.problems.add(
                shrank.at,
                f"the file ended here while being read (it was {self.size} bytes when the "
                "pass began): it shrank or was replaced; read it again from 0",
            )

    def _chunks(self) -> Iterator[Chunk]:
        pos = self._start
        need = HEADER
        while pos < self.size:
            n = min(self.size - pos, max(CHUNK, need))
            buf = self._read(pos, n)
            framed = frame(buf, n)
            offsets, lengths = framed.offsets, framed.lengths
            if offsets.size:
                good = data_ok(buf, offsets, lengths)
                for i in np.flatnonzero(~good).tolist():
                    self.problems.add(
                        pos + int(offsets[i]),
                        f"record data CRC mismatch ({int(lengths[i])} bytes); record skipped",
                    )
                offsets, lengths = offsets[good], lengths[good]
            if offsets.size:
                last = int(offsets[-1] + HEADER + lengths[-1] + FOOTER)
                self.position = pos + last
                yield Chunk(pos, buf, offsets + HEADER, lengths)
            at = pos + framed.at
            if framed.stop == "end":
                pos, need = pos + n, HEADER
            elif framed.stop == "incomplete":
                if at + framed.need > self.size:
                    return  # a record still being written: the next pass reads it whole
                pos, need = at, framed.need
            elif framed.stop == "oversized":
                skip_to = at + HEADER + framed.need + FOOTER
                limit = f"over the {human(MAX_RECORD)} limit"
                if skip_to <= self.size:
                    self.problems.add(
                        at,
                        f"record of {framed.need} bytes ({human(framed.need)}) is {limit}; "
                        "skipped unread",
                    )
                    pos, need = skip_to, HEADER
                else:
                    self.problems.add(
                        at,
                        f"record claims {framed.need} bytes ({human(framed.need)}), {limit} "
                        f"and past the end of the file ({self.size} bytes); reading stops here",
                    )
                    return
            else:
                resumed = self._resync(at + 1)
                if resumed is None:
                    self.problems.add(
                        at,
                        "record length CRC mismatch (corrupt header) and no valid record "
                        "after it; reading stops here",
                    )
                    return
                self.problems.add(
                    at,
                    f"record length CRC mismatch (corrupt header); skipped {resumed - at} "
                    f"bytes to the next valid record at offset {resumed}",
                )
                pos, need = resumed, HEADER

    def _resync(self, start: int) -> int | None:
        """The first offset >= ``start`` where a whole, CRC-valid record begins, or None.

        A header's length is < 2**32 only if its bytes 4..7 are zero: that cheap test picks
        the few offsets whose length CRC is then computed, in windows of ``RESYNC_WINDOW``.
        """
        a = start
        while a + HEADER <= self.size:
            n = min(self.size - a, RESYNC_WINDOW + HEADER - 1)
            buf = self._read(a, n)
            m = n - HEADER + 1  # offsets a + i, i < m, have a whole header in the window
            zero = buf[4 : m + 4] == 0
            for k in (5, 6, 7):
                zero &= buf[k : m + k] == 0
            cand = np.flatnonzero(zero).astype(np.int64)
            cand = cand[header_ok(buf, cand)]
            for i in cand.tolist():
                (length,) = _U64.unpack_from(buf.data, i)
                end = a + i + HEADER + length + FOOTER
                if length > MAX_RECORD or end > self.size:
                    continue
                record = self._read(a + i, HEADER + length + FOOTER)
                one = np.zeros(1, dtype=np.int64)
                if data_ok(record, one, np.array([length], dtype=np.int64))[0]:
                    return a + i
            a += m
        return None
