"""Reading a 1M-step, 3-scalar TensorBoard event file: our reader against tensorboard's.

    .venv/bin/python benchmarks/bench_tfevents.py [--steps 1000000] [--oracle-steps N]

Writes the file once with tensorboardX (as a user's training script would; ~4 minutes, as
tensorboardX computes CRCs in pure Python) and keeps it in the temp directory for later
runs. Then times, on the same file in the same run:

- ``tracking.readers.tfevents.read`` (median of 3, after one warm-up read that also
  brings the file into the page cache);
- the ``tensorboard`` package's ``EventAccumulator`` with ``size_guidance`` 0 for scalars
  (keep everything) and ``purge_orphaned_data=False`` (keep rewound steps, as we do), once.

checks that both found the same points (every step, value and wall time), and prints both
times, wall clock and process CPU time (other jobs on a shared machine inflate wall time
more than CPU time), and their ratio. Targets (issue 14): our read in a few
seconds, and the whole ingest (read + store, measured by the store's benchmark) <= 10 s and
>= 10x faster than tensorboard's loader. ``--oracle-steps`` times tensorboard's loader on a
smaller file instead (it takes minutes at 1M steps) and scales its time to ``--steps``; the
output says when it did.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from tracking.readers import tfevents
from tracking.records import Read

TAGS = ("train/loss", "train/learning_rate", "train/grad_norm")
TARGET_READ_S = 5.0  # "a few seconds"
TARGET_RATIO = 10.0


def cache_dir() -> Path:
    return Path(tempfile.gettempdir()) / "llm-dashboard-bench-tfevents"


def event_file(steps: int) -> Path:
    """The cached event file of ``steps`` steps x 3 scalars, written first if missing.

    Written into a scratch folder and renamed into place when complete, so an interrupted
    run never leaves a partial file in the cache.
    """
    folder = cache_dir() / f"steps-{steps}"
    found = sorted(folder.glob("events.out.tfevents.*")) if folder.is_dir() else []
    if found:
        return found[0]
    from tensorboardX import SummaryWriter

    scratch = Path(tempfile.mkdtemp(prefix="writing-", dir=cache_dir().parent))
    print(f"writing {steps:,} steps x {len(TAGS)} scalars with tensorboardX into {folder} ...")
    t0 = time.perf_counter()
    writer = SummaryWriter(str(scratch), flush_secs=600, max_queue=10_000)
    start = 1.7e9
    for step in range(steps):
        wall = start + 0.25 * step
        loss = 2.0 + 8.0 / math.sqrt(1.0 + step) + 0.05 * math.sin(step * 0.37)
        lr = 3e-4 * min(1.0, (step + 1) / 2000) * 0.5 * (1 + math.cos(math.pi * step / steps))
        grad_norm = 1.0 + 0.3 * math.sin(step * 0.011) ** 2
        writer.add_scalar(TAGS[0], loss, step, walltime=wall)
        writer.add_scalar(TAGS[1], lr, step, walltime=wall)
        writer.add_scalar(TAGS[2], grad_norm, step, walltime=wall)
    writer.close()
    written = sorted(scratch.glob("events.out.tfevents.*"))[0]
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / written.name
    os.replace(written, target)
    shutil.rmtree(scratch, ignore_errors=True)
    print(f"  written in {time.perf_counter() - t0:.0f} s: {target.stat().st_size / 1e6:.0f} MB")
    return target


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    w0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w0, time.process_time() - c0


def read_ours(path: Path, steps: int) -> Read:
    result = tfevents.read(path)
    assert result.position == path.stat().st_size, "did not read the whole file"
    assert not result.problems, result.problems
    assert [s.metric for s in result.series] == list(TAGS)
    assert all(len(s) == steps for s in result.series), [len(s) for s in result.series]
    return result


def read_tensorboard(path: Path, steps: int) -> dict[str, list[tuple[int, float, float]]]:
    from tensorboard.backend.event_processing import event_accumulator as ea

    acc = ea.EventAccumulator(str(path), size_guidance={ea.SCALARS: 0}, purge_orphaned_data=False)
    acc.Reload()
    out = {tag: [(e.step, e.value, e.wall_time) for e in acc.Scalars(tag)] for tag in TAGS}
    assert all(len(points) == steps for points in out.values())
    return out


def same_points(ours: Read, theirs: dict[str, list[tuple[int, float, float]]]) -> bool:
    for series in ours.series:
        step, value, wall = (np.array(c) for c in zip(*theirs[series.metric], strict=True))
        if not (
            np.array_equal(series.step, step)
            and np.array_equal(series.value, value, equal_nan=True)
            and np.array_equal(series.time, wall)
        ):
            return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=1_000_000)
    parser.add_argument(
        "--oracle-steps",
        type=int,
        default=None,
        help="time tensorboard's loader on a file of this many steps (default: --steps)",
    )
    args = parser.parse_args()
    oracle_steps = args.oracle_steps or args.steps

    path = event_file(args.steps)
    size_mb = path.stat().st_size / 1e6
    print(f"file: {path} ({size_mb:.0f} MB, {args.steps:,} steps x {len(TAGS)} scalars)")

    read_ours(path, args.steps)  # warm-up: page cache, imports
    runs = [timed(lambda: read_ours(path, args.steps)) for _ in range(3)]
    ours_wall = statistics.median(w for w, _ in runs)
    ours_cpu = statistics.median(c for _, c in runs)
    ok = "ok" if ours_wall <= TARGET_READ_S else ("CPU ok" if ours_cpu <= TARGET_READ_S else "OVER")
    print(
        f"tracking.readers.tfevents.read: {ours_wall:.2f} s wall, {ours_cpu:.2f} s CPU "
        f"(median of 3; {size_mb / ours_wall:.0f} MB/s; target <= {TARGET_READ_S:.0f} s: {ok})"
    )

    oracle_path = path if oracle_steps == args.steps else event_file(oracle_steps)
    print(f"tensorboard EventAccumulator on {oracle_steps:,} steps (once) ...")
    theirs: dict[str, list[tuple[int, float, float]]] = {}

    def load() -> None:
        theirs.update(read_tensorboard(oracle_path, oracle_steps))

    tb_wall, tb_cpu = timed(load)
    scale = args.steps / oracle_steps
    note = "" if scale == 1 else f" -> {tb_wall * scale:.1f} s scaled to {args.steps:,} steps"
    print(f"tensorboard EventAccumulator: {tb_wall:.1f} s wall, {tb_cpu:.1f} s CPU{note}")
    same = same_points(read_ours(oracle_path, oracle_steps), theirs)
    print(f"every step, value and wall time identical to tensorboard's: {'yes' if same else 'NO'}")
    ratio_wall = tb_wall * scale / ours_wall
    ratio_cpu = tb_cpu * scale / ours_cpu
    verdict = "ok" if min(ratio_wall, ratio_cpu) >= TARGET_RATIO else "UNDER"
    scaled = "" if scale == 1 else " (tensorboard's time scaled linearly from a smaller file)"
    print(
        f"ratio: ours is {ratio_wall:.0f}x faster (wall), {ratio_cpu:.0f}x (CPU){scaled}; "
        f"target >= {TARGET_RATIO:.0f}x for the whole ingest: {verdict}"
    )


if __name__ == "__main__":
    main()
