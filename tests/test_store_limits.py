"""The stored-value check of assets/js/stores.js knows every persisted Store and a limit that
fits both what the app writes and what a request may carry."""

from __future__ import annotations

from typing import Any

from dash import dcc

from callbacks.request_guard import MAX_BODY_BYTES
from layouts import shell
from simulator.run import MAX_STATE_BYTES
from simulator.saved import MAX_SAVED


def _stores(node: Any) -> list[dcc.Store]:
    found = [node] if isinstance(node, dcc.Store) else []
    children = getattr(node, "children", None)
    for child in children if isinstance(children, (list, tuple)) else [children]:
        if child is not None and hasattr(child, "to_plotly_json"):
            found += _stores(child)
    return found


def test_every_store_kept_in_browser_storage_is_checked_on_load() -> None:
    persisted = {
        (s.id, s.storage_type)
        for s in _stores(shell.build_layout())
        if getattr(s, "storage_type", "memory") != "memory"
    }
    assert persisted == {(sid, kind) for sid, kind, _ in shell.PERSISTED_STORES}


def test_the_limit_fits_the_largest_saved_list_and_leaves_room_in_a_request() -> None:
    largest_saved = MAX_SAVED * (MAX_STATE_BYTES + 40)
    assert largest_saved < shell.STORE_LIMIT_BYTES <= MAX_BODY_BYTES // 2
