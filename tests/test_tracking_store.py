"""The run store on both engines (tracking.store): upsert, superseded segments, chunks,
downsampling, file progress, tokens, failures. Every test runs against a real SQLite file and
a real PostgreSQL server (``store_url`` in tests/tracking_pg.py starts a throwaway cluster)."""

from __future__ import annotations

import hashlib
import itertools
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import psycopg
import pytest

from tracking import store as store_module
from tracking.records import Read, Series
from tracking.store import (
    Added,
    BadInput,
    BadName,
    BadRunId,
    BadStoreUrl,
    FileState,
    Store,
    StoreUnavailable,
    TokenExists,
    downsample,
    pgtest,
)
from tracking.store.chunks import CHUNK

pytest_plugins = ["tracking_pg"]  # store_url: SQLite and PostgreSQL


def series(metric: str, step: object, value: object) -> Series:
    steps = np.asarray(step, dtype=np.int64)
    return Series(
        metric, steps, np.asarray(value, dtype=np.float64), np.arange(len(steps), dtype=float)
    )


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = store_module.open(store_url)
    yield opened
    opened.close()


def test_the_same_points_twice_are_stored_once(store: Store) -> None:
    points = series("loss", np.arange(10_000), np.linspace(3, 1, 10_000))
    assert store.add("run-1", points) == Added(new=10_000)
    assert store.add("run-1", points) == Added(same=10_000)
    curve = store.series("run-1", "loss", points=20_000)
    assert curve.exact and len(curve) == 10_000
    np.testing.assert_array_equal(curve.step, np.arange(10_000))
    np.testing.assert_array_equal(curve.value, np.linspace(3, 1, 10_000))
    assert store.metrics("run-1")[0].points == 10_000
    assert store.superseded("run-1", "loss") == []


def test_a_restart_that_rewinds_keeps_the_replaced_points_as_a_segment(store: Store) -> None:
    first = series("loss", range(100), np.full(100, 2.0))
    store.add("run-1", first)
    # restarted from the checkpoint at step 50: steps 50..149 again, with other values
    again = series("loss", range(50, 150), np.full(100, 1.0))
    assert store.add("run-1", again) == Added(new=50, replaced=50)
    curve = store.series("run-1", "loss")
    np.testing.assert_array_equal(curve.step, np.arange(150))
    np.testing.assert_array_equal(curve.value, [2.0] * 50 + [1.0] * 100)
    (segment,) = store.superseded("run-1", "loss")
    np.testing.assert_array_equal(segment.step, np.arange(50, 100))
    np.testing.assert_array_equal(segment.value, np.full(50, 2.0))


def test_repeated_steps_in_one_series_the_later_wins(store: Store) -> None:
    # one log file holding a restart: 0..5, then 3..7 again; and step 8 logged twice alike
    steps = [0, 1, 2, 3, 4, 5, 3, 4, 5, 6, 7, 8, 8]
    values = [9, 9, 9, 9, 9, 9, 1, 1, 1, 1, 1, 4, 4]
    assert store.add("run-1", series("loss", steps, values)) == Added(new=9, same=1, replaced=3)
    curve = store.series("run-1", "loss")
    np.testing.assert_array_equal(curve.step, np.arange(9))
    np.testing.assert_array_equal(curve.value, [9, 9, 9, 1, 1, 1, 1, 1, 4])
    (segment,) = store.superseded("run-1", "loss")
    np.testing.assert_array_equal(segment.step, [3, 4, 5])
    np.testing.assert_array_equal(segment.value, [9, 9, 9])


def test_two_restarts_over_the_same_steps_give_two_segments(store: Store) -> None:
    store.add("run-1", series("loss", range(10), np.full(10, 3.0)))
    store.add("run-1", series("loss", range(5, 10), np.full(5, 2.0)))
    store.add("run-1", series("loss", range(5, 10), np.full(5, 1.0)))
    segments = store.superseded("run-1", "loss")
    assert [list(s.value) for s in segments] == [[3.0] * 5, [2.0] * 5]
    np.testing.assert_array_equal(store.series("run-1", "loss").value, [3.0] * 5 + [1.0] * 5)


def test_nan_and_infinities_round_trip_and_nan_again_is_no_change(store: Store) -> None:
    values = [1.5, np.nan, np.inf, -np.inf, -0.0, 5e-324, 1.7976931348623157e308]
    store.add("run-1", series("loss", range(7), values))
    curve = store.series("run-1", "loss")
    np.testing.assert_array_equal(curve.value, values)  # NaN matches NaN here
    assert np.signbit(curve.value[4])
    assert store.add("run-1", series("loss", range(7), values)) == Added(same=7)
    assert store.superseded("run-1", "loss") == []


def test_points_merge_into_chunks_across_boundaries(store: Store) -> None:
    # evens first, then odds: every chunk written twice, the second time merged
    steps = np.arange(-CHUNK, 3 * CHUNK + 10)
    store.add("run-1", series("loss", steps[::2], steps[::2] * 0.5))
    assert store.add("run-1", series("loss", steps[1::2], steps[1::2] * 0.5)).new == len(
        steps[1::2]
    )
    curve = store.series("run-1", "loss", points=100_000)
    np.testing.assert_array_equal(curve.step, steps)
    np.testing.assert_array_equal(curve.value, steps * 0.5)
    (info,) = store.metrics("run-1")
    assert (info.points, info.first_step, info.last_step) == (len(steps), -CHUNK, 3 * CHUNK + 9)


@pytest.mark.parametrize(
    ("n", "span", "points"),
    [(200_000, 600_000, 1000), (20_000, 20_000, 1000)],
    ids=["from-block-summaries", "from-points"],
)
def test_a_long_series_is_bucketed_keeping_each_buckets_true_min_and_max(
    store: Store, n: int, span: int, points: int
) -> None:
    rng = np.random.default_rng(7)
    steps = np.sort(rng.choice(np.arange(span), size=n, replace=False))
    values = rng.normal(size=n).cumsum()
    values[rng.integers(0, n, 20)] += 1e6  # spikes a mean would hide
    store.add("run-1", series("loss", steps, values))
    curve = store.series("run-1", "loss", points=points)
    assert not curve.exact and len(curve) <= points
    assert np.all(np.diff(curve.step) > 0)
    # every point returned is a stored point
    np.testing.assert_array_equal(curve.value, values[np.searchsorted(steps, curve.step)])
    # the documented buckets: at most points // 2, whole 64-step blocks when that wide
    inner, aligned = downsample.bucket_edges(int(steps[0]), int(steps[-1]), points)
    assert len(inner) + 1 <= points // 2
    assert aligned == (span // (points // 2) >= 64)
    if aligned:
        assert np.all(inner % 64 == 0)
    edges = np.concatenate(([steps[0]], inner, [steps[-1] + 1]))
    for lo, hi in itertools.pairwise(edges):
        raw = values[(steps >= lo) & (steps < hi)]
        got = curve.value[(curve.step >= lo) & (curve.step < hi)]
        if len(raw):
            assert raw.min() == got.min() and raw.max() == got.max()
    assert curve.value.max() == values.max()


def test_reads_from_block_summaries_match_reads_from_points(store: Store) -> None:
    rng = np.random.default_rng(3)
    steps = np.sort(rng.choice(np.arange(400_000), size=150_000, replace=False))
    values = rng.normal(size=len(steps))
    values[rng.integers(0, len(steps), 30)] = np.nan
    values[rng.integers(0, len(steps), 5)] = np.inf
    values[rng.integers(0, len(steps), 5)] = -np.inf
    values[1000:1300] = 7.0  # ties: the first point of a bucket's extreme is kept
    store.add("run-1", series("loss", steps, values))
    for start, stop, points in [
        (None, None, 4000),
        (10_001, 390_077, 2000),  # both ends cut a chunk
        (4096 * 3, 4096 * 60 - 1, 500),  # both ends on chunk bounds
        (123_457, None, 300),
    ]:
        curve = store.series("run-1", "loss", start, stop, points)
        inside = (steps >= (start or 0)) & (steps <= (stop if stop is not None else steps[-1]))
        expected = downsample.reduce(steps[inside], values[inside], points)
        assert not curve.exact
        np.testing.assert_array_equal(curve.step, expected.step)
        np.testing.assert_array_equal(curve.value, expected.value)


def test_non_finite_points_stay_visible_in_buckets(store: Store) -> None:
    n = 100_000
    values = np.sin(np.arange(n) / 1000.0)
    values[[10_000, 10_001, 50_000, 70_000]] = [np.nan, np.nan, np.inf, -np.inf]
    values[90_000:90_500] = np.nan  # a whole bucket of NaN
    store.add("run-1", series("loss", range(n), values))
    curve = store.series("run-1", "loss", points=400)
    assert not curve.exact and len(curve) <= 400 + 3 * 200
    shown = dict(zip(curve.step.tolist(), curve.value.tolist(), strict=True))
    assert np.isnan(shown[10_000]) and 10_001 not in shown
    assert shown[50_000] == np.inf and shown[70_000] == -np.inf
    assert np.isnan(shown[90_000])
    finite = curve.value[np.isfinite(curve.value)]
    assert finite.min() == np.nanmin(values[np.isfinite(values)])


def test_a_range_is_inclusive_and_exact_when_it_fits(store: Store) -> None:
    store.add("run-1", series("loss", range(0, 100_000, 10), np.arange(10_000.0)))
    curve = store.series("run-1", "loss", start=5000, stop=6000)
    assert curve.exact
    np.testing.assert_array_equal(curve.step, np.arange(5000, 6001, 10))
    assert len(store.series("run-1", "loss", start=200_000)) == 0
    assert len(store.series("run-1", "nothing")) == 0
    assert len(store.series("nobody", "loss")) == 0
    with pytest.raises(BadInput, match=r"start .* after stop"):
        store.series("run-1", "loss", start=10, stop=5)
    with pytest.raises(BadInput, match="points must be a whole number from 2"):
        store.series("run-1", "loss", points=1)


def test_since_returns_the_newest_points(store: Store) -> None:
    store.add("run-1", series("loss", range(10_000), np.ones(10_000)))
    assert len(store.since("run-1", "loss", 9_999)) == 0
    store.add("run-1", series("loss", range(10_000, 10_005), np.full(5, 0.5)))
    curve = store.since("run-1", "loss", 9_999)
    assert curve.exact
    np.testing.assert_array_equal(curve.step, np.arange(10_000, 10_005))
    np.testing.assert_array_equal(curve.value, np.full(5, 0.5))
    far_behind = store.since("run-1", "loss", -1, points=100)
    assert not far_behind.exact and len(far_behind) <= 100


def test_runs_are_upserted_and_listed_with_their_metrics(store: Store) -> None:
    store.put_run(
        "run-1",
        name="llama 7b",
        source="/logs/run-1",
        kind="tensorboard",
        tags=["sft"],
        params={"lr": "3e-4"},
        status="ok",
        problems=[],
    )
    store.put_run("run-1", notes="restarted at 50")  # fields left out are kept
    store.add("run-1", series("loss", range(5, 20), np.ones(15)))
    store.add("run-1", series("lr", range(0, 10), np.ones(10)))
    store.add("run-2", series("loss", [1], [1.0]))  # points before any put_run
    runs = {r.run_id: r for r in store.runs()}
    one = runs["run-1"]
    assert (one.name, one.kind, one.tags, one.notes) == (
        "llama 7b",
        "tensorboard",
        ("sft",),
        "restarted at 50",
    )
    assert (one.metrics, one.first_step, one.last_step) == (("loss", "lr"), 0, 19)
    assert runs["run-2"].name == "run-2"
    assert store.params("run-1") == {"lr": "3e-4"}
    assert [m.metric for m in store.metrics("run-1")] == ["loss", "lr"]
    assert store.delete_run("run-1")
    assert not store.delete_run("run-1")
    assert [r.run_id for r in store.runs()] == ["run-2"]
    assert len(store.series("run-1", "loss")) == 0


def test_file_state_lands_with_the_points_or_not_at_all(store: Store) -> None:
    state = FileState(
        "/logs/run-1/events.out.tfevents.1", inode=42, size=900, position=800, run_id="run-1"
    )
    read = Read(series=[series("loss", range(10), np.ones(10))], position=800)
    with pytest.raises(RuntimeError, match="crashed"), store.transaction() as tx:
        tx.add_read("run-1", read, state)
        raise RuntimeError("watcher crashed between the points and the commit")
    assert store.file_state(state.path) is None
    assert len(store.series("run-1", "loss")) == 0
    assert store.runs() == []
    assert store.add_read("run-1", read, state) == Added(new=10)
    assert store.file_state(state.path) == state
    assert len(store.series("run-1", "loss")) == 10


def test_two_threads_writing_at_once_lose_nothing(store: Store) -> None:
    errors: list[BaseException] = []

    def writer(offset: int) -> None:
        try:
            for i in range(15):
                steps = np.arange(i * 200 + offset, (i + 1) * 200, 2)
                store.add("run-1", series("loss", steps, steps * 1.0))
                store.add("run-1", series(f"m{offset}", steps, steps * 1.0))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    curve = store.series("run-1", "loss", points=10_000)
    np.testing.assert_array_equal(curve.step, np.arange(3000))
    counts = {m.metric: m.points for m in store.metrics("run-1")}
    assert counts == {"loss": 3000, "m0": 1500, "m1": 1500}


def test_tokens_are_stored_hashed_checked_and_revoked(store: Store) -> None:
    secret = store.create_token("trainer")
    assert len(secret) >= 40
    assert store.check_token(secret) == "trainer"
    assert store.check_token(secret + "x") is None
    assert store.check_token("") is None
    with store._engine.read() as db:  # what is on disk is the SHA-256, never the secret
        assert db.all("SELECT sha256 FROM tokens") == [
            (hashlib.sha256(secret.encode()).hexdigest(),)
        ]
    with pytest.raises(TokenExists):
        store.create_token("trainer")
    (listed,) = store.tokens()
    assert listed.name == "trainer" and listed.revoked is None
    assert secret not in repr(listed)
    assert store.revoke_token("trainer")
    assert store.check_token(secret) is None
    assert not store.revoke_token("trainer")
    again = store.create_token("trainer")
    assert store.check_token(again) == "trainer" and store.check_token(secret) is None


@pytest.mark.parametrize("run_id", ["", "../etc", "a b", "x" * 129, ".hidden", "-rf", "é", None])
def test_a_bad_run_id_is_named(store: Store, run_id: object) -> None:
    with pytest.raises(BadRunId, match=r"run id .* is not allowed: use 1 to 128"):
        store.add(run_id, series("loss", [1], [1.0]))  # type: ignore[arg-type]
    with pytest.raises(BadRunId):
        store.put_run(run_id)  # type: ignore[arg-type]


def test_bad_metric_and_token_names_are_named(store: Store) -> None:
    with pytest.raises(BadName, match="metric name"):
        store.add("run-1", series("lo\x00ss", [1], [1.0]))
    with pytest.raises(BadName, match="token name"):
        store.create_token("a token")
    with pytest.raises(BadInput, match="tags must be a list of strings"):
        store.put_run("run-1", tags="sft")


def test_unknown_urls_are_refused_with_the_forms_allowed() -> None:
    with pytest.raises(BadStoreUrl, match=r"sqlite:///.*postgresql://"):
        store_module.open("mysql://localhost/runs")
    with pytest.raises(BadStoreUrl, match="timeout"):
        store_module.open("sqlite:///x.sqlite3?timeout=soon")


def test_the_default_url_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DASHBOARD_DB", f"sqlite:///{tmp_path}/sub/runs.sqlite3")
    opened = store_module.open()
    opened.add("run-1", series("loss", [1], [1.0]))
    assert (tmp_path / "sub" / "runs.sqlite3").is_file()
    monkeypatch.delenv("DASHBOARD_DB")
    assert store_module.default_url().endswith("/data/runs.sqlite3")


def test_a_locked_sqlite_database_is_unavailable_after_the_retry_window(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite3"
    store = store_module.open(f"sqlite:///{path}?timeout=0.5")
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer holds the lock
    started = time.monotonic()
    with pytest.raises(StoreUnavailable, match=r"locked by another writer.*0\.5 s"):
        store.add("run-1", series("loss", [1], [1.0]))
    assert time.monotonic() - started >= 0.5
    assert len(store.series("run-1", "loss")) == 0  # readers are not blocked in WAL mode
    holder.execute("ROLLBACK")
    holder.close()
    assert store.add("run-1", series("loss", [1], [1.0])) == Added(new=1)


def test_a_sqlite_file_gone_is_unavailable_not_recreated(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite3"
    store = store_module.open(f"sqlite:///{path}")
    store.add("run-1", series("loss", [1], [1.0]))
    for leftover in tmp_path.iterdir():
        leftover.unlink()
    with pytest.raises(StoreUnavailable, match="cannot be opened"):
        store.add("run-1", series("loss", [2], [1.0]))
    with pytest.raises(StoreUnavailable, match="cannot be opened"):
        store.runs()
    assert not path.exists()


def test_a_postgresql_server_not_there_is_unavailable(free_port: Callable[[], int]) -> None:
    with pytest.raises(StoreUnavailable, match="cannot be reached"):
        store_module.open(f"postgresql://postgres@127.0.0.1:{free_port()}/postgres?timeout=1")


def test_a_lost_postgresql_connection_is_unavailable_once_then_made_again(
    pg_cluster: pgtest.Cluster,
) -> None:
    store = store_module.open(pg_cluster.fresh_schema("lost_connection"))
    store.add("run-1", series("loss", [1], [1.0]))
    with psycopg.connect(pg_cluster.url, autocommit=True) as admin:  # as a server restart would
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'llm-dashboard-store'"
        )
    with pytest.raises(StoreUnavailable, match="cannot be reached"):
        store.add("run-1", series("loss", [2], [1.0]))
    assert store.add("run-1", series("loss", [2], [1.0])) == Added(new=1)
    store.close()


def test_a_postgresql_run_locked_past_the_timeout_is_unavailable(
    pg_cluster: pgtest.Cluster,
) -> None:
    url = pg_cluster.fresh_schema("locked")
    store = store_module.open(f"{url}&timeout=0.5")
    store.put_run("run-1")
    with psycopg.connect(url) as holder:  # another writer holding the run's row
        holder.execute("SELECT * FROM runs WHERE run_id = 'run-1' FOR UPDATE")
        started = time.monotonic()
        with pytest.raises(StoreUnavailable, match=r"locked by another writer.*0\.5 s"):
            store.add("run-1", series("loss", [1], [1.0]))
        assert time.monotonic() - started >= 0.5
        holder.rollback()
    assert store.add("run-1", series("loss", [1], [1.0])) == Added(new=1)
    store.close()


def test_a_full_disk_is_unavailable_and_what_was_stored_stays(tmp_path: Path) -> None:
    small = tmp_path / "small"
    small.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(small)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"a 1 MB tmpfs to fill needs root: mount said {mounted.stderr.strip()!r}")
    try:
        store = store_module.open(f"sqlite:///{small}/runs.sqlite3")
        store.add("run-1", series("loss", range(1000), np.arange(1000.0)))
        rng = np.random.default_rng(1)
        with pytest.raises(StoreUnavailable, match=r"disk holding the run store .* is full"):
            for k in range(1, 50):
                store.add(
                    "run-1",
                    series("loss", range(k * 10**6, k * 10**6 + 20_000), rng.random(20_000)),
                )
        curve = store.series("run-1", "loss", points=100_000)
        (info,) = store.metrics("run-1")
        assert info.points == len(curve)  # the failed add left nothing half-written
        np.testing.assert_array_equal(curve.value[:1000], np.arange(1000.0))
    finally:
        subprocess.run(["umount", str(small)], check=True)
