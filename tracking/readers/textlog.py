"""Text logs: llm.c, modded-nanogpt, nanoGPT, and line patterns a user defines.

Text logs are appended to, so a read starts at ``position`` (a byte offset) and returns the
offset just past its last complete line: a line still being written (no ``\\n`` yet) is read
whole on the next pass. CRLF files read like LF ones; a line holding carriage returns
(progress bars redrawn in place, llm.c's HellaSwag counter) is matched segment by segment.
A line over ``MAX_LINE_BYTES`` is skipped with a problem; lines that match no format (the
~600 lines of Python source a modded-nanogpt record prints first, config dumps, warnings)
are ignored.

Built-in formats, recognised line by line:

- llm.c ``main.log``: ``s:N trl:X lr:Y norm:Z`` and ``s:N tel:X`` (also ``s:N eval:X``):
  every ``key:value`` is a metric named by its key.
- llm.c stdout: ``step N/M | loss X (Zz)| norm X (Zz)| lr X | T ms | P% bf16 MFU | K tok/s``
  (older builds: ``step N/M: train loss X norm X lr X ...``) -> ``loss``, ``loss_zscore``,
  ``norm``, ``norm_zscore``, ``lr``, ``step_ms``, ``mfu_pct``, ``tok_per_s``; the
  ``| name | value |`` configuration table printed first becomes params ``llmc.<name>``.
  ``val loss X`` lines carry no step. The rule: they take the step of the last ``step``
  line before them, and 0 before the first. llm.c evaluates at the top of loop iteration
  ``s``, after ``s`` optimizer steps, and the train line printed just before is numbered
  ``s``, so this is the step ``main.log`` records the same value at (``s:s tel:X``). A pass
  starting mid-file finds that line by looking back at most ``LOOKBACK_BYTES``.
- modded-nanogpt: ``step:N/M train_loss:X train_time:Tms step_avg:Sms`` and
  ``step:N/M val_loss:X train_time:Tms ...`` -> ``train_loss``, ``train_time_ms``,
  ``val_loss``. ``step_avg`` is not kept: it is ``train_time`` over the timed steps, and
  ``nan`` until timing starts. On a ``val_`` line only the ``val_*`` values are kept: its
  ``train_time`` is the same clock as the train line of that step (read after an extra
  sync), and keeping both would log that step twice with two values.
- nanoGPT: ``iter N: loss X, time Yms, mfu Z%`` -> ``loss``, ``time_ms``, ``mfu_pct`` (nanoGPT
  prints ``mfu -100.00%`` until it has measured five iterations; that placeholder is not a
  value and is not kept), and ``step N: train loss X, val loss Y`` -> ``eval_train_loss``,
  ``val_loss``.
- ``N/M`` step counters give the param ``log.total_steps`` (M).

User patterns (``compile_pattern``) replace the built-ins for a file: a regular expression
with a named group ``step`` and one named group per metric, searched in each line. They run
on the ``regex`` engine with a time limit per line (``PATTERN_TIMEOUT_S``), so a pattern that
backtracks badly costs at most ``MAX_TIMEOUTS`` time-outs per pass: after that the pass stops
(the next one goes on from there), with a problem saying to simplify the pattern.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import regex

from tracking.readers._common import (
    MAX_LINE_BYTES,
    NAN,
    Lines,
    Problems,
    SeriesBuilder,
    inside,
    whole_step,
)
from tracking.records import Read

DETECT_BYTES = 256 << 10
"""``detect`` looks for a known line in the first 256 KiB (a modded-nanogpt record prints
30-60 KB of source code before its first step)."""
LOOKBACK_BYTES = 64 << 10
MAX_FORMAT_LINE = 16 << 10
MAX_PATTERN_CHARS = 500
MAX_PATTERN_GROUPS = 32
MAX_METRIC_NAME = 64
PATTERN_TIMEOUT_S = 0.05
MAX_TIMEOUTS = 3

_NUM = r"[-+]?(?:nan|inf|\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)"
_LLMC_MAINLOG = re.compile(r"^s:(\d+)((?:\s+[A-Za-z_]\w*:\S+)+)\s*$")
_PAIR = re.compile(r"([A-Za-z_]\w*):(\S+)")
_MODDED = re.compile(r"^step:(\d+)/(\d+)((?:\s+[A-Za-z_]\w*:\S+)+)\s*$")
_UNIT = re.compile(rf"^({_NUM})(ms|s|%)?$", re.IGNORECASE)
_LLMC_STEP = re.compile(r"^step\s+(\d+)(?:/(\d+))?\s*[:|]\s*(.*)$")
_LLMC_PARTS: tuple[tuple[re.Pattern[str], tuple[str, ...]], ...] = (
    (re.compile(rf"\bloss\s+({_NUM})(?:\s*\(({_NUM})z\))?", re.I), ("loss", "loss_zscore")),
    (re.compile(rf"\bnorm\s+({_NUM})(?:\s*\(({_NUM})z\))?", re.I), ("norm", "norm_zscore")),
    (re.compile(rf"\blr\s+({_NUM})", re.I), ("lr",)),
    (re.compile(rf"(?<![\w.+-])({_NUM})\s*ms\b", re.I), ("step_ms",)),
    (re.compile(rf"(?<![\w.+-])({_NUM})%\s*(?:\w+\s+){{0,3}}MFU\b", re.I), ("mfu_pct",)),
    (re.compile(rf"(?<![\w.+-])({_NUM})\s*tok/s", re.I), ("tok_per_s",)),
)
_LLMC_VAL = re.compile(rf"^val loss\s+({_NUM})\s*$", re.I)
_NANOGPT_ITER = re.compile(rf"^iter (\d+): loss ({_NUM}), time ({_NUM})ms(?:, mfu ({_NUM})%)?")
_NANOGPT_EVAL = re.compile(rf"^step (\d+): train loss ({_NUM}), val loss ({_NUM})")
_NANOGPT_NO_MFU = -100.0


class PatternError(ValueError):
    """A user line pattern that cannot be used; the message says why and what is allowed."""


@dataclass(frozen=True)
class LinePattern:
    """A validated user pattern: its text, the compiled form and the metric group names."""

    text: str
    compiled: regex.Pattern[str]
    metrics: tuple[str, ...]


def compile_pattern(text: str) -> LinePattern:
    """Check and compile a user line pattern.

    Allowed: a regular expression (Python syntax) of at most ``MAX_PATTERN_CHARS``
    characters with a named group ``step`` (a whole number) and at least one other named
    group, each a metric (``(?P<loss>[0-9.eE+-]+)``); at most ``MAX_PATTERN_GROUPS`` groups.

    Raises:
        PatternError: naming what is wrong.
    """
    if not isinstance(text, str) or not text.strip():
        raise PatternError("line pattern: empty; give a regular expression with (?P<step>...)")
    if len(text) > MAX_PATTERN_CHARS:
        raise PatternError(
            f"line pattern: {len(text):,} characters; at most {MAX_PATTERN_CHARS} allowed"
        )
    try:
        compiled = regex.compile(text, flags=regex.VERSION0)
    except (regex.error, OverflowError, RecursionError) as exc:
        where = getattr(exc, "pos", None)
        at = f" at character {where}" if where is not None else ""
        msg = getattr(exc, "msg", None) or str(exc)
        raise PatternError(f"line pattern does not compile: {msg}{at}") from None
    names = list(compiled.groupindex)
    if compiled.groups > MAX_PATTERN_GROUPS:
        raise PatternError(
            f"line pattern: {compiled.groups} groups; at most {MAX_PATTERN_GROUPS} allowed"
        )
    if "step" not in names:
        raise PatternError(
            "line pattern has no group named `step`; add one, e.g. step (?P<step>\\d+)"
        )
    metrics = tuple(n for n in names if n != "step")
    if not metrics:
        raise PatternError(
            "line pattern names no metric; add a named group per metric, e.g. "
            "loss (?P<loss>[0-9.eE+-]+)"
        )
    long = [n for n in metrics if len(n) > MAX_METRIC_NAME]
    if long:
        raise PatternError(f"line pattern: group name {long[0][:80]!r} is over 64 characters")
    return LinePattern(text=text, compiled=compiled, metrics=metrics)


def detect(path: Path) -> bool:
    """True when a line of a built-in format appears in the first ``DETECT_BYTES``."""
    try:
        with open(path, "rb") as f:
            head = f.read(DETECT_BYTES)
    except OSError:
        return False
    text = head.decode("utf-8", errors="replace")
    return any(
        _known_length(seg) and _is_metric_line(seg)
        for line in text.split("\n")
        for seg in _segments(line)
    )


def read(
    path: Path,
    position: int = 0,
    *,
    root: Path | None = None,
    patterns: Sequence[LinePattern] = (),
    max_line: int = MAX_LINE_BYTES,
) -> Read:
    """The points in complete lines from byte ``position`` on (see the module doc).

    Raises:
        OutsideRoot: ``path`` resolves outside ``root``.
    """
    path = inside(path, root)
    problems = Problems()
    lines = Lines(path, position, problems, max_line)
    parser: _Builtin | _UserPatterns
    if patterns:
        parser = _UserPatterns(patterns, problems, path.name)
    else:
        parser = _Builtin(path, position, problems)
    try:
        for offset, raw in lines:
            if not parser.line(offset, raw.decode("utf-8", errors="replace")):
                lines.position = offset + len(raw) + 1
                break
    except OSError as exc:
        problems.add(f"{path.name}: read failed ({exc.strerror or exc}); will retry")
    return Read(
        series=parser.builder.build(),
        params=parser.params,
        position=lines.position,
        problems=problems.to_list(),
    )


def _segments(line: str) -> Iterable[str]:
    return line.split("\r") if "\r" in line else (line,)


def _known_length(s: str) -> bool:
    """Built-in formats are lines of a few hundred characters: longer segments are not
    matched against them, which bounds the regex work per line whatever the file holds."""
    return len(s) <= MAX_FORMAT_LINE


def _is_metric_line(s: str) -> bool:
    return bool(
        _LLMC_MAINLOG.match(s)
        or _MODDED.match(s)
        or (_LLMC_STEP.match(s) and any(p.search(s) for p, _ in _LLMC_PARTS[:1]))
        or _NANOGPT_ITER.match(s)
        or _NANOGPT_EVAL.match(s)
    )


class _Builtin:
    """The built-in formats, line by line, with the llm.c ``val loss`` step rule."""

    def __init__(self, path: Path, position: int, problems: Problems) -> None:
        self.path = path
        self.position = position
        self.problems = problems
        self.builder = SeriesBuilder()
        self.params: dict[str, str] = {}
        self.last_step: int | None = None if position > 0 else 0

    def line(self, offset: int, text: str) -> bool:
        for seg in _segments(text):
            self._segment(offset, seg)
        return True

    def _segment(self, offset: int, s: str) -> None:
        if not _known_length(s):
            return
        head = s[:1]
        if head == "s" and s.startswith("s:"):
            m = _LLMC_MAINLOG.match(s)
            if m:
                self._pairs(int(m.group(1)), m.group(2), keep=None)
            return
        if head == "s" and s.startswith("step"):
            m = _MODDED.match(s)
            if m:
                self._total(m.group(2))
                pairs = m.group(3)
                keep = "val_" if "val_" in pairs else None
                self._pairs(int(m.group(1)), pairs, keep=keep)
                return
            m = _NANOGPT_EVAL.match(s)
            if m:
                step = int(m.group(1))
                self._add("eval_train_loss", step, m.group(2))
                self._add("val_loss", step, m.group(3))
                return
            m = _LLMC_STEP.match(s)
            if m:
                self._llmc_step(int(m.group(1)), m.group(2), m.group(3))
            return
        if head == "i":
            m = _NANOGPT_ITER.match(s)
            if m:
                step = int(m.group(1))
                self._add("loss", step, m.group(2))
                self._add("time_ms", step, m.group(3))
                mfu = m.group(4)
                if mfu is not None and float(mfu) != _NANOGPT_NO_MFU:
                    self._add("mfu_pct", step, mfu)
            return
        if head == "v":
            m = _LLMC_VAL.match(s)
            if m:
                val_step = self._step_for_val(offset)
                if val_step is not None:
                    self._add("val_loss", val_step, m.group(1))
            return
        if head == "|" and s.count("|") == 3 and s.rstrip().endswith("|"):
            key, value = (part.strip() for part in s.strip()[1:-1].split("|"))
            if key and key != "Parameter":
                self.params[f"llmc.{key}"] = value

    def _add(self, metric: str, step: int, text: str) -> None:
        self.builder.add(metric, step, float(text))

    def _total(self, total: str | None) -> None:
        if total is not None and "log.total_steps" not in self.params:
            self.params["log.total_steps"] = total

    def _pairs(self, step: int, pairs: str, keep: str | None) -> None:
        row: dict[str, float] = {}
        for key, raw in _PAIR.findall(pairs):
            if key == "step_avg" or (keep is not None and not key.startswith(keep)):
                continue
            try:
                row[key] = float(raw)  # the common case, without a unit
                continue
            except ValueError:
                pass
            m = _UNIT.match(raw)
            if m is None:
                self.problems.once(
                    f"value:{key}",
                    f"{self.path.name}: {key}:{raw[:40]} at step {step} is not a number; skipped",
                )
                continue
            unit = (m.group(2) or "").lower()
            name = f"{key}_ms" if unit == "ms" else f"{key}_pct" if unit == "%" else key
            row[name] = float(m.group(1))
        self.builder.add_row(step, NAN, row)

    def _llmc_step(self, step: int, total: str | None, rest: str) -> None:
        found = False
        for pattern, names in _LLMC_PARTS:
            m = pattern.search(rest)
            if m is None:
                continue
            found = True
            for name, value in zip(names, m.groups(), strict=True):
                if value is not None:
                    self._add(name, step, value)
        if found:
            self._total(total)
            self.last_step = step

    def _step_for_val(self, offset: int) -> int | None:
        if self.last_step is None:
            self.last_step = _previous_llmc_step(self.path, offset)
            if self.last_step is None:
                self.problems.once(
                    "val-no-step",
                    f"{self.path.name}: `val loss` at byte {offset:,} has no step line in the "
                    f"{LOOKBACK_BYTES:,} bytes before it; skipped",
                )
        return self.last_step


def _previous_llmc_step(path: Path, offset: int) -> int | None:
    """The step of the last llm.c ``step`` line before ``offset``; 0 when the file has none
    before it, ``None`` when the look-back window ends before finding one or the start."""
    start = max(0, offset - LOOKBACK_BYTES)
    try:
        with open(path, "rb") as f:
            f.seek(start)
            data = f.read(offset - start)
    except OSError:
        return None
    for line in reversed(data.decode("utf-8", errors="replace").split("\n")):
        for seg in _segments(line.rstrip("\r")):
            m = _LLMC_STEP.match(seg)
            if m and _LLMC_PARTS[0][0].search(m.group(3)):
                return int(m.group(1))
    return 0 if start == 0 else None


class _UserPatterns:
    """User patterns, first match wins per line segment; every search has a time limit."""

    def __init__(self, patterns: Sequence[LinePattern], problems: Problems, name: str) -> None:
        self.patterns = patterns
        self.problems = problems
        self.name = name
        self.builder = SeriesBuilder()
        self.params: dict[str, str] = {}
        self.timeouts = 0

    def line(self, offset: int, text: str) -> bool:
        """False once the pass must stop (too many time-outs)."""
        for seg in _segments(text):
            for pattern in self.patterns:
                try:
                    m = pattern.compiled.search(seg, timeout=PATTERN_TIMEOUT_S)
                except TimeoutError:
                    self.timeouts += 1
                    self.problems.add(
                        f"{self.name}: line pattern {pattern.text[:60]!r} took over "
                        f"{PATTERN_TIMEOUT_S * 1000:.0f} ms on the line at byte {offset:,}; "
                        "line skipped. Simplify the pattern (avoid nested repeats like (a+)+)"
                    )
                    if self.timeouts >= MAX_TIMEOUTS:
                        self.problems.add(
                            f"{self.name}: stopped after {MAX_TIMEOUTS} time-outs; the next pass "
                            "goes on from the next line"
                        )
                        return False
                    return True
                if m is None:
                    continue
                self._match(offset, pattern, m)
                break
        return True

    def _match(self, offset: int, pattern: LinePattern, m: regex.Match[str]) -> None:
        step = whole_step(m.group("step"))
        if step is None:
            self.problems.once(
                "user-step",
                f"{self.name}: step {str(m.group('step'))[:40]!r} at byte {offset:,} is not a "
                "whole number; line skipped",
            )
            return
        for name in pattern.metrics:
            raw = m.group(name)
            if raw is None:
                continue
            try:
                value = float(raw)
            except ValueError:
                self.problems.once(
                    f"user-value:{name}",
                    f"{self.name}: {name} {raw[:40]!r} at byte {offset:,} is not a number; skipped",
                )
                continue
            self.builder.add(name, step, value)
