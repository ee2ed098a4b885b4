"""Each source kind read from fixtures shaped like what the tool writes (tests/tracking_
fixtures.py): Lightning's sparse CRLF table, a TRL trainer_state.json, MLflow's file and
SQLite stores, a W&B offline run, and a folder of all of them found by ``find``."""

from __future__ import annotations

import math
import os
import sqlite3
from pathlib import Path

from tracking_fixtures import (
    lightning_csv,
    mlflow_file_store,
    mlflow_sqlite,
    trl_trainer_state,
    wandb_offline_run,
)

from tracking.readers import find, mlflow, read_file, tabular, trainer_state, wandb
from tracking.records import Series


def _series(series: list[Series]) -> dict[str, Series]:
    return {s.metric: s for s in series}


def test_lightning_sparse_crlf_rows_become_points_at_their_steps(tmp_path: Path) -> None:
    got = tabular.read(lightning_csv(tmp_path / "version_0"))
    assert got.problems == [] and got.position == 0
    s = _series(got.series)
    assert s["train_loss_step"].step.tolist() == [49, 99, 149, 199, 249, 299, 349]
    assert math.isnan(s["train_loss_step"].value[2])  # "nan" in a cell is a logged NaN
    assert s["val_loss"].step.tolist() == [299] and s["val_loss"].value.tolist() == [4.25]
    assert s["train_loss_epoch"].step.tolist() == [299]  # the second row at step 299
    assert s["epoch_time"].value.tolist() == [812.5]
    assert s["epoch"].step.tolist() == [49, 99, 149, 199, 249, 299, 299, 299, 349]
    assert got.params["hparams.d_model"] == "768" and got.params["hparams.lr"] == "0.0003"


def test_lightning_table_rewritten_mid_write_keeps_the_complete_rows(tmp_path: Path) -> None:
    csv = lightning_csv(tmp_path)
    data = csv.read_bytes()
    csv.write_bytes(data[:-10])  # the rewrite has not finished its last row
    got = tabular.read(csv)
    assert _series(got.series)["train_loss_step"].step.tolist() == [49, 99, 149, 199, 249, 299]
    assert got.problems[0].startswith("metrics.csv: last line (byte")
    csv.write_bytes(data)
    assert tabular.read(csv).problems == []


def test_csv_text_cells_and_missing_steps_are_named(tmp_path: Path) -> None:
    csv = tmp_path / "metrics.csv"
    csv.write_text("step,loss,note\n1,2.0,warmup\n,1.5,x\n3,oops,y\n4,1.0,z\n")
    got = tabular.read(csv)
    s = _series(got.series)
    assert s["loss"].step.tolist() == [1, 4]
    assert "note" not in s
    assert got.problems == [
        "metrics.csv: 1 rows have no whole-number step (first on line 3); skipped",
        "metrics.csv: column 'loss': 1 cells are not numbers (first 'oops' on line 4); skipped",
        "metrics.csv: column 'note' holds text, not numbers; not a metric",
    ]


def test_trl_trainer_state_with_eval_tokens_nan_and_predict(tmp_path: Path) -> None:
    got = trainer_state.read(trl_trainer_state(tmp_path))
    s = _series(got.series)
    assert s["loss"].step.tolist() == list(range(15, 181, 15))
    assert math.isnan(s["loss"].value[5])
    assert s["eval_loss"].step.tolist() == [60, 120, 180]
    assert s["num_tokens"].value[-1] == 4096 * 180
    assert got.params["adapter_config.r"] == "8"
    assert got.params["adapter_config.base_model_name_or_path"] == "null"
    assert got.params["trainer_state.max_steps"] == "180"
    assert got.problems == [
        "trainer_state.json: 1 log_history entries have no `step` (keys: predict_loss, "
        "predict_runtime); skipped, since a point needs a step"
    ]


def test_trainer_state_in_a_checkpoint_uses_the_output_folders_config(tmp_path: Path) -> None:
    state = trl_trainer_state(tmp_path / "out" / "checkpoint-180")
    (tmp_path / "out" / "config.json").write_text('{"hidden_size": 2048, "vocab_size": 32000}')
    got = trainer_state.read(state)
    assert got.params["model_config.hidden_size"] == "2048"


def test_mlflow_file_store_run(tmp_path: Path) -> None:
    run = mlflow_file_store(tmp_path)
    assert mlflow.detect(run)
    got = mlflow.read(run, root=tmp_path)
    assert got.problems == []
    s = _series(got.series)
    loss = s["train/loss"]  # a key with "/" is a subfolder of metrics/
    assert loss.step.tolist() == [10, 20, 30, 40]
    assert str(loss.value.tolist()) == "[2.5, nan, inf, 1.5]"
    assert loss.time.tolist() == [1752085300.0, 1752085301.0, 1752085302.0, 1752085303.0]
    assert s["epoch"].step.tolist() == [0]  # an old two-field line has no step
    assert got.params["mp_parameters"] == ""
    assert got.params["mlflow.run_name"] == "capable-auk"
    assert got.params["mlflow.status"] == "FINISHED"
    assert got.params["mlflow.experiment_name"] == "distilbert-demo"
    assert got.params["tags.mlflow.runName"] == "capable-auk"


def test_mlflow_sqlite_store_read_only(tmp_path: Path) -> None:
    db = tmp_path / "mlflow.db"
    runs = mlflow_sqlite(db)
    before = db.read_bytes()
    os.chmod(db, 0o444)
    assert mlflow.detect(db)
    assert mlflow.runs(db) == runs
    got = mlflow.read(db, run_id=runs[0])
    assert got.problems == []
    loss = _series(got.series)["loss"]
    assert loss.step.tolist() == [10, 20, 30, 40]
    # MLflow's encodings: is_nan=1 -> NaN, +DBL_MAX -> +inf
    assert str(loss.value.tolist()) == "[3.0, nan, inf, 2.0]"
    assert loss.time.tolist()[0] == 1_700_000_010.0
    assert got.params["learning_rate"] == "0.0001" and got.params["mp_parameters"] == ""
    assert got.params["tags.mlflow.user"] == "ada"
    assert got.params["mlflow.run_name"] == "run-0"
    assert got.params["mlflow.experiment_name"] == "sweep"
    other = mlflow.read(db, run_id=runs[1])
    assert _series(other.series)["loss"].value.tolist() == [-math.inf]
    assert db.read_bytes() == before


def test_mlflow_sqlite_with_several_runs_needs_a_run_id(tmp_path: Path) -> None:
    db = tmp_path / "mlflow.db"
    mlflow_sqlite(db)
    got = mlflow.read(db)
    assert got.series == []
    assert got.problems == [
        "mlflow.db: holds several runs; read one with run_id= (tracking.readers.mlflow.runs "
        "lists them)"
    ]


def test_a_locked_or_broken_database_is_a_problem(tmp_path: Path) -> None:
    db = tmp_path / "mlflow.db"
    mlflow_sqlite(db)
    lock = sqlite3.connect(db, timeout=0)
    lock.execute("BEGIN EXCLUSIVE")
    try:
        got = mlflow.read(db, run_id="a" * 32)
    finally:
        lock.rollback()
        lock.close()
    assert got.series == [] and "SQLite error (database is locked); will retry" in got.problems[0]
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"SQLite format 3\x00" + b"\x00" * 84)
    assert not mlflow.detect(broken)


def test_wandb_offline_run_gives_config_summary_and_says_history_is_missing(
    tmp_path: Path,
) -> None:
    run = wandb_offline_run(tmp_path / "wandb")
    assert wandb.detect(run)
    got = wandb.read(run)
    assert got.params["learning_rate"] == "0.0006"
    assert got.params["model.n_embd"] == "768"
    assert got.params["block_size"] == "1024"
    assert got.params["wandb.gpu"] == "NVIDIA H100 80GB HBM3"
    assert not any(k.startswith("_wandb") for k in got.params)
    s = _series(got.series)
    assert set(s) == {"train/loss", "val/loss", "lr"}  # not _runtime, not the table
    assert s["train/loss"].step.tolist() == [5000]
    assert s["train/loss"].time.tolist() == [1717243200.5]
    assert math.isnan(s["val/loss"].value[0])
    assert got.problems == [wandb.HISTORY_NOT_READ]


def test_find_groups_a_folder_of_every_kind(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    lightning_csv(root / "lightning_logs" / "version_0")
    out = root / "hf-out"
    trl_trainer_state(out / "checkpoint-60")
    trl_trainer_state(out / "checkpoint-180")
    trl_trainer_state(out / "checkpoint-120")
    (out / "runs" / "May01").mkdir(parents=True)
    (out / "runs" / "May01" / "events.out.tfevents.1714550400.host.1.0").write_bytes(b"")
    mlflow_file_store(root / "tracking")
    mlflow_sqlite(root / "tracking" / "mlflow.db")
    wandb_offline_run(root / "wandb", output_log="iter 0: loss 10.9, time 900.00ms, mfu -100.00%\n")
    (root / "notes").mkdir()
    (root / "notes" / "requirements.txt").write_text("torch\n")
    (root / "notes" / "results.csv").write_text("model,score\na,1\n")
    (root / ".git").mkdir()
    (root / ".git" / "main.log").write_text("s:0 trl:1.0\n")

    found = {
        s.name: [(f.path.relative_to(s.run_dir).as_posix(), f.kind, f.run_id) for f in s.files]
        for s in find(root)
    }
    run_id = "0123456789abcdef0123456789abcdef"
    assert found == {
        "hf-out": [("checkpoint-180/trainer_state.json", "trainer_state", None)],
        "hf-out/runs/May01": [("events.out.tfevents.1714550400.host.1.0", "tfevents", None)],
        "lightning_logs/version_0": [("metrics.csv", "tabular", None)],
        f"tracking/mlruns/1/{run_id}": [(".", "mlflow", None)],
        f"tracking/mlflow.db/{'a' * 32}": [("mlflow.db", "mlflow", "a" * 32)],
        f"tracking/mlflow.db/{'b' * 32}": [("mlflow.db", "mlflow", "b" * 32)],
        "wandb/offline-run-20240601_120000-abc123xy": [
            (".", "wandb", None),
            ("files/output.log", "textlog", None),
        ],
    }
    sqlite_run = next(s for s in find(root) if s.name.endswith("b" * 32))
    got = read_file(sqlite_run.files[0], root=root)
    assert _series(got.series)["loss"].step.tolist() == [5]
