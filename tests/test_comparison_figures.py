"""Pure figure builders of the Model Comparison tab: what a reader of the chart would see."""

from __future__ import annotations

import json

import numpy as np
import pytest

import simulator as sim
from layouts.figures import comparison as figs
from simulator import benchmarks_data as bd
from simulator import compare
from views import comparison as vc


@pytest.fixture(scope="module")
def analyses() -> list[compare.Analysis]:
    items = [vc.Item("preset", "vicuna-7b"), vc.Item("preset", "vicuna-13b")]
    cfg = sim.preset("llama-7b", dataset_tokens=4 * 2**20 * 20_000)
    st = sim.stop(sim.advance(sim.start(sim.new_run(cfg, name="mine")), 5000))
    items.append(vc.Item("saved", "abc"))
    out, notes = vc.analyse_items(items, {"abc": st}, smoothing=0.6)
    assert notes == []
    return out


def test_curves_one_line_per_run_every_axis_and_json_safe(analyses: list[compare.Analysis]) -> None:
    for x_key, title in compare.X_AXES.items():
        fig = figs.curves_figure(analyses, x_key, smoothing=0.6)
        lines = [t for t in fig["data"] if t["mode"] == "lines" and t.get("showlegend", True)]
        assert [t["name"] for t in lines] == [a.label for a in analyses]
        assert fig["layout"]["xaxis"]["title"]["text"] == title
        assert all(len(t["x"]) == len(t["y"]) <= 4000 for t in fig["data"])
        json.dumps(fig, allow_nan=False)  # NaN would be invalid JSON for the browser
    dashes = [
        t["line"]["dash"] for t in figs.curves_figure(analyses)["data"] if "dash" in t["line"]
    ]
    assert dashes == ["dash", "dash", "solid"]  # recipes are predictions, saved runs are not


def test_curves_log_axes_validation_and_the_note(analyses: list[compare.Analysis]) -> None:
    fig = figs.curves_figure(analyses, "flops", log_x=True, log_y=True, show="both", smoothing=0.6)
    assert fig["layout"]["xaxis"]["type"] == "log" and fig["layout"]["yaxis"]["type"] == "log"
    assert "range" not in fig["layout"]["yaxis"]  # a linear range would be wrong on a log axis
    markers = [t for t in fig["data"] if t["mode"] == "markers"]
    assert len(markers) == len(analyses)
    note = fig["layout"]["annotations"][0]["text"]
    assert "EMA smoothing 0.6" in note and "4,000 points" in note


def test_default_y_range_ignores_the_first_steps(analyses: list[compare.Analysis]) -> None:
    fig = figs.curves_figure(analyses)
    lo, hi = fig["layout"]["yaxis"]["range"]
    assert hi < 5.0  # the first steps start near ln(32000) = 10.4 nats
    assert lo < min(min(v for v in t["y"] if v is not None) for t in fig["data"]) + 1e-9


def test_empty_comparison_says_what_to_do() -> None:
    fig = figs.curves_figure([])
    assert fig["data"] == [] and "Add a saved run" in fig["layout"]["annotations"][0]["text"]


def test_colour_follows_the_run_across_charts(analyses: list[compare.Analysis]) -> None:
    curves = figs.curves_figure(analyses)["data"]
    eff = figs.efficiency_figure(analyses)["data"]
    points = {t["name"]: t["marker"]["color"] for t in eff if t["mode"] == "markers+text"}
    for t in curves:
        name = t["name"].removesuffix(" (raw)")
        assert points[name] == t["line"]["color"]


def test_efficiency_chart_draws_each_familys_frontier_below_its_runs(
    analyses: list[compare.Analysis],
) -> None:
    """One frontier per family with a from-scratch run (the saved LLaMA run), none for the
    fine-tunes (Vicuna), and the run on or above its line: the line is the law's minimum
    (before issue 13 every preset sat below the line drawn)."""
    fig = figs.efficiency_figure(analyses)
    lines = [t for t in fig["data"] if t["mode"] == "lines+text"]
    assert [t["name"] for t in lines] == ["frontier: LLaMA law, 2,048-token context"]
    assert lines[0]["text"][-1] == "LLaMA"  # labelled where it ends
    note = fig["layout"]["annotations"][0]["text"]
    assert "Hoffmann" in note and "fitted" in note and "on or above" in note
    assert "no frontier" in note  # the fine-tunes
    assert fig["layout"]["xaxis"]["type"] == "log"
    (saved,) = [a for a in analyses if a.kind == "saved"]
    x, y = lines[0]["x"], lines[0]["y"]
    assert min(x) < saved.final.flops < max(x)
    at_run = float(np.interp(np.log(saved.final.flops), np.log(x), y))
    assert saved.final.val_loss >= at_run


def test_bars_name_source_and_protocol_and_never_mix_sources() -> None:
    for src in bd.SOURCES:
        fig = figs.benchmark_bars(src)
        assert bd.SOURCES[src].title in fig["layout"]["title"]["text"]
        note = fig["layout"]["annotations"][0]["text"]
        assert "Source:" in note and "Protocol:" in note
        values = {
            (t["name"], x): y for t in fig["data"] for x, y in zip(t["x"], t["y"], strict=True)
        }
        expected = {(s.model, s.benchmark): s.value for s in bd.scores(src)}
        assert values == expected  # exactly this source's numbers


def test_mixed_units_get_one_panel_each() -> None:
    fig = figs.benchmark_bars("lmsys-chat-2023-11")
    assert {t["yaxis"] for t in fig["data"]} == {"y", "y2", "y3"}
    assert "separate scales" in fig["layout"]["title"]["text"]
    radar = figs.benchmark_radar("lmsys-chat-2023-11")
    assert radar["data"] == [] and "different scales" in radar["layout"]["annotations"][0]["text"]


def test_radar_needs_three_benchmarks_and_closes_each_polygon() -> None:
    assert figs.benchmark_radar("code-llama-table-2")["data"] == []
    fig = figs.benchmark_radar("mistral-7b-table-2", ["Mistral 7B"], ["MMLU", "PIQA", "MATH"])
    (trace,) = fig["data"]
    assert trace["r"] == [60.1, 83.0, 13.1, 60.1] and trace["theta"][0] == trace["theta"][-1]
    assert "Mistral 7B paper, Table 2" in fig["layout"]["title"]["text"]


def test_benchmark_rows_carry_the_printed_table() -> None:
    rows = figs.benchmark_rows("llama-2-paper", ["Llama 2 70B"], ["GSM8K", "HellaSwag"])
    assert {(r["benchmark"], r["table"]) for r in rows} == {
        ("HellaSwag", "Touvron et al. 2023 Table 20"),
        ("GSM8K", "Touvron et al. 2023 Table 25"),
    }


def test_diff_styles_bold_only_values_unlike_the_first_run() -> None:
    rows = [
        {"field": "model", "differs": "yes", "c0": "a", "c1": "a", "c2": "b"},
        {"field": "seed", "differs": "", "c0": "1", "c1": "1", "c2": "1"},
    ]
    cells = [s["if"] for s in figs.diff_styles(rows, 3) if "row_index" in s["if"]]
    assert cells == [{"row_index": 0, "column_id": "c2"}]


def test_view_state_allows_appending_only_to_the_same_clean_view(
    analyses: list[compare.Analysis],
) -> None:
    keys = [a.key for a in analyses]
    controls = vc.Controls("tokens", "train", 0.6, ("x",))
    view = vc.ViewState.of(analyses, keys, controls).to_dict()
    clean = vc.ViewState.from_dict(json.loads(json.dumps(view)))
    assert clean is not None and clean.shows(keys, controls)
    assert clean.to_dict() == view
    assert not clean.shows(keys, vc.Controls("step", "train", 0.6, ("x",)))  # other controls
    assert not clean.shows(keys[:1], controls)  # other runs
    noted = vc.ViewState.of(analyses, keys, controls, ["a budget note"]).to_dict()
    assert vc.ViewState.from_dict(noted) is None  # a view with a caveat is always redrawn whole
    for junk in (None, [], {"keys": "x"}, {**view, "steps": True}, {**view, "span": [1, "a"]}):
        assert vc.ViewState.from_dict(junk) is None


def test_appended_runs_must_fit_the_drawn_frontier(analyses: list[compare.Analysis]) -> None:
    vicuna = [a for a in analyses if a.state.config.family == "vicuna"]
    view = vc.ViewState.of(vicuna[:1], [vicuna[0].key], vc.Controls())
    assert view.fits(vicuna[1:])  # same family, inside the span
    llama = [a for a in analyses if a.state.config.family == "llama"]
    assert not view.fits(llama)  # a from-scratch run without its family's frontier line
    assert view.y is not None
    y = view.merged_range(llama)
    assert y is not None and y[0] <= view.y[0] and y[1] >= view.y[1]


def test_a_longer_context_needs_its_own_frontier_line(analyses: list[compare.Analysis]) -> None:
    """A longer context lowers the law's loss, so a run of the same family with a longer
    sequence than the drawn line's could sit below it: the view is redrawn instead."""
    (saved,) = [a for a in analyses if a.kind == "saved"]
    view = vc.ViewState.of([saved], [saved.key], vc.Controls())
    assert view.frontiers == ("llama@2048",)

    def run(seq_len: int) -> compare.Analysis:
        cfg = sim.preset(
            "llama-7b", seq_len=seq_len, num_gpus=512, dataset_tokens=4 * 2**20 * 20_000
        )
        st = sim.stop(sim.advance(sim.start(sim.new_run(cfg)), 3000))
        return compare.analyse_state("k", "x", st, curve=False)

    assert view.fits([run(2048)])
    assert not view.fits([run(4096)])
