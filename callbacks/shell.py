"""Shell callbacks: colour mode, run-status badge, and the open tab in the URL.

The colour mode and the badge are clientside (``assets/js/shell.js``): neither needs the
server, and the badge follows the run Store, which changes on every tick, so running it in the
browser saves a request per tick. They are referenced by name with ``ClientsideFunction``
rather than written as JavaScript strings here, because Dash inlines string callbacks into the
page as ``<script>`` blocks, which a strict Content-Security-Policy would block.

The tab <-> hash sync runs on the server: one small request per page load or tab click, with
its logic in Python where unit tests reach it. Its input and output are the same two props,
which Dash allows within one callback (it does not re-fire a callback on its own outputs), so
a click updates the hash and a link or the back button selects the tab, without a loop.
"""

from __future__ import annotations

from typing import Any

from dash import (
    ClientsideFunction,
    Input,
    Output,
    State,
    callback,
    clientside_callback,
    ctx,
    no_update,
)

from layouts import ids
from layouts.shell import hash_for_tab, tab_for_hash

clientside_callback(
    ClientsideFunction(namespace="shell", function_name="syncTheme"),
    Output(ids.THEME_STORE, "data"),
    Output(ids.THEME_SWITCH, "value"),
    Input(ids.THEME_SWITCH, "value"),
    Input(ids.THEME_STORE, "data"),
)

clientside_callback(
    ClientsideFunction(namespace="shell", function_name="statusBadge"),
    Output(ids.STATUS_BADGE, "children"),
    Output(ids.STATUS_BADGE, "className"),
    Output(ids.APP_TAG, "children"),
    Input(ids.RUN_STORE, "data"),
    Input(ids.TR_REAL_BADGE, "data"),
)

# The other tabs' callbacks wait for these (layouts/shell.py _opened_stores): set after the
# Training charts are first drawn (their meta Stores), or when a tab is shown first.
clientside_callback(
    ClientsideFunction(namespace="shell", function_name="openTabs"),
    Output(ids.CMP_OPENED, "data"),
    Output(ids.CFG_OPENED, "data"),
    Input(ids.TABS, "value"),
    Input(ids.TR_META, "data"),
    Input(ids.TR_REAL_META, "data"),
    State(ids.CMP_OPENED, "data"),
    State(ids.CFG_OPENED, "data"),
)


@callback(
    Output(ids.URL, "hash"),
    Output(ids.TABS, "value"),
    Input(ids.URL, "hash"),
    Input(ids.TABS, "value"),
)
def sync_tab_and_hash(url_hash: str | None, tab: str | None) -> tuple[Any, Any]:
    """A tab click writes the URL hash; a hash (link, back button) selects its tab.

    Args:
        url_hash: ``dcc.Location.hash``, e.g. ``"#comparison"``; any string from the browser.
        tab: ``dcc.Tabs.value``.

    Returns:
        ``(hash, tab)``, with ``no_update`` for whichever needs no change.
    """
    if ctx.triggered_id == ids.TABS:
        return hash_for_tab(tab) or no_update, no_update
    # The hash comes from the browser and may be anything; only a string can name a tab.
    wanted = tab_for_hash(url_hash) if isinstance(url_hash, str) else None
    if wanted is None or wanted == tab:
        return no_update, no_update
    return no_update, wanted
