"""Issue 17, item 9: comparison overlays a reader can tell apart and read.

Colours come from a run's identity in a colour-blind-safe palette and never change when other
runs come and go; the default smoothing draws one line per run over its faint raw loss, not a
band; one diverged run cannot flatten the others, and its divergence is marked.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest

import simulator as sim
from layouts import comparison as layout
from layouts import ids
from layouts.figures import comparison as figs
from layouts.figures import theme
from simulator import compare
from views import comparison as vc

# Machado, Oliveira & Fernandes (2009) simulation matrices at full severity (linear RGB).
PROTAN = np.array(
    [
        [0.152286, 1.052583, -0.204868],
        [0.114503, 0.786281, 0.099216],
        [-0.003882, -0.048116, 1.051998],
    ]
)
DEUTAN = np.array(
    [
        [0.367322, 0.860646, -0.227968],
        [0.280085, 0.672501, 0.047413],
        [-0.011820, 0.042940, 0.968881],
    ]
)


def _linear(hex_colour: str) -> np.ndarray:
    c = np.array([int(hex_colour[k : k + 2], 16) for k in (1, 3, 5)]) / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _oklab(rgb: np.ndarray) -> np.ndarray:
    m1 = np.array(
        [
            [0.4122214708, 0.5363325363, 0.0514459929],
            [0.2119034982, 0.6806995451, 0.1073969566],
            [0.0883024619, 0.2817188376, 0.6299787005],
        ]
    )
    m2 = np.array(
        [
            [0.2104542553, 0.7936177850, -0.0040720468],
            [1.9779984951, -2.4285922050, 0.4505937099],
            [0.0259040371, 0.7827717662, -0.8086757660],
        ]
    )
    return m2 @ np.cbrt(m1 @ rgb)


def _luminance(hex_colour: str) -> float:
    return float(np.dot([0.2126, 0.7152, 0.0722], _linear(hex_colour)))


def _contrast(a: str, b: str) -> float:
    hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_the_palette_is_readable_and_distinct_to_colour_blind_readers() -> None:
    for colour in figs.PALETTE:
        assert _contrast(colour, theme.LIGHT_SURFACE) >= 3.0, colour
        assert _contrast(colour, theme.DARK_SURFACE) >= 3.0, colour
    assert len(set(figs.PALETTE)) == len(figs.PALETTE) >= vc.MAX_COMPARED
    for vision in (np.eye(3), PROTAN, DEUTAN):
        for a, b in itertools.combinations(figs.SAFE_PALETTE, 2):
            la = np.clip(vision @ _linear(a), 0, 1)
            lb = np.clip(vision @ _linear(b), 0, 1)
            assert np.linalg.norm(_oklab(la) - _oklab(lb)) >= 0.06, (a, b)


KEYS = [f"preset:{p}" for p in ("llama-2-7b", "llama-2-13b", "mistral-7b", "vicuna-7b")] + [
    "saved:785c4e1648",
    "saved:0a1b2c3d4e",
]


def test_a_runs_colour_follows_its_identity_not_its_position() -> None:
    full = dict(zip(KEYS, figs.palette_slots(KEYS), strict=True))
    assert len(set(full.values())) == len(KEYS)  # never two runs in one colour
    for n in range(1, len(KEYS)):  # adding runs recolours none of those already there
        assert figs.palette_slots(KEYS[:n]) == [full[k] for k in KEYS[:n]]
    alone = {k: figs.palette_slots([k])[0] for k in KEYS}
    for k in KEYS:  # first in the list or alone, a run takes its own colour
        assert figs.palette_slots([k, *[j for j in KEYS if j != k]])[0] == alone[k]
    # Twelve runs still get twelve colours, the eight safe ones first.
    many = [f"saved:{i:010x}" for i in range(vc.MAX_COMPARED)]
    slots = figs.palette_slots(many)
    assert sorted(slots) == list(range(vc.MAX_COMPARED))
    assert set(slots[:8]) == set(range(8))


def _line_colours(fig: dict[str, Any]) -> dict[str, str]:
    return {t["name"]: t["line"]["color"] for t in fig["data"] if t.get("showlegend", True)}


def test_removing_a_run_keeps_the_others_colours_in_the_chart_and_the_chips() -> None:
    items = [vc.Item("preset", "vicuna-7b"), vc.Item("preset", "vicuna-13b")]
    both, _ = vc.analyse_items(items, {}, smoothing=0.9)
    last, _ = vc.analyse_items(items[1:], {}, smoothing=0.9)
    name = "Vicuna 13B v1.5 recipe"
    assert (
        _line_colours(figs.curves_figure(both))[name]
        == _line_colours(figs.curves_figure(last))[name]
    )
    selection = [i.to_dict() for i in items]
    chips_both = {c.key: c.color for c in vc.chips(selection, None).chips}
    chips_last = {c.key: c.color for c in vc.chips(selection[1:], None).chips}
    assert chips_both["preset:vicuna-13b"] == chips_last["preset:vicuna-13b"]
    assert chips_both["preset:vicuna-13b"] == _line_colours(figs.curves_figure(both))[name]


def test_the_default_smoothing_draws_a_line_over_the_faint_raw_loss() -> None:
    assert _find(layout.layout()) == figs.DEFAULT_SMOOTHING  # what the page starts with
    assert 0.6 <= figs.DEFAULT_SMOOTHING <= 0.95
    a = compare.analyse_recipe(
        "preset:vicuna-7b", "v", sim.preset("vicuna-7b"), smoothing=figs.DEFAULT_SMOOTHING
    )
    fig = figs.curves_figure([a], smoothing=figs.DEFAULT_SMOOTHING)
    raw, line = fig["data"][0], fig["data"][1]
    assert raw["opacity"] < 0.5 and raw["showlegend"] is False
    assert line["line"]["width"] > raw["line"]["width"]
    # A band goes up and down between every pair of points: its total variation is many
    # times the curve's own rise and fall. A readable line's is close to it.
    y = np.asarray(line["y"], dtype=float)[len(line["y"]) // 20 :]
    assert np.abs(np.diff(y)).sum() < 3 * (y.max() - y.min())


def _find(tree: Any) -> Any:
    """The smoothing slider's initial value in a component tree (None if not found)."""
    if getattr(tree, "id", None) == ids.CMP_SMOOTHING:
        return tree.value
    children = getattr(tree, "children", None)
    for child in children if isinstance(children, list) else [children]:
        if child is not None and not isinstance(child, str):
            found = _find(child)
            if found is not None:
                return found
    return None


@pytest.fixture(scope="module")
def diverged() -> sim.RunState:
    """LLaMA 7B with its LR x20 at step 3,000: the loss climbs past ln(vocab), then NaN."""
    cfg = sim.preset("llama-7b", dataset_tokens=4 * 2**20 * 20_000)
    s = sim.advance(sim.start(sim.new_run(cfg, name="blown")), 3000)
    s = sim.apply_changes(s, {"lr_peak": cfg.lr_peak * 20, "lr_min": cfg.lr_min * 20})
    s = sim.advance(s, 3000)
    assert s.status == "diverged" and 3000 <= s.diverged_at < 3100
    return s


def test_a_diverged_run_does_not_flatten_the_others_and_is_marked(diverged: sim.RunState) -> None:
    cfg = sim.preset("llama-7b", dataset_tokens=4 * 2**20 * 20_000)
    healthy = sim.stop(sim.advance(sim.start(sim.new_run(cfg, name="fine")), 6000))
    saved = {"aaa": healthy, "bbb": diverged}
    items = [vc.Item("saved", "aaa"), vc.Item("saved", "bbb")]
    analyses, _ = vc.analyse_items(items, saved, smoothing=figs.DEFAULT_SMOOTHING)
    fig = figs.curves_figure(analyses, smoothing=figs.DEFAULT_SMOOTHING)
    lo, hi = fig["layout"]["yaxis"]["range"]
    assert hi < 6  # the healthy losses (2.2-4.4 nats), not the diverged climb past 100
    assert lo < min(y for t in fig["data"] if t["name"].startswith("fine · ") for y in t["y"])
    marker = next(t for t in fig["data"] if t.get("mode") == "markers+text")
    assert marker["text"] == [f"diverged at step {diverged.diverged_at:,}"]
    assert lo <= marker["y"][0] <= hi  # the divergence point is on the chart
    tail = next(t for t in fig["data"] if t["name"].endswith("(after divergence)"))
    # The smoothed tail climbs from the marker; the faint raw line behind it leaves the chart
    # (issue 13, item 6: the climb is 6 steps to ~1.4 ln(vocab), which smoothing damps).
    assert tail["line"]["dash"] == "dot"
    assert max(y for y in tail["y"] if y is not None) > marker["y"][0]
    raw = next(t for t in fig["data"] if t["name"] == "blown · 2,048×A100 80GB (raw)")
    assert max(y for y in raw["y"] if y is not None) > hi
    solid = next(t for t in fig["data"] if t["name"] == "blown · 2,048×A100 80GB")
    assert max(solid["x"]) <= diverged.diverged_at  # the line stops at the divergence step
