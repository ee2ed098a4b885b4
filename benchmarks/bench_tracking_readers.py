"""The file readers on 1M-point logs, and the parser choices behind two of them.

Run: ``.venv/bin/python benchmarks/bench_tracking_readers.py`` (or ``make bench``).

Writes, in a temporary folder, logs of 1M steps in each format the readers take, and prints
each reader's time (best of 3) and points per second. Two choices are measured against the
alternative: the Lightning ``metrics.csv`` reader (pandas' C parser) against the standard
library's ``csv`` module doing the same work (points per non-empty cell, ``nan`` kept), and
the JSONL reader (one ``orjson.loads`` per line, resumable at a byte offset) against
``pandas.read_json(lines=True)`` on the same file (which cannot resume mid-file).
"""

from __future__ import annotations

import csv
import json
import math
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pandas as pd

from tracking.readers import mlflow, tabular, textlog, trainer_state

STEPS = 1_000_000


def best(fn: Callable[[], object], n: int = 3) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def write_all(folder: Path) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    loss = 3 + 8 * np.exp(-np.arange(STEPS) / 2e5) + rng.normal(0, 0.05, STEPS)
    paths: dict[str, Path] = {}

    # Lightning: a train row every step, a val row every 1000 (sparse cells)
    p = folder / "lightning" / "metrics.csv"
    p.parent.mkdir()
    with open(p, "w") as f:
        f.write("epoch,step,train_loss,lr,val_loss\n")
        for i in range(STEPS):
            f.write(f"0,{i},{loss[i]:.6f},0.0003,\n")
            if i % 1000 == 999:
                f.write(f"0,{i},,,{loss[i] + 0.1:.6f}\n")
    paths["csv"] = p

    p = folder / "log.jsonl"
    with open(p, "w") as f:
        for i in range(STEPS):
            f.write(f'{{"step": {i}, "loss": {loss[i]:.6f}, "learning_rate": 0.0003}}\n')
    paths["jsonl"] = p

    p = folder / "main.log"
    with open(p, "w") as f:
        for i in range(STEPS):
            f.write(f"s:{i} trl:{loss[i]:.4f} lr:0.000300 norm:0.25\n")
    paths["textlog"] = p

    p = folder / "trainer_state.json"
    history = [
        {
            "epoch": i / STEPS,
            "grad_norm": 0.25,
            "learning_rate": 3e-4,
            "loss": round(loss[i], 4),
            "step": i,
        }
        for i in range(STEPS)
    ]
    p.write_text(json.dumps({"global_step": STEPS, "log_history": history}))
    paths["trainer_state"] = p

    run = folder / "mlruns" / "1" / "run"
    (run / "metrics").mkdir(parents=True)
    (run.parent / "meta.yaml").write_text("name: bench\n")
    (run / "meta.yaml").write_text("run_id: run\n")
    with open(run / "metrics" / "loss", "w") as f:
        for i in range(STEPS):
            f.write(f"{1_700_000_000_000 + i} {loss[i]} {i}\n")
    paths["mlflow"] = run
    return paths


def stdlib_csv(path: Path) -> int:
    """The CSV reader's work with the csv module: a point per non-empty numeric cell."""
    with open(path, newline="") as f:
        rows = csv.reader(f)
        header = next(rows)
        s = header.index("step")
        cols: dict[str, tuple[list[int], list[float]]] = {
            h: ([], []) for h in header if h != "step"
        }
        for row in rows:
            step = int(row[s])
            for name, cell in zip(header, row, strict=False):
                if name != "step" and cell:
                    steps, values = cols[name]
                    steps.append(step)
                    values.append(float(cell))
    arrays = [np.asarray(v) for _, v in cols.values()]
    return sum(len(a) for a in arrays)


def pandas_jsonl(path: Path) -> int:
    frame = pd.read_json(path, lines=True)
    return int(frame.notna().sum().sum() - len(frame))


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_all(Path(tmp))
        print(f"1M-step logs ({STEPS:,} steps), best of 3")
        for name, read in (
            (
                "trainer_state.json (3 metrics + epoch)",
                lambda: trainer_state.read(paths["trainer_state"]),
            ),
            ("text log, llm.c main.log (3 metrics)", lambda: textlog.read(paths["textlog"])),
            ("metrics.csv, pandas (3 metrics + epoch)", lambda: tabular.read(paths["csv"])),
            ("JSONL, orjson per line (2 metrics)", lambda: tabular.read(paths["jsonl"])),
            ("MLflow file store (1 metric)", lambda: mlflow.read(paths["mlflow"])),
        ):
            points = sum(len(s) for s in read().series)
            t = best(read)
            print(f"  {name:42} {t:6.2f} s  {points / t / 1e6:5.2f} M points/s")
        print("parser choices (same file, same points)")
        t_pd, t_std = (
            best(lambda: tabular.read(paths["csv"])),
            best(lambda: stdlib_csv(paths["csv"])),
        )
        print(f"  metrics.csv: pandas {t_pd:.2f} s, csv module {t_std:.2f} s ({t_std / t_pd:.1f}x)")
        t_or = best(lambda: tabular.read(paths["jsonl"]))
        t_pj = best(lambda: pandas_jsonl(paths["jsonl"]))
        print(
            f"  JSONL: orjson per line {t_or:.2f} s, pandas.read_json {t_pj:.2f} s "
            f"({t_pj / t_or:.1f}x)"
        )
        assert math.isclose(
            sum(len(s) for s in tabular.read(paths["csv"]).series), stdlib_csv(paths["csv"])
        )


if __name__ == "__main__":
    main()
