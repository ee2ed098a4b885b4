"""Fixtures of our own for the reader tests, shaped like the real logs we may not copy.

Each builder writes into a folder the test owns (``tmp_path``) exactly what the tool in
question writes: Lightning's sparse CRLF ``metrics.csv`` (as in the SLM WikiText run), a
TRL ``trainer_state.json`` with eval entries, ``num_tokens`` and a PEFT adapter (as in the
TinyLlama SFT run), MLflow's file store with an empty params file (as in the DistilBERT
run) and its SQLite store (the schema's columns the reader uses, made with ``sqlite3``, no
``mlflow`` package), and a W&B offline run folder.
"""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path

NAN = float("nan")


def lightning_csv(folder: Path) -> Path:
    """Sparse rows, CRLF, two rows at the epoch-end step, a logged NaN, ``hparams.yaml``."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = ["epoch,epoch_time,step,train_loss_epoch,train_loss_step,val_loss"]
    for step in range(49, 300, 50):
        loss = "nan" if step == 149 else f"{7.5 - step / 100:.4f}"
        rows.append(f"0,,{step},,{loss},")
    rows.append("0,,299,,,4.25")  # validation row at the epoch's last step
    rows.append("0,812.5,299,5.5,,")  # epoch-end row at the same step
    rows.append("1,,349,,4.0,")
    (folder / "metrics.csv").write_bytes(("\r\n".join(rows) + "\r\n").encode())
    (folder / "hparams.yaml").write_text(
        "d_model: 768\nnum_layers: 12\nvocab_size: 50258\nmax_seq_len: 128\nlr: 0.0003\n"
        "batch_size: 16\nnum_epochs: 10\n"
    )
    return folder / "metrics.csv"


def trl_trainer_state(folder: Path, *, config: dict[str, object] | None = None) -> Path:
    """TRL SFT: loss every 15 steps with ``num_tokens`` growing 4096 a step, eval every 60
    steps, a NaN loss, a ``predict_*`` entry without a step, a PEFT ``adapter_config.json``."""
    folder.mkdir(parents=True, exist_ok=True)
    history: list[dict[str, object]] = []
    for step in range(15, 181, 15):
        history.append(
            {
                "epoch": step / 180,
                "grad_norm": 1.0,
                "learning_rate": 1e-5 * min(1.0, step / 60),
                "loss": NAN if step == 90 else 2.0 - step / 200,
                "mean_token_accuracy": 0.6,
                "num_tokens": 4096.0 * step,
                "step": step,
            }
        )
        if step % 60 == 0:
            history.append({"epoch": step / 180, "eval_loss": 1.9 - step / 300, "step": step})
    history.append({"predict_loss": 1.5, "predict_runtime": 3.0})
    state = {
        "global_step": 180,
        "max_steps": 180,
        "num_train_epochs": 1,
        "train_batch_size": 2,
        "eval_steps": 60,
        "log_history": history,
    }
    (folder / "trainer_state.json").write_text(json.dumps(state))  # writes NaN literals
    (folder / "adapter_config.json").write_text(
        json.dumps({"peft_type": "LORA", "r": 8, "base_model_name_or_path": None})
    )
    if config is not None:
        (folder / "config.json").write_text(json.dumps(config))
    return folder / "trainer_state.json"


LLAMA2_7B_CONFIG: dict[str, object] = {
    "_name_or_path": "meta-llama/Llama-2-7b-hf",
    "architectures": ["LlamaForCausalLM"],
    "hidden_size": 4096,
    "intermediate_size": 11008,
    "max_position_embeddings": 4096,
    "num_attention_heads": 32,
    "num_hidden_layers": 32,
    "num_key_value_heads": 32,
    "torch_dtype": "float16",
    "vocab_size": 32000,
}
"""meta-llama/Llama-2-7b-hf's config.json, the fields the guess reads."""


def mlflow_file_store(root: Path) -> Path:
    """``mlruns/1/<run>/`` as MLflow's FileStore writes it; returns the run folder."""
    exp = root / "mlruns" / "1"
    run = exp / "0123456789abcdef0123456789abcdef"
    for sub in ("metrics/train", "params", "tags", "artifacts/checkpoint-10"):
        (run / sub).mkdir(parents=True, exist_ok=True)
    (root / "mlruns" / "0").mkdir(parents=True, exist_ok=True)
    (root / "mlruns" / "0" / "meta.yaml").write_text("experiment_id: '0'\nname: Default\n")
    (exp / "meta.yaml").write_text("experiment_id: '1'\nname: distilbert-demo\n")
    (run / "meta.yaml").write_text(
        "run_id: 0123456789abcdef0123456789abcdef\nrun_name: capable-auk\nexperiment_id: '1'\n"
        "status: 3\nstart_time: 1752085237552\nend_time: 1752085301337\n"
        "lifecycle_stage: active\n"
    )
    (run / "metrics" / "train" / "loss").write_text(
        "1752085300000 2.5 10\n1752085301000 nan 20\n1752085302000 inf 30\n1752085303000 1.5 40\n"
    )
    (run / "metrics" / "epoch").write_text("1752085300000 0.5\n")  # an old line: no step
    params = {
        "learning_rate": "5e-05",
        "per_device_train_batch_size": "4",
        "gradient_accumulation_steps": "1",
        "lr_scheduler_type": "linear",
        "warmup_steps": "0",
        "max_steps": "-1",
        "num_train_epochs": "1",
        "dim": "768",
        "n_layers": "6",
        "n_heads": "12",
        "hidden_dim": "3072",
        "vocab_size": "30522",
        "max_position_embeddings": "512",
        "mp_parameters": "",  # MLflow writes empty files for empty values
    }
    for key, value in params.items():
        (run / "params" / key).write_text(value)
    (run / "tags" / "mlflow.runName").write_text("capable-auk")
    (run / "artifacts" / "checkpoint-10" / "trainer_state.json").write_text('{"log_history": []}')
    return run


def mlflow_sqlite(path: Path) -> list[str]:
    """An MLflow SQLite store with two runs (the columns the reader uses); returns run ids.

    MLflow stores a NaN as 0 with ``is_nan = 1`` and an infinity as +-1.7976931348623157e308.
    """
    db = sqlite3.connect(path)
    db.executescript(
        """
        CREATE TABLE experiments (experiment_id INTEGER PRIMARY KEY, name VARCHAR(256));
        CREATE TABLE runs (run_uuid VARCHAR(32) PRIMARY KEY, name VARCHAR(250),
            status VARCHAR(9), start_time BIGINT, end_time BIGINT,
            lifecycle_stage VARCHAR(20), experiment_id INTEGER);
        CREATE TABLE metrics (key VARCHAR(250), value FLOAT, timestamp BIGINT,
            run_uuid VARCHAR(32), step BIGINT, is_nan BOOLEAN,
            PRIMARY KEY (key, timestamp, step, run_uuid, value, is_nan));
        CREATE TABLE params (key VARCHAR(250), value VARCHAR(8000), run_uuid VARCHAR(32));
        CREATE TABLE tags (key VARCHAR(250), value VARCHAR(8000), run_uuid VARCHAR(32));
        INSERT INTO experiments VALUES (1, 'sweep');
        """
    )
    runs = ["a" * 32, "b" * 32]
    for i, run in enumerate(runs):
        db.execute(
            "INSERT INTO runs VALUES (?, ?, 'FINISHED', ?, ?, 'active', 1)",
            (run, f"run-{i}", 1_700_000_000_000 + i, 1_700_000_100_000),
        )
        db.execute("INSERT INTO params VALUES ('learning_rate', ?, ?)", (f"{(i + 1) * 1e-4}", run))
        db.execute("INSERT INTO params VALUES ('mp_parameters', '', ?)", (run,))
        db.execute("INSERT INTO tags VALUES ('mlflow.user', 'ada', ?)", (run,))
    loss = [(10, 3.0, 0), (20, 0.0, 1), (30, 1.7976931348623157e308, 0), (40, 2.0, 0)]
    for step, value, is_nan in loss:
        db.execute(
            "INSERT INTO metrics VALUES ('loss', ?, ?, ?, ?, ?)",
            (value, 1_700_000_000_000 + step * 1000, runs[0], step, is_nan),
        )
    db.execute(
        "INSERT INTO metrics VALUES ('loss', -1.7976931348623157e308, 1700000000000, ?, 5, 0)",
        (runs[1],),
    )
    db.commit()
    db.close()
    return runs


def wandb_offline_run(wandb_dir: Path, *, output_log: str | None = None) -> Path:
    """``wandb/offline-run-<date>-<id>/`` with config, summary, metadata and the binary log."""
    run = wandb_dir / "offline-run-20240601_120000-abc123xy"
    files = run / "files"
    files.mkdir(parents=True)
    (files / "config.yaml").write_text(
        "wandb_version: 1\n\n_wandb:\n  desc: null\n  value:\n    cli_version: 0.16.6\n"
        "learning_rate:\n  desc: null\n  value: 0.0006\n"
        "model:\n  desc: null\n  value:\n    n_layer: 12\n    n_head: 12\n    n_embd: 768\n"
        "block_size:\n  value: 1024\n"
    )
    (files / "wandb-summary.json").write_text(
        json.dumps(
            {
                "train/loss": 3.25,
                "val/loss": NAN,
                "lr": 6e-5,
                "samples": {"_type": "table-file", "nrows": 3},
                "_step": 5000,
                "_runtime": 812.4,
                "_timestamp": 1717243200.5,
                "_wandb": {"runtime": 812},
            }
        )
    )
    (files / "wandb-metadata.json").write_text(
        json.dumps({"gpu": "NVIDIA H100 80GB HBM3", "gpu_count": 8, "host": "node-1"})
    )
    (run / "run-abc123xy.wandb").write_bytes(b":W&B\x00\x00\x00\x00binary history")
    if output_log is not None:
        (files / "output.log").write_text(output_log)
    return run


def assert_same_points(
    a: dict[str, tuple[list[int], list[float]]], b: dict[str, tuple[list[int], list[float]]]
) -> None:
    """Equal step lists and values per metric, NaN equal to NaN."""
    assert a.keys() == b.keys()
    for name in a:
        assert a[name][0] == b[name][0], name
        for x, y in zip(a[name][1], b[name][1], strict=True):
            assert x == y or (math.isnan(x) and math.isnan(y)), name
