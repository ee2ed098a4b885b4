"""A browser session on the Training tab, as HTTP requests: what the load script and the
stateless and crash tests replay against real gunicorn and nginx.

dash-renderer drives a watched run with a handful of callback POSTs: Start (the control
callback), one full render (the charts and ``TR_META``, what the charts hold), then a tick
per Interval, each carrying the run state and ``TR_META`` and answered with a ``Patch`` of
the state plus the points to append. ``Session`` builds those bodies and applies the answers
as dash-renderer does (tests/renderer.py), so everything the browser would keep (run state,
chart meta) lives here and nowhere on the server (docs/architecture.md). It knows no
transport: a caller sends ``request()``'s bytes however it likes (requests, a raw asyncio
socket) and hands the decoded JSON to ``receive()``. Sending the same request again after a
failure is exactly what assets/js/connection.js does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from renderer import Callbacks, apply_patch

from layouts import ids

CALLBACK_PATH = "_dash-update-component"

# The Training tab's display options as the page starts them (layouts/training.py).
OPTIONS: dict[tuple[str, str], Any] = {
    (ids.TR_SPEED, "value"): "100",
    (ids.TR_XAXIS, "value"): "step",
    (ids.TR_SMOOTHING, "value"): 0.6,
    (ids.TR_LOG, "value"): False,
}


@dataclass
class Session:
    """One browser tab watching one run: the stores it keeps and the next request it sends.

    Args:
        callbacks: the app's callback table.
        config: the Configuration tab's stored config (``TrainingConfig.to_dict()``), or
            None for the app's default recipe.
        interval_ms: the Interval's period, sent with every tick (the server's "remaining
            time" uses it).
    """

    callbacks: Callbacks
    config: dict[str, Any] | None = None
    interval_ms: int = 1000
    state: dict[str, Any] | None = None
    meta: dict[str, Any] | None = None
    ticks: int = 0
    render_requests: int = 0
    clicks: dict[str, int] = field(default_factory=dict)
    adjusts: int = 0
    # False once an answer disabled the Interval (the run finished, diverged or was paused).
    ticking: bool = True
    # What the next request is, and its body once built (kept for a resend).
    pending: str | None = field(default=None, init=False)
    _body: bytes | None = field(default=None, init=False, repr=False)

    # ------------------------------------------------------------------ requests
    def _values(self) -> dict[tuple[str, str], Any]:
        return {
            **OPTIONS,
            (ids.TICK, "interval"): self.interval_ms,
            (ids.RUN_STORE, "data"): self.state,
            (ids.TR_META, "data"): self.meta,
            (ids.CONFIG_STORE, "data"): self.config,
        }

    def click(self, button: str) -> bytes:
        """Press a run button (``ids.TR_START``, ``TR_PAUSE``, ``TR_STOP``, ``TR_RESET``)."""
        self.clicks[button] = self.clicks.get(button, 0) + 1
        values = self._values()
        for b in (ids.TR_START, ids.TR_PAUSE, ids.TR_STOP, ids.TR_RESET):
            values[(b, "n_clicks")] = self.clicks.get(b)
        return self._send("control", self.callbacks.body(button, "n_clicks", values))

    def render(self) -> bytes:
        """The full render the page asks for when the run store changes under the charts."""
        self.render_requests += 1
        values = {**self._values(), (ids.TR_RENDER_REQ, "data"): self.render_requests}
        return self._send("render", self.callbacks.body(ids.TR_RENDER_REQ, "data", values))

    def tick(self) -> bytes:
        """The Interval fires."""
        values = {**self._values(), (ids.TICK, "n_intervals"): self.ticks + 1}
        return self._send("tick", self.callbacks.body(ids.TICK, "n_intervals", values))

    def adjust(self, lr_multiplier: float) -> bytes:
        """Apply a live LR multiplier at the current step."""
        self.adjusts += 1
        values = {
            **self._values(),
            (ids.TR_ADJ_APPLY, "n_clicks"): self.adjusts,
            (ids.TR_ADJ_LR, "value"): lr_multiplier,
        }
        return self._send("adjust", self.callbacks.body(ids.TR_ADJ_APPLY, "n_clicks", values))

    def _send(self, kind: str, body: bytes) -> bytes:
        if self.pending is not None:
            raise RuntimeError(f"a {self.pending} request is still unanswered")
        self.pending, self._body = kind, body
        return body

    def resend(self) -> bytes:
        """The unanswered request again, byte for byte (as connection.js retries it)."""
        if self._body is None:
            raise RuntimeError("nothing to resend")
        return self._body

    # ------------------------------------------------------------------ answers
    def receive(self, answer: dict[str, Any] | None) -> None:
        """Apply a 200 answer's JSON (None for a 204: every output was ``no_update``)."""
        kind, self.pending, self._body = self.pending, None, None
        out = (answer or {}).get("response", {})
        if ids.RUN_STORE in out:
            self.state = apply_patch(self.state, out[ids.RUN_STORE]["data"])
        if ids.TR_META in out:
            self.meta = out[ids.TR_META]["data"]
        if ids.TICK in out and "disabled" in out[ids.TICK]:
            self.ticking = not out[ids.TICK]["disabled"]
        if kind == "tick":
            self.ticks += 1

    @property
    def step(self) -> int:
        return int(self.state["step"]) if self.state else 0

    @property
    def status(self) -> str:
        return str(self.state["status"]) if self.state else "none"
