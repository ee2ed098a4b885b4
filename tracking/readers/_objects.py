"""What the HF ``trainer_state.json`` and JSONL readers share: one logged object (a
``log_history`` entry, a JSONL line) -> its step, wall time and metrics, since HF Trainer's
``on_log`` dicts are what most JSONL logs dump; and the HF/PEFT settings files that sit
beside both (``config.json``, ``adapter_config.json``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tracking.readers._common import (
    MAX_SIDE_FILE_BYTES,
    NAN,
    Problems,
    flatten,
    inside,
    load_json_file,
    number,
    whole_step,
)

TIME_KEYS = ("_timestamp", "timestamp")
"""Keys holding the point's wall clock in Unix seconds (W&B-style ``_timestamp``); used as
the points' time, not as a metric, when the value is a plausible date (after 2001)."""
_TIME_SET = frozenset(TIME_KEYS)
_MIN_UNIX_TIME = 1.0e9
MAX_NESTING = 4
"""Nested objects in an entry (``{"eval": {"loss": 1.2}}``) become dotted metric names
(``eval.loss``) down to this depth; deeper ones are ignored."""
SIDE_FILES = (("config.json", "model_config"), ("adapter_config.json", "adapter_config"))
"""Settings files beside a log and the param prefix each gets: ``model_config`` is the name
HF gives the same dict in its TensorBoard text summary."""
_CHECKPOINT = re.compile(r"^checkpoint-\d+$")


class Entry:
    """The parts of one logged object: ``step`` (``None`` when it has none), ``step_key``
    (which key held it), ``time`` (NaN when unknown) and the numeric ``metrics`` in key
    order."""

    __slots__ = ("metrics", "step", "step_key", "time")

    def __init__(self) -> None:
        self.step: int | None = None
        self.step_key: str | None = None
        self.time = NAN
        self.metrics: dict[str, float] = {}


def entry(obj: Mapping[str, Any], step_keys: Sequence[str]) -> Entry:
    """Split ``obj``: the first of ``step_keys`` present is its step (a whole number), the
    others stay metrics; booleans, ``null``, lists and non-numeric text are not metrics.

    Plain numbers take a fast path (a 1M-line log is 1M calls of this)."""
    out = Entry()
    step_key = None
    for key in step_keys:
        if key in obj:
            step_key = out.step_key = key
            out.step = whole_step(obj[key])
            break
    metrics = out.metrics
    for key, value in obj.items():
        kind = type(value)
        if (kind is float or kind is int) and key not in _TIME_SET:
            if key != step_key:
                try:  # noqa: SIM105 - a hot path; contextlib.suppress costs more
                    metrics[key] = float(value)
                except OverflowError:  # an integer past float range is no metric
                    pass
            continue
        if key == step_key:
            continue
        if key in _TIME_SET:
            t = number(value)
            if t is not None and math.isfinite(t) and t > _MIN_UNIX_TIME:
                out.time = t
                continue
        _collect(str(key), value, metrics, 0)
    return out


def _collect(key: str, value: Any, metrics: dict[str, float], depth: int) -> None:
    if isinstance(value, dict):
        if depth < MAX_NESTING:
            for k, v in value.items():
                _collect(f"{key}.{k}", v, metrics, depth + 1)
        return
    x = number(value)
    if x is not None:
        metrics[key] = x


def side_settings(
    path: Path, root: Path | None, params: dict[str, str], problems: Problems
) -> None:
    """``config.json`` / ``adapter_config.json`` beside ``path`` into ``params`` (prefixed);
    in a ``checkpoint-N`` folder without them, the output folder's copies."""
    folders = [path.parent]
    if _CHECKPOINT.match(path.parent.name):
        folders.append(path.parent.parent)
    for name, prefix in SIDE_FILES:
        for folder in folders:
            side = folder / name
            if not side.is_file():
                continue
            try:
                side = inside(side, root)
            except ValueError as exc:
                problems.add(str(exc))
                break
            data = load_json_file(side, MAX_SIDE_FILE_BYTES, problems, name)
            if isinstance(data, Mapping):
                flatten(data, prefix, params, problems, name)
            elif data is not None:
                problems.add(f"{name}: not a JSON object; settings not read")
            break
