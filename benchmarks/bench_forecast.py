"""How good the final-loss forecast is (issue 15's goal: within 2% from the first 25% of a
run's steps, mean over real public runs, and better than "last value" and a power law).

    .venv/bin/python benchmarks/bench_forecast.py [--real-runs DIR]

Every run goes through the product's path: the sample logs are ingested by
``tracking.ingest`` into a throwaway SQLite store (the simulated fixtures of
tests/forecast_fixtures.py are written with ``Store.add`` with their settings), and each
forecast is ``tracking.forecast.forecast(store, run, until, target_step=last)``: the points
up to ``until`` only, at the run's last logged step, whose final loss (the mean over its
last 2% of steps, ``forecast.final_value``) is the truth.

Runs: tests/data/real-runs/* and, when ``--real-runs`` or ``$REAL_RUNS_DIR`` names a folder
laid out the same way, the cases there too; a run needs at least 40 logged points of its
primary series (INDEX.json's ``primary``). Printed per run and fraction (25%, 50% of the
steps): the relative error of the forecast, of the last value and of a plain power law,
and whether the truth lay inside the interval; then the means of the absolute errors and
the coverage, for the real runs and the fixtures apart.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import numpy as np  # noqa: E402
from forecast_fixtures import all_fixtures, epoch_fixtures  # noqa: E402

from tracking import store as store_module  # noqa: E402
from tracking.forecast import final_value, forecast  # noqa: E402
from tracking.ingest import ingest  # noqa: E402
from tracking.records import Read  # noqa: E402

FRACTIONS = (0.25, 0.5)
MEMORISING = {"trainer-state-qlora-10k", "jsonl-llamafactory-mistral-translator"}
"""The two multi-epoch fine-tunes whose loss ends near zero (0.07, 0.11): a summary without
them shows what the relative error is on the others."""
MIN_POINTS = 40


def real_cases(folders: list[Path]) -> dict[str, tuple[Path, str]]:
    """case -> (folder, primary metric) for the cases with enough points, first folder wins."""
    out: dict[str, tuple[Path, str]] = {}
    for base in folders:
        index = base / "INDEX.json"
        if not index.is_file():
            continue
        for entry in json.loads(index.read_text()):
            case = entry["folder"]
            if case in out or not (base / case).is_dir():
                continue
            if entry.get("n", 0) >= MIN_POINTS and entry.get("kind") != "mlflow":
                out[case] = (base / case, entry["primary"])
    return out


def run_id_of(store: store_module.Store, case_dir: Path) -> str | None:
    for info in store.runs():
        if info.source and Path(info.source).resolve().is_relative_to(case_dir.resolve()):
            return info.run_id
    return None


def truth_noise(steps: np.ndarray, values: np.ndarray, truth: float) -> float:
    """Relative standard error of the truth itself: the final loss is a mean of the last
    2% of the steps' logged values (at least 3), each carrying its batch's noise (sd from
    the successive differences over the last 10% of points). No forecast can be expected
    to beat this on one run."""
    tail = values[-max(10, values.size // 10) :]
    sd = float(np.median(np.abs(np.diff(tail)))) / 0.954 / np.sqrt(2.0)
    last = int(steps.max())
    n = max(3, int(np.sum(steps >= last - 0.02 * last)))
    return sd / np.sqrt(n) / abs(truth)


def evaluate(store: store_module.Store, run_id: str, metric: str) -> list[dict[str, object]]:
    curve = store.series(run_id, metric, points=10_000)
    ok = np.isfinite(curve.value)
    steps, values = curve.step[ok], curve.value[ok]
    last = int(steps.max())
    truth = final_value(steps, values)
    floor = truth_noise(steps, values, truth)
    rows = []
    for frac in FRACTIONS:
        until = int(steps.min() + frac * (last - steps.min()))
        t0, c0 = time.perf_counter(), time.process_time()
        fc = forecast(store, run_id, until, target_step=last, metric=metric)
        ms = (time.perf_counter() - t0) * 1000
        cpu_ms = (time.process_time() - c0) * 1000
        if fc is None or fc.final_loss is None:
            rows.append({"frac": frac, "error": None, "why": fc.reason if fc else "no run"})
            continue

        def rel(x: float | None) -> float | None:
            return None if x is None else (x - truth) / truth

        def nats(x: float | None) -> float | None:
            return None if x is None else x - truth

        assert fc.low is not None and fc.high is not None
        cands = (fc.shape, fc.saturating, fc.power_law, fc.epoch_law)
        rows.append(
            {
                "frac": frac,
                "error": rel(fc.final_loss),
                "last": rel(fc.last_value),
                "power": rel(fc.power_law),
                "nats": nats(fc.final_loss),
                "last_nats": nats(fc.last_value),
                "power_nats": nats(fc.power_law),
                "shape": rel(fc.shape),
                "sat": rel(fc.saturating),
                "epoch": rel(fc.epoch_law),
                "oracle": min((abs(e) for e in map(rel, cands) if e is not None), default=None),
                "inside": fc.low <= truth <= fc.high,
                "width": (fc.high - fc.low) / 2 / truth,
                "ms": ms,
                "cpu_ms": cpu_ms,
                "floor": floor,
                "method": fc.method,
            }
        )
    return rows


def fmt(x: object) -> str:
    return "   n/a" if x is None else f"{100 * float(x):+6.2f}%"  # type: ignore[arg-type]


def summary(label: str, rows: list[dict[str, object]]) -> None:
    for frac in FRACTIONS:
        sel = [r for r in rows if r["frac"] == frac and r["error"] is not None]
        if not sel:
            continue
        keys = ("error", "last", "power", "nats", "last_nats", "power_nats")
        mean = {
            k: statistics.fmean(abs(float(r[k])) for r in sel if r[k] is not None)  # type: ignore[arg-type]
            for k in keys
        }
        median = {
            k: statistics.median(abs(float(r[k])) for r in sel if r[k] is not None)  # type: ignore[arg-type]
            for k in keys
        }
        cover = sum(bool(r["inside"]) for r in sel) / len(sel)
        oracle = [float(r["oracle"]) for r in sel if r["oracle"] is not None]  # type: ignore[arg-type]
        width = statistics.fmean(float(r["width"]) for r in sel)  # type: ignore[arg-type]
        print(
            f"{label:>9} @{frac:.0%}: {len(sel)} runs; mean |error| forecast "
            f"{100 * mean['error']:.2f}%, last value {100 * mean['last']:.2f}%, power law "
            f"{100 * mean['power']:.2f}%; interval covers {cover:.0%} (mean half-width "
            f"{100 * width:.1f}%)\n{'':>17} median |error| forecast {100 * median['error']:.2f}%, "
            f"last value {100 * median['last']:.2f}%, power law {100 * median['power']:.2f}%"
            f"\n{'':>17} mean |error| in nats forecast {mean['nats']:.4f}, last value "
            f"{mean['last_nats']:.4f}, power law {mean['power_nats']:.4f}; median "
            f"{median['nats']:.4f}, {median['last_nats']:.4f}, {median['power_nats']:.4f}"
            f"\n{'':>17} the truth's own noise (standard error of its mean): mean "
            f"{100 * statistics.fmean(float(r['floor']) for r in sel):.2f}%"  # type: ignore[arg-type]
            f"\n{'':>17} time per forecast: median "
            f"{statistics.median(float(r['ms']) for r in sel):.0f} ms, max "  # type: ignore[arg-type]
            f"{max(float(r['ms']) for r in sel):.0f} ms (CPU time: median "
            f"{statistics.median(float(r['cpu_ms']) for r in sel):.0f} ms, max "  # type: ignore[arg-type]
            f"{max(float(r['cpu_ms']) for r in sel):.0f} ms)"  # type: ignore[arg-type]
            f"\n{'':>17} best candidate chosen with hindsight: mean "
            f"{100 * statistics.fmean(oracle):.2f}%, median {100 * statistics.median(oracle):.2f}%"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--real-runs", type=Path, default=os.environ.get("REAL_RUNS_DIR"))
    args = parser.parse_args()
    folders = [ROOT / "tests" / "data" / "real-runs"]
    if args.real_runs:
        folders.append(Path(args.real_runs))
    cases = real_cases(folders)
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else []
    print(f"load average: {' '.join(load)}")
    with tempfile.TemporaryDirectory() as tmp:
        store = store_module.open(f"sqlite:///{tmp}/bench.sqlite3")
        for base in {d.parent for d, _ in cases.values()}:
            ingest(store, [base])
        rows_real: list[dict[str, object]] = []
        rows_fix: list[dict[str, object]] = []
        head = ("forecast", "last", "power", "epoch")
        print(f"{'run':<42} {'at':>4} {' '.join(f'{h:>8}' for h in head)}  inside")
        for case, (folder, metric) in sorted(cases.items()):
            rid = run_id_of(store, folder)
            if rid is None:
                print(f"{case:<42} not ingested")
                continue
            for r in evaluate(store, rid, metric):
                r["run"] = case
                rows_real.append(r)
        for fx in [*all_fixtures(), *epoch_fixtures()]:
            store.put_run(fx.name, name=fx.name, source="fixture", kind="push", params=fx.params)
            store.add_read(fx.name, Read(series=fx.series))
            for r in evaluate(store, fx.name, "loss"):
                r["run"] = fx.name
                rows_fix.append(r)
        for r in [*rows_real, *rows_fix]:
            if r["error"] is None:
                print(f"{r['run']!s:<42} {r['frac']:.0%} no forecast: {r['why']}")
                continue
            print(
                f"{r['run']!s:<42} {r['frac']:>4.0%} {fmt(r['error'])} {fmt(r['last'])} "
                f"{fmt(r['power'])} {fmt(r['epoch'])}  {'yes' if r['inside'] else 'NO '} "
                f"(+-{100 * float(r['width']):.1f}%, {float(r['ms']):.0f} ms; truth's own "
                f"noise {100 * float(r['floor']):.1f}%)"  # type: ignore[arg-type]
            )
        names = sorted({str(r["run"]) for r in rows_real})
        held = {n for i, n in enumerate(names) if i % 2 == 1}
        summary("real", rows_real)
        summary("tuned", [r for r in rows_real if r["run"] not in held])
        summary("held-out", [r for r in rows_real if r["run"] in held])
        summary("real-13", [r for r in rows_real if r["run"] not in MEMORISING])
        print(f"held out (every second real run by name): {', '.join(sorted(held))}")
        epochs = {fx.name for fx in epoch_fixtures()}
        summary("fixtures", rows_fix)
        summary("fix-1ep", [r for r in rows_fix if r["run"] not in epochs])
        summary("fix-epoch", [r for r in rows_fix if r["run"] in epochs])


if __name__ == "__main__":
    main()
