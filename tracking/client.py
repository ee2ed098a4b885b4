"""Push a training run's metrics to the dashboard: two lines in a training script.

    run = Run("https://dashboard.example", token, "llama-7b-lr3e-4", name="7B, lr 3e-4")
    run.log(step, loss=loss, lr=lr)           # in the loop; returns at once
    run.close()                               # or: with Run(...) as run: ...

Standard library only, so it drops into any training environment. What it promises:

- ``log`` never waits for the network: it appends to an in-memory list and returns (a few
  microseconds). A daemon thread sends what was logged every ``interval`` seconds, or as
  soon as ``batch_points`` (1,000) are waiting, in requests the API accepts (at most 1,000
  points, under 1 MB, at most 1,000 metric names each).
- The dashboard down, slow or refusing (connection errors, timeouts, 429, 5xx) never stops
  training: the thread backs off (doubling from ``backoff[0]`` up to ``backoff[1]``
  seconds, with random jitter so many runs do not retry in step; never sooner than a
  ``Retry-After``) and keeps the points. Past ``buffer_points`` waiting in memory they are
  written to a JSONL file in ``spill_dir`` and sent from there, oldest first, once the
  dashboard answers again.
- Nothing is lost and nothing doubled: the API upserts on (run, metric, step), so a point
  sent twice (a request that timed out after the server stored it, a spill file replayed)
  is stored once. A file left behind by a run that ended while the dashboard was down (or
  crashed) is sent by the next ``Run`` with the same run id and dashboard URL. Points the
  API refuses (a 400, which ``log``'s own checks make unlikely) go to ``<run>.rejected.jsonl``
  beside it, with the reason logged.
- ``close()`` (or leaving the ``with`` block, or interpreter exit) sends what is left for at
  most ``close_timeout`` seconds, then writes the rest to the spill file and returns.
- Memory is bounded: ``buffer_points`` in memory while the dashboard is away, plus whatever
  is logged during the one request in flight (at most ``timeout`` seconds). Should that
  reach ``max_memory_points``, a second thread writes the backlog to the spill file, so
  ``log`` itself never does I/O (it may wait for the GIL while that thread encodes).

Invalid arguments to ``log`` (a step that is not a whole number from 0 to 2**53 - 1, a value
that is not a number, a boolean, a metric name the store refuses) raise at once, in the
caller's code, where the bug is; everything after that is this module's business.

Control (Pause, Resume, Stop on the dashboard) is a request to the script, which decides:
the dashboard never kills or signals a process. The run's control state comes back in every
points reply, so a logging loop learns it for free; when nothing is being sent (a paused
script logs nothing) the sender thread asks for it at most every ``control_poll`` seconds, and
only once the script has asked (``control``, ``should_stop``, ``wait_while_paused``)::

    for step in range(steps):
        if run.should_stop():                   # no request: the last state heard
            save_checkpoint(step)
            break
        if run.wait_while_paused() == "stopped":  # blocks while paused; at once otherwise
            save_checkpoint(step)
            break
        loss = train_step()
        run.log(step, loss=loss)

``should_stop()`` reads an attribute: call it every step. ``wait_while_paused(poll=5.0,
timeout=None)`` returns at once unless the last state heard is ``paused``; then it asks the
dashboard every ``poll`` seconds (a failed ask keeps it paused) and returns the state that
ended the pause (``running`` or ``stopped``), or ``paused`` once ``timeout`` seconds passed.
"""

from __future__ import annotations

import atexit
import contextlib
import email.utils
import hashlib
import json
import logging
import math
import operator
import os
import random
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any

try:  # the lock that tells a live run's spill file from one left behind
    import fcntl
except ImportError:  # pragma: no cover - not on Windows: files are never adopted there
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

#: what one request may carry (tracking.api_input: 1,000 points, 1 MiB, 1,000 metrics)
MAX_BATCH_POINTS = 1000
MAX_BATCH_BYTES = 900_000
MAX_BATCH_METRICS = 1000
MAX_STEP = 2**53
MAX_METRIC = 200
#: the longest wait a Retry-After may impose
MAX_RETRY_AFTER = 600.0
#: statuses after which the same request may succeed later
_TRANSIENT = {408, 425, 429}
#: the control states the dashboard can set (tracking.store.controls)
RUNNING, PAUSED, STOPPED = "running", "paused", "stopped"
STATES = (RUNNING, PAUSED, STOPPED)
_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

Point = tuple[int, float, dict[str, float]]


def _default_spill_dir() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "llm-dashboard" / "spill"


def check_metric(name: object) -> str:
    """The store's rule for metric names (tracking.store.names), checked before sending."""
    if (
        not isinstance(name, str)
        or not name
        or len(name) > MAX_METRIC
        or _CONTROL.search(name)
        or not _unicode(name)
    ):
        raise ValueError(
            f"metric name {name!r:.80} is not allowed: use 1 to {MAX_METRIC} characters "
            "without control characters"
        )
    return name


def _unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _number(name: str, value: object) -> float:
    if isinstance(value, bool):
        raise TypeError(f"metric {name!r}: a boolean is not a number; log 0 or 1 if you mean it")
    try:
        return float(value)  # type: ignore[arg-type]  # ints, floats, numpy and torch scalars
    except (TypeError, ValueError, OverflowError):
        raise TypeError(
            f"metric {name!r}: {type(value).__name__} {value!r:.60} is not a number"
        ) from None


def _value_json(value: float) -> float | str:
    if math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


def encode(point: Point) -> bytes:
    """One point as the API takes it (and as a line of the spill file)."""
    step, when, metrics = point
    body = {"step": step, "time": when, "metrics": {k: _value_json(v) for k, v in metrics.items()}}
    return json.dumps(body, separators=(",", ":"), allow_nan=False).encode()


def pack(lines: Sequence[bytes], names: Sequence[Iterable[str]], limit: int) -> int:
    """How many of ``lines`` (from the first) fit one request: at most ``limit`` points,
    ``MAX_BATCH_BYTES`` bytes and ``MAX_BATCH_METRICS`` metric names; at least one."""
    size, seen = 32, set[str]()
    for n, (line, keys) in enumerate(zip(lines[:limit], names, strict=False)):
        seen.update(keys)
        size += len(line) + 1
        if n and (size > MAX_BATCH_BYTES or len(seen) > MAX_BATCH_METRICS):
            return n
    return min(len(lines), limit)


def body_of(lines: list[bytes]) -> bytes:
    return b'{"points":[' + b",".join(lines) + b"]}"


@dataclass
class Outcome:
    """What one request came to. ``kind``: ok, retry (try again after a pause), blocked (the
    token or URL is wrong: keep the points, retry slowly), rejected (400: these points will
    never be taken), too_large (413: send fewer at once)."""

    kind: str
    status: int | None = None
    message: str = ""
    retry_after: float | None = None
    body: bytes = b""


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (a number or an HTTP date), capped; None if absent."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def _message(raw: bytes) -> str:
    try:
        body = json.loads(raw)
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, str):
            return error[:500]
    except ValueError:
        pass
    return raw[:200].decode("utf-8", "replace")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Redirects are errors: urllib would follow a POST's 301/302 as a GET (http:// sent to
    https:// by a proxy), and the points would go nowhere. The client says where instead."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


@dataclass
class _File:
    """A spill file: its path, the open handle that holds its lock, how far it was sent."""

    path: Path
    handle: IO[bytes]
    sent: int = 0


@dataclass
class Stats:
    """Counts since the run was made, for a script or a test to look at."""

    logged: int = 0
    sent: int = 0
    spilled: int = 0
    rejected: int = 0
    requests: int = 0
    failures: int = 0
    statuses: dict[int, int] = field(default_factory=dict)


class Run:
    """One training run pushing to the dashboard (see the module docstring).

    Args:
        url: the dashboard's address as the browser opens it (``https://host/dash``).
        token: a write token (``python -m tracking token create NAME``); None reads
            ``DASHBOARD_TOKEN`` from the environment.
        run_id: 1-128 of ``A-Z a-z 0-9 . _ -`` starting with a letter or digit; the same
            id again continues (or rewrites) that run.
        name, tags, params, notes: shown with the run; ``params`` are the recipe (learning
            rate, batch, model ...) as text, numbers or booleans, nested ones dotted.
    """

    def __init__(
        self,
        url: str,
        token: str | None,
        run_id: str,
        name: str | None = None,
        *,
        tags: Iterable[str] | None = None,
        params: Mapping[str, object] | None = None,
        notes: str | None = None,
        interval: float = 1.0,
        batch_points: int = MAX_BATCH_POINTS,
        buffer_points: int = 10_000,
        max_memory_points: int = 100_000,
        spill_dir: str | os.PathLike[str] | None = None,
        timeout: float = 10.0,
        backoff: tuple[float, float] = (1.0, 60.0),
        close_timeout: float = 10.0,
        control_poll: float = 5.0,
    ) -> None:
        token = token if token is not None else os.environ.get("DASHBOARD_TOKEN")
        if not token:
            raise ValueError("a write token is needed: pass token= or set DASHBOARD_TOKEN")
        if not isinstance(run_id, str) or not _RUN_ID.fullmatch(run_id):
            raise ValueError(
                f"run id {run_id!r:.80} is not allowed: use 1 to 128 ASCII letters, digits, "
                "'.', '_' or '-', starting with a letter or digit"
            )
        if not 1 <= batch_points <= MAX_BATCH_POINTS:
            raise ValueError(f"batch_points must be from 1 to {MAX_BATCH_POINTS}")
        if not 1 <= buffer_points <= max_memory_points:
            raise ValueError("need 1 <= buffer_points <= max_memory_points")
        lo, hi = backoff
        if not 0 < lo <= hi or interval <= 0 or timeout <= 0 or control_poll <= 0:
            raise ValueError(
                "interval, timeout, control_poll and backoff must be positive, backoff (low, high)"
            )
        self.run_id = run_id
        self._runs_url = url.rstrip("/") + "/api/v1/runs/" + urllib.parse.quote(run_id, safe="")
        self._token = token
        self._interval = interval
        self._batch_points = batch_points
        self._buffer_points = buffer_points
        self._max_memory = max_memory_points
        self._timeout = timeout
        self._backoff = (float(lo), float(hi))
        self._close_timeout = close_timeout
        self._control_poll = control_poll
        self.stats = Stats()
        # The control state last heard (a points reply or a poll) and when (monotonic); asked
        # for only once the script has shown it reads it.
        self._control = RUNNING
        self._control_at = -math.inf
        self._wants_control = False
        self._control_changed = threading.Event()

        meta: dict[str, Any] = {"status": "running"}
        if name is not None:
            meta["name"] = name
        if tags is not None:
            meta["tags"] = list(tags)
        if params is not None:
            meta["params"] = dict(params)
        if notes is not None:
            meta["notes"] = notes
        json.dumps(meta, allow_nan=False)  # refuse what cannot be sent, here and now

        self._lock = threading.Lock()  # _pending, _outbox, _meta, _generation, _closing
        self._pending: list[Point] = []  # logged, not yet encoded
        self._outbox: list[tuple[bytes, tuple[str, ...]]] = []  # encoded, oldest first
        self._generation = 0  # bumped when memory is written to the spill file
        self._meta: list[dict[str, Any]] = [meta]  # PUT bodies, sent before any point
        self._closing = False
        self._stopped = False
        self._closed: bool | None = None  # close()'s answer
        self._deadline = math.inf
        self._wake = threading.Event()

        self._file_lock = threading.Lock()  # the spill files
        key = hashlib.sha256(self._runs_url.encode()).hexdigest()[:10]
        self._spill_dir = Path(spill_dir) if spill_dir is not None else _default_spill_dir()
        self._spill_glob = f"{run_id}.{key}.*.jsonl"
        self._spill_name = f"{run_id}.{key}.{os.getpid()}-{random.getrandbits(32):08x}.jsonl"
        self._spill: _File | None = None
        self._spill_failed = False
        self._adopted: list[_File] = self._adopt()

        self._failures = 0
        self._retry_at = 0.0
        self._complained = False
        self._limit = batch_points  # lowered after a 413
        self._opener = urllib.request.build_opener(_NoRedirect)
        self._thread = threading.Thread(target=self._loop, name=f"tracking-{run_id}", daemon=True)
        # Writes memory to disk when the sender is stuck in a request and memory reaches
        # max_memory_points, so that log() itself never does I/O.
        self._spill_wake = threading.Event()
        self._spiller = threading.Thread(
            target=self._spill_loop, name=f"tracking-{run_id}-spill", daemon=True
        )
        self._at_exit = self._close_at_exit
        atexit.register(self._at_exit)
        self._thread.start()
        self._spiller.start()

    # ------------------------------------------------------------------ the caller's side
    def log(
        self, step: int, values: Mapping[str, object] | None = None, /, **metrics: object
    ) -> None:
        """Record ``metrics`` (and ``values``, for names that are not Python identifiers,
        ``{"train/loss": x}``) at ``step``. Returns at once; never touches the network."""
        try:
            if isinstance(step, bool):
                raise TypeError
            step = operator.index(step)  # ints, numpy and torch integers; not 1.0
        except TypeError:
            raise TypeError(f"step must be a whole number, got {step!r:.60}") from None
        if not 0 <= step < MAX_STEP:
            raise ValueError(f"step must be a whole number from 0 to {MAX_STEP - 1}, got {step}")
        merged = {**values, **metrics} if values else metrics
        if not merged:
            raise ValueError("log() needs at least one metric: run.log(step, loss=...)")
        if len(merged) > MAX_BATCH_METRICS:
            raise ValueError(f"at most {MAX_BATCH_METRICS} metrics a step")
        point = (step, time.time(), {check_metric(k): _number(k, v) for k, v in merged.items()})
        with self._lock:
            if self._closing:
                raise RuntimeError(f"run {self.run_id!r} is closed; make a new Run to log more")
            self._pending.append(point)
            waiting = len(self._pending) + len(self._outbox)
            self.stats.logged += 1
        if waiting >= self._batch_points:
            self._wake.set()
        if waiting >= self._max_memory:
            self._spill_wake.set()  # the sender is stuck in one request: to disk, not here

    @property
    def control(self) -> str:
        """The run's control state as last heard: ``running``, ``paused`` or ``stopped``
        (``running`` until the dashboard has said otherwise). Never makes a request."""
        self._wants_control = True
        return self._control

    def should_stop(self) -> bool:
        """True once the dashboard asked this run to stop (as last heard; no request). The
        script decides what stopping means: save a checkpoint, leave the loop."""
        self._wants_control = True
        return self._control == STOPPED

    def wait_while_paused(self, poll: float = 5.0, timeout: float | None = None) -> str:
        """Block while the run is paused on the dashboard; return the control state.

        Returns at once (no request) unless the state last heard is ``paused``. While
        paused it asks the dashboard every ``poll`` seconds (the sender thread's own asks
        wake it sooner) and returns ``running`` on Resume, ``stopped`` on Stop, or
        ``paused`` after ``timeout`` seconds (None: no limit). A dashboard that does not
        answer keeps it paused: a pause is lifted by the dashboard, not by an outage."""
        if not poll > 0 or (timeout is not None and not timeout >= 0):
            raise ValueError("poll must be positive and timeout None or >= 0 seconds")
        self._wants_control = True
        deadline = math.inf if timeout is None else time.monotonic() + timeout
        while self._control == PAUSED:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self._control_changed.clear()
            if self._control != PAUSED:
                break
            self._control_changed.wait(min(poll, left))
            if self._control == PAUSED and time.monotonic() < deadline:
                self._poll_control()
        return self._control

    def close(self, timeout: float | None = None, *, status: str = "finished") -> bool:
        """Send what is left (at most ``timeout`` s, default ``close_timeout``) and mark the
        run ``status``; write anything still unsent to the spill file. True if every point
        was delivered. Never raises; a second call returns the first one's answer."""
        wait = self._close_timeout if timeout is None else max(float(timeout), 0.0)
        with self._lock:
            if self._closed is not None:
                return self._closed
            if not self._closing:
                self._closing = True
                self._deadline = time.monotonic() + wait
                self._meta.append({"status": status})
        self._wake.set()
        self._thread.join(wait + 1.0)
        with contextlib.suppress(Exception):
            if self._thread.is_alive():  # stuck in a request: keep its batch, it may be lost
                self._spill_memory()
        with self._lock:
            self._stopped = True
            left = len(self._pending) + len(self._outbox)
        self._spill_wake.set()  # ends the spill thread
        self._spiller.join(1.0)
        atexit.unregister(self._at_exit)
        self._closed = self._release_files() and left == 0
        return self._closed

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close(status="failed" if kind is not None else "finished")

    def _close_at_exit(self) -> None:
        self.close()

    @property
    def spill_path(self) -> Path | None:
        """The file points were written to while the dashboard was away (None: never)."""
        return None if self._spill is None else self._spill.path

    # ------------------------------------------------------------------ the sender thread
    def _loop(self) -> None:
        while True:
            with self._lock:
                closing, deadline, stopped = self._closing, self._deadline, self._stopped
            if stopped:
                return
            now = time.monotonic()
            if now < self._retry_at:  # pausing after a failure; closing cuts the pause short
                wait = min(self._retry_at, deadline if closing else math.inf) - now
            else:
                wait = 0.0 if closing else self._interval
            self._wake.wait(wait)
            self._wake.clear()
            now = time.monotonic()
            try:
                done = self._deliver() if now >= self._retry_at else False
                if done and not closing and self._control_due():
                    self._poll_control()
                if closing and (done or time.monotonic() >= deadline):
                    if not done:
                        self._spill_memory()
                    return
                if not done and self._waiting() > self._buffer_points:
                    self._spill_memory()
            except Exception:  # a bug here must not end the thread with points unsent
                log.exception("tracking client: unexpected error; points kept, retrying")
                self._pause(Outcome("retry"))

    def _spill_loop(self) -> None:
        while True:
            self._spill_wake.wait()
            self._spill_wake.clear()
            with self._lock:
                if self._stopped:
                    return
            try:
                self._spill_memory()
            except Exception:
                log.exception("tracking client: unexpected error writing the spill file")

    def _waiting(self) -> int:
        with self._lock:
            return len(self._pending) + len(self._outbox)

    def _deliver(self) -> bool:
        """Send the run's fields, then left-behind files, the spill file, then memory, oldest
        first. True when all is sent; False after a failure (the pause is set)."""
        while True:
            with self._lock:
                if self._stopped:  # close() gave up waiting and wrote everything to disk
                    return False
                meta = self._meta[0] if self._meta else None
            if meta is None:
                break
            outcome = self._request("PUT", self._runs_url, json.dumps(meta).encode())
            if outcome.kind in ("retry", "blocked"):
                return self._pause(outcome)
            if outcome.kind != "ok":
                log.error(
                    "tracking client: run fields refused (%s); sent without them", outcome.message
                )
            with self._lock:
                self._meta.pop(0)
        for spill in [*self._adopted]:
            if not self._send_file(spill):
                return False
            self._adopted.remove(spill)
            self._discard(spill)
        if self._spill is not None and not self._send_file(self._spill):
            return False
        return self._send_memory()

    def _send_memory(self) -> bool:
        """Send what was logged up to now. Points logged while these requests are in
        flight wait for the next ``interval`` (or ``batch_points``), except when closing:
        draining them at once made a loop logging every few ms send a request every few
        ms, 5-10 a second per run instead of one (tests/deploy/test_real_runs_load.py)."""
        take = True
        while True:
            with self._lock:
                if self._stopped:
                    return False
                if take or self._closing:
                    points, self._pending = self._pending, []
                else:
                    points = []
            take = False
            if points:
                encoded = [(encode(p), tuple(p[2])) for p in points]
                with self._lock:
                    self._outbox.extend(encoded)
            with self._lock:
                generation = self._generation
                batch = self._outbox[: self._limit]
            if not batch:
                return True
            n = pack([b[0] for b in batch], [b[1] for b in batch], self._limit)
            lines = [b[0] for b in batch[:n]]
            outcome = self._post(lines)
            if outcome.kind == "too_large" and n > 1:
                self._limit = max(1, n // 2)
                continue
            if outcome.kind in ("retry", "blocked"):
                return self._pause(outcome)
            if outcome.kind != "ok":
                self._reject(lines, outcome)
            with self._lock:
                if self._generation == generation:  # else: already written to the spill file
                    del self._outbox[:n]

    def _send_file(self, spill: _File) -> bool:
        """Send ``spill`` from where it was sent up to, in requests; True once all is sent."""
        while True:
            with self._file_lock:
                if spill.handle.closed:  # close() released it
                    return False
                lines, names, skipped = self._read(spill)
            if not lines:
                with self._file_lock:
                    spill.sent += skipped
                    if spill is self._spill and self._size(spill) == spill.sent:
                        spill.handle.truncate(0)  # all sent: start the file again
                        spill.sent = 0
                return True
            n = pack(lines, names, self._limit)
            outcome = self._post(lines[:n])
            if outcome.kind == "too_large" and n > 1:
                self._limit = max(1, n // 2)
                continue
            if outcome.kind in ("retry", "blocked"):
                return self._pause(outcome)
            if outcome.kind != "ok":
                self._reject(lines[:n], outcome)
            with self._file_lock:
                spill.sent += skipped + sum(len(line) + 1 for line in lines[:n])

    @staticmethod
    def _size(spill: _File) -> int:
        return os.fstat(spill.handle.fileno()).st_size

    def _read(self, spill: _File) -> tuple[list[bytes], list[tuple[str, ...]], int]:
        """Up to one request's lines of ``spill`` from ``sent`` on (complete lines only), and
        the bytes of unreadable lines passed over before them."""
        lines: list[bytes] = []
        names: list[tuple[str, ...]] = []
        skipped = 0
        with open(spill.path, "rb") as f:
            f.seek(spill.sent)
            while len(lines) < self._limit:
                raw = f.readline(MAX_BATCH_BYTES)
                if not raw.endswith(b"\n"):
                    break  # end of file, or a line cut off by a crash while writing it
                line = raw[:-1]
                try:
                    point = json.loads(line)
                    keys = tuple(point["metrics"])
                except (ValueError, KeyError, TypeError):
                    log.warning("tracking client: skipping an unreadable line in %s", spill.path)
                    if not lines:
                        skipped += len(raw)
                        continue
                    break
                lines.append(line)
                names.append(keys)
        return lines, names, skipped

    def _post(self, lines: list[bytes]) -> Outcome:
        outcome = self._request("POST", self._runs_url + "/points", body_of(lines))
        if outcome.kind == "ok":
            self.stats.sent += len(lines)
            self._learn(outcome.body)
        return outcome

    # ------------------------------------------------------------------ control state
    def _learn(self, body: bytes) -> str | None:
        """Take the control state from a reply's ``control`` field (None if it has none)."""
        try:
            state = json.loads(body).get("control")
        except (ValueError, AttributeError):
            return None
        if state not in STATES:
            return None
        changed = state != self._control
        self._control = state
        self._control_at = time.monotonic()
        if changed:
            log.info("tracking client: run %s is now %s on the dashboard", self.run_id, state)
            self._control_changed.set()
        return str(state)

    def _control_due(self) -> bool:
        """The script reads the control state and it has not been heard for control_poll s."""
        return (
            self._wants_control
            and self._control != STOPPED  # final: nothing more to hear
            and time.monotonic() - self._control_at >= self._control_poll
        )

    def _poll_control(self) -> str | None:
        """Ask ``POST runs/<id>/control/poll`` (token, no body); the state, or None when the
        dashboard did not answer (the last state heard stands)."""
        request = urllib.request.Request(
            self._runs_url + "/control/poll",
            data=b"",
            method="POST",
            headers={
                "Authorization": f"Bearer {self._token}",
                "User-Agent": "llm-dashboard-tracking-client",
            },
        )
        try:
            with self._opener.open(request, timeout=self._timeout) as response:
                body = response.read(65536)
        except urllib.error.HTTPError as exc:
            log.debug("tracking client: control poll refused: HTTP %s", exc.code)
            exc.close()
            return None
        except (OSError, ValueError) as exc:
            log.debug("tracking client: control poll failed: %s", exc)
            return None
        return self._learn(body)

    def _request(self, method: str, url: str, body: bytes) -> Outcome:
        request = urllib.request.Request(
            url,
            data=body,
            method=method,
            headers={
                "Authorization": f"Bearer {self._token}",
                "Content-Type": "application/json",
                "User-Agent": "llm-dashboard-tracking-client",
            },
        )
        self.stats.requests += 1
        with self._lock:
            deadline = self._deadline
        timeout = max(0.1, min(self._timeout, deadline - time.monotonic()))
        try:
            with self._opener.open(request, timeout=timeout) as response:
                body = response.read(65536)
                status = int(response.status)
        except urllib.error.HTTPError as exc:
            status = exc.code
            self.stats.statuses[status] = self.stats.statuses.get(status, 0) + 1
            message = _message(exc.read(65536))
            retry_after = _retry_after(exc.headers.get("Retry-After"))
            exc.close()
            if 300 <= status < 400:
                where = exc.headers.get("Location", "elsewhere")
                message = f"the dashboard redirects to {where}: give Run that address"
            if status == 400:
                return Outcome("rejected", status, message)
            if status == 413:
                return Outcome("too_large", status, message)
            if status in _TRANSIENT or status >= 500:
                return Outcome("retry", status, message, retry_after)
            return Outcome("blocked", status, message, retry_after)
        except (OSError, ValueError) as exc:  # refused, reset, timed out, DNS, bad URL
            return Outcome("retry", None, f"{type(exc).__name__}: {exc}")
        self.stats.statuses[status] = self.stats.statuses.get(status, 0) + 1
        if self._failures:
            log.info("tracking client: %s delivering again", self.run_id)
        self._failures = 0
        self._complained = False
        return Outcome("ok", status, body=body)

    def _pause(self, outcome: Outcome) -> bool:
        """Wait before the next attempt: doubling, jittered, at least Retry-After; the
        slowest pace when the token or URL is wrong. Returns False (for ``_deliver``)."""
        self._failures += 1
        self.stats.failures += 1
        lo, hi = self._backoff
        delay = hi if outcome.kind == "blocked" else min(hi, lo * 2 ** (self._failures - 1))
        delay = random.uniform(delay / 2, delay)
        if outcome.retry_after is not None:
            delay = max(delay, outcome.retry_after)
        self._retry_at = time.monotonic() + delay
        if not self._complained:
            self._complained = True
            what = f"HTTP {outcome.status}" if outcome.status else "no answer"
            level = logging.ERROR if outcome.kind == "blocked" else logging.WARNING
            log.log(
                level,
                "tracking client: the dashboard refused or did not answer (%s: %s); points "
                "are kept and sent when it does",
                what,
                outcome.message,
            )
        return False

    def _reject(self, lines: list[bytes], outcome: Outcome) -> None:
        """Points the API will never take: kept beside the spill files, reason logged."""
        self.stats.rejected += len(lines)
        path = self._spill_dir / f"{self.run_id}.rejected.jsonl"
        log.error(
            "tracking client: %d points refused (%s); written to %s",
            len(lines),
            outcome.message,
            path,
        )
        with contextlib.suppress(OSError), self._file_lock:
            self._spill_dir.mkdir(parents=True, exist_ok=True)
            with open(path, "ab") as f:
                f.write(b"".join(line + b"\n" for line in lines))

    # ------------------------------------------------------------------ spill files
    def _spill_memory(self) -> None:
        """Move everything waiting in memory to the end of the spill file."""
        with self._lock:
            if self._stopped:
                return
            points, self._pending = self._pending, []
            outbox, self._outbox = self._outbox, []
            self._generation += 1
        if not points and not outbox:
            return
        data = b"".join(line + b"\n" for line, _ in outbox)
        data += b"".join(encode(p) + b"\n" for p in points)
        with self._file_lock:
            try:
                if self._spill is None:
                    self._spill_dir.mkdir(parents=True, exist_ok=True)
                    path = self._spill_dir / self._spill_name
                    handle = open(path, "a+b")  # noqa: SIM115 (held open: it holds the lock)
                    if fcntl is not None:
                        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    self._spill = _File(path, handle)
                start = self._size(self._spill)
                try:
                    self._spill.handle.write(data)
                    self._spill.handle.flush()
                except OSError:
                    # no half-written line for the next append to run into
                    with contextlib.suppress(OSError):
                        self._spill.handle.truncate(start)
                    raise
            except OSError as exc:
                # The disk refused too: keep the points in memory (bounded by nothing now)
                # rather than drop them, and say so once.
                if not self._spill_failed:
                    self._spill_failed = True
                    log.error("tracking client: cannot write the spill file (%s)", exc)
                with self._lock:
                    self._outbox[:0] = outbox
                    self._pending[:0] = points
                return
        self.stats.spilled += len(outbox) + len(points)

    def _adopt(self) -> list[_File]:
        """Spill files of this run and dashboard that no live process holds (it ended or
        crashed before they were sent), oldest first."""
        if fcntl is None or not self._spill_dir.is_dir():
            return []
        found = []
        for path in sorted(self._spill_dir.glob(self._spill_glob), key=_mtime):
            try:
                handle = open(path, "r+b")  # noqa: SIM115 (held open: it holds the lock)
            except OSError:
                continue
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.close()  # a live run's file
                continue
            found.append(_File(path, handle))
        if found:
            log.info("tracking client: sending %d file(s) a previous run left", len(found))
        return found

    def _discard(self, spill: _File) -> None:
        with self._file_lock, contextlib.suppress(OSError):
            spill.path.unlink()
            spill.handle.close()

    def _release_files(self) -> bool:
        """Close the spill files; delete the ones fully sent. True if none is left."""
        clean = True
        with self._file_lock:
            for spill in [*self._adopted, *([self._spill] if self._spill else [])]:
                size = spill.path.stat().st_size if spill.path.exists() else 0
                if spill.sent >= size:
                    with contextlib.suppress(OSError):
                        spill.path.unlink()
                else:
                    clean = False
                    log.warning(
                        "tracking client: %s keeps points the dashboard has not taken yet; "
                        "a Run with the same id and URL sends them",
                        spill.path,
                    )
                with contextlib.suppress(OSError):
                    spill.handle.close()
        return clean


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
