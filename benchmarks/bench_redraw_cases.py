"""A full redraw of the hardest 4M-step runs, in process (issue 13: <= 150 ms at any length).

    .venv/bin/python benchmarks/bench_redraw_cases.py

``views.training_charts.full_render`` reads each bucket's extremes without computing every
step (``simulator.buckets``). What makes it work harder is what its bounds cannot settle at
once: many spikes (each one's jump and multiplier steps are read one by one), a checkpoint
stall every few steps (the throughput's minimum hides among them), an evaluation at every
step (its line reads up to 16,384 of them) and small, noisy batches. Prints the median of
three redraws of each (wall and process CPU time) and the machine's load.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import simulator as sim
from layouts.figures.training import ChartOptions
from simulator import timeline as tlm
from views import training_charts as tc

STEPS = 4_000_000


def cases() -> list[tuple[str, sim.TrainingConfig]]:
    base = dict(global_batch_tokens=2**20, dataset_tokens=STEPS * 2**20, num_gpus=256)
    plain = sim.preset("llama-2-7b", **base)
    crit = tlm.lr_crit(sim.new_run(plain).timeline.params)
    small = dict(global_batch_tokens=2**14, dataset_tokens=STEPS * 2**14, num_gpus=4)
    return [
        ("Llama 2 7B, 1M-token batch", plain),
        ("a checkpoint every 2 steps", sim.preset("llama-2-7b", checkpoint_interval=2, **base)),
        ("an evaluation every step", sim.preset("llama-2-7b", eval_interval=1, **base)),
        (
            "LR at 1.39x the spike threshold (~2,800 spikes)",
            sim.preset("llama-2-7b", lr_peak=1.39 * crit, lr_min=1.3 * crit, **base),
        ),
        ("16K-token batches (10% noise)", sim.preset("llama-2-7b", **small)),
    ]


def main() -> None:
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    opts = ChartOptions("step", 0.6, False)
    for label, cfg in cases():
        state = replace(sim.start(sim.new_run(cfg)), step=STEPS - 1_000, status="paused")
        tc.full_render(state, opts, 100)  # warm
        walls, cpus = [], []
        for _ in range(3):
            w, c = time.perf_counter(), time.process_time()
            r = tc.full_render(state, opts, 100)
            walls.append(time.perf_counter() - w)
            cpus.append(time.process_time() - c)
        print(
            f"  {label:<50} median {1e3 * statistics.median(walls):5.0f} ms "
            f"(CPU {1e3 * statistics.median(cpus):4.0f} ms), "
            f"largest trace {max(r.points.values()):,} points"
        )
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
