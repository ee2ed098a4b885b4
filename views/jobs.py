"""Running a view's heavy job in the worker's helper process (``callbacks/limits.py``).

This module is what the helper imports to run a job, so it imports nothing but the standard
library: importing anything under ``callbacks`` would register the app's callbacks there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class JobFailed(RuntimeError):
    """A job raised in the helper process; the message names the exception. A plain
    RuntimeError pickles back whatever the original was."""


def call(job: Callable[[], T]) -> T:
    """Run ``job``; an exception comes back as ``JobFailed`` (many exception classes,
    ``ConfigError`` among them, cannot be rebuilt from a pickle, and the pool would then count
    itself broken and the request be retried forever)."""
    try:
        return job()
    except Exception as exc:
        raise JobFailed(f"{type(exc).__name__}: {exc}"[:500]) from None


def ready() -> bool:
    """A job that does nothing: ``callbacks.limits.HeavyWork.warm`` sends it to start the
    helper process (and its imports) before the first real job needs it."""
    return True
