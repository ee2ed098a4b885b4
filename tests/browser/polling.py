"""Waiting in the browser tests: poll a condition until it holds, as a person would look again.

One copy for the browser tests' waits (they poll the page, which changes under Dash's
renders; an element read while it is being replaced raises, and is simply read again).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def wait(pred: Callable[[], Any], timeout: float = 45.0, what: str = "condition") -> Any:
    """``pred()``'s first truthy value within ``timeout`` seconds (generous: the machine is
    shared with other test runs), else an AssertionError naming ``what`` and the last value."""
    end = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < end:
        try:
            last = pred()
        except Exception as exc:  # an element re-rendered under us: look again
            last = exc
        else:
            if last:
                return last
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")
