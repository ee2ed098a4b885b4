"""Malformed and hostile inputs: each is skipped with a problem that names the file, where,
and what was wrong, in bounded time and memory, and never runs code or reads outside the
root. The rest of the file (and of the run) is still read."""

from __future__ import annotations

import json
import os
import pickle
import time
import tracemalloc
from pathlib import Path

import pytest

from tracking.readers import OutsideRoot, find, mlflow, tabular, textlog, trainer_state
from tracking.readers._common import MAX_PARAMS

TEN_MB = 10 << 20


def test_a_10_mb_line_is_skipped_without_holding_it(tmp_path: Path) -> None:
    log = tmp_path / "train.log"
    with open(log, "wb") as f:
        f.write(b"s:0 trl:11.0\n")
        f.write(b"s:1 trl:" + b"9" * TEN_MB + b"\n")
        f.write(b"s:2 trl:10.5\n")
    tracemalloc.start()
    got = textlog.read(log)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert [(s.metric, s.step.tolist()) for s in got.series] == [("trl", [0, 2])]
    assert got.position == log.stat().st_size
    assert got.problems == [
        f"train.log: line at byte 13 is {TEN_MB + 8:,} bytes, over the 1,048,576-byte line "
        "limit; skipped"
    ]
    assert peak < 8 << 20  # a few 1 MiB chunks, never the 10 MB line


def test_an_unfinished_over_long_line_is_skipped_to_the_end(tmp_path: Path) -> None:
    jsonl = tmp_path / "metrics.jsonl"
    jsonl.write_bytes(b'{"step": 1, "loss": 1.0}\n{"step": 2, "note": "' + b"x" * (3 << 20))
    got = tabular.read(jsonl)
    assert [s.step.tolist() for s in got.series] == [[1]]
    assert got.position == jsonl.stat().st_size  # not re-scanned every pass
    assert "line at byte 25 is over" in got.problems[0] and "not finished" in got.problems[0]


def test_deep_json_is_a_named_problem_not_a_crash(tmp_path: Path) -> None:
    deep = "[" * 200_000 + "]" * 200_000
    state = tmp_path / "trainer_state.json"
    state.write_text('{"log_history": ' + deep + "}")
    (tmp_path / "config.json").write_text(deep)
    got = trainer_state.read(state)
    assert got.series == []
    assert len(got.problems) == 2
    assert got.problems[0].startswith("trainer_state.json: nested deeper than the JSON parser")
    assert got.problems[1].startswith("config.json: nested deeper than the JSON parser")

    jsonl = tmp_path / "log.jsonl"
    jsonl.write_text(
        '{"step": 1, "loss": 2.0}\n{"step": 2, "x": ' + deep + '}\n{"step": 3, "loss": 1.5}\n'
    )
    lines = tabular.read(jsonl)
    assert [s.step.tolist() for s in lines.series] == [[1, 3]]
    assert "log.jsonl line at byte 25: nested deeper" in lines.problems[0]


def test_a_file_over_its_size_cap_is_not_read(tmp_path: Path) -> None:
    state = tmp_path / "trainer_state.json"
    state.write_text(json.dumps({"log_history": [{"step": 1, "loss": 2.0}] * 100}))
    got = trainer_state.read(state, max_bytes=1000)
    assert got.series == []
    assert got.problems == [
        f"trainer_state.json: {state.stat().st_size:,} bytes, over the 1,000-byte limit for "
        "this file; not read"
    ]


def test_nan_and_infinity_literals_are_kept(tmp_path: Path) -> None:
    state = tmp_path / "trainer_state.json"
    state.write_text(
        '{"log_history": [{"step": 1, "loss": NaN, "grad_norm": Infinity},'
        ' {"step": 2, "loss": 1.5, "grad_norm": -Infinity}]}'
    )
    got = {s.metric: s.value.tolist() for s in trainer_state.read(state).series}
    assert str(got["loss"]) == "[nan, 1.5]" and got["grad_norm"] == [float("inf"), float("-inf")]


def test_training_args_bin_is_never_unpickled(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.mkdir, (str(marker),))

    (tmp_path / "training_args.bin").write_bytes(pickle.dumps(Payload()))
    state = tmp_path / "trainer_state.json"
    state.write_text('{"log_history": [{"step": 1, "loss": 2.0}]}')
    got = trainer_state.read(state)
    assert not marker.exists()
    assert got.problems[0].startswith("training_args.bin: not read (a pickle")
    assert [s.metric for s in got.series] == ["loss"]


def test_python_object_tags_in_hparams_yaml_are_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    (tmp_path / "metrics.csv").write_text("step,loss\n1,2.0\n")
    (tmp_path / "hparams.yaml").write_text(
        f"lr: 0.1\nx: !!python/object/apply:os.mkdir [{str(marker)!r}]\n"
    )
    got = tabular.read(tmp_path / "metrics.csv")
    assert not marker.exists()
    assert got.params == {}
    assert got.problems == [
        "hparams.yaml: refused at line 2: could not determine a constructor for the tag "
        "'tag:yaml.org,2002:python/object/apply:os.mkdir' (only plain YAML is read: a Python "
        "object tag would run code); settings not read"
    ]
    assert [s.value.tolist() for s in got.series] == [[2.0]]  # the metrics still read


def test_yaml_aliases_that_expand_a_billion_times_stay_bounded(tmp_path: Path) -> None:
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]']
    for i in range(1, 9):
        prev = chr(ord("a") + i - 1)
        cur = chr(ord("a") + i)
        lines.append(f"{cur}: &{cur} {{" + ", ".join(f"k{j}: *{prev}" for j in range(10)) + "}")
    (tmp_path / "metrics.csv").write_text("step,loss\n1,2.0\n")
    (tmp_path / "hparams.yaml").write_text("\n".join(lines) + "\n")
    started = time.perf_counter()
    got = tabular.read(tmp_path / "metrics.csv")
    assert time.perf_counter() - started < 5
    assert len(got.params) == MAX_PARAMS
    assert got.problems == [f"hparams.yaml: more than {MAX_PARAMS:,} settings; the rest not kept"]


def test_symlinks_out_of_the_root_are_refused(tmp_path: Path) -> None:
    root, outside = tmp_path / "runs", tmp_path / "secret"
    (root / "exp").mkdir(parents=True)
    outside.mkdir()
    (outside / "main.log").write_text("s:0 trl:1.0\n")
    (outside / "config.json").write_text('{"hidden_size": 4096}')
    (root / "exp" / "trainer_state.json").write_text('{"log_history": [{"step": 1, "loss": 2}]}')
    (root / "exp" / "main.log").symlink_to(outside / "main.log")
    (root / "exp" / "config.json").symlink_to(outside / "config.json")
    (root / "linked").symlink_to(outside, target_is_directory=True)
    (root / "exp" / "inside.log").symlink_to(root / "exp" / "trainer_state.json")

    sources = {s.name: s for s in find(root)}
    assert set(sources) == {".", "exp"}
    assert [(f.path.name, f.kind) for f in sources["exp"].files] == [
        ("trainer_state.json", "trainer_state")
    ]
    refused = " ".join(sources["exp"].problems)
    assert "main.log resolves to" in refused and "outside the root" in refused
    assert "linked resolves to" in sources["."].problems[0]

    with pytest.raises(OutsideRoot):
        textlog.read(root / "exp" / "main.log", root=root)
    got = trainer_state.read(root / "exp" / "trainer_state.json", root=root)
    assert not any(k.startswith("model_config.") for k in got.params)
    assert "config.json resolves to" in got.problems[0]


def test_empty_params_files_are_empty_values(tmp_path: Path) -> None:
    run = tmp_path / "mlruns" / "1" / "r1"
    (run / "params").mkdir(parents=True)
    (run / "metrics").mkdir()
    (tmp_path / "mlruns" / "1" / "meta.yaml").write_text("name: e\n")
    (run / "meta.yaml").write_text("run_id: r1\n")
    (run / "params" / "mp_parameters").write_bytes(b"")
    (run / "params" / "lr").write_text("0.1")
    (run / "metrics" / "loss").write_text("1000 2.0 1\nnot a metric line\n2000 1.0 2\n3000 0.5")
    got = mlflow.read(run)
    assert got.params["mp_parameters"] == "" and got.params["lr"] == "0.1"
    loss = got.series[0]
    assert loss.step.tolist() == [1, 2]  # the cut-off last line waits
    assert got.problems == ["metrics/loss: line at byte 11 is not `timestamp value step`; skipped"]


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("step (?P<step>\\d+", "line pattern does not compile: missing ) at character 17"),
        ("loss (?P<loss>\\S+)", "line pattern has no group named `step`"),
        ("step (?P<step>\\d+)", "line pattern names no metric"),
        ("x" * 501, "line pattern: 501 characters; at most 500 allowed"),
        ("", "line pattern: empty"),
    ],
)
def test_bad_user_patterns_are_refused_with_the_reason(pattern: str, message: str) -> None:
    with pytest.raises(textlog.PatternError) as err:
        textlog.compile_pattern(pattern)
    assert str(err.value).startswith(message)


def test_a_pattern_that_backtracks_is_stopped_each_pass(tmp_path: Path) -> None:
    pattern = textlog.compile_pattern(r"^(?P<step>\d+) (?P<loss>(?:a|aa)+)$")
    log = tmp_path / "custom.log"
    log.write_text("".join(f"{i} {'a' * 60}b\n" for i in range(50)))
    started = time.perf_counter()
    got = textlog.read(log, patterns=[pattern])
    assert time.perf_counter() - started < 2
    assert got.series == []
    assert len(got.problems) == textlog.MAX_TIMEOUTS + 1
    assert "took over 50 ms on the line at byte 0" in got.problems[0]
    assert got.problems[-1].startswith("custom.log: stopped after 3 time-outs")
    assert got.position == sum(len(f"{i} {'a' * 60}b\n") for i in range(3))  # progress kept


def test_jsonl_lines_without_a_step_are_counted_in_one_problem(tmp_path: Path) -> None:
    jsonl = tmp_path / "log.jsonl"
    jsonl.write_text(
        '{"step": 1, "loss": 2}\n{"loss": 1}\n{"loss": 0.5}\n[1, 2]\nnot json\n{"step": 2.5}\n'
    )
    got = tabular.read(jsonl)
    assert [s.step.tolist() for s in got.series] == [[1]]
    assert got.problems == [
        "log.jsonl: line at byte 23 has no step key (one of step, global_step, current_steps, "
        "_step); skipped (and 1 more like it)",
        "log.jsonl: line at byte 49 is not a JSON object; skipped",
        "log.jsonl line at byte 56: not valid JSON (Expecting value: line 1 column 1 (char 0)); "
        "not read",
        "log.jsonl: line at byte 65 has step '2.5', not a whole number; skipped",
    ]
