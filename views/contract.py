"""The values a view result carries besides plain JSON: keep, edit, notice, download.

A view never imports Dash, so it says "leave this prop as it is" with ``KEEP`` (Dash's
``no_update``), "change part of this prop" with an ``Edit`` (Dash's ``Patch``: a tick appends
a few points to a figure instead of resending it), and "tell the user" with a ``Notice``
(rendered as one kind of dismissable alert everywhere). ``callbacks.adapt`` is the only place
that translates these; ``Edit.apply`` does what the browser does with the translated Patch,
so tests can assert on what the page ends up holding. See docs/architecture.md.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal, Protocol, TypeVar


class _Keep:
    """The type of ``KEEP``; one instance, falsy, compared by identity."""

    _instance: _Keep | None = None

    def __new__(cls) -> _Keep:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "KEEP"

    def __bool__(self) -> bool:
        return False


KEEP: Final = _Keep()
"""Leave the output as the browser has it (sent as Dash's ``no_update``)."""

Tone = Literal["success", "info", "warning", "danger", "secondary"]

# How long a message stays before it closes by itself: a base by tone plus reading time.
# Reading: ~200 words a minute at ~6 characters a word is ~20 characters a second; 60 ms a
# character leaves a slower reader a margin. An error ("danger") stays until dismissed: it
# says what was refused and what to do, and the user may need it while fixing the input.
CLOSE_BASE_MS: Final[dict[str, int]] = {
    "success": 4000,
    "info": 4000,
    "secondary": 4000,
    "warning": 8000,
}
READ_MS_PER_CHAR: Final = 60
CLOSE_MAX_MS: Final = 30000


@dataclass(frozen=True)
class Notice:
    """A message for the user: one line, or several shown as a list, and how it reads."""

    lines: tuple[str, ...]
    tone: Tone = "warning"

    @classmethod
    def of(cls, text: str | Sequence[str], tone: Tone = "warning") -> Notice | None:
        """A notice of ``text`` (a string or lines); None when there is nothing to say."""
        lines = (text,) if isinstance(text, str) else tuple(text)
        lines = tuple(x for x in lines if x)
        return cls(lines, tone) if lines else None

    @property
    def text(self) -> str:
        """All lines as one string (for tests and logs)."""
        return " ".join(self.lines)

    @property
    def close_after_ms(self) -> int | None:
        """Milliseconds until the message closes by itself; None: only when dismissed.

        Warnings and confirmations close once there has been time to read them (what they
        said stays visible elsewhere: the status badge, the events, the form); errors stay.
        """
        base = CLOSE_BASE_MS.get(self.tone)
        if base is None:
            return None
        return min(base + READ_MS_PER_CHAR * len(self.text), CLOSE_MAX_MS)


Op = Literal["assign", "extend", "append"]


@dataclass(frozen=True)
class Edit:
    """Changes to part of a prop's value, in order: Dash's ``Patch`` without Dash.

    ``path`` walks dict keys and list indices from the prop's value, e.g.
    ``("data", 1, "y")`` is the second trace's y values.
    """

    ops: tuple[tuple[Op, tuple[str | int, ...], Any], ...] = field(default_factory=tuple)

    def assign(self, path: Sequence[str | int], value: Any) -> Edit:
        """Set the value at ``path``."""
        return Edit((*self.ops, ("assign", tuple(path), value)))

    def extend(self, path: Sequence[str | int], values: Sequence[Any]) -> Edit:
        """Add ``values`` at the end of the list at ``path``."""
        return Edit((*self.ops, ("extend", tuple(path), list(values))))

    def append(self, path: Sequence[str | int], value: Any) -> Edit:
        """Add one ``value`` at the end of the list at ``path``."""
        return Edit((*self.ops, ("append", tuple(path), value)))

    def apply(self, value: Any) -> Any:
        """What the browser holds after this edit of ``value`` (a new object)."""
        out = copy.deepcopy(value)
        for op, path, arg in self.ops:
            if op == "assign" and not path:
                out = copy.deepcopy(arg)
                continue
            node = out
            for key in path[:-1] if op == "assign" else path:
                node = node[key]
            if op == "assign":
                node[path[-1]] = copy.deepcopy(arg)
            elif op == "extend":
                node.extend(copy.deepcopy(arg))
            else:
                node.append(copy.deepcopy(arg))
        return out


def download(content: str, filename: str, mime: str) -> dict[str, Any]:
    """The value a ``dcc.Download`` takes: a text file the browser saves as ``filename``."""
    return {"content": content, "filename": filename, "type": mime, "base64": False}


T = TypeVar("T")


class Admit(Protocol):
    """``admit(steps, what, job)``: run ``job``, a computation over ``steps`` steps.

    The server's (``callbacks.limits.heavy``) runs a heavy job in a low-priority process, one
    at a time per worker, and refuses another while one runs; views hand it their
    step-proportional work, so the server need not guess the cost of a request. ``job`` must
    pickle: a ``functools.partial`` of a module-level function, not a lambda.
    """

    def __call__(self, steps: int, what: str, job: Callable[[], T]) -> T: ...


class _AdmitAll:
    """The ``Admit`` of a caller with no limit (tests, scripts): every job runs at once."""

    def __call__(self, steps: int, what: str, job: Callable[[], T]) -> T:
        return job()


admit_all: Admit = _AdmitAll()
