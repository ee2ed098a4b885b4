"""Download a run's CSV through the production stack while watching the workers' memory.

Issue 16, item 2: the CSV of a 1M-step run used to come back as one 128 MB JSON callback
reply after 18 s and grew a worker from 160 to 626 MB. ``download`` fetches the streamed
export (``callbacks/export.py``) through nginx with gzip, decompresses it as it arrives
(never holding the file), counts its lines, and samples every gunicorn worker's resident
memory meanwhile. Used by tests/deploy/test_export_stream.py, which prints the figures
(``pytest -s``).
"""

from __future__ import annotations

import http.client
import threading
import time
import zlib
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

import psutil

import simulator as sim
from views import training_export as te


def run_at(step: int) -> sim.RunState:
    """A paused Llama 2 7B run (1M-token batches, 1.9M steps planned) at ``step``."""
    cfg = sim.preset("llama-2-7b", global_batch_tokens=2**20, num_gpus=256)
    return replace(sim.start(sim.new_run(cfg)), step=step, status="paused")


@dataclass
class Download:
    """What one export download measured."""

    status: int
    encoding: str
    lines: int
    wire_bytes: int
    text_bytes: int
    seconds: float
    rss_before_mb: float  # the largest worker's memory (with its helpers) before the download
    rss_peak_mb: float  # the largest worker's memory (with its helpers) during it

    @property
    def growth_mb(self) -> float:
        return self.rss_peak_mb - self.rss_before_mb

    def summary(self) -> str:
        return (
            f"{self.lines - 1:,} rows in {self.seconds:.1f} s: {self.text_bytes / 1e6:.0f} MB of "
            f"CSV, {self.wire_bytes / 1e6:.1f} MB on the wire ({self.encoding or 'identity'}); "
            f"largest worker {self.rss_before_mb:.0f} MB before, peak {self.rss_peak_mb:.0f} MB "
            f"(+{self.growth_mb:.0f} MB)"
        )


def _rss_mb(pids: list[int]) -> float:
    """The largest worker's memory, counting the helper processes it starts
    (``callbacks/limits.py``): the worker's resident size plus each helper's unique size
    (pages shared with the forkserver it forked from are counted once, in the forkserver)."""
    sizes = []
    for pid in pids:
        try:
            worker = psutil.Process(pid)
            total = worker.memory_info().rss
            for child in worker.children(recursive=True):
                total += child.memory_full_info().uss
        except psutil.Error:
            continue
        sizes.append(total / 2**20)
    return max(sizes, default=0.0)


def download(base: str, state: sim.RunState, workers: list[int]) -> Download:
    """GET the export of ``state`` from ``base`` (gzip accepted), sampling ``workers``."""
    u = urlsplit(base)
    path = f"{u.path.rstrip('/')}/export/metrics.csv?run={te.export_token(state)}"
    before = _rss_mb(workers)
    peak = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _rss_mb(workers))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t0 = time.perf_counter()
    conn = http.client.HTTPConnection(u.hostname or "127.0.0.1", u.port, timeout=120)
    conn.request("GET", path, headers={"Accept-Encoding": "gzip"})
    r = conn.getresponse()
    encoding = r.getheader("Content-Encoding") or ""
    unzip = zlib.decompressobj(16 + zlib.MAX_WBITS) if encoding == "gzip" else None
    lines = wire = text = 0
    while True:
        piece = r.read(1 << 16)
        if not piece:
            break
        wire += len(piece)
        data = unzip.decompress(piece) if unzip else piece
        text += len(data)
        lines += data.count(b"\n")
    if unzip:
        tail = unzip.flush()
        text += len(tail)
        lines += tail.count(b"\n")
    seconds = time.perf_counter() - t0
    done.set()
    sampler.join()
    conn.close()
    return Download(r.status, encoding, lines, wire, text, seconds, before, peak[0])
