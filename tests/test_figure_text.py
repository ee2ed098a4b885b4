"""User text in a figure is shown as text: no markup a run name carries reaches Plotly.

plotly.js renders a subset of HTML in every text it draws (trace names in the legend, text
on markers, hover labels, titles, annotations): ``<a href>`` becomes a clickable link over
the chart, ``<span style>`` a styled box, and ``%{...}`` in a hover template a lookup. Run
names come from the user or an imported file; the figure builders escape them
(``layouts.figures.text``), so Plotly draws the characters themselves.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

import simulator as sim
from layouts.figures import comparison as figs
from layouts.figures import text
from simulator import saved
from views import comparison as vc
from views.comparison_list import Controls, analyse_items, parse_selection

LINK = '<a href="http://evil.example">x</a><span style="position:fixed;inset:0">'
TEMPLATE = "100% %{y} {x} & <b>"
ALLOWED_TAGS = {"<br>", "<extra>", "</extra>"}


def _strings(node: Any, path: str = "") -> list[tuple[str, str]]:
    """Every string in a figure dict with where it is, keys included."""
    if isinstance(node, str):
        return [(path, node)]
    if isinstance(node, dict):
        return [s for k, v in node.items() for s in _strings(v, f"{path}.{k}")]
    if isinstance(node, list):
        return [s for i, v in enumerate(node) for s in _strings(v, f"{path}[{i}]")]
    return []


def _markup(figure: Any) -> list[tuple[str, str]]:
    """Strings that would make Plotly draw an element other than a line break."""
    return [
        (where, s)
        for where, s in _strings(figure)
        if set(re.findall(r"</?[^<>]*>", s)) - ALLOWED_TAGS
    ]


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        (LINK, LINK.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")),
        ("R&D <3", "R&amp;D &lt;3"),
        ("plain name", "plain name"),
    ],
)
def test_plain_text_makes_markup_literal(raw: str, shown: str) -> None:
    assert text.plain_text(raw) == shown


def test_hover_text_also_disarms_template_lookups() -> None:
    got = text.hover_text(TEMPLATE)
    assert "%{" not in got and "<" not in got
    assert got == "100&#37; &#37;&#123;y&#125; &#123;x&#125; &amp; &lt;b&gt;"


def _views(names: list[str], x: str = "step", kind: str = "both") -> vc.Views:
    listed: list[dict[str, Any]] = []
    for k, name in enumerate(names):
        state = sim.stop(
            sim.advance(sim.start(sim.new_run(sim.preset("vicuna-7b"), name=name, seed=k)), 400)
        )
        listed, _ = saved.add_run(listed, state)
    selection = [{"kind": "saved", "ref": e["id"]} for e in listed]
    selection.append({"kind": "preset", "ref": "vicuna-13b"})
    return vc.update_views(selection, listed, Controls(x=x, kind=kind), None, list_changed=False)


GPUS = " · " + saved.hardware(sim.new_run(sim.preset("vicuna-7b")))  # a saved run's label ends so


def test_hostile_names_in_the_loss_and_efficiency_charts_carry_no_markup() -> None:
    v = _views([LINK, TEMPLATE])
    link, template = LINK + GPUS, TEMPLATE + GPUS
    for figure in (v.curves, v.efficiency):
        assert _markup(figure) == []
    names = [t.get("name") for t in v.curves["data"]]
    assert text.plain_text(link) in names and f"{text.plain_text(template)} (val)" in names
    hovers = [t["hovertemplate"] for t in v.curves["data"] if "hovertemplate" in t]
    assert sum("%{" in h for h in hovers) == len(hovers)  # each keeps its own x/y lookups
    assert not any("%{y} {x}" in h for h in hovers)  # the name's are disarmed
    points = [t for t in v.efficiency["data"] if t.get("mode") == "markers+text"]
    assert {p["text"][0] for p in points} >= {text.plain_text(link), text.plain_text(template)}
    # The table shows the names as they are: a DataTable renders text, never markup.
    assert {r["run"] for r in v.table} >= {link, template}


def test_the_builders_used_to_append_a_run_escape_it_too() -> None:
    """Adding a run to drawn charts sends only its traces (``run_traces``, ``point_trace``)."""
    state = sim.stop(sim.advance(sim.start(sim.new_run(sim.preset("vicuna-7b"), name=LINK)), 50))
    items, _ = parse_selection([{"kind": "saved", "ref": "r1"}])
    (a,), _ = analyse_items(items, {"r1": state})
    assert a.label == LINK + GPUS
    for x in ("step", "flops"):
        assert _markup(figs.run_traces(a, x, "both")) == []
    point = figs.point_trace(a)
    assert _markup(point) == [] and point["name"] == text.plain_text(LINK + GPUS)
