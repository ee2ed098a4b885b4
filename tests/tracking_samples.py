"""Where the real training logs for the reader tests are, and the answers they must give.

Cases whose licence allows it (MIT, Apache-2.0) are copied byte-for-byte into
``tests/data/real-runs/<case>/`` with their SOURCE.md; ``INDEX.json`` there lists, per case,
the values an independent reader found (first/last step and value, duplicate steps,
backward jumps, NaNs, metric names). The other cases may not be copied; their tests run
when ``$REAL_RUNS_DIR`` names a folder holding them (docs/tracking.md, "Test samples") and
are skipped, with the reason, otherwise.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

IN_REPO = Path(__file__).parent / "data" / "real-runs"
# Samples that may not be copied into the repository (docs/tracking.md, "Test samples").
EXTRA = Path(os.environ["REAL_RUNS_DIR"]) if os.environ.get("REAL_RUNS_DIR") else None

# case folder -> (reader kind, file read, relative to the case folder)
CASES: dict[str, tuple[str, str]] = {
    "trainer-state-metamath-sft": ("trainer_state", "trainer_state.json"),
    "trainer-state-qlora-10k": ("trainer_state", "trainer_state.json"),
    "trainer-state-tinyllama-sft-eval": ("trainer_state", "trainer_state.json"),
    "text-llmc-mainlog-gpt2-124m": ("textlog", "main.log"),
    "text-llmc-mainlog-adamw-baseline": ("textlog", "f66d43d7-e449-4029-8adf-e8537bab49ea.log"),
    "text-llmc-stdout-750steps": ("textlog", "gpt2_train.11672114.log"),
    "text-modded-nanogpt-flexattention": ("textlog", "8384493d-dba9-4991-b16b-8696953f5e6d.txt"),
    "csv-lightning-turngpt-gpt2": ("tabular", "metrics.csv"),
    "csv-lightning-slm-wikitext-v0": ("tabular", "metrics.csv"),
    "jsonl-hf-callback-lora-medqa": ("tabular", "metrics.jsonl"),
    "jsonl-llamafactory-mistral-translator": ("tabular", "trainer_log.jsonl"),
    "jsonl-netra-nmt": ("tabular", "train_log.jsonl"),
    "mlflow-hf-distilbert-summary": (
        "mlflow",
        "mlruns/106022762656854849/42a140cfad7b46f385e363c537affbab",
    ),
}

# INDEX.json names that are not series: the step keys themselves, and the llm.c stdout
# `val loss` lines, which our reader files under `val_loss` (tracking/readers/textlog.py).
NOT_SERIES = {"step", "current_steps"}
RENAMED = {"val loss (no step on line)": "val_loss"}


def case_dir(case: str) -> Path:
    """The case's folder: the repository's copy, else the one in ``$REAL_RUNS_DIR``; skips
    the test when neither is there."""
    for base in (IN_REPO, EXTRA):
        if base is not None and (base / case).is_dir():
            return base / case
    pytest.skip(
        f"{case}: not in tests/data (its licence does not allow a copy); set REAL_RUNS_DIR "
        'to a folder holding it to run this test (docs/tracking.md, "Test samples")'
    )


def expected(case: str) -> dict[str, Any]:
    """The case's entry in INDEX.json (the copy beside the case)."""
    index = json.loads((case_dir(case).parent / "INDEX.json").read_text())
    return next(entry for entry in index if entry["folder"] == case)
