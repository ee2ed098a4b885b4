"""Pure checks of what a script sends the push API: the JSON body, points, run fields.

Each check raises ``InputError`` naming the field (``points[3].metrics["loss"]``), the index of
the point when there is one, and what is allowed; the API answers it with a 400. Everything
is checked before anything is written, so a refused request wrote nothing, and the work is
linear in the body, which the API has already bounded to ``MAX_BODY_BYTES``.

Why the rules:

- JSON has no NaN or infinity, so non-finite values travel as the strings ``"NaN"``,
  ``"Infinity"`` and ``"-Infinity"``; the bare literals Python's ``json`` writes by default
  are refused with a message saying so, and so is a number past the double range
  (``1e400``, which ``json`` would quietly read as infinity).
- ``true`` is not 1: a boolean where a number belongs is a bug in the sender.
- Steps are whole numbers from 0 below ``MAX_STEP`` (2**53, the largest a browser's JSON
  reads exactly); ``1000.0`` is refused rather than guessed.
- Names are checked by the store's own rules (``tracking.store.names``), plus one it leaves
  to the driver: text must be Unicode (a ``"\\ud800"`` escape parses to a lone surrogate,
  which no database accepts as text).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from tracking.records import Series
from tracking.store.errors import BadInput
from tracking.store.names import check_metric

MAX_BODY_BYTES = 1024 * 1024
MAX_POINTS = 1000
#: distinct metric names one request may carry (each is one series written)
MAX_METRICS = 1000
MAX_STEP = 2**53
#: Unix seconds; 1e11 is the year 5138
MAX_TIME = 1e11
#: containers nested deeper than this are refused (a points body nests 4 deep)
MAX_DEPTH = 8
NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}

MAX_NAME = 200
MAX_TAGS = 64
MAX_TAG = 100
MAX_PARAMS = 1000
MAX_PARAM_KEY = 200
MAX_PARAM_VALUE = 10_000
MAX_NOTES = 100_000
STATUSES = ("live", "running", "finished", "failed")
"""What a script may report; ``running`` (what older clients send) is stored as ``live``."""

POINT_KEYS = ("step", "time", "metrics")
RUN_KEYS = ("name", "tags", "params", "notes", "status")
_VALUES = 'a number or one of the strings "NaN", "Infinity", "-Infinity"'


class InputError(ValueError):
    """A request the API refuses: which field, which point (if any), what is allowed."""

    def __init__(self, field: str, message: str, index: int | None = None) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.index = index


def _quote(name: str) -> str:
    """A metric or key name as it appears in a field path: JSON-quoted, cut to 60 chars."""
    shown = name if len(name) <= 60 else name[:57] + "..."
    return json.dumps(shown)


def _shown(value: Any) -> str:
    """A value as an error message shows it: JSON where it is JSON, at most 60 characters."""
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# ----------------------------------------------------------------------------- the body
class _Refused(ValueError):
    """Raised from inside ``json.loads`` for a literal JSON does not allow."""


def _constant(name: str) -> float:
    raise _Refused(
        f"the body holds the literal {name}, which is not JSON; send non-finite values as "
        'the strings "NaN", "Infinity" or "-Infinity"'
    )


def parse_json(data: bytes) -> Any:
    """``data`` as JSON, refusing non-UTF-8, invalid JSON, non-finite literals, numbers past
    the double range, nesting deeper than ``MAX_DEPTH`` and text that is not Unicode."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError("body", f"is not UTF-8 (byte {exc.start})") from exc
    try:
        value = json.loads(text, parse_constant=_constant)
    except _Refused as exc:
        raise InputError("body", str(exc)) from exc
    except RecursionError as exc:
        raise InputError("body", f"nests too deeply; at most {MAX_DEPTH} levels") from exc
    except ValueError as exc:  # JSONDecodeError, or an integer of more than 4,300 digits
        raise InputError("body", f"is not valid JSON: {exc}") from exc
    _check_tree(value)
    return value


def _unicode(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_tree(value: Any) -> None:
    """Nesting depth and Unicode text, without recursion (about a microsecond a value)."""
    if not isinstance(value, dict | list):
        _check_tree([value])
        return
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise InputError("body", f"nests deeper than {MAX_DEPTH} levels; a points body nests 4")
        if isinstance(node, dict):
            texts = [k for k in node if not k.isascii()]
            children: Any = node.values()
        else:
            texts = []
            children = node
        for child in children:
            if isinstance(child, dict | list):
                stack.append((child, depth + 1))
            elif isinstance(child, str):
                if not child.isascii():
                    texts.append(child)
            elif isinstance(child, float) and not math.isfinite(child):
                # json reads 1e400 as infinity (the NaN literal is refused while parsing)
                raise InputError("body", "holds a number beyond the double range (about 1.8e308)")
        if not all(_unicode(t) for t in texts):
            raise InputError("body", "holds a lone UTF-16 surrogate; only Unicode text")


def _only(obj: Mapping[str, Any], allowed: tuple[str, ...], where: str, index: int | None) -> None:
    unknown = sorted(set(obj) - set(allowed))
    if unknown:
        raise InputError(
            f"{where}.{unknown[0]}" if where else unknown[0],
            f"is not a field here; allowed: {', '.join(allowed)}",
            index,
        )


# ----------------------------------------------------------------------------- points
def _metric_field(where: str, name: str) -> str:
    """The field path of one metric's value, for messages (made only when one is needed)."""
    return f"{where}.metrics[{_quote(name)}]"


@dataclass(frozen=True)
class Points:
    """A checked points body: one ``Series`` per metric, and how many points it held."""

    series: list[Series]
    count: int


def _step(value: Any, where: str, index: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < MAX_STEP:
        raise InputError(
            f"{where}.step",
            f"must be a whole number from 0 to {MAX_STEP - 1} (booleans and 1.0 are not), "
            f"got {_shown(value)}",
            index,
        )
    return value


def _time(value: Any, where: str, index: int) -> float:
    if value is None:
        return math.nan
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not 0 <= value < MAX_TIME  # also refuses NaN
    ):
        raise InputError(
            f"{where}.time",
            f"must be Unix seconds from 0 to {MAX_TIME:.0e}, or left out, got {_shown(value)}",
            index,
        )
    return float(value)


def _value(value: Any, field: str, index: int) -> float:
    if isinstance(value, bool):
        raise InputError(field, f"is a boolean; must be {_VALUES}", index)
    if isinstance(value, int | float):
        try:
            return float(value)
        except OverflowError:
            raise InputError(field, "is beyond the double range (about 1.8e308)", index) from None
    if isinstance(value, str) and value in NON_FINITE:
        return NON_FINITE[value]
    raise InputError(field, f"must be {_VALUES}, got {_shown(value)}", index)


def points(body: Any) -> Points:
    """``{"points": [{"step": int, "time": float, "metrics": {name: value}}]}`` as one
    ``Series`` per metric, in the order given (``time`` may be left out: unknown)."""
    if not isinstance(body, dict):
        raise InputError("body", 'must be a JSON object {"points": [...]}')
    _only(body, ("points",), "", None)
    given = body.get("points")
    if not isinstance(given, list):
        raise InputError("points", "must be a list of {step, time, metrics} objects")
    if len(given) > MAX_POINTS:
        raise InputError(
            "points",
            f"holds {len(given):,} points; at most {MAX_POINTS:,} a request (send the rest "
            "in another)",
        )
    columns: dict[str, tuple[list[int], list[float], list[float]]] = {}
    for index, point in enumerate(given):
        where = f"points[{index}]"
        if not isinstance(point, dict):
            raise InputError(where, "must be an object {step, time, metrics}", index)
        _only(point, POINT_KEYS, where, index)
        step = _step(point.get("step"), where, index)
        time = _time(point.get("time"), where, index)
        metrics = point.get("metrics")
        if not isinstance(metrics, dict) or not metrics:
            raise InputError(
                f"{where}.metrics",
                f"must be an object of 1 to {MAX_METRICS:,} metric names and values",
                index,
            )
        for name, raw in metrics.items():
            column = columns.get(name)
            if column is None:
                try:
                    check_metric(name)
                except BadInput as exc:
                    raise InputError(_metric_field(where, name), str(exc), index) from None
                if len(columns) == MAX_METRICS:
                    raise InputError(
                        _metric_field(where, name),
                        f"is one metric too many: at most {MAX_METRICS:,} distinct metric "
                        "names a request",
                        index,
                    )
                column = columns[name] = ([], [], [])
            # the common case first: a float (or a small int) needs no more checks
            kind = type(raw)
            if kind is float or (kind is int and -MAX_STEP <= raw <= MAX_STEP):
                value = float(raw)
            else:
                value = _value(raw, _metric_field(where, name), index)
            column[0].append(step)
            column[1].append(value)
            column[2].append(time)
    series = [
        Series(
            name,
            np.asarray(steps, dtype=np.int64),
            np.asarray(values, dtype=np.float64),
            np.asarray(times, dtype=np.float64),
        )
        for name, (steps, values, times) in columns.items()
    ]
    return Points(series, len(given))


# ----------------------------------------------------------------------------- run fields
@dataclass(frozen=True)
class RunFields:
    """A checked ``PUT /runs/<id>`` body; a field left None is left as the run has it."""

    name: str | None = None
    tags: tuple[str, ...] | None = None
    params: dict[str, str] | None = None
    notes: str | None = None
    status: str | None = None


def _line(value: Any, field: str, limit: int) -> str:
    """One line of text: 1..limit characters, no control characters."""
    if (
        not isinstance(value, str)
        or not value.strip()
        or len(value) > limit
        or any(ord(c) < 32 or ord(c) == 127 for c in value)
    ):
        raise InputError(
            field, f"must be text of 1 to {limit} characters on one line, got {_shown(value)}"
        )
    return value


def _param(value: Any, field: str) -> str:
    """A recipe field's value as the text the store keeps: text as given, numbers and
    booleans as JSON writes them (``0.0003``, ``true``), so the recipe guess reads them."""
    if isinstance(value, str):
        if len(value) > MAX_PARAM_VALUE:
            raise InputError(field, f"is longer than {MAX_PARAM_VALUE:,} characters")
        return value
    if isinstance(value, bool | int | float):
        return json.dumps(value)
    raise InputError(
        field,
        "must be text, a number or a boolean (flatten nested settings with dotted keys, "
        f'"model.hidden_size"), got {_shown(value)}',
    )


def run_fields(body: Any) -> RunFields:
    """``{"name", "tags", "params", "notes", "status"}``, each optional."""
    if not isinstance(body, dict):
        raise InputError("body", f"must be a JSON object with any of: {', '.join(RUN_KEYS)}")
    _only(body, RUN_KEYS, "", None)
    name = body.get("name")
    if name is not None:
        name = _line(name, "name", MAX_NAME)
    tags = body.get("tags")
    if tags is not None:
        if not isinstance(tags, list) or len(tags) > MAX_TAGS:
            raise InputError("tags", f"must be a list of at most {MAX_TAGS} texts")
        tags = tuple(_line(t, f"tags[{i}]", MAX_TAG) for i, t in enumerate(tags))
    params = body.get("params")
    if params is not None:
        if not isinstance(params, dict) or len(params) > MAX_PARAMS:
            raise InputError("params", f"must be an object of at most {MAX_PARAMS:,} recipe fields")
        checked: dict[str, str] = {}
        for key, value in params.items():
            field = f"params[{_quote(key)}]"
            _line(key, field, MAX_PARAM_KEY)
            checked[key] = _param(value, field)
        params = checked
    notes = body.get("notes")
    if notes is not None and (not isinstance(notes, str) or len(notes) > MAX_NOTES):
        raise InputError("notes", f"must be text of at most {MAX_NOTES:,} characters")
    status = body.get("status")
    if status is not None and status not in STATUSES:
        raise InputError("status", f"must be one of {', '.join(STATUSES)}, got {_shown(status)}")
    if status == "running":
        status = "live"
    return RunFields(name, tags, params, notes, status)
