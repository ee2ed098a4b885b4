"""The shell's layout: what a user sees before any tab does anything."""

from __future__ import annotations

import json
from collections.abc import Iterator

import plotly
import pytest
from dash import dcc
from dash.development.base_component import Component

from layouts import ids, shell


def walk(component: object) -> Iterator[Component]:
    """Every Dash component in a layout tree, depth first."""
    if isinstance(component, Component):
        yield component
        for prop in ("children", "label"):
            yield from walk(getattr(component, prop, None))
    elif isinstance(component, list | tuple):
        for child in component:
            yield from walk(child)


def by_id(layout: Component) -> dict[str, Component]:
    # String ids only: pattern-matching ids (dicts, e.g. the Configuration form's fields) are
    # not hashable and are not what these tests look up.
    return {c.id: c for c in walk(layout) if isinstance(getattr(c, "id", None), str)}


def test_layout_builds_and_serialises() -> None:
    layout = shell.build_layout()
    text = json.dumps(layout, cls=plotly.utils.PlotlyJSONEncoder)
    assert shell.PRODUCT_NAME in text


def test_three_tabs_with_the_exact_labels_in_order() -> None:
    tabs = by_id(shell.build_layout())[ids.TABS]
    assert [t.label for t in tabs.children] == ["Training", "Model Comparison", "Configuration"]
    assert [t.value for t in tabs.children] == [
        ids.TAB_TRAINING,
        ids.TAB_COMPARISON,
        ids.TAB_CONFIGURATION,
    ]
    assert tabs.value == ids.TAB_TRAINING
    assert all(t.children is not None for t in tabs.children), "every tab renders something"


def test_shell_components_are_all_there() -> None:
    found = by_id(shell.build_layout())
    for name in (
        "URL",
        "THEME_STORE",
        "THEME_SWITCH",
        "STATUS_BADGE",
        "TABS",
        "RUN_STORE",
        "CONFIG_STORE",
        "SAVED_RUNS_STORE",
        "TICK",
        "ALERT_AREA",
    ):
        assert getattr(ids, name) in found, name
    assert found[ids.STATUS_BADGE].children == "Idle"


@pytest.mark.parametrize(
    ("store", "storage"),
    [
        (ids.RUN_STORE, "session"),
        (ids.CONFIG_STORE, "local"),
        (ids.SAVED_RUNS_STORE, "local"),
        (ids.THEME_STORE, "local"),
    ],
)
def test_stores_keep_their_data_where_the_design_says(store: str, storage: str) -> None:
    component = by_id(shell.build_layout())[store]
    assert isinstance(component, dcc.Store)
    assert component.storage_type == storage


def test_tick_timer_starts_disabled() -> None:
    tick = by_id(shell.build_layout())[ids.TICK]
    assert isinstance(tick, dcc.Interval)
    assert tick.disabled is True
    assert tick.interval == 500


def test_every_id_constant_is_unique() -> None:
    constants = {k: v for k, v in vars(ids).items() if k.isupper() and isinstance(v, str)}
    values = list(constants.values())
    dupes = sorted({v for v in values if values.count(v) > 1})
    assert not dupes, f"ids used by two constants: {dupes}"


def test_ids_in_the_layout_are_unique() -> None:
    seen = [c.id for c in walk(shell.build_layout()) if getattr(c, "id", None) is not None]
    assert len(seen) == len(set(map(str, seen)))


def test_each_page_load_gets_a_fresh_tree() -> None:
    assert shell.build_layout() is not shell.build_layout()


@pytest.mark.parametrize(
    ("url_hash", "tab"),
    [
        ("#training", ids.TAB_TRAINING),
        ("#comparison", ids.TAB_COMPARISON),
        ("#Configuration", ids.TAB_CONFIGURATION),
        ("configuration", ids.TAB_CONFIGURATION),
        ("", None),
        (None, None),
        ("#nope", None),
        ("#" + "x" * 10_000, None),
    ],
)
def test_tab_for_hash(url_hash: str | None, tab: str | None) -> None:
    assert shell.tab_for_hash(url_hash) == tab


def test_hash_round_trips_for_every_tab() -> None:
    for _, value, _, _ in shell.TABS:
        assert shell.tab_for_hash(shell.hash_for_tab(value)) == value
    assert shell.hash_for_tab("not-a-tab") == ""


def test_index_page_keeps_dash_placeholders_and_names_the_theme_store() -> None:
    for marker in ("{%app_entry%}", "{%config%}", "{%scripts%}", "{%renderer%}", "{%css%}"):
        assert marker in shell.INDEX_STRING
    assert f'data-theme-store="{ids.THEME_STORE}"' in shell.INDEX_STRING
    assert '<html lang="en"' in shell.INDEX_STRING
