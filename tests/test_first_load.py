"""What a first load asks the server for: the callbacks whose answer the page already holds
do not run (issue 17, "fewer round trips"), so the page must hold exactly that answer."""

from __future__ import annotations

from typing import Any

from layouts import comparison as lc
from layouts import ids
from simulator import benchmarks_data as bd
from views import comparison as vc


def _by_id(node: Any, found: dict[str, Any]) -> dict[str, Any]:
    """Every component of a Dash tree with a string id, by id."""
    if isinstance(node, list | tuple):
        for child in node:
            _by_id(child, found)
    elif hasattr(node, "to_plotly_json"):
        if isinstance(getattr(node, "id", None), str):
            found[node.id] = node
        _by_id(getattr(node, "children", None), found)
    return found


def test_the_published_scores_are_in_the_page_as_their_callbacks_would_answer() -> None:
    page = _by_id(lc.layout(), {})
    choices = vc.bench_choices(page[ids.CMP_BENCH_SOURCE].value)
    views = vc.bench_views(bd.DEFAULT_SOURCE, choices.models, choices.benchmarks)
    assert page[ids.CMP_BENCH_SOURCE].value == bd.DEFAULT_SOURCE
    assert page[ids.CMP_BENCH_MODELS].options == choices.model_options
    assert page[ids.CMP_BENCH_MODELS].value == choices.models
    assert page[ids.CMP_BENCH_BENCHMARKS].options == choices.benchmark_options
    assert page[ids.CMP_BENCH_BENCHMARKS].value == choices.benchmarks
    assert page[ids.CMP_BENCH_BARS].figure == views.bars
    assert page[ids.CMP_BENCH_RADAR].figure == views.radar
    assert page[ids.CMP_BENCH_TABLE].data == views.table
    assert views.table and views.bars["data"] and views.radar["data"]
