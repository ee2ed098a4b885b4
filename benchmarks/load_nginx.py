"""Load and faults through the production stack: simulated tabs ticking through nginx.

Run against a running ``make serve`` (nginx 127.0.0.1:8080 -> gunicorn 127.0.0.1:8000, one
worker per core)::

    .venv/bin/python benchmarks/load_nginx.py            # every phase, about 5 minutes
    .venv/bin/python benchmarks/load_nginx.py --phase steady --sessions 200 --seconds 60

or ``make load``, which starts ``deploy/serve.sh`` itself (``--spawn``) and stops it after.

Phases (issue 7):

- ``steady``: ``--sessions`` tabs (200), each ticking once a second for ``--seconds`` (60):
  errors (target zero), tick latency p50/p90/p99/max, and who used the CPU.
- ``kill``: the same crowd; half way, ``kill -9`` one gunicorn worker. The failed requests
  among those in flight in the second after the kill (target <= 1%), how long until gunicorn
  forks the replacement, and whether every tab still holds exactly its run.
- ``ramp``: 200, 250, ... tabs, ``--ramp-seconds`` each, until tick p99 passes 250 ms (or
  ``--ramp-max``): the crowd this machine holds.

Each tab is a ``tests/deploy/session.py`` session driven by ``tests/deploy/crowd.py``: Start,
one full render, then ticks on its own keep-alive connection from its own loopback address
(so nginx's per-address rate limit stays on), a failed request resent like the page's
connection.js does. A tab's run is checked at the end against the simulator's own answer
for that many ticks. Every phase has a fixed length; only loopback is ever contacted.

The load generator shares the machine with nginx and gunicorn, so its CPU share is printed:
on a 2-core box the server has less than the whole machine, and the figures are pessimistic.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "deploy"))

import psutil  # noqa: E402
from crowd import (  # noqa: E402
    Answer,
    Crowd,
    Record,
    fetch_callbacks,
    in_flight,
    lost_runs,
    require_loopback,
)

P99_TARGET = 0.250  # seconds: where the ramp stops
MAX_SESSIONS = 5000  # the ramp never goes past this, whatever --ramp-max says
WARMUP = 5.0  # seconds of each phase left out of its latency figures (starts, first renders)


# ----------------------------------------------------------------------------- processes
def listeners(port: int, name_has: str) -> list[psutil.Process]:
    """Processes whose command line mentions ``name_has`` and that listen on ``port``."""
    found = []
    for p in psutil.process_iter(["cmdline", "name"]):
        try:
            text = " ".join(p.info["cmdline"] or [p.info["name"] or ""])
            if name_has not in text:
                continue
            conns = p.net_connections("tcp")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if any(c.status == psutil.CONN_LISTEN and c.laddr.port == port for c in conns):
            found.append(p)
    return found


def master_of(port: int, name_has: str) -> psutil.Process:
    """The master process (not its forked workers, which share the listening socket)."""
    procs = listeners(port, name_has)
    pids = {p.pid for p in procs}
    masters = [p for p in procs if p.ppid() not in pids]
    if len(masters) != 1:
        raise SystemExit(f"expected one {name_has} master on port {port}, found {len(masters)}")
    return masters[0]


class TreeClock:
    """CPU seconds used by a master and its workers since ``__init__``, workers that come and
    go included (a killed one, one recycled by gunicorn's ``max_requests``).

    A thread samples every process of the tree twice a second and keeps each one's latest
    figure, so a worker that ends loses at most its last half second; a worker born after the
    start counts from zero.
    """

    def __init__(self, master: psutil.Process) -> None:
        self.master = master
        self.base: dict[int, float] = {}
        self.latest: dict[int, float] = {}
        self.sample()
        self.base = dict(self.latest)
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def sample(self) -> None:
        try:
            procs = [self.master, *self.master.children()]
        except psutil.NoSuchProcess:
            return
        for p in procs:
            try:
                t = p.cpu_times()
                self.latest[p.pid] = t.user + t.system
            except psutil.NoSuchProcess:
                pass

    def _run(self) -> None:
        while not self.done.wait(0.5):
            self.sample()

    def stop(self) -> float:
        self.done.set()
        self.thread.join()
        self.sample()
        return sum(v - self.base.get(pid, 0.0) for pid, v in self.latest.items())


class Meters:
    """CPU used by each party over a phase, as a share of the whole machine."""

    def __init__(self, gunicorn: psutil.Process, nginx: psutil.Process) -> None:
        self.cores = psutil.cpu_count() or 1
        self.clocks = (TreeClock(gunicorn), TreeClock(nginx))
        self.start = self._read()

    def _read(self) -> tuple[float, float, float]:
        me = resource.getrusage(resource.RUSAGE_SELF)
        machine = psutil.cpu_times()
        busy = sum(machine) - machine.idle - getattr(machine, "iowait", 0.0)
        return time.perf_counter(), me.ru_utime + me.ru_stime, busy

    def report(self) -> str:
        gun, ngx = (c.stop() for c in self.clocks)
        wall, me, busy = (b - a for a, b in zip(self.start, self._read(), strict=True))
        cap = wall * self.cores / 100
        return (
            f"CPU over {wall:.0f} s on {self.cores} cores: machine busy {busy / cap:.0f}%, "
            f"gunicorn {gun / cap:.0f}%, nginx {ngx / cap:.0f}%, load generator {me / cap:.0f}% "
            f"(of the whole machine); load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
        )


# ----------------------------------------------------------------------------- figures
def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))] if s else float("nan")


def latency_line(answers: list[Answer], since: float) -> tuple[str, float]:
    """Tick latency from each tick's first send to its answer (a retried tick's wait counts)."""
    ticks = [a.seconds for a in answers if a.kind == "tick" and a.sent >= since]
    if not ticks:
        return "no tick was answered", float("nan")
    p99 = pct(ticks, 0.99)
    retried = sum(1 for a in answers if a.kind == "tick" and a.sent >= since and a.attempts > 1)
    line = (
        f"tick latency over {len(ticks):,} ticks ({retried} retried): "
        f"p50 {1000 * statistics.median(ticks):.1f} ms, p90 {1000 * pct(ticks, 0.9):.1f} ms, "
        f"p99 {1000 * p99:.1f} ms, max {1000 * max(ticks):.1f} ms"
    )
    return line, p99


def failures(records: list[Record]) -> list[Record]:
    return [r for r in records if r.failed]


def describe(records: list[Record]) -> str:
    counts: dict[str, int] = {}
    for r in records:
        key = "no answer" if r.status == 0 else str(r.status)
        counts[key] = counts.get(key, 0) + 1
    return ", ".join(f"{n} x {k}" for k, n in sorted(counts.items())) or "none"


def run_crowd(
    url: str, sessions: int, seconds: float, kill: psutil.Process | None = None, heavy: int = 0
) -> tuple[Crowd, dict[str, float]]:
    """One crowd for ``seconds``; with ``kill``, SIGKILL one of its workers half way."""
    crowd = Crowd(url, fetch_callbacks(url), sessions=sessions, period=1.0, heavy=heavy)
    facts: dict[str, float] = {}

    async def killer(master: psutil.Process) -> None:
        await asyncio.sleep(seconds / 2)
        before = {p.pid for p in master.children()}
        if not before:
            raise SystemExit("gunicorn has no worker to kill")
        victim = sorted(before)[0]
        os.kill(victim, signal.SIGKILL)
        facts["kill_at"] = time.perf_counter() - crowd.t0
        facts["victim"] = victim
        give_up = time.perf_counter() + 30
        while time.perf_counter() < give_up:  # until gunicorn has forked the replacement
            await asyncio.sleep(0.01)
            now = {p.pid for p in master.children()}
            if len(now - before) >= 1 and len(now) >= len(before):
                facts["replaced_after"] = time.perf_counter() - crowd.t0 - facts["kill_at"]
                return

    async def main() -> None:
        jobs = [crowd.run(seconds)]
        if kill is not None:
            jobs.append(killer(kill))
        await asyncio.gather(*jobs)

    asyncio.run(main())
    return crowd, facts


def check_runs(crowd: Crowd) -> str:
    lost = lost_runs(crowd.outcomes)
    lost += [f"heavy tab {o.index}: {o.fatal}" for o in crowd.heavy_outcomes if o.fatal]
    ticks = [o.session.ticks for o in crowd.outcomes]
    head = (
        f"runs: {len(crowd.outcomes) - len(lost)} of {len(crowd.outcomes)} intact "
        f"(each equal to the simulator's own run after its ticks; {min(ticks)}-{max(ticks)} ticks)"
    )
    return head + "".join(f"\n    LOST {line}" for line in lost[:10])


# ----------------------------------------------------------------------------- phases
def steady(
    url: str, gunicorn: psutil.Process, nginx: psutil.Process, a: argparse.Namespace
) -> None:
    print(f"\n== steady: {a.sessions} tabs ticking once a second for {a.seconds:.0f} s")
    meters = Meters(gunicorn, nginx)
    crowd, _ = run_crowd(url, a.sessions, a.seconds, heavy=a.heavy)
    recs = crowd.records
    fails = failures(recs)
    ticks = sum(1 for x in crowd.answers if x.kind == "tick")
    renders = [x.seconds for x in crowd.answers if x.session >= a.sessions]
    if renders:
        print(
            f"  with {a.heavy} tabs re-rendering a 1,000,000-step run every 2 s: "
            f"{len(renders)} renders, p50 {1000 * statistics.median(renders):.0f} ms, "
            f"max {1000 * max(renders):.0f} ms"
        )
    print(
        f"  requests {len(recs):,}, ticks {ticks:,} ({ticks / a.seconds:.0f}/s); "
        f"failed attempts {len(fails)} ({describe(fails)})"
    )
    print("  " + latency_line(crowd.answers, WARMUP)[0] + f" (after the first {WARMUP:.0f} s)")
    print("  " + check_runs(crowd))
    print("  " + meters.report())


def kill_phase(url: str, gunicorn: psutil.Process, a: argparse.Namespace) -> None:
    print(f"\n== kill: {a.sessions} tabs for {a.seconds:.0f} s, kill -9 one worker half way")
    crowd, facts = run_crowd(url, a.sessions, a.seconds, kill=gunicorn)
    at = facts["kill_at"]
    recs = crowd.records
    second = in_flight(recs, at, 1.0)
    failed = failures(second)
    share = 100 * len(failed) / max(1, len(second))
    after = [x.seconds for x in crowd.answers if at - 1 <= x.sent < at + 5]
    print(
        f"  killed worker {facts['victim']:.0f} at {at:.1f} s; gunicorn forked its "
        f"replacement {1000 * facts.get('replaced_after', float('nan')):.0f} ms later"
    )
    print(
        f"  in the second after the kill: {len(failed)} of the {len(second)} requests in flight "
        f"then failed "
        f"({share:.2f}%, target <= 1%: {describe(failed)}); "
        + (
            "SOME TABS GAVE UP (see LOST below)"
            if any(o.fatal for o in crowd.outcomes)
            else "every failed request was resent and answered"
            if failed
            else "nothing to resend"
        )
    )
    print(
        f"  whole phase: {len(failures(recs))} failed attempts of {len(recs):,}; longest wait "
        f"for an answer (retries included) around the kill "
        f"{1000 * max(after, default=float('nan')):.0f} ms"
    )
    print("  " + latency_line(crowd.answers, WARMUP)[0])
    print("  " + check_runs(crowd))


def ramp(url: str, gunicorn: psutil.Process, nginx: psutil.Process, a: argparse.Namespace) -> None:
    print(
        f"\n== ramp: {a.ramp_from}, {a.ramp_from + a.ramp_step}, ... tabs, "
        f"{a.ramp_seconds:.0f} s each, until tick p99 > {1000 * P99_TARGET:.0f} ms"
    )
    n = a.ramp_from
    last_ok = None
    while n <= min(a.ramp_max, MAX_SESSIONS):
        meters = Meters(gunicorn, nginx)
        crowd, _ = run_crowd(url, n, a.ramp_seconds)
        line, p99 = latency_line(crowd.answers, WARMUP)
        ticks = sum(1 for x in crowd.answers if x.kind == "tick" and x.sent >= WARMUP)
        rate = ticks / (a.ramp_seconds - WARMUP)
        fails = failures(crowd.records)
        lost = lost_runs(crowd.outcomes)
        print(
            f"  {n:>5} tabs: {rate:5.0f} ticks/s of {n} wanted; {line}; failed attempts "
            f"{len(fails)} ({describe(fails)}); runs lost {len(lost)}\n         {meters.report()}"
        )
        too_many_failed = len(fails) > len(crowd.records) / 100 or lost
        if not p99 <= P99_TARGET or too_many_failed:  # a NaN p99 (nothing answered) stops too
            why = (
                "over 1% of requests failed or a run was lost"
                if too_many_failed
                else (f"tick p99 passes {1000 * P99_TARGET:.0f} ms")
            )
            print(f"  -> {why} at {n} tabs (last under it: {last_ok if last_ok else 'none'})")
            return
        last_ok = n
        n += a.ramp_step
    print(f"  -> tick p99 stayed under {1000 * P99_TARGET:.0f} ms up to {last_ok} tabs")


# ----------------------------------------------------------------------------- main
def spawn_serve(url: str) -> subprocess.Popen[bytes]:
    """Start deploy/serve.sh (what ``make serve`` runs) and wait until nginx answers."""
    log = tempfile.NamedTemporaryFile(prefix="load-serve-", suffix=".log", delete=False)  # noqa: SIM115
    proc = subprocess.Popen(
        ["deploy/serve.sh"],
        cwd=ROOT,
        env={**os.environ, "PYTHON": sys.executable},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    for _ in range(300):
        if proc.poll() is not None:
            raise SystemExit(
                f"deploy/serve.sh exited (is `make serve` already running? then leave out "
                f"--spawn): see {log.name}"
            )
        try:
            opener.open(url.rstrip("/") + "/healthz", timeout=1).read()
            return proc
        except OSError:
            time.sleep(0.2)
    raise SystemExit("make serve never answered")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--url", default="http://127.0.0.1:8080", help="nginx (loopback only)")
    ap.add_argument("--upstream-port", type=int, default=8000, help="gunicorn's port")
    ap.add_argument("--phase", choices=("all", "steady", "kill", "ramp"), default="all")
    ap.add_argument("--sessions", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--heavy", type=int, default=0, help="steady: tabs re-rendering a long run")
    ap.add_argument("--ramp-from", type=int, default=200)
    ap.add_argument("--ramp-step", type=int, default=50)
    ap.add_argument("--ramp-max", type=int, default=1500)
    ap.add_argument("--ramp-seconds", type=float, default=20.0)
    ap.add_argument("--spawn", action="store_true", help="start deploy/serve.sh, stop it after")
    a = ap.parse_args()
    if not (1 <= a.sessions <= MAX_SESSIONS and 10 <= a.seconds <= 600):
        raise SystemExit(f"--sessions must be 1-{MAX_SESSIONS} and --seconds 10-600")
    if a.ramp_seconds < 2 * WARMUP or a.ramp_step < 1:
        raise SystemExit(f"--ramp-seconds must be at least {2 * WARMUP:.0f} and --ramp-step >= 1")
    _, port, _ = require_loopback(a.url)
    served = spawn_serve(a.url) if a.spawn else None
    try:
        print(
            f"target {a.url} (nginx) -> gunicorn on port {a.upstream_port}; "
            f"uptime: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}"
        )
        gunicorn = master_of(a.upstream_port, "gunicorn")
        nginx = master_of(port, "nginx")
        print(
            f"gunicorn master {gunicorn.pid} with {len(gunicorn.children())} workers; "
            f"nginx master {nginx.pid} with {len(nginx.children())} workers"
        )
        if a.phase in ("all", "steady"):
            steady(a.url, gunicorn, nginx, a)
        if a.phase in ("all", "kill"):
            kill_phase(a.url, gunicorn, a)
        if a.phase in ("all", "ramp"):
            ramp(a.url, gunicorn, nginx, a)
        print(
            f"\nuptime: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}"
        )
    finally:
        if served is not None:
            os.killpg(served.pid, signal.SIGTERM)
            served.wait(timeout=30)


if __name__ == "__main__":
    main()
