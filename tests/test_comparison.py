"""Pure tests of the comparison: curves, final metrics, diff, frontier (``simulator.compare``),
the comparison list, view budget and CSV (``views.comparison``), published scores."""

from __future__ import annotations

import math

import numpy as np
import pytest

import simulator as sim
from simulator import benchmarks_data as bd
from simulator import compare
from simulator.series import ema_smooth
from views import comparison as vc
from views.contract import KEEP


def _stopped(steps: int = 3000, name: str = "short") -> sim.RunState:
    cfg = sim.preset("llama-7b", dataset_tokens=4 * 2**20 * max(10_000, 2 * steps))
    st = sim.start(sim.new_run(cfg, name=name))
    return sim.stop(sim.advance(st, steps))


# ------------------------------------------------------------------------- final metrics
def test_final_metrics_of_a_saved_run_match_the_simulator() -> None:
    st = _stopped(3000)
    a = compare.analyse_state("k", "short", st, curve=False)
    m = sim.metrics(st, 0, st.step)
    f = a.final
    assert f.steps == 3000
    assert f.train_loss == pytest.approx(float(np.mean(m["train_loss"][-compare.TAIL :])))
    last_eval = m["val_loss"][np.isfinite(m["val_loss"])][-1]
    assert f.val_loss == pytest.approx(float(last_eval))
    assert f.perplexity == pytest.approx(math.exp(f.val_loss))
    assert f.tokens == pytest.approx(float(m["tokens"][-1]))
    assert f.cost_usd == pytest.approx(float(m["cost_usd"][-1]))
    assert f.wall_hours == pytest.approx(float(m["wall_time"][-1]) / 3600)
    cfg = st.config
    assert f.gpu_hours == pytest.approx(f.wall_hours * cfg.num_gpus)
    assert f.flops == pytest.approx(f.tokens * sim.estimate(cfg).flops_per_token)
    assert f.tokens_per_param == pytest.approx(f.tokens / sim.param_count(cfg.arch))


def test_final_metrics_are_the_same_with_or_without_the_curve() -> None:
    st = _stopped(5000)
    with_curve = compare.analyse_state("k", "x", st, curve=True, smoothing=0.9).final
    without = compare.analyse_state("k", "x", st, curve=False).final
    assert with_curve == without


def test_a_recipe_is_predicted_to_its_end_and_matches_predicted_run() -> None:
    cfg = sim.preset("vicuna-7b")
    a = compare.analyse_recipe("k", "vicuna", cfg)
    ref = sim.predicted_run(cfg)
    assert a.state.status == ref.status == "finished"
    assert a.final.steps == cfg.total_steps
    m = sim.metrics(ref, ref.step - compare.TAIL, ref.step)
    assert a.final.train_loss == pytest.approx(float(np.mean(m["train_loss"])))


def test_a_diverging_recipe_reports_divergence_not_a_loss() -> None:
    cfg = sim.preset("llama-2-7b", dataset_tokens=4 * 2**20 * 20_000, lr_peak=0.05, lr_min=0.0)
    a = compare.analyse_recipe("k", "hot", cfg)
    assert a.state.status == "diverged"
    assert a.final.diverged_at is not None
    assert math.isnan(a.final.train_loss) and math.isnan(a.final.val_loss)
    row = compare.final_rows([a])[0]
    assert row["status"].startswith("diverged at")
    assert row["train_loss"] is None  # sorts last in the table, blank in the CSV


def test_gpu_hours_follow_a_mid_run_change_of_gpu_count() -> None:
    cfg = sim.preset("llama-7b", dataset_tokens=4 * 2**20 * 10_000)
    st = sim.advance(sim.start(sim.new_run(cfg)), 1000)
    st = sim.apply_changes(st, {"num_gpus": 1024})
    st = sim.stop(sim.advance(st, 1000))
    f = compare.analyse_state("k", "x", st, curve=False).final
    seg = st.timeline.segments
    expected = (seg[1].wall0 * 2048 + (f.wall_hours * 3600 - seg[1].wall0) * 1024) / 3600
    assert f.gpu_hours == pytest.approx(expected)
    assert f.gpu_hours < f.wall_hours * 2048


# --------------------------------------------------------------------------------- curves
def test_curve_holds_at_most_4000_points_on_every_axis_and_keeps_the_spike() -> None:
    cfg = sim.preset("llama-2-7b", dataset_tokens=4 * 2**20 * 300_000)
    a = compare.analyse_recipe("k", "x", cfg, smoothing=0.0)
    c = a.curve
    assert c is not None
    assert set(c.x) == set(compare.X_AXES)
    for x in c.x.values():
        assert x.size == c.train.size <= compare.MAX_POINTS
    full = sim.metrics(a.state, 0, a.state.step)["train_loss"]
    assert c.train.max() == pytest.approx(float(np.nanmax(full)))  # the worst spike is drawn
    assert c.train.min() == pytest.approx(float(np.nanmin(full)))
    assert c.x["step"][0] == 1 and c.x["step"][-1] == a.state.step
    assert np.all(np.diff(c.x["step"]) > 0)
    assert np.all(np.diff(c.x["flops"]) > 0) and np.all(np.diff(c.x["cost"]) > 0)


def test_smoothing_is_exact_across_chunks() -> None:
    """The smoothed line is the EMA over bucket means of the whole run, whatever the chunks."""
    st = _stopped(compare.CHUNK + 5000)
    a = compare.analyse_state("k", "x", st, smoothing=0.95, max_points=10**7)
    assert a.curve is not None
    full = sim.metrics(st, 0, st.step)["train_loss"]
    size = 128  # buckets of a power of two steps, 500-1,000 of them
    starts = np.arange(0, full.size, size)
    means = np.add.reduceat(full, starts) / np.diff(np.append(starts, full.size))
    sm, _ = ema_smooth(means, 0.95)
    assert np.allclose(a.curve.train, sm)
    assert a.curve.raw is not None and np.array_equal(a.curve.raw, full)  # the raw line behind


def test_a_run_past_the_view_budget_loses_its_curve_with_a_note() -> None:
    st = _stopped(2000)
    saved = {"abc": st}
    items = [vc.Item("saved", "abc"), vc.Item("preset", "vicuna-7b")]
    analyses, notes = vc.analyse_items(items, saved, budget=2500)
    assert analyses[0].curve is not None
    assert len(analyses) == 1  # the recipe (2,930 steps) did not fit the remaining 500
    assert "budget" in notes[0] and "Vicuna" in notes[0]
    analyses, notes = vc.analyse_items(items[:1], saved, budget=100)
    assert analyses[0].curve is None and math.isfinite(analyses[0].final.train_loss)


def test_a_deleted_saved_run_is_skipped_with_a_note() -> None:
    analyses, notes = vc.analyse_items([vc.Item("saved", "gone")], {})
    assert analyses == [] and "no longer saved" in notes[0]


# ---------------------------------------------------------------------------- config diff
def test_config_diff_marks_what_differs_and_can_hide_the_rest() -> None:
    a = sim.new_run(sim.preset("llama-2-7b"))
    b = sim.new_run(sim.preset("llama-2-7b", lr_peak=6e-4, seed=3))
    cols = [("A", compare.flatten_config(a)), ("B", compare.flatten_config(b))]
    rows = compare.config_diff(cols)
    by_field = {r["field"]: r for r in rows}
    assert by_field["lr_peak"]["differs"] and by_field["lr_peak"]["B"] == "0.0006"
    assert by_field["seed"]["differs"]
    assert not by_field["model"]["differs"]
    hidden = compare.config_diff(cols, hide_identical=True)
    assert {r["field"] for r in hidden} == {"lr_peak", "seed"}


def test_config_diff_shows_the_optimizer_and_mid_run_changes() -> None:
    cfg = sim.preset("llama-7b", dataset_tokens=4 * 2**20 * 10_000)
    st = sim.advance(sim.start(sim.new_run(cfg)), 100)
    st = sim.apply_changes(st, {"lr_peak": 1e-4})
    flat = compare.flatten_config(st)
    assert flat["optimizer"] == "adamw"
    assert not any(k.startswith("optimizer_params") for k in flat)  # not settings (issue 13)
    assert "@100" in flat["mid-run changes"] and "lr_peak" in flat["mid-run changes"]
    other = compare.flatten_config(sim.new_run(cfg))
    rows = compare.config_diff([("a", flat), ("b", other)], hide_identical=True)
    assert "mid-run changes" in {r["field"] for r in rows}


# ------------------------------------------------------------------------------ selection
def test_parse_selection_drops_bad_entries_and_names_them() -> None:
    raw = [
        {"kind": "preset", "ref": "llama-2-7b"},
        {"kind": "preset", "ref": "gpt-5"},
        {"kind": "config", "config": {"lr_peak": "hot"}},
        "junk",
        {"kind": "preset", "ref": "llama-2-7b"},
        {"kind": "saved", "ref": "x" * 100},
    ]
    items, errors = vc.parse_selection(raw)
    assert [i.key for i in items] == ["preset:llama-2-7b"]
    assert len(errors) == 4
    assert any("lr_peak" in e for e in errors)
    assert vc.parse_selection("not a list")[0] == []


def test_parse_selection_is_bounded() -> None:
    raw = [{"kind": "config", "config": {"seed": s}} for s in range(10_000)]
    items, errors = vc.parse_selection(raw)
    assert len(items) == vc.MAX_COMPARED
    assert errors == ["at most 12 runs are compared; kept the first 12"]


# ------------------------------------------------------------------------------ CSV export
def test_every_table_column_is_a_final_row_field() -> None:
    a = compare.analyse_state("k", "x", _stopped(500), curve=False)
    (row,) = compare.final_rows([a])
    assert set(row) == {c for c, _ in vc.TABLE_COLUMNS}  # every column filled, none hidden


def test_csv_has_the_table_headings_and_blank_cells_for_missing_values() -> None:
    a = compare.analyse_state("k", "short, with comma", _stopped(500), curve=False)
    csv_text = vc.rows_to_csv([*compare.final_rows([a]), {"run": "empty"}])
    lines = csv_text.splitlines()
    assert lines[0].split(",")[:3] == ["Run", "Kind", "Status"]
    assert lines[1].startswith('"short, with comma",saved run,stopped,500,')
    assert lines[2].startswith("empty,,,")


# ------------------------------------------------------------------------ published scores
def test_every_score_names_its_source_table_and_sources_never_mix() -> None:
    for s in bd.SCORES:
        assert s.source in bd.SOURCES and s.table
    for src in bd.SOURCES:
        assert {s.source for s in bd.scores(src)} == {src}
    assert len(bd.scores("mistral-7b-table-2")) == 4 * 12
    assert len(bd.scores("llama-2-paper")) == 3 * 10


def test_scores_are_the_published_numbers() -> None:
    def get(src: str, model: str, bench: str) -> float:
        (s,) = [s for s in bd.scores(src) if s.model == model and s.benchmark == bench]
        return s.value

    # The same model and benchmark under two protocols: both kept, never merged.
    assert get("mistral-7b-table-2", "Llama 2 7B", "MMLU") == 44.4
    assert get("llama-2-paper", "Llama 2 7B", "MMLU") == 45.3
    assert get("mistral-7b-table-2", "Mistral 7B", "GSM8K") == 52.2
    assert get("llama-2-paper", "Llama 2 70B", "GSM8K") == 56.8
    assert get("code-llama-table-2", "Code Llama 34B", "HumanEval") == 48.8
    assert get("lmsys-chat-2023-11", "Vicuna-13B v1.5", "Arena Elo") == 1031
    gsm = [s for s in bd.scores("llama-2-paper") if s.benchmark == "GSM8K"]
    assert {s.table for s in gsm} == {"Table 25"}


def test_select_ignores_unknown_names_and_unknown_sources_raise() -> None:
    assert bd.select("code-llama-table-2", ["nope"], None) == ()
    assert len(bd.select("code-llama-table-2", ["Code Llama 7B"], ["MBPP", "x"])) == 1
    with pytest.raises(KeyError):
        bd.scores("made-up")


# ------------------------------------------------------------------ user actions (views)
VICUNA = [{"kind": "preset", "ref": "vicuna-7b"}]


def test_an_add_to_drawn_views_appends_what_a_redraw_would_draw() -> None:
    controls = vc.Controls(smoothing=0.6)
    drawn = vc.update_views(VICUNA, None, controls, None, list_changed=False)
    out = vc.edit_selection(
        "add", choice="preset:vicuna-13b", selection=VICUNA, controls=controls, view=drawn.view
    )
    assert out.selection == [*VICUNA, {"kind": "preset", "ref": "vicuna-13b"}]
    assert out.message is None
    full = vc.update_views(out.selection, None, controls, None, list_changed=False)
    assert out.curves.apply(drawn.curves)["data"] == full.curves["data"]
    assert out.table.apply(drawn.table) == full.table
    points = [t for t in out.efficiency.apply(drawn.efficiency)["data"] if "diamond" in str(t)]
    assert [t["name"] for t in points] == [r["run"] for r in full.table]
    # The list change this add causes then finds nothing left to draw.
    again = vc.update_views(out.selection, None, controls, out.view, list_changed=True)
    assert (again.curves, again.table, again.view) == (KEEP, KEEP, KEEP)


def test_remove_clear_and_a_button_that_was_only_redrawn() -> None:
    both = [*VICUNA, {"kind": "preset", "ref": "vicuna-13b"}]
    assert vc.edit_selection(None, selection=both).selection is KEEP
    assert vc.edit_selection("remove", remove="preset:vicuna-7b", selection=both).selection == [
        both[1]
    ]
    assert vc.edit_selection("clear", selection=both).selection == []
    again = vc.edit_selection("add", choice="preset:vicuna-7b", selection=VICUNA)
    assert again.message is not None and again.message.text == "Already in the comparison."
    assert again.curves is KEEP  # nothing new to append
