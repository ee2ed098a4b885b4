"""The store's chart reads carry each returned point's own wall time (tracking.store), on
SQLite and PostgreSQL: exact reads, buckets from points, buckets from the 64-step block
summaries, the non-finite points a bucket keeps, ``since`` and ``live_read``, and chunks
whose block summaries were written before times were kept."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from tracking import store as store_module
from tracking.records import Series
from tracking.store import Store, chunks

pytest_plugins = ["tracking_pg"]  # store_url: SQLite and PostgreSQL

T0 = 1.7e9


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = store_module.open(store_url)
    yield opened
    opened.close()


def _curve(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Steps, values and wall times whose times are not a function of the step alone (a
    pause mid-run), so a time taken from the wrong point shows."""
    rng = np.random.default_rng(11)
    step = np.arange(n, dtype=np.int64)
    value = 3.0 + rng.normal(0, 0.05, n)
    gaps = rng.uniform(0.2, 0.4, n)
    gaps[n // 2] = 3600.0  # an hour's pause
    time = T0 + np.cumsum(gaps)
    return step, value, time


def _times_match(curve: store_module.Curve, step: np.ndarray, time: np.ndarray) -> None:
    assert len(curve.time) == len(curve.step)
    np.testing.assert_array_equal(curve.time, time[np.searchsorted(step, curve.step)])


def test_exact_and_bucketed_reads_return_each_points_own_time(store: Store) -> None:
    step, value, time = _curve(300_000)
    value[123_457] = 50.0  # a spike
    value[200_001] = np.nan
    value[250_003] = np.inf
    store.add("run-1", Series("loss", step, value, time))
    for start, stop, points in [
        (1000, 3000, 4000),  # exact
        (100_000, 140_000, 4000),  # buckets narrower than a block: from the points
        (None, None, 4000),  # whole blocks: from the stored summaries
        (10_001, 290_077, 2000),  # summaries, both ends cutting a chunk
    ]:
        curve = store.series("run-1", "loss", start, stop, points)
        _times_match(curve, step, time)
    whole = store.series("run-1", "loss")
    assert not whole.exact
    at = dict(zip(whole.step.tolist(), whole.time.tolist(), strict=True))
    assert at[123_457] == time[123_457]  # the spike's time is the spike's
    assert at[200_001] == time[200_001] and at[250_003] == time[250_003]
    with store.transaction() as tx:  # written with times, so zoomed-out reads need no points
        blobs = tx._db.all("SELECT blocks FROM chunks WHERE run_id = 'run-1'")
    assert blobs and all(bytes(b[0])[:1] == chunks.BLOCKS_V2 for b in blobs)


def test_since_and_live_read_return_times(store: Store) -> None:
    step, value, time = _curve(10_000)
    store.add("run-1", Series("loss", step, value, time))
    tail = store.since("run-1", "loss", 9_989)
    assert tail.exact
    np.testing.assert_array_equal(tail.time, time[9_990:])
    read = store.live_read("run-1", lambda info, lasts: [("loss", 9_995, None, 100)])
    assert read is not None
    np.testing.assert_array_equal(read[1][0].time, time[9_995:])


def test_a_source_without_times_reads_as_nan(store: Store) -> None:
    n = 200_000
    store.add("run-1", Series("loss", np.arange(n), np.ones(n), np.full(n, np.nan)))
    assert np.isnan(store.series("run-1", "loss").time).all()
    assert np.isnan(store.series("run-1", "loss", 0, 99).time).all()


def test_chunks_written_before_times_were_kept_still_give_times(store: Store) -> None:
    step, value, time = _curve(200_000)
    store.add("run-1", Series("loss", step, value, time))
    with store.transaction() as tx:  # rewrite every chunk's blocks in the old format
        db = tx._db  # a test of the stored format
        for chunk, steps, vals, times in db.all(
            "SELECT chunk, steps, vals, times FROM chunks WHERE run_id = 'run-1'"
        ):
            c = int(chunk)
            points = chunks.Points(
                chunks.decode_offsets(c, bytes(steps)),
                chunks.decode_floats(bytes(vals)),
                chunks.decode_floats(bytes(times)),
            )
            new = chunks.block_summary(c, points)
            old = np.zeros(len(new), dtype=chunks.BLOCK_DTYPE_V1)
            for name in chunks.BLOCK_DTYPE_V1.names or ():
                old[name] = new[name]
            db.run(
                "UPDATE chunks SET blocks = ? WHERE run_id = 'run-1' AND chunk = ?",
                (old.tobytes(), c),
            )
    curve = store.series("run-1", "loss")
    assert not curve.exact
    _times_match(curve, step, time)
