"""The run store on both engines: ingest, 1M-point reads, the live tail.

Run: ``.venv/bin/python benchmarks/bench_store.py [--steps N]`` (or ``make bench``).

For SQLite (a new file) and PostgreSQL (a throwaway server started here with its default,
durable settings, by ``tracking.store.pgtest``; skipped with a message if PostgreSQL is not
installed) it prints:

- adding 1M steps x 3 metrics (loss, learning rate, grad norm with a few NaN and inf), one
  ``add`` call per metric, and adding the same again (all ``same``: a re-read or a resent
  request);
- ``series`` of a 1M-point metric down to 4,000 points (median and best of 21; target
  <= 50 ms), for the loss (all finite) and the grad norm (a few NaN and inf, whose chunks
  are read whole), and of a 100,000-step zoom (buckets from the points) and a 3,000-step
  zoom (every point);
- ``since`` for the newest 10 points (median and best of 101; target <= 5 ms);
- for SQLite, the file's size per point.

It also prints what zlib would save on the chunk blobs and cost per 1M-point read: the
reason they are stored uncompressed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tracking import store as store_module
from tracking.records import Series
from tracking.store import chunks, pgtest
from tracking.store.chunks import CHUNK


def make_series(steps: int) -> list[Series]:
    rng = np.random.default_rng(0)
    step = np.arange(steps, dtype=np.int64)
    wall = 1.7e9 + step * 0.25
    loss = 2.0 + 8.0 / np.sqrt(1 + step / 100) + rng.normal(0, 0.05, steps).cumsum() / 100
    lr = 3e-4 * np.minimum(1.0, (step + 1) / 2000) * np.cos(np.pi * step / (2 * steps))
    norm = np.abs(rng.normal(1.0, 0.3, steps))
    norm[rng.integers(0, steps, 20)] = np.nan
    norm[rng.integers(0, steps, 5)] = np.inf
    return [
        Series("train/loss", step, loss, wall),
        Series("train/lr", step, lr, wall),
        Series("train/grad_norm", step, norm, wall),
    ]


def timings(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """(median, best) in milliseconds."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), min(times)


def bench(label: str, url: str, data: list[Series]) -> None:
    store = store_module.open(url)
    steps = len(data[0])
    print(f"\n{label}: {store.url}")
    started = time.perf_counter()
    for s in data:
        store.add("bench", s)
    took = time.perf_counter() - started
    print(
        f"  add {steps:,} steps x {len(data)} metrics: {took:.2f} s "
        f"({3 * steps / took:,.0f} points/s)"
    )
    started = time.perf_counter()
    added = [store.add("bench", s) for s in data]
    took = time.perf_counter() - started
    assert all(a.same == steps for a in added), added
    print(f"  the same again (all unchanged): {took:.2f} s")
    for series in (data[0], data[2]):
        metric = series.metric
        curve = store.series("bench", metric)
        assert len(curve) <= 4000 + 3 * 2000 and not curve.exact
        median, best = timings(lambda metric=metric: store.series("bench", metric), 21)
        print(
            f"  series {metric} {steps:,} -> {len(curve)} points: median {median:.1f} ms, "
            f"best {best:.1f} ms (target <= 50)"
        )
    metric = data[0].metric
    mid = steps // 2
    for width in (100_000, 3_000):
        curve = store.series("bench", metric, mid, mid + width - 1)
        median, best = timings(lambda w=width: store.series("bench", metric, mid, mid + w - 1), 21)
        how = "every point" if curve.exact else f"{len(curve)} points from the points"
        print(f"  series zoom {width:,} steps ({how}): median {median:.1f} ms, best {best:.1f} ms")
    tail = store.since("bench", metric, steps - 11)
    assert len(tail) == 10 and tail.exact
    median, best = timings(lambda: store.since("bench", metric, steps - 11), 101)
    print(f"  since (newest 10 points): median {median:.2f} ms, best {best:.2f} ms (target <= 5)")
    store.close()


def zlib_figures(data: list[Series]) -> None:
    s = data[0]
    parts = chunks.split(chunks.Points(s.step, s.value, s.time))
    raw = [chunks.encode_offsets(c, p.step) + chunks.encode_floats(p.value) for c, p in parts]
    for level in (1, 6):
        packed = [zlib.compress(b, level) for b in raw]
        ratio = sum(map(len, packed)) / sum(map(len, raw))
        median, _ = timings(lambda packed=packed: [zlib.decompress(b) for b in packed], 5)
        print(
            f"  zlib level {level} on a loss curve's steps + values: {ratio:.0%} of the size, "
            f"+{median:.0f} ms to inflate a {len(s):,}-point read"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1_000_000)
    args = parser.parse_args()
    data = make_series(args.steps)
    print(f"chunks of {CHUNK} steps; {args.steps:,} steps x {len(data)} metrics")
    zlib_figures(data)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "runs.sqlite3"
        bench("SQLite", f"sqlite:///{path}", data)
        size = sum(p.stat().st_size for p in Path(folder).iterdir())
        print(f"  file size: {size / 1e6:.1f} MB ({size / (3 * args.steps):.1f} bytes a point)")
    if pgtest.find_binaries() is None:
        print("\nPostgreSQL: not installed (make system-deps installs it), skipped")
        return
    with pgtest.Cluster.start(settings=()) as cluster:
        bench("PostgreSQL", cluster.url, data)


if __name__ == "__main__":
    main()
