"""Readable chart labels (issue 17, item 16): log axes label whole values, not bare digits;
neighbouring efficiency-chart labels do not print over each other; the radar's scale sits
between two benchmarks.

plotly.js labels every digit of a short log axis ("2 3 4 5 6 7 8 9 10^23 2 3 ..."): the FLOPs
axis of the efficiency chart was a row of single digits, and the radar's 20-100 scale was
printed over the MMLU vertex.
"""

from __future__ import annotations

import itertools
import re

import pytest

from layouts.figures import axes
from layouts.figures import comparison as figs
from simulator import benchmarks_data as bd
from views import comparison as vc
from views.comparison_list import Controls


def _views(**controls: object) -> vc.Views:
    selection = [{"kind": "preset", "ref": r} for r in ("llama-2-7b", "llama-2-13b", "mistral-7b")]
    return vc.update_views(selection, [], Controls(**controls), None, list_changed=False)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("span", "key", "some"),
    [
        ((2e22, 8e23), "flops", ["5e22", "1e23", "2e23"]),
        ((1, 476_838), "step", ["1", "10", "100k"]),
        ((1.4, 11.0), "loss", ["1.5", "2", "3", "5", "10"]),
        ((3e4, 9e5), "cost", ["$50k", "$100k", "$200k"]),
    ],
)
def test_log_ticks_are_whole_values_in_the_axis_units(
    span: tuple[float, float], key: str, some: list[str]
) -> None:
    ticks = axes.log_ticks(span, key)
    assert ticks["tickmode"] == "array" and len(ticks["tickvals"]) == len(ticks["ticktext"])
    assert set(some) <= set(ticks["ticktext"])
    shown = [
        t
        for v, t in zip(ticks["tickvals"], ticks["ticktext"], strict=True)
        if span[0] <= v <= span[1]
    ]
    assert 3 <= len(shown) <= 12, shown  # a handful of labels, never one per digit
    assert not any(re.fullmatch(r"[2-9]", t) for t in shown if key == "flops")


def test_the_efficiency_axis_and_labels_read_on_their_own() -> None:
    v = _views()
    xaxis = v.efficiency["layout"]["xaxis"]
    assert xaxis["type"] == "log" and "1e23" in xaxis["ticktext"]
    points = sorted(
        (t for t in v.efficiency["data"] if t.get("mode") == "markers+text"),
        key=lambda t: t["x"][0],
    )
    positions = [p["textposition"] for p in points]
    assert all(a != b for a, b in itertools.pairwise(positions)), positions


def test_log_axes_of_the_loss_chart_get_the_same_ticks() -> None:
    v = _views(logs=("x", "y"))
    lay = v.curves["layout"]
    assert lay["xaxis"]["tickmode"] == lay["yaxis"]["tickmode"] == "array"
    assert "100k" in lay["xaxis"]["ticktext"] and "2" in lay["yaxis"]["ticktext"]
    assert "tickmode" not in _views().curves["layout"]["xaxis"]  # linear axes as before


def test_the_radar_scale_sits_between_the_first_two_benchmarks() -> None:
    fig = figs.benchmark_radar(bd.DEFAULT_SOURCE)
    polar = fig["layout"]["polar"]
    n = len(fig["data"][0]["theta"]) - 1
    assert polar["angularaxis"] == {"rotation": 90, "direction": "clockwise"}
    assert polar["radialaxis"]["angle"] == pytest.approx(90 - 180 / n)


def test_the_training_tabs_log_y_labels_whole_values_too() -> None:
    """Log y on the Training tab: "1.5 2 3 5 7 10" on the loss, "1e-4 2e-4 5e-4" on the LR,
    not plotly's bare digits (a loss from 1.7 to 10 read "2 3 4 5 6 7 8 9 10^1")."""
    import simulator as sim
    from layouts.figures.training import ChartOptions
    from views.training_charts import full_render

    state = sim.advance(sim.start(sim.new_run(sim.preset("llama-2-7b"), seed=3)), 3_000)
    figures = full_render(state, ChartOptions.parse("step", 0.6, True)).figures
    loss_y = figures["loss"]["layout"]["yaxis"]
    assert loss_y["type"] == "log" and loss_y["tickmode"] == "array"
    assert {"2", "3", "5", "10"} <= set(loss_y["ticktext"])
    lr_y = figures["lr"]["layout"]["yaxis"]
    assert all(re.fullmatch(r"[0-9.]+e-?[0-9]+", t) for t in lr_y["ticktext"]), lr_y["ticktext"]
    assert "tickmode" not in figures["throughput"]["layout"]["yaxis"]  # stays linear
