"""A crowd of simulated browser sessions over real HTTP: the engine of benchmarks/load_nginx.py
and of the worker-crash test.

Each session is one tab watching its own run (``session.Session``): Start, one full render,
then one tick per period, every request on the tab's own keep-alive connection, until the
page would stop ticking (the run finished or diverged) or the crowd's time is up. A session
sends one request at a time (dash-renderer disables the Interval while a tick runs; the
browser may overlap the first tick with the render after Start, which this leaves out), and
a tick whose slot passed while it waited goes out at once rather than piling up. Each session
connects from its own loopback address (127.0.0.2, 127.0.0.3, ...; all of 127/8 is
loopback), so nginx's per-address rate limit stays on and sees one person per session.

A request nobody answered (connection refused or reset, 502/503/504, an unreadable reply) is
sent again with the same body after a jittered backoff (half to all of 0.5, 1, 2, 4, 5, 5 ...
s), and a 429 after the longer of its Retry-After and that backoff: what
assets/js/connection.js does in the browser. Any other non-200 answer ends the session
(``Outcome.fatal``): the server refused what a browser would send. Nothing runs unbounded:
a request still unanswered ``GIVE_UP_AFTER_END`` seconds after the crowd's end fails.

``Record`` is one attempt (for error counts); ``Answer`` is one request from its first send
to its answer, retries included (what a person waits for, so latency figures use it).

The HTTP client is a minimal HTTP/1.1 one on asyncio streams (Content-Length and chunked
bodies, gzip), so one process can keep hundreds of sessions ticking on a small machine
without threads; only loopback addresses are accepted.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import random
import time
import urllib.request
import zlib
from dataclasses import dataclass, field, replace
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

from renderer import Callbacks
from session import CALLBACK_PATH, Session

import simulator as sim
from layouts import ids
from views.stores import DEFAULT_MODEL

RETRYABLE = (502, 503, 504)
# connection.js sets no timeout of its own; past nginx's proxy_read_timeout (35 s) nginx
# answers 504 itself, so an attempt only times out here if nginx is gone too.
ATTEMPT_TIMEOUT = 40.0
GIVE_UP_AFTER_END = 15.0  # seconds past the crowd's end: a request still unanswered then fails


class Refused(Exception):
    """The server answered a request with a status a browser would not retry."""


def loopback_address(index: int) -> str:
    """The source address of session ``index``: 127.0.0.2, ..., 127.0.0.254, 127.0.1.1, ..."""
    hi, lo = divmod(index, 253)
    if hi > 255:
        raise ValueError(f"at most {256 * 253:,} sessions")
    return f"127.0.{hi}.{lo + (2 if hi == 0 else 1)}"


def require_loopback(url: str) -> tuple[str, int, str]:
    """(host, port, path prefix) of ``url``, refusing anything that is not this machine."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        is_loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        is_loopback = False
    if parts.scheme != "http" or not is_loopback:
        raise ValueError(f"{url!r}: the load generator targets http:// on loopback only")
    return host, parts.port or 80, parts.path.rstrip("/") + "/"


class Connection:
    """One keep-alive HTTP/1.1 connection from a fixed loopback source address."""

    def __init__(self, host: str, port: int, source: str) -> None:
        self.host, self.port, self.source = host, port, source
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(
            self.host, self.port, local_addr=(self.source, 0)
        )

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def request(
        self, method: str, path: str, body: bytes = b""
    ) -> tuple[int, dict[str, str], bytes]:
        """(status, headers, decoded body); raises ``ConnectionError`` if the link failed."""
        try:
            if self.writer is None:
                await self._open()
            assert self.reader is not None and self.writer is not None
            head = (
                f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                "Accept: application/json\r\nAccept-Encoding: gzip\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            )
            self.writer.write(head.encode() + body)
            await self.writer.drain()
            status_line = await self.reader.readline()
            if not status_line:
                raise ConnectionResetError("the server closed the connection")
            status = int(status_line.split()[1])
            headers: dict[str, str] = {}
            while (line := await self.reader.readline()) not in (b"\r\n", b"\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            data = await self._body(status, headers)
            if "gzip" in headers.get("content-encoding", ""):
                data = zlib.decompress(data, 16 + zlib.MAX_WBITS)
        except (OSError, asyncio.IncompleteReadError, ValueError, IndexError, zlib.error) as exc:
            self.close()
            raise ConnectionError(f"{type(exc).__name__}: {exc}") from exc
        if "close" in (t.strip() for t in headers.get("connection", "").lower().split(",")):
            self.close()
        return status, headers, data

    async def _body(self, status: int, headers: dict[str, str]) -> bytes:
        assert self.reader is not None
        if status in (204, 304):
            return b""
        if "chunked" in headers.get("transfer-encoding", "").lower():
            chunks = []
            while size := int((await self.reader.readline()).split(b";")[0], 16):
                chunks.append((await self.reader.readexactly(size + 2))[:-2])
            while (await self.reader.readline()) not in (b"\r\n", b"\n", b""):
                pass  # trailer fields, then the blank line that ends the message
            return b"".join(chunks)
        if "content-length" in headers:
            return await self.reader.readexactly(int(headers["content-length"]))
        data = await self.reader.read()  # no length: the body runs to the connection's close
        self.close()
        return data


@dataclass
class Record:
    """One attempt: when it was sent (seconds since the crowd started), how long it took."""

    sent: float
    seconds: float
    status: int  # 0: no HTTP answer (refused, reset, timed out)
    kind: str
    session: int
    attempt: int

    @property
    def failed(self) -> bool:
        return self.status not in (200, 204)


def in_flight(records: list[Record], start: float, seconds: float) -> list[Record]:
    """Attempts in flight at some moment of [start, start + seconds): sent before its end,
    answered (or failed) after its start. A request a kill cut short counts."""
    return [r for r in records if r.sent < start + seconds and r.sent + r.seconds >= start]


@dataclass
class Answer:
    """One request from its first send to its answer: what the person waited for."""

    sent: float
    seconds: float
    kind: str
    session: int
    attempts: int


@dataclass
class Outcome:
    """What one session went through."""

    index: int
    session: Session
    source: str
    fatal: str | None = None


@dataclass
class Crowd:
    """``sessions`` tabs against ``base`` (e.g. ``http://127.0.0.1:8080``), ``period`` s apart.

    Args:
        base: the dashboard's URL (nginx's, or gunicorn's), loopback only.
        callbacks: the app's callback table (``fetch_callbacks``).
        sessions: how many tabs.
        period: seconds between a tab's ticks (its Interval).
        first_index: the first session's index (its source address and run seed).
        heavy: extra tabs that each ask for a full render of a paused 1,000,000-step run
            every ``heavy_period`` seconds (someone changing smoothing or the x-axis on a
            long run): the heaviest request a person makes, ~0.1 s of a core each.
    """

    base: str
    callbacks: Callbacks
    sessions: int
    period: float = 1.0
    first_index: int = 0
    heavy: int = 0
    heavy_period: float = 2.0
    deadline: float = float("inf")
    path: str = ""
    records: list[Record] = field(default_factory=list)
    answers: list[Answer] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    heavy_outcomes: list[Outcome] = field(default_factory=list)
    t0: float = 0.0

    def config(self, index: int) -> dict[str, Any]:
        """Each tab's run: the default recipe with its own seed, so no two runs are alike."""
        return sim.preset(DEFAULT_MODEL, seed=index).to_dict()

    async def run(self, seconds: float) -> None:
        """Start every session (spread over one period), tick for ``seconds``, then stop."""
        host, port, prefix = require_loopback(self.base)
        self.path = prefix + CALLBACK_PATH
        self.t0 = time.perf_counter()
        end = self.t0 + seconds
        self.deadline = end + GIVE_UP_AFTER_END
        tasks = []
        for i in range(self.first_index, self.first_index + self.sessions):
            outcome = Outcome(
                i,
                Session(self.callbacks, config=self.config(i), interval_ms=int(self.period * 1000)),
                loopback_address(i),
            )
            self.outcomes.append(outcome)
            phase = random.Random(i).random() * self.period
            tasks.append(asyncio.create_task(self._drive(outcome, host, port, phase, end)))
        for j in range(self.heavy):
            i = self.first_index + self.sessions + j
            outcome = Outcome(i, Session(self.callbacks, state=long_run()), loopback_address(i))
            self.heavy_outcomes.append(outcome)
            phase = j * self.heavy_period / self.heavy
            tasks.append(asyncio.create_task(self._render_loop(outcome, host, port, phase, end)))
        await asyncio.gather(*tasks)

    async def _render_loop(
        self, outcome: Outcome, host: str, port: int, phase: float, end: float
    ) -> None:
        conn = Connection(host, port, outcome.source)
        try:
            await asyncio.sleep(phase)
            slot = time.perf_counter()
            while slot < end:
                await self._exchange(outcome, conn, outcome.session.render())
                slot = max(slot + self.heavy_period, time.perf_counter())
                await asyncio.sleep(slot - time.perf_counter())
        except Refused as exc:
            outcome.fatal = str(exc)
        finally:
            conn.close()

    async def _drive(
        self,
        outcome: Outcome,
        host: str,
        port: int,
        phase: float,
        end: float,
    ) -> None:
        conn = Connection(host, port, outcome.source)
        s = outcome.session
        try:
            await asyncio.sleep(phase)
            await self._exchange(outcome, conn, s.click(ids.TR_START))
            await self._exchange(outcome, conn, s.render())
            await self._tick_until(outcome, conn, s, end)
        except Refused as exc:
            outcome.fatal = str(exc)
        finally:
            conn.close()

    async def _tick_until(self, outcome: Outcome, conn: Connection, s: Any, end: float) -> None:
        """Send ``s.tick()`` every ``period`` while ``s.ticking``, until ``end``, as the
        page's Interval does (a late tick goes at once)."""
        slot = time.perf_counter()
        while s.ticking:
            slot += self.period
            now = time.perf_counter()
            if slot >= end:
                break
            if slot > now:
                await asyncio.sleep(slot - now)
            else:
                slot = now  # late: tick at once, as the Interval would after re-enabling
            await self._exchange(outcome, conn, s.tick())

    async def _exchange(self, outcome: Outcome, conn: Connection, body: bytes) -> None:
        """Send one request until answered, retrying like connection.js."""
        s = outcome.session
        kind = s.pending or "?"
        backoff = 0.5
        attempt = 0
        first = time.perf_counter()
        while True:
            attempt += 1
            t = time.perf_counter()
            if t > self.deadline:
                raise Refused(f"{kind}: still unanswered {GIVE_UP_AFTER_END:.0f} s after the end")
            status = 0
            try:
                status, headers, data = await asyncio.wait_for(
                    conn.request("POST", self.path, body),
                    max(0.1, min(ATTEMPT_TIMEOUT, self.deadline - t)),
                )
            except (ConnectionError, TimeoutError):
                conn.close()
                headers, data = {}, b""
            answer = None
            if status == 200:
                try:
                    answer = json.loads(data)
                except ValueError:
                    status = 0  # unreadable: like no answer, resent
            done = time.perf_counter()
            self.records.append(Record(t - self.t0, done - t, status, kind, outcome.index, attempt))
            if status in (200, 204):
                s.receive(answer)
                self.answers.append(
                    Answer(first - self.t0, done - first, kind, outcome.index, attempt)
                )
                return
            wait = backoff * (0.5 + random.random() / 2)
            backoff = min(5.0, backoff * 2)
            if status == 429:
                await asyncio.sleep(max(wait, retry_after(headers.get("retry-after"))))
            elif status == 0 or status in RETRYABLE:
                await asyncio.sleep(wait)
            else:
                raise Refused(f"{kind} answered {status}: {data[:300]!r}")
            body = s.resend()


def retry_after(value: str | None) -> float:
    """Seconds a 429's Retry-After asks for (seconds or an HTTP date), at most 30."""
    if not value:
        return 0.0
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return 0.0
    return max(0.0, min(30.0, seconds))


def long_run() -> dict[str, Any]:
    """A paused run at step 1,000,000 of 1,907,349 (Llama 2 7B, 1M-token batches)."""
    cfg = sim.preset("llama-2-7b", global_batch_tokens=2**20, num_gpus=256)
    state = sim.start(sim.new_run(cfg))
    return replace(state, step=1_000_000, status="paused").to_dict()


def fetch_callbacks(base: str) -> Callbacks:
    """The app's callback table, read once from ``/_dash-dependencies`` (as the page does)."""
    require_loopback(base)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(base.rstrip("/") + "/_dash-dependencies", timeout=10) as r:
        return Callbacks(json.load(r))


def expected_state(config: dict[str, Any], ticks: int, steps_per_tick: int = 100) -> Any:
    """The run state a tab should hold after Start and ``ticks`` ticks, computed here."""
    state = sim.start(sim.new_run(sim.TrainingConfig.from_dict(config)))
    return json.loads(json.dumps(sim.advance(state, ticks * steps_per_tick).to_dict()))


def lost_runs(outcomes: list[Outcome]) -> list[str]:
    """Every session whose run is not exactly the one its ticks should have produced."""
    lost = []
    for o in outcomes:
        s = o.session
        if o.fatal:
            lost.append(f"session {o.index}: {o.fatal}")
        elif s.state != expected_state(s.config or {}, s.ticks):
            lost.append(f"session {o.index}: at step {s.step} ({s.status}) after {s.ticks} ticks")
    return lost
