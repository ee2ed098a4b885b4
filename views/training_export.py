"""The Training tab's CSV export: every step of the run at full resolution, streamed.

The run lives in the browser, so the export link carries it: ``export_token`` packs the
compact state (zlib + URL-safe base64, about 1 KB) into the ``?run=`` of a plain GET route
(``callbacks/export.py``), which the browser downloads like any file. The route reads it back
with ``run_from_token`` (untrusted: size-checked before it is decoded, decompressed with a
cap, validated like the run Store) and streams ``csv_chunks``: the metrics are recomputed
``EXPORT_CHUNK_STEPS`` at a time, so a worker's memory does not grow with the run (the old
callback built the whole file as one JSON reply: 128 MB for 1M steps, the worker grew by
~470 MB). See docs/architecture.md.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import numpy as np

import simulator as sim
from simulator.run import MAX_STATE_BYTES
from views import stores

MAX_EXPORT_STEPS = 1_000_000  # ~130 MB of text; a few seconds to stream
EXPORT_CHUNK_STEPS = 8_192  # ~11 MB at peak per chunk (Python strings); no slower than 16K
BYTES_PER_ROW = 126  # measured: 1M steps make 126 MB of CSV
MAX_TOKEN_CHARS = 6_000  # the ?run= value; nginx reads request lines up to 8 KB
# Every metric but the eval flag: val_loss is blank between evaluations instead.
CSV_COLUMNS = tuple(k for k in sim.METRIC_KEYS if k != "is_eval")
# Counts written as whole numbers (7 significant digits wrote 12,582,912 tokens as
# 1.258291e+07: rounded, and in a form a spreadsheet may read as text).
WHOLE_COLUMNS = frozenset({"tokens"})

Runner = Callable[[Callable[[], str]], str]


def export_token(state: sim.RunState) -> str:
    """The run packed for a URL: compact JSON, zlib, URL-safe base64 without padding."""
    blob = json.dumps(state.to_dict(), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(zlib.compress(blob, 9)).decode().rstrip("=")


def run_from_token(token: Any) -> tuple[sim.RunState | None, str | None]:
    """The run from a link's ``?run=``, or None and a sentence saying what was wrong."""
    if not isinstance(token, str) or not token:
        return None, "the link names no run: export from the Training tab"
    if len(token) > MAX_TOKEN_CHARS:
        return None, f"the run in the link is longer than {MAX_TOKEN_CHARS:,} characters"
    try:
        packed = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        unpack = zlib.decompressobj()
        blob = unpack.decompress(packed, MAX_STATE_BYTES + 1)
        if len(blob) > MAX_STATE_BYTES or unpack.unconsumed_tail:
            return None, f"the run in the link unpacks to more than {MAX_STATE_BYTES:,} bytes"
        raw = json.loads(blob)
    except (binascii.Error, zlib.error, ValueError, RecursionError):
        return None, "the link's run is not one this dashboard wrote"
    state, problem = stores.load_run(raw)
    if state is None:
        return None, problem or "the link names no run"
    return state, None


def refusal(state: sim.RunState) -> str | None:
    """Why ``state`` cannot be exported (no steps yet, or too many), or None."""
    if state.step == 0:
        return "Nothing to export yet: start the run first."
    if state.step > MAX_EXPORT_STEPS:
        return (
            f"Export refused: this run has {state.step:,} steps; CSV export is limited to "
            f"{MAX_EXPORT_STEPS:,} steps (about 130 MB)."
        )
    return None


def file_name(state: sim.RunState) -> str:
    """``llama-2-7b-seed0-step1234.csv``: model, seed and step (ASCII, no quotes)."""
    return f"{state.config.model}-seed{state.seed}-step{state.step}.csv"


def _rows(state: sim.RunState, start: int, stop: int) -> str:
    """Steps ``start .. stop - 1`` as CSV lines (7 significant digits)."""
    m = sim.metrics(state, start, stop)
    fmt = "{:.7g}".format  # str.format beats np.char by ~5x here
    cols: list[list[str]] = []
    for name in CSV_COLUMNS:
        a = np.asarray(m[name])
        if a.dtype.kind in "iu":
            cols.append(list(map(str, a.tolist())))
        elif name in WHOLE_COLUMNS:
            cols.append(list(map("{:.0f}".format, a.astype(np.float64).tolist())))
        else:
            col = list(map(fmt, a.astype(np.float64).tolist()))
            if name == "val_loss":  # empty between evaluations, not "nan"
                col = ["" if v == "nan" else v for v in col]
            cols.append(col)
    return "\n".join(map(",".join, zip(*cols, strict=True))) + "\n"


def _now(job: Callable[[], str]) -> str:
    return job()


def csv_chunks(state: sim.RunState, run: Runner = _now) -> Iterator[str]:
    """The header, then one block of lines per ``EXPORT_CHUNK_STEPS`` steps.

    ``run`` executes each block's computation (the server runs it at low priority).

    Raises:
        ValueError: the run cannot be exported (``refusal``).
    """
    why = refusal(state)
    if why is not None:
        raise ValueError(why)
    yield ",".join(CSV_COLUMNS) + "\n"
    for a in range(0, state.step, EXPORT_CHUNK_STEPS):
        b = min(state.step, a + EXPORT_CHUNK_STEPS)
        yield run(partial(_rows, state, a, b))


def metrics_csv(state: sim.RunState) -> str:
    """The whole CSV as one string (for tests and scripts; the route streams it)."""
    return "".join(csv_chunks(state))
