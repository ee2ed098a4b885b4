"""Following folders of logs into the store (tracking.ingest, tracking.watch): real files
written by the tests (tensorboardX event files, trainer_state.json rewritten in place, text
logs appended, rotated and truncated), a real SQLite store in tmp, and the restart test on
a real PostgreSQL too. "Nothing lost, nothing doubled" is checked against one whole read of
the final files."""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tfevents_writers import hf_trainer_like, only_file, write_scalars
from tracking_fixtures import mlflow_file_store, mlflow_sqlite, wandb_offline_run

from tracking import run_ids
from tracking import store as store_module
from tracking.ingest import Follower, RunReport, ingest
from tracking.readers import find, read_file
from tracking.store import Store
from tracking.watch import Poll, check_roots, watch

pytest_plugins = ["tracking_pg"]  # store_url: SQLite and PostgreSQL

Points = dict[str, dict[int, float]]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = store_module.open(f"sqlite:///{tmp_path}/runs.sqlite3")
    yield s
    s.close()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "runs").mkdir()
    return (tmp_path / "runs").resolve()


def stored(store: Store, run_id: str) -> Points:
    out: Points = {}
    for m in store.metrics(run_id):
        curve = store.series(run_id, m.metric, points=100_000)
        assert curve.exact
        out[m.metric] = dict(zip(curve.step.tolist(), curve.value.tolist(), strict=True))
    return out


def whole(root: Path, name: str) -> Points:
    """Every file of the run read once from the start; the last point at a step wins."""
    (source,) = [s for s in find(root) if s.name == name]
    out: Points = {}
    for f in source.files:
        for s in read_file(f, 0, root=root).series:
            col = out.setdefault(s.metric, {})
            col.update(zip(s.step.tolist(), s.value.tolist(), strict=True))
    return out


def assert_same(a: Points, b: Points) -> None:
    assert a.keys() == b.keys()
    for metric in a:
        assert a[metric].keys() == b[metric].keys(), metric
        for step, x in a[metric].items():
            y = b[metric][step]
            assert x == y or (math.isnan(x) and math.isnan(y)), (metric, step, x, y)


def by_id(reports: list[RunReport]) -> dict[str, RunReport]:
    return {r.run_id: r for r in reports}


def llmc_lines(steps: range, loss: Callable[[int], float] = lambda s: 4.0 - s / 100) -> str:
    return "".join(f"s:{s} trl:{loss(s):.4f} lr:0.0006 norm:1.25\n" for s in steps)


def trainer_state(folder: Path, steps: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    history = [
        {"step": s, "loss": 2.0 - s / 100, "learning_rate": 1e-4, "epoch": s / 100}
        for s in range(10, steps + 1, 10)
    ]
    path = folder / "trainer_state.json"
    with open(path, "w") as f:  # rewritten in place, as HF Trainer does: the inode stays
        json.dump({"global_step": steps, "max_steps": 200, "log_history": history}, f)
    return path


# -- reading what is new --------------------------------------------------------------


def test_every_event_file_of_a_run_folder_is_read_with_its_settings(
    root: Path, store: Store
) -> None:
    run = root / "hf-run"
    run.mkdir()
    hf_trainer_like(run, 40)  # args + model_config text summaries, then scalars
    write_scalars(
        run, [(s, {"eval/loss": 3.0 - s / 100}) for s in range(10, 41, 10)], suffix=".eval"
    )
    assert len(list(run.glob("events.out.tfevents.*"))) == 2

    (report,) = ingest(store, [root])
    assert (report.run_id, report.kind, report.status, report.files_read) == (
        "hf-run",
        "tfevents",
        "ok",
        2,
    )
    assert_same(stored(store, "hf-run"), whole(root, "hf-run"))
    assert "eval/loss" in stored(store, "hf-run") and "train/loss" in stored(store, "hf-run")
    params = store.params("hf-run")
    assert params["args.learning_rate"] == "0.0002"
    # the recipe guess, field by field with where it came from
    assert params["recipe.lr_peak"] == "0.0002"
    assert params["recipe_provenance.lr_peak"] == "found: args.learning_rate"
    assert params["recipe.schedule"] == "linear"
    assert params["recipe_provenance.gpu"].startswith("assumed: ")
    info = store.run("hf-run")
    assert info is not None and info.source == str(run) and info.last_step == 40


def test_trainer_state_rewritten_in_place_is_read_again_only_when_it_changes(
    root: Path, store: Store
) -> None:
    path = trainer_state(root / "sft", 50)
    inode = path.stat().st_ino
    follower = Follower(store)
    assert by_id(ingest(store, [root], follower=follower))["sft"].added.new == 5 * 3

    idle = by_id(ingest(store, [root], follower=follower))["sft"]
    assert idle.files_read == 0  # unchanged: one stat, no read

    trainer_state(root / "sft", 100)
    assert path.stat().st_ino == inode
    grown = by_id(ingest(store, [root], follower=follower))["sft"]
    assert (grown.files_read, grown.added.new, grown.added.same) == (1, 5 * 3, 5 * 3)

    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))  # touched: read, no change
    touched = by_id(ingest(store, [root], follower=follower))["sft"]
    assert (touched.files_read, touched.added.new, touched.added.same) == (1, 0, 10 * 3)
    assert_same(stored(store, "sft"), whole(root, "sft"))
    assert store.params("sft")["recipe.lr_peak"] == "0.0001"


def test_a_text_log_appended_between_passes_with_a_cut_off_last_line(
    root: Path, store: Store
) -> None:
    (root / "gpt2").mkdir()
    log = root / "gpt2" / "main.log"
    log.write_text(llmc_lines(range(1, 51)) + "s:51 trl:2.4")  # the writer is mid-line
    follower = Follower(store)
    first = by_id(ingest(store, [root], follower=follower))["gpt2"]
    assert first.added.new == 50 * 3
    assert max(stored(store, "gpt2")["trl"]) == 50  # the half line waits

    with open(log, "a") as f:
        f.write("5 lr:0.0006 norm:1.25\n" + llmc_lines(range(52, 61)))
    second = by_id(ingest(store, [root], follower=follower))["gpt2"]
    assert (second.added.new, second.added.same) == (10 * 3, 0)  # only the new bytes read
    points = stored(store, "gpt2")
    assert points["trl"][51] == 2.45  # the completed line, not its first half
    assert_same(points, whole(root, "gpt2"))


def test_a_rotated_file_is_read_from_its_start(root: Path, store: Store) -> None:
    """A new file at the same path (new inode), larger than the old one: resuming at the
    old offset would skip its first lines; the inode says it is another file."""
    (root / "r").mkdir()
    log = root / "r" / "train.log"
    log.write_text(llmc_lines(range(1, 21)))
    follower = Follower(store)
    ingest(store, [root], follower=follower)
    fresh = root / "r" / "train.log.new"
    fresh.write_text(llmc_lines(range(21, 81)))
    assert fresh.stat().st_size > log.stat().st_size
    os.replace(fresh, log)  # logrotate's create mode, or a job restarted with `> train.log`
    report = by_id(ingest(store, [root], follower=follower))["r"]
    assert report.added.new == 60 * 3
    assert sorted(stored(store, "r")["trl"]) == list(range(1, 81))


def test_a_truncated_file_is_read_from_its_start(root: Path, store: Store) -> None:
    (root / "r").mkdir()
    log = root / "r" / "main.log"
    log.write_text(llmc_lines(range(1, 51)))
    follower = Follower(store)
    ingest(store, [root], follower=follower)
    with open(log, "r+") as f:  # same inode, shorter: a job restarted from scratch
        f.truncate(0)
        f.write(llmc_lines(range(1, 11), loss=lambda s: 9.0))
    report = by_id(ingest(store, [root], follower=follower))["r"]
    assert report.added.replaced == 10  # trl at 1..10 changed; lr and norm are the same
    trl = stored(store, "r")["trl"]
    assert [trl[s] for s in range(1, 11)] == [9.0] * 10
    assert sorted(trl) == list(range(1, 51))  # the steps not logged again are kept
    (old,) = store.superseded("r", "trl")
    assert old.step.tolist() == list(range(1, 11))  # the replaced points are kept too


def test_a_restart_between_passes_loses_and_doubles_nothing(tmp_path: Path, store_url: str) -> None:
    """The event file grows in three pieces cut mid-record, the text log and the
    trainer_state grow too; the watcher is a new process (new Follower, store reopened)
    for each pass. The store ends equal to one read of the final files, and each restarted
    pass reads only the new bytes of the append-only files (``same`` counts nothing)."""
    root = tmp_path / "runs"
    (root / "exp").mkdir(parents=True)
    root = root.resolve()
    full = only_file(
        _written(tmp_path / "src", [(s, {"ev/loss": 1 / s, "ev/lr": 3e-4}) for s in range(1, 301)])
    )
    data = full.read_bytes()
    event = root / "exp" / full.name
    log = root / "exp" / "main.log"
    cuts = [len(data) * 2 // 5 + 3, len(data) * 4 // 5 + 7, len(data)]
    done = 0
    total_new = 0
    for i, cut in enumerate(cuts):
        with open(event, "ab") as f:
            f.write(data[done:cut])
        done = cut
        with open(log, "a") as f:
            f.write(llmc_lines(range(i * 100 + 1, i * 100 + 101)))
        trainer_state(root / "exp", (i + 1) * 100)
        store = store_module.open(store_url)
        try:
            (report,) = ingest(store, [root], follower=Follower(store))
        finally:
            store.close()
        total_new += report.added.new
        if i:
            trainer_points = 10 * 3 * i  # trainer_state is read whole: its old rows are same
            assert report.added.same == trainer_points
    store = store_module.open(store_url)
    try:
        points = stored(store, "exp")
        assert_same(points, whole(root, "exp"))
        assert total_new == sum(len(col) for col in points.values())
        assert {m.metric: m.points for m in store.metrics("exp")} == {
            k: len(v) for k, v in points.items()
        }
    finally:
        store.close()


def _written(folder: Path, rows: list[tuple[int | None, dict[str, float]]]) -> Path:
    folder.mkdir(parents=True)
    write_scalars(folder, rows)
    return folder


def test_mlflow_and_wandb_runs_are_followed_as_they_change(root: Path, store: Store) -> None:
    """Runs that are folders (MLflow file store, W&B) and runs inside an MLflow SQLite
    file: each is a run of its own, and a change inside is noticed without a new find."""
    run_dir = mlflow_file_store(root)
    ids = mlflow_sqlite(root / "mlflow.db")
    wandb_offline_run(root / "wandb")
    found = [(root, s) for s in find(root)]
    follower = Follower(store)
    reports = by_id(follower.run_pass(found))
    folder_run = f"mlruns-1-{run_dir.name}"
    assert set(reports) == {folder_run, *(f"mlflow.db-{i}" for i in ids), _wandb_id(reports)}
    assert sorted(stored(store, folder_run)["train/loss"]) == [10, 20, 30, 40]
    assert sorted(stored(store, f"mlflow.db-{ids[0]}")["loss"]) == [10, 20, 30, 40]
    assert all(r.files_read == 0 for r in follower.run_pass(found))  # nothing changed

    with open(run_dir / "metrics" / "train" / "loss", "a") as f:
        f.write("1752085304000 1.25 50\n")
    db = sqlite3.connect(root / "mlflow.db")
    db.execute("INSERT INTO metrics VALUES ('loss', 1.0, 1700000050000, ?, 50, 0)", (ids[0],))
    db.commit()
    db.close()
    again = by_id(follower.run_pass(found))
    assert again[folder_run].added.new == 1 and stored(store, folder_run)["train/loss"][50] == 1.25
    assert again[f"mlflow.db-{ids[0]}"].added.new == 1
    assert again[f"mlflow.db-{ids[1]}"].added.new == 0


def _wandb_id(reports: dict[str, RunReport]) -> str:
    (run_id,) = [k for k, r in reports.items() if r.kind == "wandb"]
    assert run_id == "wandb-offline-run-20240601_120000-abc123xy"
    assert any("wandb sync" in p for p in reports[run_id].problems)
    return run_id


# -- bad input --------------------------------------------------------------------------


def test_hostile_files_are_problems_on_their_own_runs_while_the_others_ingest(
    tmp_path: Path, root: Path, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    (root / "good").mkdir()
    (root / "good" / "main.log").write_text(llmc_lines(range(1, 21)))

    (root / "crc").mkdir()
    event = write_scalars(root / "crc", [(s, {"loss": 1.0 / s}) for s in range(1, 101)])
    raw = bytearray(event.read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # one flipped bit in the middle of the file
    event.write_bytes(bytes(raw))

    (root / "long").mkdir()
    with open(root / "long" / "main.log", "w") as f:
        f.write(llmc_lines(range(1, 6)))
        f.write("s:6 trl:" + "9" * (10 << 20) + "\n")  # a 10 MB line
        f.write(llmc_lines(range(7, 11)))

    outside = tmp_path / "secret.log"
    outside.write_text(llmc_lines(range(1, 6)))
    (root / "escape").mkdir()
    (root / "escape" / "main.log").symlink_to(outside)

    with caplog.at_level(logging.WARNING, logger="tracking.watch"):
        reports = by_id(ingest(store, [root]))
    assert reports["good"].status == "ok" and reports["good"].added.new == 20 * 3
    assert_same(stored(store, "good"), whole(root, "good"))

    crc = store.run("crc")
    assert crc is not None and crc.status == "problems"
    assert any("CRC" in p for p in crc.problems), crc.problems
    assert 90 <= len(stored(store, "crc")["loss"]) < 100  # the damaged record only

    long = store.run("long")
    assert long is not None and long.status == "problems"
    assert any("main.log" in p and "line limit" in p for p in long.problems), long.problems
    assert sorted(stored(store, "long")["trl"]) == [1, 2, 3, 4, 5, 7, 8, 9, 10]

    escape = store.run("escape")
    assert escape is not None and escape.status == "problems" and escape.metrics == ()
    assert any("outside" in p for p in escape.problems), escape.problems

    # a restarted watcher shows the same problems, though it reads none of those bytes again
    (root / "good" / "main.log").open("a").write(llmc_lines(range(21, 23)))
    again = by_id(ingest(store, [root], follower=Follower(store)))
    assert again["crc"].problems == tuple(crc.problems)
    assert again["crc"].added.same == 0 and again["good"].added.new == 2 * 3
    assert store.run("crc").problems == crc.problems  # type: ignore[union-attr]


def test_a_file_swapped_for_a_link_out_of_the_root_is_refused_at_read_time(
    tmp_path: Path, root: Path, store: Store
) -> None:
    """``find`` refuses links out of the root, but the watcher keeps its result between
    finds: the read itself checks again."""
    (root / "r").mkdir()
    log = root / "r" / "main.log"
    log.write_text(llmc_lines(range(1, 11)))
    found = [(root, s) for s in find(root)]
    follower = Follower(store)
    follower.run_pass(found)
    outside = tmp_path / "elsewhere.log"
    outside.write_text(llmc_lines(range(1, 200)))
    link = root / "r" / "link"
    link.symlink_to(outside)
    os.replace(link, log)
    (report,) = follower.run_pass(found)
    assert report.status == "problems"
    assert any("outside" in p for p in report.problems), report.problems
    assert sorted(stored(store, report.run_id)["trl"]) == list(range(1, 11))


def test_a_reader_that_raises_is_logged_with_the_path_and_shown_on_its_run(
    root: Path, store: Store, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reader bug is simulated (no real one is known): the one file is skipped, its run
    says so, the watcher and the other run carry on; once the file changes and reads, the
    problem goes."""
    for name in ("a", "b"):
        (root / name).mkdir()
        (root / name / "main.log").write_text(llmc_lines(range(1, 11)))
    import tracking.ingest

    real = tracking.ingest.read_file
    broken = root / "a" / "main.log"

    def buggy(file, position=0, *, root=None):  # type: ignore[no-untyped-def]
        if file.path == broken:
            raise ZeroDivisionError("division by zero")
        return real(file, position, root=root)

    monkeypatch.setattr(tracking.ingest, "read_file", buggy)
    follower = Follower(store)
    with caplog.at_level(logging.ERROR, logger="tracking.watch"):
        reports = by_id(ingest(store, [root], follower=follower))
    assert str(broken) in caplog.text and "ZeroDivisionError" in caplog.text
    assert reports["a"].status == "problems" and "reader failed" in reports["a"].problems[0]
    assert reports["b"].status == "ok" and reports["b"].added.new == 30
    assert store.run("a").status == "problems"  # type: ignore[union-attr]

    monkeypatch.setattr(tracking.ingest, "read_file", real)
    assert by_id(ingest(store, [root], follower=follower))["a"].files_read == 0  # unchanged
    with open(broken, "a") as f:
        f.write(llmc_lines(range(11, 13)))
    fixed = by_id(ingest(store, [root], follower=follower))["a"]
    assert fixed.status == "ok" and fixed.problems == () and fixed.added.new == 12 * 3


def test_the_store_locked_during_a_pass_is_waited_out_and_nothing_is_lost(
    tmp_path: Path, root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    for name in ("a", "b"):
        (root / name).mkdir()
        (root / name / "main.log").write_text(llmc_lines(range(1, 101)))
    db = tmp_path / "locked.sqlite3"
    store = store_module.open(f"sqlite:///{db}?timeout=0.1")
    other = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN EXCLUSIVE")  # another process holding the write lock
    timer = threading.Timer(1.0, other.rollback)
    timer.start()
    try:
        with caplog.at_level(logging.WARNING, logger="tracking.watch"):
            reports = by_id(ingest(store, [root], backoff=0.2))
    finally:
        timer.join()
        other.close()
    assert "locked" in caplog.text and "nothing was lost" in caplog.text
    for name in ("a", "b"):
        assert reports[name].added.new == 300  # counted once across the retries
        assert_same(stored(store, name), whole(root, name))
    store.close()


def test_a_run_deleted_from_the_store_is_read_again(root: Path, store: Store) -> None:
    (root / "r").mkdir()
    (root / "r" / "main.log").write_text(llmc_lines(range(1, 11)))
    follower = Follower(store)
    ingest(store, [root], follower=follower)
    assert store.delete_run("r")
    follower.drop_deleted()
    assert by_id(ingest(store, [root], follower=follower))["r"].added.new == 30


# -- run ids -----------------------------------------------------------------------------


def test_run_ids_are_readable_stable_and_unique_across_roots(tmp_path: Path, store: Store) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    for r in (one / "exp 1", two / "exp 1", one / "ünï/v0"):
        r.mkdir(parents=True)
        (r / "main.log").write_text(llmc_lines(range(1, 4)))
    store.put_run("pushed", source="push")
    (one / "pushed").mkdir()
    (one / "pushed" / "main.log").write_text(llmc_lines(range(1, 4)))

    roots = check_roots([one, two])
    ids = {r.source: r.run_id for r in ingest(store, roots)}
    first = ids[str(roots[0] / "exp 1")]
    second = ids[str(roots[1] / "exp 1")]
    assert first == "exp-1" and second.startswith("exp-1-") and len(second) == len("exp-1-") + 8
    assert ids[str(roots[0] / "ünï/v0")] == "n-v0"
    assert ids[str(roots[0] / "pushed")].startswith("pushed-")  # a pushed run keeps its id
    # a restart (and the roots in another order) gives every run the same id
    again = {r.source: r.run_id for r in ingest(store, list(reversed(roots)))}
    assert again == ids
    assert run_ids.choices("/x", "a" * 300)[0] is None  # too long: only the hashed id
    assert len(run_ids.choices("/x", "a" * 300)[1]) == 128


# -- the watcher ------------------------------------------------------------------------


def test_watch_picks_up_a_new_run_and_new_points_within_a_few_polls(
    root: Path, store: Store
) -> None:
    (root / "first").mkdir()
    (root / "first" / "main.log").write_text(llmc_lines(range(1, 11)))
    polls: list[Poll] = []
    stop = threading.Event()
    thread = threading.Thread(
        target=watch,
        args=(store, [root]),
        kwargs={"interval": 0.05, "stop": stop, "on_poll": polls.append},
        daemon=True,
    )
    thread.start()

    def wait_for(check: Callable[[], bool], since: int) -> int:
        deadline = time.monotonic() + 20
        while not check():
            assert time.monotonic() < deadline, "not seen in 20 s"
            time.sleep(0.01)
        return len(polls) - since

    try:
        wait_for(lambda: bool(polls), 0)
        time.sleep(0.3)  # idle polls
        idle = polls[1:]
        assert idle and all(not p.found and p.reports for p in idle)
        assert all(r.files_read == 0 for p in idle for r in p.reports or [])

        at = len(polls)
        write_scalars(root / "second", [(s, {"loss": 1.0 / s}) for s in range(1, 51)])
        took = wait_for(lambda: store.run("second") is not None and _last(store) == 50, at)
        assert took <= 3, f"a new run took {took} polls"

        at = len(polls)
        with open(root / "first" / "main.log", "a") as f:
            f.write(llmc_lines(range(11, 16)))
        took = wait_for(lambda: max(stored(store, "first")["trl"]) == 15, at)
        assert took <= 3, f"new points took {took} polls"
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
    assert_same(stored(store, "second"), whole(root, "second"))


def _last(store: Store) -> int | None:
    info = store.run("second")
    return None if info is None else info.last_step


def test_watch_refuses_roots_that_are_not_readable_folders(tmp_path: Path, store: Store) -> None:
    (tmp_path / "file.log").write_text("x")
    with pytest.raises(ValueError) as err:
        watch(store, [tmp_path / "missing", tmp_path / "file.log"], stop=threading.Event())
    assert "missing: no such folder" in str(err.value)
    assert "file.log: not a folder" in str(err.value)


def test_a_missing_root_during_watch_is_logged_and_looked_for_again(
    tmp_path: Path, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "runs"
    (root / "r").mkdir(parents=True)
    (root / "r" / "main.log").write_text(llmc_lines(range(1, 4)))
    polls: list[Poll] = []
    stop = threading.Event()

    def on_poll(p: Poll) -> None:
        polls.append(p)
        if len(polls) == 2:
            shutil.rmtree(root)
        if len(polls) == 5:
            (root / "r").mkdir(parents=True)
            (root / "r" / "main.log").write_text(llmc_lines(range(1, 8)))
        if len(polls) == 8:
            stop.set()

    with caplog.at_level(logging.WARNING, logger="tracking.watch"):
        watch(store, [root], interval=0.01, stop=stop, on_poll=on_poll)
    assert "cannot be read" in caplog.text
    assert max(stored(store, "r")["trl"]) == 7
