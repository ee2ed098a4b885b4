"""Every real training log in tests/data/real-runs (and $REAL_RUNS_DIR, where set)
gives the answers its INDEX.json lists: the primary curve's length, first and last step and
value, duplicate steps, backward jumps and NaNs, the secondary curves, the metric names.
Those are what a user sees on a chart, so a reader that drops, doubles or misplaces one
point fails here."""

from __future__ import annotations

import hashlib
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tracking_samples import CASES, IN_REPO, NOT_SERIES, RENAMED, case_dir, expected

from tracking.readers import find, reader
from tracking.records import Read, Series


def _read(case: str) -> Read:
    kind, rel = CASES[case]
    folder = case_dir(case)
    return reader(kind).read(folder / rel, root=folder)


def _by_name(read: Read) -> dict[str, Series]:
    return {s.metric: s for s in read.series}


def _value(v: Any) -> float:
    """INDEX values: JSON numbers, text as the log printed it, or {"f64": ...} for event files."""
    return float(v["f64"] if isinstance(v, dict) else v)


def _check(s: Series, n: int | None, first: tuple[int, Any], last: tuple[int, Any]) -> None:
    if n is not None:
        assert len(s) == n
    assert (int(s.step[0]), float(s.value[0])) == (first[0], _value(first[1]))
    assert (int(s.step[-1]), float(s.value[-1])) == (last[0], _value(last[1]))


@pytest.mark.parametrize("case", sorted(CASES))
def test_real_log_gives_the_indexed_curve(case: str) -> None:
    want = expected(case)
    got = _read(case)
    assert got.problems == []
    series = _by_name(got)
    primary = series[want["primary"]]
    _check(
        primary,
        want.get("n"),
        (want["first_step"], want["first_loss"]),
        (want["last_step"], want["last_loss"]),
    )
    if "n_duplicate_steps" in want:
        assert len(primary) - len(np.unique(primary.step)) == want["n_duplicate_steps"]
        assert int((np.diff(primary.step) < 0).sum()) == want["n_backward_jumps"]
        assert int(np.isnan(primary.value).sum()) == want["n_nan"]
    for name, sec in want.get("secondary", {}).items():
        _check(
            series[name],
            sec["n"],
            (sec["first_step"], sec["first_value"]),
            (sec["last_step"], sec["last_value"]),
        )
    names = {RENAMED.get(n, n) for n in want["metric_names"]} - NOT_SERIES
    assert set(series) == names


def test_llmc_val_loss_lines_take_the_step_of_the_train_line_before_them() -> None:
    """llm.c prints `val loss X` with no step; main.log of the same code logs it at the loop
    step, which is the number of the train line printed just before."""
    s = _by_name(_read("text-llmc-stdout-750steps"))["val_loss"]
    assert s.step.tolist() == [0, 250, 500, 750]
    assert s.value.tolist() == [11.008742, 6.208999, 5.421806, 4.723455]


def test_llmc_stdout_zscores_printed_as_nan_are_nan_points() -> None:
    s = _by_name(_read("text-llmc-stdout-750steps"))["loss_zscore"]
    assert len(s) == 750 and math.isnan(s.value[0]) and s.value[-1] == -1.36


def test_llmc_stdout_configuration_table_becomes_params() -> None:
    params = _read("text-llmc-stdout-750steps").params
    assert params["llmc.total batch size"] == "524288"
    assert params["llmc.device"] == "NVIDIA A100-PCIE-40GB"
    assert params["log.total_steps"] == "19560"


def test_modded_nanogpt_val_lines_do_not_log_train_time_twice() -> None:
    s = _by_name(_read("text-modded-nanogpt-flexattention"))["train_time_ms"]
    assert len(np.unique(s.step)) == len(s)


def test_trainer_state_keeps_its_settings_and_the_final_summary() -> None:
    got = _read("trainer-state-metamath-sft")
    assert got.params["trainer_state.max_steps"] == "128"
    assert _by_name(got)["train_loss"].step.tolist() == [128]
    assert got.position == 0


def test_llamafactory_jsonl_reads_its_adapter_config_and_durations() -> None:
    got = _read("jsonl-llamafactory-mistral-translator")
    assert got.params["adapter_config.base_model_name_or_path"] == (
        "mistralai/Mistral-7B-Instruct-v0.2"
    )
    elapsed = _by_name(got)["elapsed_time"]
    assert elapsed.value[-1] == 5 * 3600 + 39 * 60 + 46  # "5:39:46"


def test_mlflow_file_store_keeps_wall_time_and_empty_params() -> None:
    got = _read("mlflow-hf-distilbert-summary")
    loss = _by_name(got)["train_loss"]
    assert loss.time.tolist() == [1752085300.371]
    assert got.params["mp_parameters"] == ""  # an empty params file is an empty value
    assert got.params["mlflow.status"] == "FINISHED"
    assert got.params["mlflow.experiment_name"] == "distilbert-demo"


def _git_blob(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@pytest.mark.parametrize("case", sorted(p.name for p in IN_REPO.iterdir() if p.is_dir()))
def test_copied_logs_are_byte_for_byte_their_source(case: str) -> None:
    """Each copy has the git blob id its SOURCE.md records (CR bytes and CRLF included): a
    checkout that rewrote line ends would change what the readers are tested on."""
    folder = IN_REPO / case
    source = (folder / "SOURCE.md").read_text()
    assert re.search(r"license: (MIT|Apache-2\.0|BSD)", source), "only permissive licences"
    rows = re.findall(
        r"^\| `[^`]+` \| `([^`]+)` \| \d+ \| `[0-9a-f]+` \| `([0-9a-f]{40})` \|$", source, re.M
    )
    assert rows
    for rel, blob in rows:
        assert _git_blob((folder / rel).read_bytes()) == blob, rel


def test_find_lists_every_copied_run_with_its_reader() -> None:
    found = {s.name: [(f.path.name, f.kind) for f in s.files] for s in find(IN_REPO)}
    for case, (kind, rel) in CASES.items():
        if (IN_REPO / case).is_dir():
            assert found[case] == [(Path(rel).name, kind)]
