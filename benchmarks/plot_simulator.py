"""Draw the simulator's characteristic curves to PNG, to review the physics by eye.

    .venv/bin/python benchmarks/plot_simulator.py [OUTDIR]     (default /tmp/simulator-figures)

No image libraries: each figure is a self-contained Plotly HTML page (plotly.js inlined, no
CDN) that headless Chromium screenshots to PNG. Figures:

1. llama-2-7b.png      the Llama 2 7B preset: train/val loss (log steps), LR, grad norm
2. schedules.png       constant / cosine / WSD / linear / inverse-sqrt on a 4,769-step run
3. vicuna-7b.png       3-epoch fine-tune: train keeps falling, validation turns up
4. mid-run.png         LR x2 and batch x4 at step 50,000 of a 190k-step run, vs unchanged
5. divergence.png      LR 1e-2 on a 7B: spikes, blow-up, NaN
6. throughput.png      modelled against published tokens/s/GPU, one line per table
                       (``simulator.throughput_data``: llm-foundry A100 and H100, torchtitan,
                       Meta's runs), with the 1:1 line and +-15%; the ratios are printed too
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import simulator as sim
from simulator import throughput_data

SHORT = {"dataset_tokens": 2.0e10, "warmup_steps": 100}


def _whole(cfg: sim.TrainingConfig) -> tuple[sim.RunState, dict[str, Any]]:
    s = sim.predicted_run(cfg)
    return s, sim.metrics(s, 0, s.step)


def _thin(m: dict[str, Any], n: int = 4000) -> np.ndarray:
    """Indices to plot: every point for short runs, a log-spaced subset for long ones."""
    size = m["step"].size
    if size <= n:
        return np.arange(size)
    return np.unique(np.geomspace(1, size, n).astype(int) - 1)


def fig_llama() -> go.Figure:
    s, m = _whole(sim.preset("llama-2-7b"))
    i = _thin(m)
    ev = np.flatnonzero(m["is_eval"])
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, row_heights=[0.6, 0.2, 0.2])
    fig.add_scatter(x=m["step"][i], y=m["train_loss"][i], name="train loss", row=1, col=1)
    fig.add_scatter(
        x=m["step"][ev], y=m["val_loss"][ev], name="val loss", mode="markers", row=1, col=1
    )
    fig.add_scatter(x=m["step"][i], y=m["lr"][i], name="LR", row=2, col=1)
    fig.add_scatter(x=m["step"][i], y=m["grad_norm"][i], name="grad norm", row=3, col=1)
    fig.update_xaxes(type="log")
    fig.update_layout(title=f"Llama 2 7B preset, {s.step:,} steps (log x)")
    return fig


def fig_schedules() -> go.Figure:
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3])
    for kind in sim.SCHEDULES:
        _, m = _whole(sim.preset("llama-2-7b", schedule=kind, **SHORT))
        smooth = np.convolve(m["train_loss"], np.ones(50) / 50, mode="valid")
        fig.add_scatter(x=m["step"][49:], y=smooth, name=kind, row=1, col=1)
        fig.add_scatter(x=m["step"], y=m["lr"], name=f"{kind} LR", row=2, col=1)
    fig.update_yaxes(range=[1.95, 2.6], row=1, col=1)
    fig.update_layout(title="Schedules on a 4,769-step 7B run (loss: 50-step mean)")
    return fig


def fig_vicuna() -> go.Figure:
    _, m = _whole(sim.preset("vicuna-7b"))
    ev = np.flatnonzero(m["is_eval"])
    fig = go.Figure()
    fig.add_scatter(x=m["epoch"], y=m["train_loss"], name="train loss", opacity=0.6)
    fig.add_scatter(x=m["epoch"][ev], y=m["val_loss"][ev], name="val loss", mode="lines+markers")
    fig.update_layout(title="Vicuna 7B v1.5 preset: 3 epochs", xaxis_title="epoch")
    return fig


def fig_mid_run() -> go.Figure:
    cfg = sim.preset("llama-2-7b", dataset_tokens=8e11, warmup_steps=2000)
    s = sim.advance(sim.start(sim.new_run(cfg)), 50_000)
    variants = {
        "unchanged": s,
        "LR 3e-4 -> 6e-4": sim.apply_changes(s, {"lr_peak": 6e-4}),
        "batch 4M -> 16M": sim.apply_changes(s, {"global_batch_tokens": 2**24}),
    }
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, row_heights=[0.5, 0.25, 0.25])
    for name, state in variants.items():
        m = sim.metrics(state, 46_000, 60_000)
        fig.add_scatter(x=m["step"], y=m["train_loss"], name=name, row=1, col=1)
        fig.add_scatter(x=m["step"], y=m["grad_norm"], name=f"{name} grad", row=2, col=1)
        fig.add_scatter(x=m["step"], y=m["lr"], name=f"{name} LR", row=3, col=1)
    fig.update_layout(title="Mid-run changes at step 50,000 (7B, 190k steps)")
    return fig


def fig_divergence() -> go.Figure:
    cfg = sim.preset("llama-2-7b", lr_peak=1e-2, lr_min=1e-3, **SHORT)
    s = sim.advance(sim.start(sim.new_run(cfg)), 10_000)
    m = sim.metrics(s)
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True)
    fig.add_scatter(x=m["step"], y=m["train_loss"], name="train loss", row=1, col=1)
    fig.add_scatter(x=m["step"], y=m["grad_norm"], name="grad norm", row=2, col=1)
    fig.update_yaxes(type="log")
    fig.update_layout(title=f"LR 1e-2 on a 7B: {s.status} at step {s.diverged_at}")
    return fig


def fig_throughput() -> go.Figure:
    """Top: modelled against published tokens/s/GPU (log-log); bottom: their ratio."""
    rows = throughput_data.measured()
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.6, 0.4])
    lo, hi = 100.0, 200_000.0
    grey = {"color": "#999", "width": 1, "dash": "dot"}
    fig.add_scatter(
        x=[lo, hi],
        y=[lo, hi],
        mode="lines",
        name="modelled = published",
        line={"color": "#444", "width": 1},
        row=1,
        col=1,
    )
    for k in (0.85, 1.15):
        fig.add_scatter(
            x=[lo, hi],
            y=[lo * k, hi * k],
            mode="lines",
            name="±15%",
            line=grey,
            showlegend=k > 1,
            row=1,
            col=1,
        )
        fig.add_scatter(
            x=[lo, hi], y=[k, k], mode="lines", line=grey, showlegend=False, row=2, col=1
        )
    colors = ("#7c3aed", "#f97316", "#0891b2", "#db2777")
    for table, color in zip(throughput_data.TABLES, colors, strict=True):
        mine = sorted(
            (r for r in rows if r.table == table), key=lambda r: r.tokens_per_second_per_gpu
        )
        published = np.array([r.tokens_per_second_per_gpu for r in mine])
        modelled = np.array(
            [sim.estimate(r.config).tokens_per_second / r.config.num_gpus for r in mine]
        )
        for r, p, m in zip(mine, published, modelled, strict=True):
            print(f"{table:30s} {r.label:50s} {p:9,.0f} {m:9,.0f} {m / p:5.2f}")
        text = [r.label for r in mine]
        hover = "%{text}<br>published %{x:,.0f}<br>modelled %{y:,.3~g}<extra></extra>"
        style = {"mode": "lines+markers", "line": {"color": color}, "text": text}
        fig.add_scatter(
            x=published, y=modelled, name=table, hovertemplate=hover, row=1, col=1, **style
        )
        fig.add_scatter(
            x=published,
            y=modelled / published,
            showlegend=False,
            hovertemplate=hover,
            row=2,
            col=1,
            **style,
        )
    fig.update_xaxes(type="log")
    fig.update_xaxes(title="published tokens/s per GPU", row=2, col=1)
    fig.update_yaxes(type="log", title="modelled tokens/s per GPU", row=1, col=1)
    fig.update_yaxes(title="modelled / published", range=[0.7, 1.3], row=2, col=1)
    fig.update_layout(title="Throughput: the estimate against published tables (dotted: ±15%)")
    return fig


def render(fig: go.Figure, png: Path, chromium: str) -> None:
    fig.update_layout(width=1100, height=700, template="plotly_white")
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "fig.html"
        fig.write_html(page, include_plotlyjs=True, full_html=True)
        subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                f"--user-data-dir={tmp}/profile",
                f"--screenshot={png}",
                "--window-size=1120,720",
                "--virtual-time-budget=4000",
                page.as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/simulator-figures")
    out.mkdir(parents=True, exist_ok=True)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("chromium not found")
    figures = {
        "llama-2-7b": fig_llama,
        "schedules": fig_schedules,
        "vicuna-7b": fig_vicuna,
        "mid-run": fig_mid_run,
        "divergence": fig_divergence,
        "throughput": fig_throughput,
    }
    for name, build in figures.items():
        png = out / f"{name}.png"
        render(build(), png, chromium)
        print(png)


if __name__ == "__main__":
    main()
