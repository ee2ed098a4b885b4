"""The Comparison tab's wall-time axis for real runs, on a real SQLite store filled as the
watcher fills it (``tracking.ingest``): a run whose points carry wall times is drawn at
its own hours since its first timed point (its recipe's hardware need not be known); a run
without times (an HF ``trainer_state.json``) falls back to the recipe's estimate only when
its hardware is known, and the chart's note says the time is estimated."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.tfevents_writers import hf_trainer_like
from tests.tracking_samples import case_dir
from tracking import corrections
from tracking import store as store_module
from tracking.ingest import ingest
from tracking.store import Store
from views import comparison as vc
from views.comparison_list import Controls

SFT = "trainer-state-metamath-sft"  # a real HF log_history: no time per step


def views(store: Store, selection: list[dict[str, Any]], x: str) -> vc.Views:
    return vc.update_views(
        selection, [], Controls(x=x), None, list_changed=False, open_store=lambda: store
    )


def note(fig: dict[str, Any]) -> str:
    return " ".join(a["text"] for a in fig["layout"].get("annotations", [])).replace("<br>", " ")


def line(fig: dict[str, Any], label: str) -> dict[str, Any]:
    [t] = [t for t in fig["data"] if t.get("name") == label]
    return t


def test_a_run_with_wall_times_is_drawn_at_its_own_hours(tmp_path: Path) -> None:
    s = store_module.open(f"sqlite:///{tmp_path / 'runs.sqlite3'}")
    root = tmp_path / "hf-tb"
    root.mkdir()
    hf_trainer_like(root, 600)  # SummaryWriter: step n logged at 1.7e9 + n s
    [report] = ingest(s, [root.resolve()])
    v = views(s, [{"kind": "real", "ref": report.run_id}], "wall_time")
    drawn = line(v.curves, f"{report.run_id} (real)")
    stored = s.series(report.run_id, "train/loss")
    expected = (stored.time - stored.time[0]) / 3600.0  # 1 s a step, from the first point
    np.testing.assert_allclose(drawn["x"], expected, rtol=1e-5)  # 6 digits drawn
    assert drawn["x"][-1] == pytest.approx(599 / 3600.0)
    assert "Estimated" not in note(v.curves) and "Not drawn" not in note(v.curves)
    [row] = v.table
    assert row["wall_hours"] == pytest.approx(599 / 3600.0)  # to its last timed point
    s.close()


def test_a_run_without_times_is_estimated_and_the_note_says_so(tmp_path: Path) -> None:
    s = store_module.open(f"sqlite:///{tmp_path / 'runs.sqlite3'}")
    root = tmp_path / SFT
    shutil.copytree(case_dir(SFT), root)
    ingest(s, [root.resolve()])
    sel = [{"kind": "real", "ref": SFT}]
    assert "cannot be drawn against wall-clock time" in note(views(s, sel, "wall_time").curves)
    # MetaMath-7B is a Llama 2 7B fine-tune (Yu et al. 2023); a user states the hardware.
    fix = {"model": "llama-2-7b", "gpu": "a100-80gb", "num_gpus": 1}
    saved = corrections.save(s, SFT, fix, "tester")
    assert saved.ok, saved.message
    fig = views(s, sel, "wall_time").curves
    assert line(fig, f"{SFT} (real)")["x"]
    assert f"Estimated: {SFT} (real): its logs carry no wall time per step" in note(fig)
    s.close()
