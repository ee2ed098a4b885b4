"""What every reader shares: the root check, bounded line scanning, bounded JSON/YAML loading,
flattening settings into ``key -> text`` params, and the series and problems collectors.

Every limit here exists so that a hostile or broken file costs a bounded amount of time and
memory and comes back as a named problem (docs/tracking.md, "Decisions" 2), never a crash:
a line longer than ``MAX_LINE_BYTES`` is skipped without being held whole, a JSON or YAML
file over its size cap is not opened, nesting deeper than Python's parsers allow is caught,
and a settings tree with aliases that would expand a billion times stops at ``MAX_PARAMS``.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from tracking.records import Series

MAX_LINE_BYTES = 1 << 20
"""A text or JSONL line longer than this (1 MiB) is skipped with a problem; no real log line
comes near it, and the scanner never holds more than this plus one read chunk."""
CHUNK_BYTES = 1 << 20
MAX_WHOLE_FILE_BYTES = 256 << 20
"""Files read whole each pass (``trainer_state.json``, ``metrics.csv``): above 256 MiB the file
is refused with a problem. A 1M-step ``trainer_state.json`` logged every step is about 150 MB."""
MAX_SIDE_FILE_BYTES = 1 << 20
"""Settings files beside a log (``config.json``, ``hparams.yaml``, ``meta.yaml``...): 1 MiB."""
MAX_PARAMS = 5_000
"""Params kept per file; a settings tree larger than this is cut with a problem."""
MAX_PARAM_TEXT = 1_000
"""A param value longer than this many characters is cut (and ends in an ellipsis)."""
MAX_FLATTEN_DEPTH = 12
MAX_PROBLEMS = 20
"""Problems listed per read; the rest are counted in one closing line."""
NAN = float("nan")


class OutsideRoot(ValueError):
    """A path resolves (symlinks followed) to somewhere outside the root it was found under."""


def inside(path: Path, root: Path | None) -> Path:
    """``path`` resolved, after checking it lies under ``root`` (also resolved).

    Raises:
        OutsideRoot: when it does not; the message names both.
    """
    resolved = Path(path).resolve()
    if root is None:
        return resolved
    base = Path(root).resolve()
    if resolved != base and not resolved.is_relative_to(base):
        raise OutsideRoot(f"{path} resolves to {resolved}, outside the root {base}; not read")
    return resolved


class Problems:
    """Problems of one read: the first ``MAX_PROBLEMS`` messages, then a count of the rest.

    ``once(key, message)`` records a message only the first time ``key`` is seen and counts
    the repeats, so a million bad lines make one line ("... and 999,999 more like it").
    """

    def __init__(self) -> None:
        self._messages: list[str] = []
        self._dropped = 0
        self._repeats: dict[str, int] = {}
        self._index: dict[str, int] = {}

    def add(self, message: str) -> None:
        if len(self._messages) < MAX_PROBLEMS:
            self._messages.append(message)
        else:
            self._dropped += 1

    def once(self, key: str, message: str) -> None:
        if key in self._repeats:
            self._repeats[key] += 1
            return
        self._repeats[key] = 0
        self._index[key] = len(self._messages)
        self.add(message)

    def __bool__(self) -> bool:
        return bool(self._messages)

    def to_list(self) -> list[str]:
        out = list(self._messages)
        for key, extra in self._repeats.items():
            i = self._index[key]
            if extra and i < len(out):
                out[i] = f"{out[i]} (and {extra:,} more like it)"
        if self._dropped:
            out.append(f"{self._dropped:,} more problems not listed")
        return out


class SeriesBuilder:
    """Collects points per metric in source order and turns them into ``Series`` columns."""

    def __init__(self) -> None:
        self._cols: dict[str, tuple[list[int], list[float], list[float]]] = {}

    def add(self, metric: str, step: int, value: float, time: float = NAN) -> None:
        col = self._cols.get(metric)
        if col is None:
            col = self._cols[metric] = ([], [], [])
        col[0].append(step)
        col[1].append(value)
        col[2].append(time)

    def add_row(self, step: int, time: float, metrics: dict[str, float]) -> None:
        """Every metric of one logged row at ``step``."""
        cols = self._cols
        for metric, value in metrics.items():
            col = cols.get(metric)
            if col is None:
                col = cols[metric] = ([], [], [])
            col[0].append(step)
            col[1].append(value)
            col[2].append(time)

    def __len__(self) -> int:
        return sum(len(c[0]) for c in self._cols.values())

    def build(self) -> list[Series]:
        return [
            Series(
                metric=name,
                step=np.asarray(s, dtype=np.int64),
                value=np.asarray(v, dtype=np.float64),
                time=np.asarray(t, dtype=np.float64),
            )
            for name, (s, v, t) in self._cols.items()
        ]


class Lines:
    """The complete lines of a file from a byte position, with where the next pass resumes.

    Iterating yields ``(offset, line)`` for each line ending in ``\\n`` (the ``\\n`` and a
    ``\\r`` before it removed, so CRLF files read like LF ones). ``position`` is then the
    byte just past the last complete line: a line a writer has not finished is left for the
    next pass. A line over ``max_line`` bytes is skipped without being held whole (a problem
    names its offset); when such a line is still unfinished at the end of the file the scan
    jumps to the end, and the next pass starts inside that line (its tail is then one more
    line that matches nothing).
    """

    def __init__(
        self, path: Path, position: int, problems: Problems, max_line: int = MAX_LINE_BYTES
    ) -> None:
        self.path = path
        self.position = position
        self.problems = problems
        self.max_line = max_line

    def _too_long(self, offset: int, size: str) -> None:
        self.problems.once(
            "long-line",
            f"{self.path.name}: line at byte {offset:,} is {size}, over the "
            f"{self.max_line:,}-byte line limit; skipped",
        )

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        with open(self.path, "rb") as f:
            f.seek(self.position)
            buf = b""
            buf_start = self.position
            skip_from = -1  # offset of an over-long line being skipped, -1 when not skipping
            while True:
                data = f.read(CHUNK_BYTES)
                if not data:
                    break
                if skip_from >= 0:
                    nl = data.find(b"\n")
                    if nl < 0:
                        buf_start += len(data)
                        continue
                    self._too_long(skip_from, f"{buf_start + nl - skip_from:,} bytes")
                    skip_from = -1
                    buf_start += nl + 1
                    data = data[nl + 1 :]
                buf += data
                parts = buf.split(b"\n")
                tail = parts.pop()
                offset = buf_start
                for part in parts:
                    if len(part) > self.max_line:
                        self._too_long(offset, f"{len(part):,} bytes")
                    else:
                        yield offset, part[:-1] if part.endswith(b"\r") else part
                    offset += len(part) + 1
                buf, buf_start = tail, offset
                self.position = offset
                if len(buf) > self.max_line:
                    skip_from = buf_start
                    buf_start += len(buf)
                    buf = b""
            if skip_from >= 0:
                self._too_long(skip_from, f"over {buf_start - skip_from:,} bytes and not finished")
                self.position = buf_start


def read_capped(path: Path, cap: int, problems: Problems, what: str) -> bytes | None:
    """The whole file, or ``None`` with a problem when it is larger than ``cap`` or unreadable."""
    try:
        size = os.stat(path).st_size
        if size > cap:
            problems.add(
                f"{what}: {size:,} bytes, over the {cap:,}-byte limit for this file; not read"
            )
            return None
        with open(path, "rb") as f:
            return f.read(cap + 1)[:cap]
    except OSError as exc:
        problems.add(f"{what}: could not be read ({exc.strerror or exc})")
        return None


def parse_json(data: bytes | str, problems: Problems, what: str) -> Any:
    """JSON with Python's literals ``NaN``, ``Infinity``, ``-Infinity`` accepted; ``None`` and
    a problem when it is not JSON or nests deeper than Python's parser can follow."""
    try:
        return json.loads(data)
    except RecursionError:
        problems.add(
            f"{what}: nested deeper than the JSON parser allows (about "
            f"{sys.getrecursionlimit():,} levels); not read"
        )
    except (ValueError, UnicodeDecodeError) as exc:
        problems.add(f"{what}: not valid JSON ({_short(str(exc), 120)}); not read")
    return None


def load_json_file(path: Path, cap: int, problems: Problems, what: str) -> Any:
    data = read_capped(path, cap, problems, what)
    return None if data is None else parse_json(data, problems, what)


def load_yaml_file(path: Path, problems: Problems, what: str) -> Any:
    """YAML through ``yaml.safe_load`` only: a ``!!python/...`` tag is a problem, never code."""
    data = read_capped(path, MAX_SIDE_FILE_BYTES, problems, what)
    if data is None:
        return None
    try:
        return yaml.safe_load(data)
    except yaml.constructor.ConstructorError as exc:
        tag = f" {exc.problem_mark.line + 1}" if exc.problem_mark else ""
        problems.add(
            f"{what}: refused at line{tag}: {_short(str(exc.problem), 160)} (only plain YAML "
            "is read: a Python object tag would run code); settings not read"
        )
    except RecursionError:
        problems.add(f"{what}: nested deeper than the YAML parser allows; settings not read")
    except yaml.YAMLError as exc:
        problems.add(f"{what}: not valid YAML ({_short(str(exc), 160)}); settings not read")
    return None


def flatten(obj: Any, prefix: str, out: dict[str, str], problems: Problems, what: str) -> None:
    """Settings tree -> ``out[dotted.key] = text`` (``model_config.hidden_size``: ``"2048"``).

    Scalars as JSON spells them (``true``, ``null``, ``1e-05``), lists and empty objects as
    short JSON text. Bounded: at most ``MAX_FLATTEN_DEPTH`` levels and ``MAX_PARAMS`` keys, and
    each value cut at ``MAX_PARAM_TEXT`` characters, so YAML aliases that expand a billion
    times cost no more than a small file.
    """
    budget = [MAX_PARAMS - len(out)]

    def walk(node: Any, key: str, depth: int) -> bool:
        """False once the budget is spent (the caller stops)."""
        if isinstance(node, dict) and node and depth < MAX_FLATTEN_DEPTH:
            return all(walk(v, f"{key}.{k}" if key else str(k), depth + 1) for k, v in node.items())
        if not key:
            return True
        if budget[0] <= 0:
            return False
        out[key] = param_text(node)
        budget[0] -= 1
        return True

    if not walk(obj, prefix, 0):
        problems.add(f"{what}: more than {MAX_PARAMS:,} settings; the rest not kept")


def param_text(value: Any) -> str:
    """One setting as text: JSON spelling for scalars and containers, cut at MAX_PARAM_TEXT."""
    if isinstance(value, str):
        text = value
    elif isinstance(value, bool) or value is None:
        text = json.dumps(value)
    elif isinstance(value, float):
        text = repr(value) if math.isfinite(value) else json.dumps(value)
    elif isinstance(value, int):
        text = str(value)
    else:
        text = _bounded_json(value)
    return _short(text, MAX_PARAM_TEXT)


def _bounded_json(value: Any) -> str:
    """Compact JSON of a container, stopping after MAX_PARAM_TEXT characters' worth of nodes."""
    parts: list[str] = []
    size = [0]

    def emit(s: str) -> bool:
        parts.append(s)
        size[0] += len(s)
        return size[0] <= MAX_PARAM_TEXT

    def walk(node: Any, depth: int) -> bool:
        if depth > MAX_FLATTEN_DEPTH:
            return emit("...")
        if isinstance(node, dict):
            if not emit("{"):
                return False
            for i, (k, v) in enumerate(node.items()):
                if (i and not emit(",")) or not emit(json.dumps(str(k)) + ":"):
                    return False
                if not walk(v, depth + 1):
                    return False
            return emit("}")
        if isinstance(node, (list, tuple)):
            if not emit("["):
                return False
            for i, v in enumerate(node):
                if (i and not emit(",")) or not walk(v, depth + 1):
                    return False
            return emit("]")
        try:
            return emit(json.dumps(node))
        except (TypeError, ValueError):
            return emit(json.dumps(str(node)))

    walk(value, 0)
    return "".join(parts)


_DURATION = re.compile(r"^(?:(\d+) days?, )?(\d+):([0-5]\d):([0-5]\d(?:\.\d+)?)$")


def number(value: Any) -> float | None:
    """A metric value as float, or ``None`` when it is not one.

    Numbers (not booleans), numeric strings (``"0.00"``, ``"nan"``), and durations written
    as Python prints a ``timedelta`` (``"5:39:46"``, ``"1 day, 2:03:04"``: seconds), which is
    how LLaMA-Factory logs its elapsed and remaining time.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        try:
            return float(value)
        except OverflowError:  # an integer beyond float range
            return None
    if isinstance(value, str) and 0 < len(value) <= 64:
        try:
            return float(value)
        except ValueError:
            m = _DURATION.match(value.strip())
            if m:
                days, h, mnt, s = m.groups()
                return int(days or 0) * 86400 + int(h) * 3600 + int(mnt) * 60 + float(s)
    return None


def whole_step(value: Any) -> int | None:
    """A step as int: an int, or a float/str holding a whole number; ``None`` otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if -(2**62) < value < 2**62 else None
    x = number(value) if isinstance(value, str) else value
    if isinstance(x, float) and math.isfinite(x) and x == int(x) and abs(x) < 2**62:
        return int(x)
    return None


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
