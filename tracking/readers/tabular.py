"""Tables of metrics: Lightning's ``metrics.csv`` (+ ``hparams.yaml``) and JSONL logs.

**CSV** (Lightning's ``CSVLogger`` and anything shaped like it): one column per metric and a
``step`` column (``global_step`` and ``_step`` are accepted too; a table with only an
``epoch`` column uses it as the step). Rows are sparse: a cell holds a value only for the
metrics logged at that row, and Lightning writes two rows for one step (a training row and a
validation or epoch row). Each non-empty cell is a point at its row's step, in row order; a
cell reading ``nan`` or ``inf`` is a logged NaN or infinity, an empty cell is no point.
Lightning rewrites the whole file when a metric first appears (the header grows), so the
file is read whole each pass and ``position`` is always 0. A last line without ``\\n`` is a
writer caught mid-write: it is left out (with a problem) and read whole on the next pass.
Parsed with pandas' C reader: on a 1M-row table it is several times faster than the
standard library's ``csv`` module (``benchmarks/bench_tracking_readers.py`` prints both).
``hparams.yaml`` beside it becomes params ``hparams.<key>``, loaded with ``yaml.safe_load``
only: a ``!!python/object`` tag is a problem, not code.

**JSONL** (HF Trainer callbacks' dumps, LLaMA-Factory's ``trainer_log.jsonl``, custom
loops): one JSON object per line. Its step is the first of ``STEP_KEYS`` it has (``step``,
``global_step``, LLaMA-Factory's ``current_steps``, W&B-style ``_step``); every other key
with a number is a metric under its own name (``lr`` stays ``lr``, ``learning_rate`` stays
``learning_rate``; the recipe guess knows both), and so are numeric strings (LLaMA-Factory's
``"throughput": "0.00"``) and ``H:MM:SS`` durations (its ``elapsed_time``, in seconds).
Objects without a step key are skipped with one problem counting them. JSONL is appended
to: ``position`` is the byte offset past the last complete line, so a line a writer has cut
off waits for the next pass. Lines are parsed one by one (orjson, falling back to the
standard library for Python's ``NaN``/``Infinity`` literals), so a bad line costs only
itself. ``pandas.read_json(lines=True)`` parses a whole clean file faster (about 1.5x on
1M lines, ``benchmarks/bench_tracking_readers.py``), but one bad line fails everything it
was given, and it knows neither durations nor per-line problems; not used here.
``config.json`` and ``adapter_config.json`` beside a JSONL file become params as they do
beside ``trainer_state.json`` (LLaMA-Factory writes its PEFT adapter's config there).
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import orjson
import pandas as pd

from tracking.readers._common import (
    MAX_LINE_BYTES,
    MAX_WHOLE_FILE_BYTES,
    Lines,
    Problems,
    SeriesBuilder,
    flatten,
    inside,
    load_yaml_file,
    parse_json,
)
from tracking.readers._objects import entry, side_settings
from tracking.records import Read, Series

CSV_SUFFIXES = (".csv",)
JSONL_SUFFIXES = (".jsonl", ".ndjson")
CSV_STEP_COLUMNS = ("step", "global_step", "_step", "epoch")
STEP_KEYS = ("step", "global_step", "current_steps", "_step")
DETECT_BYTES = 64 << 10
_NAN_WORDS = frozenset({"nan", "-nan", "+nan"})


def detect(path: Path) -> bool:
    """A ``.csv`` whose header names a step column, or a ``.jsonl``/``.ndjson`` whose first
    complete line is an object with a step key."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in CSV_SUFFIXES + JSONL_SUFFIXES:
        return False
    try:
        with open(p, "rb") as f:
            head = f.read(DETECT_BYTES)
    except OSError:
        return False
    first = head.split(b"\n", 1)[0].strip()
    if suffix in CSV_SUFFIXES:
        header = first.decode("utf-8-sig", "replace")
        columns = [c.strip().strip('"') for c in header.split(",")]
        return any(c in CSV_STEP_COLUMNS for c in columns)
    if b"\n" not in head:
        return False
    try:
        obj = orjson.loads(first)
    except orjson.JSONDecodeError:
        obj = parse_json(first, Problems(), p.name)
    return isinstance(obj, Mapping) and any(k in obj for k in STEP_KEYS)


def read(
    path: Path,
    position: int = 0,
    *,
    root: Path | None = None,
    max_line: int = MAX_LINE_BYTES,
    max_bytes: int = MAX_WHOLE_FILE_BYTES,
) -> Read:
    """Points of a CSV (whole file, position 0) or a JSONL file (from byte ``position``).

    Raises:
        OutsideRoot: ``path`` resolves outside ``root``.
    """
    path = inside(path, root)
    if path.suffix.lower() in JSONL_SUFFIXES:
        return _read_jsonl(path, root, position, max_line)
    return _read_csv(path, root, max_bytes)


# ----------------------------------------------------------------------------------- JSONL
def _read_jsonl(path: Path, root: Path | None, position: int, max_line: int) -> Read:
    problems = Problems()
    builder = SeriesBuilder()
    lines = Lines(path, position, problems, max_line)
    name = path.name
    try:
        for offset, raw in lines:
            if not raw.strip():
                continue
            try:
                obj = orjson.loads(raw)
            except orjson.JSONDecodeError:
                obj = parse_json(raw, problems, f"{name} line at byte {offset:,}")
                if obj is None:
                    continue
            if not isinstance(obj, Mapping):
                problems.once(
                    "not-object", f"{name}: line at byte {offset:,} is not a JSON object; skipped"
                )
                continue
            e = entry(obj, STEP_KEYS)
            if e.step is None:
                if e.step_key is None:
                    problems.once(
                        "no-step",
                        f"{name}: line at byte {offset:,} has no step key (one of "
                        f"{', '.join(STEP_KEYS)}); skipped",
                    )
                else:
                    problems.once(
                        "bad-step",
                        f"{name}: line at byte {offset:,} has {e.step_key} "
                        f"{str(obj.get(e.step_key))[:40]!r}, not a whole number; skipped",
                    )
                continue
            builder.add_row(e.step, e.time, e.metrics)
    except OSError as exc:
        problems.add(f"{name}: read failed ({exc.strerror or exc}); will retry")
    params: dict[str, str] = {}
    side_settings(path, root, params, problems)
    return Read(
        series=builder.build(), params=params, position=lines.position, problems=problems.to_list()
    )


# ------------------------------------------------------------------------------------- CSV
def _read_csv(path: Path, root: Path | None, max_bytes: int) -> Read:
    problems = Problems()
    params: dict[str, str] = {}
    series: list[Series] = []
    data = _complete_csv(path, max_bytes, problems)
    if data:
        frame = _frame(data, problems, path.name)
        if frame is not None:
            series = _csv_series(frame, problems, path.name)
    hparams = path.parent / "hparams.yaml"
    if hparams.is_file():
        try:
            hp = load_yaml_file(inside(hparams, root), problems, "hparams.yaml")
        except ValueError as exc:
            problems.add(str(exc))
            hp = None
        if isinstance(hp, Mapping):
            flatten(hp, "hparams", params, problems, "hparams.yaml")
        elif hp is not None:
            problems.add(f"hparams.yaml: a {type(hp).__name__}, not a mapping; settings not read")
    return Read(series=series, params=params, position=0, problems=problems.to_list())


def _complete_csv(path: Path, max_bytes: int, problems: Problems) -> bytes | None:
    try:
        size = path.stat().st_size
        if size > max_bytes:
            problems.add(
                f"{path.name}: {size:,} bytes, over the {max_bytes:,}-byte limit; not read"
            )
            return None
        data = path.read_bytes()
    except OSError as exc:
        problems.add(f"{path.name}: could not be read ({exc.strerror or exc}); will retry")
        return None
    if data and not data.endswith(b"\n"):
        cut = data.rfind(b"\n") + 1
        problems.add(
            f"{path.name}: last line (byte {cut:,}) has no line end yet, a writer is still "
            "writing it; left for the next pass"
        )
        data = data[:cut]
    return data


def _frame(data: bytes, problems: Problems, name: str) -> pd.DataFrame | None:
    """The table with empty cells as NA and every other cell as written: columns holding
    only numbers come back as floats, the rest (``nan`` spelled out, text) as strings."""
    options: dict[str, object] = dict(
        keep_default_na=False, na_values=[""], encoding_errors="replace", skipinitialspace=True
    )
    try:
        return pd.read_csv(io.BytesIO(data), **options)
    except pd.errors.EmptyDataError:
        return None
    except pd.errors.ParserError as exc:
        problems.add(f"{name}: {str(exc).strip()[:160]}; such rows skipped")
    try:
        return pd.read_csv(io.BytesIO(data), on_bad_lines="skip", **options)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        problems.add(f"{name}: not a readable CSV table ({str(exc)[:160]}); no points")
        return None


def _csv_series(frame: pd.DataFrame, problems: Problems, name: str) -> list[Series]:
    columns = [str(c) for c in frame.columns]
    step_col = next((c for c in CSV_STEP_COLUMNS if c in columns), None)
    if step_col is None:
        problems.add(
            f"{name}: no step column (one of {', '.join(CSV_STEP_COLUMNS)}); columns are "
            f"{', '.join(columns[:12])}; no points"
        )
        return []
    raw_steps = pd.to_numeric(frame[step_col], errors="coerce").to_numpy(dtype=np.float64)
    ok = np.isfinite(raw_steps) & (raw_steps == np.floor(raw_steps)) & (np.abs(raw_steps) < 2**62)
    if not ok.all():
        bad = int((~ok).sum())
        first = int(np.flatnonzero(~ok)[0]) + 2  # header is line 1
        problems.add(
            f"{name}: {bad:,} rows have no whole-number {step_col} (first on line {first}); skipped"
        )
    steps = np.where(ok, raw_steps, 0).astype(np.int64)
    out: list[Series] = []
    for col in columns:
        if col == step_col:
            continue
        values, present = _column_values(frame[col], problems, name, col)
        keep = present & ok
        if not keep.any():
            continue
        n = int(keep.sum())
        out.append(
            Series(
                metric=col,
                step=steps[keep],
                value=values[keep],
                time=np.full(n, math.nan),
            )
        )
    return out


def _column_values(
    column: pd.Series, problems: Problems, name: str, col: str
) -> tuple[np.ndarray, np.ndarray]:
    """(values, present): float64 values and which rows hold one (non-empty, numeric)."""
    present = column.notna().to_numpy()
    if pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column):
        return column.to_numpy(dtype=np.float64, na_value=math.nan), present
    text = column.astype(str).str.strip()
    values = pd.to_numeric(text.where(present, "nan"), errors="coerce").to_numpy(
        dtype=np.float64, na_value=math.nan
    )
    spelled_nan = text.str.lower().isin(_NAN_WORDS).to_numpy()
    bad = present & np.isnan(values) & ~spelled_nan
    if bad.any():
        if bad.sum() == present.sum():
            problems.add(f"{name}: column {col!r} holds text, not numbers; not a metric")
        else:
            first = int(np.flatnonzero(bad)[0])
            problems.add(
                f"{name}: column {col!r}: {int(bad.sum()):,} cells are not numbers (first "
                f"{text.iloc[first][:40]!r} on line {first + 2}); skipped"
            )
        present = present & ~bad
    return values, present
