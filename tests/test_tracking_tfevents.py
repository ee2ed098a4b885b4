"""The TensorBoard event-file reader (tracking/readers/tfevents.py), on files written by
tensorboardX and checked against the ``tensorboard`` package's own loader; and on real event
files (tests/data/real-runs/, and the shared samples when present)."""

from __future__ import annotations

import json
import math
import os
import shutil
import struct
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from tensorboardX import SummaryWriter
from tensorboardX.proto.summary_pb2 import Summary
from tfevents_writers import (
    hf_trainer_like,
    oracle,
    write_scalars,
    write_summaries,
    write_tensor_scalars,
)
from tracking_samples import case_dir, expected

from tracking.readers import crc32c, tfevents, tfrecord
from tracking.records import Read

DATA = Path(__file__).parent / "data" / "real-runs"


def as_dict(result: Read) -> dict[str, tuple[list[int], list[float], list[float]]]:
    return {s.metric: (s.step.tolist(), s.value.tolist(), s.time.tolist()) for s in result.series}


def assert_agrees_with_tensorboard(path: Path) -> Read:
    result = tfevents.read(path)
    want, _ = oracle(path)
    got = as_dict(result)
    assert sorted(got) == sorted(want)
    for tag, (steps, values, times) in want.items():
        assert got[tag][0] == steps, tag
        np.testing.assert_array_equal(got[tag][1], values, err_msg=tag)  # NaN == NaN here
        assert got[tag][2] == times, tag
    assert result.position == path.stat().st_size
    assert result.problems == []
    return result


def record_offsets(path: Path) -> list[int]:
    """Each record's offset, by walking the framing (the test's own independent walk)."""
    data = path.read_bytes()
    offsets, pos = [], 0
    while pos < len(data):
        offsets.append(pos)
        (length,) = struct.unpack_from("<Q", data, pos)
        pos += 16 + length
    assert pos == len(data)
    return offsets


# --- CRC-32C ---------------------------------------------------------------------------


def test_crc32c_matches_the_standard_check_value_and_tensorboardx() -> None:
    from tensorboardX.crc32c import _crc32c as reference

    assert crc32c.crc32c(b"123456789") == 0xE3069283
    rng = np.random.default_rng(7)
    data = rng.integers(0, 256, 40_000, dtype=np.uint8)
    # Lengths around the 4-byte columns and the 256-byte blocks, and a few long ones.
    lengths = np.array([0, 1, 3, 4, 5, 8, 255, 256, 257, 511, 1000, 4099, 20_000], dtype=np.int64)
    starts = rng.integers(0, 10_000, len(lengths)).astype(np.int64)
    got = crc32c.crc32c_many(data, starts, lengths)
    raw = data.tobytes()
    assert got.tolist() == [reference(raw[s : s + n]) for s, n in zip(starts, lengths, strict=True)]


# --- agreement with tensorboard ---------------------------------------------------------


def test_simple_value_scalars_agree_with_tensorboard(tmp_path: Path) -> None:
    """tensorboardX's (and PyTorch's default) form, several tags interleaved, a tag that
    starts late, step 0 (written with no step field) and a negative step (a 10-byte
    varint)."""
    rows: list[tuple[int | None, dict[str, float]]] = [(None, {"loss": 9.0})]
    rows += [(s, {"loss": 4.0 / (s + 1), "lr": 1e-4 * s}) for s in range(1, 400)]
    rows += [(s, {"eval/loss": 3.0 - s / 1000}) for s in range(0, 400, 50)]
    rows += [(-5, {"loss": 0.5})]
    result = assert_agrees_with_tensorboard(write_scalars(tmp_path, rows))
    assert [s.metric for s in result.series] == ["loss", "lr", "eval/loss"]
    loss = result.series[0]
    assert loss.step[0] == 0 and loss.step[-1] == -5
    assert loss.value[1] == np.float32(4.0 / 2)  # the float32 that was logged, widened


@pytest.mark.parametrize(
    "form",
    ["torch_float", "torch_double", "tf2", "int64", "half", "int32_content", "half_content"],
)
def test_tensor_scalars_agree_with_tensorboard(tmp_path: Path, form: str) -> None:
    rows = [(s, {"train/loss": 2.0 + 1 / (s + 1), "train/lr": float(s % 7)}) for s in range(300)]
    result = assert_agrees_with_tensorboard(write_tensor_scalars(tmp_path, form, rows))
    assert [len(s) for s in result.series] == [300, 300]


def test_bfloat16_scalars(tmp_path: Path) -> None:
    """bfloat16 is the high half of a float32 (tensorboard's own loader cannot read it)."""
    values = [1.5, -2.0, 0.0078125, math.inf]
    rows = [(s, {"loss": values[s % 4]}) for s in range(100)]
    result = tfevents.read(write_tensor_scalars(tmp_path, "bf16_content", rows))
    assert result.series[0].value.tolist() == [values[s % 4] for s in range(100)]
    assert result.problems == []


def test_events_with_several_values_and_histograms_agree_with_tensorboard(tmp_path: Path) -> None:
    """TF1's merged summaries put several values in one event; here tag ``a`` is alone in
    even steps' events (the fast path) and merged with others in odd steps' (the full
    decoder), and its points must still come out in file order. Histograms are not scalars."""
    summaries = []
    for step in range(60):
        values = [Summary.Value(tag="a", simple_value=step * 0.5)]
        if step % 2:
            values.append(Summary.Value(tag="b", simple_value=-step * 1.0))
            values.append(Summary.Value(tag="c", simple_value=float(step % 3)))
        summaries.append((step, Summary(value=values)))
    path = write_summaries(tmp_path, summaries)
    writer = SummaryWriter(str(tmp_path), filename_suffix=".hist")
    for step in range(30):
        writer.add_histogram("weights", np.arange(10.0) * step, step)
        writer.add_scalar("a_after_hist", float(step), step)
    writer.close()
    result = assert_agrees_with_tensorboard(path)
    assert result.series[0].step.tolist() == list(range(60))
    hist = tfevents.read(next(tmp_path.glob("*.hist")))
    assert [s.metric for s in hist.series] == ["a_after_hist"]
    assert hist.problems == []


def test_tags_the_fast_path_cannot_tell_apart_by_fingerprint(tmp_path: Path) -> None:
    """Two tags of one length that share their first and last 8 bytes: one group for the
    fast path, whose byte-for-byte check must still give each tag only its own points."""
    rows = [
        (s, {"aaaaaaaaXaaaaaaaa": float(s), "aaaaaaaaYaaaaaaaa": -float(s)}) for s in range(200)
    ]
    result = assert_agrees_with_tensorboard(write_scalars(tmp_path, rows))
    assert result.series[1].value.tolist() == [-float(s) for s in range(200)]


def test_nan_and_infinities_are_kept(tmp_path: Path) -> None:
    values = [1.0, math.nan, math.inf, -math.inf, 2.0]
    simple = write_scalars(tmp_path / "simple", [(s, {"loss": v}) for s, v in enumerate(values)])
    tensor = write_tensor_scalars(
        tmp_path / "tf2", "tf2", [(s, {"loss": v}) for s, v in enumerate(values)]
    )
    for path in (simple, tensor):
        result = assert_agrees_with_tensorboard(path)
        np.testing.assert_array_equal(result.series[0].value, values)


def test_a_restart_that_rewinds_the_step_is_kept_in_source_order(tmp_path: Path) -> None:
    steps = [*range(0, 100), *range(60, 120)]  # resumed from the step-60 checkpoint
    rows: list[tuple[int | None, dict[str, float]]] = [
        (s, {"loss": float(i)}) for i, s in enumerate(steps)
    ]
    result = assert_agrees_with_tensorboard(write_scalars(tmp_path, rows))
    assert result.series[0].step.tolist() == steps
    assert result.series[0].value.tolist() == [float(i) for i in range(len(steps))]


# --- text summaries -> params -----------------------------------------------------------


def test_hf_trainer_args_and_model_config_become_dotted_params(tmp_path: Path) -> None:
    path, args, _ = hf_trainer_like(tmp_path, steps=200)
    result = tfevents.read(path)
    _, texts = oracle(path)
    assert json.loads(texts["args/text_summary"]) == args  # what tensorboard reads
    p = result.params
    assert p["args.learning_rate"] == "0.0002"
    assert p["args.per_device_train_batch_size"] == "16"
    assert p["args.lr_scheduler_type"] == "linear"
    assert p["args.fsdp_config.xla"] == "false"
    assert p["args.report_to"] == '["tensorboard"]'
    assert p["args.push_to_hub_token"] == "null"
    assert p["model_config.hidden_size"] == "2048"
    assert p["model_config.quantization_config.load_in_4bit"] == "true"
    assert p["model_config.architectures"] == '["LlamaForCausalLM"]'
    assert len(p) == 15  # 8 args and 5 config keys, two of them objects of two keys each
    assert [s.metric for s in result.series][:3] == [
        "train/loss",
        "train/learning_rate",
        "train/epoch",
    ]
    assert len(result.series[0]) == 200 and result.series[0].step[0] == 1


def test_megatron_arguments_each_their_own_text_and_the_last_text_wins(tmp_path: Path) -> None:
    writer = SummaryWriter(str(tmp_path))
    for name, value in (("lr", 0.0003), ("micro_batch_size", 4), ("seq_length", 4096)):
        writer.add_text(name, str(value), global_step=0)
    writer.add_scalar("lm loss", 10.5, 1)
    writer.add_text("lr", "0.0001", global_step=100)  # a restart with another LR
    writer.add_text("notes", "{not json", global_step=100)
    writer.close()
    path = next(tmp_path.glob("events.out.tfevents.*"))
    result = tfevents.read(path)
    _, texts = oracle(path)
    assert texts["lr/text_summary"] == "0.0001"  # what tensorboard reads last
    assert result.params == {
        "lr": "0.0001",
        "micro_batch_size": "4",
        "seq_length": "4096",
        "notes": "{not json",
    }
    assert result.problems == []


def test_json_too_deep_is_kept_as_text_with_a_problem(tmp_path: Path) -> None:
    deep: dict[str, object] = {"leaf": 1}
    for i in range(40):
        deep = {f"k{i}": deep}
    writer = SummaryWriter(str(tmp_path))
    writer.add_text("cfg", json.dumps(deep))
    writer.add_text("hostile", "{" * 100_000)  # not valid JSON; json.loads would recurse
    writer.close()
    result = tfevents.read(next(tmp_path.glob("events.out.tfevents.*")))
    assert any("nested deeper than 32 levels" in p for p in result.problems)
    deep_keys = [k for k in result.params if k.startswith("cfg.")]
    assert len(deep_keys) == 1 and deep_keys[0].count(".") == 32
    assert result.params["hostile"] == "{" * 100_000


# --- files, positions and damage -------------------------------------------------------


def test_several_event_files_in_one_run_folder_are_each_read_on_their_own(tmp_path: Path) -> None:
    first = write_scalars(tmp_path, [(s, {"loss": 1.0}) for s in range(100)], suffix=".a")
    second = write_scalars(tmp_path, [(s, {"loss": 2.0}) for s in range(80, 150)], suffix=".b")
    assert first != second and first.parent == second.parent
    a, b = tfevents.read(first), tfevents.read(second)
    assert a.series[0].step.tolist() == list(range(100)) and set(a.series[0].value) == {1.0}
    assert b.series[0].step.tolist() == list(range(80, 150)) and set(b.series[0].value) == {2.0}
    assert tfevents.detect(first) and tfevents.detect(second)


def test_detect_goes_by_the_file_name() -> None:
    assert tfevents.detect(Path("runs/x/events.out.tfevents.1698362541.host.26.0"))
    assert tfevents.detect(Path("events.out.tfevents.1.host.profile-empty"))
    assert not tfevents.detect(Path("runs/x/trainer_state.json"))
    assert not tfevents.detect(Path("old.events.out.tfevents.1.host"))


def test_a_cut_off_last_record_is_read_whole_on_the_next_pass(tmp_path: Path) -> None:
    full = write_scalars(tmp_path, [(s, {"loss": float(s)}) for s in range(20)])
    data = full.read_bytes()
    last = record_offsets(full)[-1]
    growing = tmp_path / "growing" / full.name
    growing.parent.mkdir()
    for cut in range(last, len(data)):  # every point inside the last record, header included
        growing.write_bytes(data[:cut])
        first = tfevents.read(growing)
        assert first.position == last and first.problems == [], cut
        assert first.series[0].step.tolist() == list(range(19)), cut
        growing.write_bytes(data)  # the writer finishes the record
        second = tfevents.read(growing, first.position)
        assert second.series[0].step.tolist() == [19] and second.problems == [], cut
        assert second.position == len(data)


def test_incremental_reads_return_exactly_the_new_points(tmp_path: Path) -> None:
    full = write_scalars(
        tmp_path, [(s, {"loss": 1 / (s + 1), "lr": s * 1e-5, "gn": 1.0}) for s in range(600)]
    )
    data = full.read_bytes()
    whole = as_dict(tfevents.read(full))
    growing = tmp_path / "growing" / full.name
    growing.parent.mkdir()
    rng = np.random.default_rng(3)
    cuts = [*sorted(rng.integers(1, len(data), 12).tolist()), len(data)]
    position = 0
    seen: dict[str, list[list[float]]] = {tag: [[], [], []] for tag in whole}
    with open(growing, "wb") as out:
        written = 0
        for cut in cuts:
            out.write(data[written:cut])  # appended in pieces, cut anywhere
            out.flush()
            written = cut
            result = tfevents.read(growing, position)
            assert result.problems == []
            assert position <= result.position <= cut
            position = result.position
            for tag, columns in as_dict(result).items():
                for seen_column, column in zip(seen[tag], columns, strict=True):
                    seen_column.extend(column)
    assert position == len(data)
    assert {tag: tuple(c) for tag, c in seen.items()} == {t: tuple(c) for t, c in whole.items()}


def test_chunks_and_records_spanning_them_read_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, _, _ = hf_trainer_like(tmp_path, steps=300)  # a 2 KB text record among small ones
    whole = tfevents.read(path)
    monkeypatch.setattr(tfrecord, "CHUNK", 1000)
    chunked = tfevents.read(path)
    assert as_dict(chunked) == as_dict(whole) and chunked.params == whole.params
    assert chunked.position == whole.position and chunked.problems == []


def corrupt(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x40
    path.write_bytes(bytes(data))


def test_a_bad_data_crc_skips_that_record_and_names_it(tmp_path: Path) -> None:
    path = write_scalars(tmp_path, [(s, {"loss": float(s)}) for s in range(100)])
    offsets = record_offsets(path)  # record 0 is the file_version event; 1 + s is step s
    length = offsets[42] - offsets[41] - 16
    corrupt(path, offsets[41] + 14)  # inside the data of step 40's record
    result = tfevents.read(path)
    assert result.series[0].step.tolist() == [s for s in range(100) if s != 40]
    assert result.problems == [
        f"{path}: offset {offsets[41]}: record data CRC mismatch ({length} bytes); record skipped"
    ]
    assert result.position == path.stat().st_size


@pytest.mark.parametrize("window", [tfrecord.RESYNC_WINDOW, 8])
def test_a_bad_length_crc_resynchronises_at_the_next_valid_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, window: int
) -> None:
    monkeypatch.setattr(tfrecord, "RESYNC_WINDOW", window)  # 8: the search spans windows
    path = write_scalars(tmp_path, [(s, {"loss": float(s)}) for s in range(100)])
    offsets = record_offsets(path)
    corrupt(path, offsets[41])  # the length of step 40's record
    result = tfevents.read(path)
    assert result.series[0].step.tolist() == [s for s in range(100) if s != 40]
    assert len(result.problems) == 1
    assert f"offset {offsets[41]}: record length CRC mismatch" in result.problems[0]
    assert f"next valid record at offset {offsets[42]}" in result.problems[0]
    assert result.position == path.stat().st_size


def test_a_bad_length_crc_at_the_end_stops_there(tmp_path: Path) -> None:
    path = write_scalars(tmp_path, [(s, {"loss": float(s)}) for s in range(10)])
    offsets = record_offsets(path)
    corrupt(path, offsets[-1] + 9)  # the length CRC itself
    result = tfevents.read(path)
    assert result.series[0].step.tolist() == list(range(9))
    assert result.position == offsets[-1]
    assert "no valid record after it" in result.problems[0]


def header(length: int) -> bytes:
    raw = struct.pack("<Q", length)
    return raw + struct.pack("<I", crc32c.masked_crc32c(raw))


def test_a_record_claiming_1_tb_is_never_allocated(tmp_path: Path) -> None:
    path = write_scalars(tmp_path, [(s, {"loss": float(s)}) for s in range(50)])
    size = path.stat().st_size
    with open(path, "ab") as out:  # a CRC-valid header claiming 1 TiB, then junk
        out.write(header(1 << 40) + b"\x09" * 1000)
    tracemalloc.start()
    result = tfevents.read(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 20 * 1024 * 1024
    assert len(result.series[0]) == 50
    assert result.position == size
    assert result.problems == [
        f"{path}: offset {size}: record claims 1099511627776 bytes (1.0 TiB), over the 64.0 "
        f"MiB limit and past the end of the file ({size + 1012} bytes); reading stops here"
    ]


def test_a_corrupt_header_claiming_1_tb_is_skipped_and_reading_goes_on(tmp_path: Path) -> None:
    path = write_scalars(tmp_path, [(s, {"loss": float(s)}) for s in range(50)])
    offsets = record_offsets(path)
    data = bytearray(path.read_bytes())
    data[offsets[11] : offsets[11] + 8] = struct.pack("<Q", 1 << 40)  # its CRC no longer matches
    path.write_bytes(bytes(data))
    result = tfevents.read(path)
    assert result.series[0].step.tolist() == [s for s in range(50) if s != 10]
    assert "length CRC mismatch" in result.problems[0]


def test_an_oversized_whole_record_is_skipped_unread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, _, _ = hf_trainer_like(tmp_path, steps=20)
    monkeypatch.setattr(tfrecord, "MAX_RECORD", 100)  # the two texts' records are longer
    result = tfevents.read(path)
    assert result.params == {}
    assert len(result.series[0]) == 20
    assert len(result.problems) == 2
    assert all("over the 100 bytes limit; skipped unread" in p for p in result.problems)
    assert result.position == path.stat().st_size


def test_a_record_that_is_not_an_event_is_named(tmp_path: Path) -> None:
    path = write_scalars(tmp_path, [(s, {"loss": float(s)}) for s in range(5)])
    junk = b"\x0a\xff\xff\xff\xff\x0f"  # a field claiming 4 GB inside a 6-byte record
    with open(path, "ab") as out:
        out.write(header(len(junk)) + junk + struct.pack("<I", crc32c.masked_crc32c(junk)))
    result = tfevents.read(path)
    assert len(result.series[0]) == 5
    assert result.problems == [
        f"{path}: offset {record_offsets(path)[-1]}: record is not a valid Event "
        "(field 1 runs past the end of its message); skipped"
    ]
    assert result.position == path.stat().st_size


def framed(data: bytes) -> bytes:
    return header(len(data)) + data + struct.pack("<I", crc32c.masked_crc32c(data))


def test_crc_valid_junk_records_are_named_never_raised(tmp_path: Path) -> None:
    """Records whose CRCs match but whose bytes are random (half of them start like an
    Event, so they reach the fast path too): each is read or named, nothing raises."""
    rng = np.random.default_rng(11)
    path = tmp_path / "events.out.tfevents.junk"
    good = framed(bytes.fromhex("09") + struct.pack("<d", 1.7e9) + bytes.fromhex("1001"))
    with open(path, "wb") as out:
        for i in range(400):
            junk = rng.integers(0, 256, int(rng.integers(0, 60)), dtype=np.uint8).tobytes()
            out.write(framed((b"\x09" + junk) if i % 2 else junk))
            out.write(good)
    result = tfevents.read(path)
    assert result.position == path.stat().st_size
    assert all("record is not a valid Event" in p for p in result.problems[:-1])
    assert len(result.problems) == tfrecord.MAX_PROBLEMS + 1  # the rest counted, not listed
    assert result.problems[-1].endswith("more problems not listed")


def test_random_damage_never_raises_and_never_invents_points(tmp_path: Path) -> None:
    path = write_scalars(tmp_path, [(s, {"loss": s / 7, "lr": 1e-3}) for s in range(60)])
    data = path.read_bytes()
    truth = {
        (t, st, v)
        for t, (steps, values, _) in as_dict(tfevents.read(path)).items()
        for st, v in zip(steps, values, strict=True)
    }
    rng = np.random.default_rng(5)
    damaged = tmp_path / "damaged" / path.name
    damaged.parent.mkdir()
    for _ in range(60):
        copy = bytearray(data[: int(rng.integers(len(data) // 2, len(data) + 1))])
        for at in rng.integers(0, len(copy), int(rng.integers(1, 4))).tolist():
            copy[at] = int(rng.integers(0, 256))
        damaged.write_bytes(bytes(copy))
        result = tfevents.read(damaged)
        assert 0 <= result.position <= len(copy)
        got = {
            (t, st, v)
            for t, (steps, values, _) in as_dict(result).items()
            for st, v in zip(steps, values, strict=True)
        }
        assert got <= truth


def test_a_file_that_shrinks_while_being_read_ends_the_pass_with_a_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_scalars(tmp_path, [(s, {"loss": float(s)}) for s in range(300)])
    size = path.stat().st_size
    monkeypatch.setattr(tfrecord, "CHUNK", 4096)
    with open(path, "rb") as file:
        records = tfrecord.RecordFile(file, size, 0, tfrecord.Problems(path))
        chunks = records.chunks()
        first = next(chunks)
        os.truncate(path, 5000)  # replaced by a shorter file after the first chunk was read
        rest = list(chunks)
    assert first.base == 0 and rest == []
    assert 0 < records.position <= 4096
    assert records.problems.result() == [
        f"{path}: offset 5000: the file ended here while being read (it was {size} bytes "
        "when the pass began): it shrank or was replaced; read it again from 0"
    ]


def test_a_position_past_the_end_is_a_problem_not_an_error(tmp_path: Path) -> None:
    path = write_scalars(tmp_path, [(1, {"loss": 1.0})])
    size = path.stat().st_size
    result = tfevents.read(path, size + 10)
    assert result.series == [] and result.position == size + 10
    assert "past the end of the file" in result.problems[0]
    with pytest.raises(ValueError, match="position -1"):
        tfevents.read(path, -1)


def test_only_files_under_the_root_are_read(tmp_path: Path) -> None:
    outside = write_scalars(tmp_path / "outside", [(1, {"loss": 1.0})])
    root = tmp_path / "root"
    root.mkdir()
    link = root / outside.name
    link.symlink_to(outside)
    with pytest.raises(ValueError, match="outside"):
        tfevents.read(link, root=root)
    inside = root / "run" / outside.name
    inside.parent.mkdir()
    shutil.copy(outside, inside)
    assert len(tfevents.read(inside, root=root).series) == 1


# --- real event files -------------------------------------------------------------------


# The values an independent reader found in each real file (first and last points,
# duplicate steps, backward jumps), as listed with the samples.
TBREDUCER = {
    "tfevents-tbreducer-strict-run1": {
        "metric_names": ["strict/foo"],
        "primary": "strict/foo",
        "n": 100,
        "first_step": 0,
        "first_loss": {"f64": "1.4962565898895264"},
        "last_step": 495,
        "last_loss": {"f64": "1.212090253829956"},
        "n_duplicate_steps": 0,
        "n_backward_jumps": 0,
        "n_nan": 0,
        "secondary": {},
    },
    "tfevents-tbreducer-dupsteps-run1": {
        "metric_names": ["dup_steps/foo", "dup_steps/bar"],
        "primary": "dup_steps/foo",
        "n": 210,
        "first_step": 0,
        "first_loss": {"f64": "1.4962565898895264"},
        "last_step": 199,
        "last_loss": {"f64": "1.5478503704071045"},
        "n_duplicate_steps": 10,
        "n_backward_jumps": 1,
        "n_nan": 0,
        "secondary": {
            "dup_steps/bar": {
                "n": 210,
                "first_step": 0,
                "first_value": {"f64": "1.7682218551635742"},
                "last_step": 199,
                "last_value": {"f64": "1.9624147415161133"},
            }
        },
    },
}


def check_against_index(path: Path, entry: dict[str, object]) -> Read:
    result = assert_agrees_with_tensorboard(path)
    series = {s.metric: s for s in result.series}
    assert list(series) == entry["metric_names"]
    primary = series[str(entry["primary"])]
    assert len(primary) == entry["n"]
    assert primary.step[0] == entry["first_step"] and primary.step[-1] == entry["last_step"]
    assert repr(float(primary.value[0])) == entry["first_loss"]["f64"]  # type: ignore[index]
    assert repr(float(primary.value[-1])) == entry["last_loss"]["f64"]  # type: ignore[index]
    steps = primary.step
    assert int((np.diff(steps) < 0).sum()) == entry["n_backward_jumps"]
    assert len(steps) - len(np.unique(steps)) == entry["n_duplicate_steps"]
    assert int(np.isnan(primary.value).sum()) == entry["n_nan"]
    for name, want in dict(entry["secondary"]).items():  # type: ignore[call-overload]
        other = series[name]
        assert len(other) == want["n"]
        assert (other.step[0], other.step[-1]) == (want["first_step"], want["last_step"])
        assert repr(float(other.value[0])) == want["first_value"]["f64"]
        assert repr(float(other.value[-1])) == want["last_value"]["f64"]
    return result


@pytest.mark.parametrize(
    "case", ["tfevents-tbreducer-strict-run1", "tfevents-tbreducer-dupsteps-run1"]
)
def test_real_tensorboard_reducer_fixtures(case: str) -> None:
    """MIT-licensed test fixtures of tensorboard-reducer (tests/data/real-runs/<case>/SOURCE.md):
    one with duplicate steps and a rewind, whose step 0 is written with no step field."""
    folder = DATA / case
    check_against_index(next(folder.glob("events.out.tfevents.*")), TBREDUCER[case])


def test_real_hf_trainer_run() -> None:
    """A real HF Trainer event file; no licence to copy it, so it runs where REAL_RUNS_DIR holds
    it (test_hf_trainer_args_and_model_config_become_dotted_params covers the same shape)."""
    folder = case_dir("tfevents-hf-poem-generator")
    path = next(folder.glob("runs/*/events.out.tfevents.*"))
    result = check_against_index(path, expected("tfevents-hf-poem-generator"))
    assert result.params["args.learning_rate"] == "0.0002"
    assert result.params["args.max_steps"] == "2800"
    assert result.params["model_config.hidden_size"] == "2048"
    assert result.params["model_config.num_hidden_layers"] == "22"
    assert result.params["model_config.quantization_config.load_in_4bit"] == "true"
    assert (
        result.params["model_config._name_or_path"]
        == "PY007/TinyLlama-1.1B-intermediate-step-480k-1T"
    )
