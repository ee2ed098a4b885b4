"""Following append-only logs: reading a file in many passes while it is written gives the
same points as reading it once finished, none lost and none doubled, wherever the writer's
buffer happened to cut a line; a cut-off last line waits for the next pass."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

from tracking_fixtures import assert_same_points
from tracking_samples import case_dir

from tracking.readers import tabular, textlog
from tracking.records import Read

Points = dict[str, tuple[list[int], list[float]]]


def _points(reads: list[Read]) -> Points:
    out: Points = {}
    for r in reads:
        for s in r.series:
            steps, values = out.setdefault(s.metric, ([], []))
            steps.extend(s.step.tolist())
            values.extend(s.value.tolist())
    return out


def _follow(
    src: bytes, dest: Path, read: Callable[[Path, int], Read], cuts: int, seed: int
) -> tuple[list[Read], int]:
    """Write ``src`` to ``dest`` in ``cuts`` random pieces, reading after each from the last
    position, as the watcher does."""
    rng = random.Random(seed)
    points = [*sorted(rng.sample(range(1, len(src)), cuts)), len(src)]
    dest.write_bytes(b"")
    reads: list[Read] = []
    position, done = 0, 0
    for cut in points:
        with open(dest, "ab") as f:
            f.write(src[done:cut])
        done = cut
        r = read(dest, position)
        assert r.problems == []
        assert position <= r.position <= cut
        reads.append(r)
        position = r.position
    return reads, position


def test_text_log_followed_in_pieces_equals_one_read(tmp_path: Path) -> None:
    """llm.c stdout: CR progress lines, `val loss` lines whose step is on an earlier line
    (maybe read in an earlier pass), a config table."""
    src_path = case_dir("text-llmc-stdout-750steps") / "gpt2_train.11672114.log"
    src = src_path.read_bytes()
    reads, end = _follow(src, tmp_path / "train.log", textlog.read, cuts=60, seed=1)
    assert end == len(src)
    assert_same_points(_points(reads), _points([textlog.read(src_path)]))


def test_val_loss_in_a_later_pass_keeps_the_step_of_an_earlier_line(tmp_path: Path) -> None:
    """The step of a llm.c `val loss` line is on the train line before it, which a pass that
    starts at the val line has not read: it looks back for it."""
    src = (case_dir("text-llmc-stdout-750steps") / "gpt2_train.11672114.log").read_bytes()
    log = tmp_path / "train.log"
    cut = src.index(b"val loss 6.208999")
    log.write_bytes(src[:cut])
    first = textlog.read(log)
    assert first.position == cut
    log.write_bytes(src)
    second = textlog.read(log, first.position)
    val = {s.metric: s for s in second.series}["val_loss"]
    assert val.step.tolist() == [250, 500, 750]


def test_jsonl_followed_in_pieces_equals_one_read(tmp_path: Path) -> None:
    src_path = case_dir("jsonl-netra-nmt") / "train_log.jsonl"
    src = src_path.read_bytes()
    reads, end = _follow(src, tmp_path / "train_log.jsonl", tabular.read, cuts=80, seed=2)
    assert end == len(src)
    assert_same_points(_points(reads), _points([tabular.read(src_path)]))


def test_cut_off_last_line_is_left_for_the_next_pass(tmp_path: Path) -> None:
    log = tmp_path / "main.log"
    log.write_bytes(b"s:0 trl:11.0091\ns:1 trl:10.95")  # the writer is mid-line
    first = textlog.read(log)
    assert [s.step.tolist() for s in first.series] == [[0]]
    assert first.position == len(b"s:0 trl:11.0091\n")
    with open(log, "ab") as f:
        f.write(b"98 lr:0.000002\n")
    second = textlog.read(log, first.position)
    assert {s.metric: s.value.tolist() for s in second.series} == {
        "trl": [10.9598],
        "lr": [0.000002],
    }

    jsonl = tmp_path / "log.jsonl"
    jsonl.write_bytes(b'{"step": 1, "loss": 2.5}\n{"step": 2, "lo')
    cut = tabular.read(jsonl)
    assert cut.problems == []  # an unfinished line is not an error, just not yet there
    assert [s.step.tolist() for s in cut.series] == [[1]]
    with open(jsonl, "ab") as f:
        f.write(b'ss": 2.25}\n')
    rest = tabular.read(jsonl, cut.position)
    assert [(s.metric, s.step.tolist(), s.value.tolist()) for s in rest.series] == [
        ("loss", [2], [2.25])
    ]


def test_crlf_logs_read_like_lf_ones(tmp_path: Path) -> None:
    lines = ["iter 0: loss 10.9, time 900.00ms, mfu -100.00%", "iter 1: loss 10.5, time 80.10ms"]
    lines += [f"iter {i}: loss {10 - i / 10}, time 80.00ms, mfu 31.50%" for i in range(2, 9)]
    lines += ["step 8: train loss 9.1, val loss 9.3"]
    lf, crlf = tmp_path / "lf.log", tmp_path / "crlf.log"
    lf.write_bytes(("\n".join(lines) + "\n").encode())
    crlf.write_bytes(("\r\n".join(lines) + "\r\n").encode())
    a, b = textlog.read(lf), textlog.read(crlf)
    assert_same_points(_points([a]), _points([b]))
    assert b.position == crlf.stat().st_size
    got = {s.metric: s for s in b.series}
    # nanoGPT prints mfu -100% until it has measured: a placeholder, not a point
    assert got["mfu_pct"].step.tolist() == list(range(2, 9))
    assert got["val_loss"].step.tolist() == [8] and got["eval_train_loss"].value.tolist() == [9.1]


def test_user_pattern_followed_in_pieces(tmp_path: Path) -> None:
    pattern = textlog.compile_pattern(
        r"^\[train\] it=(?P<step>\d+) loss=(?P<loss>\S+) acc=(?P<acc>\S+)$"
    )
    src = b"".join(
        b"[train] it=%d loss=%.3f acc=%.2f\nnoise line\n" % (i, 3 - i / 100, i / 200)
        for i in range(200)
    )

    def read(path: Path, position: int) -> Read:
        return textlog.read(path, position, patterns=[pattern])

    reads, _ = _follow(src, tmp_path / "custom.log", read, cuts=30, seed=3)
    got = _points(reads)
    assert got["loss"][0] == list(range(200))
    assert_same_points(got, _points([read(tmp_path / "custom.log", 0)]))
