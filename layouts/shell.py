"""The shell: top bar, the three tabs, and the stores and timer every tab shares.

``build_layout`` is a function, set as ``app.layout``: Dash calls it on every page load, so
each visitor gets a fresh tree and nothing is shared between sessions through the layout.

The stores live here rather than in a tab because ``dcc.Tabs`` mounts only the selected tab's
content: a Store inside a tab would lose its state whenever the user looked elsewhere, and the
run must keep ticking while the user reads the Model Comparison tab. Where each store keeps
its data (``storage_type``) is part of the design: the run lasts the browser session, the
next run's config, the saved runs and the colour mode survive a restart of the browser.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from html import escape as html_escape
from typing import Any

import dash_bootstrap_components as dbc
from dash import dcc, html

from layouts import comparison, configuration, ids, training

PRODUCT_NAME = "LLM Training Dashboard"

# (label, tab value, URL hash, content). Labels are fixed by the product; the hash makes a
# tab linkable (``/#comparison``) and is what the back button walks through.
TABS: tuple[tuple[str, str, str, Callable[[], Any]], ...] = (
    ("Training", ids.TAB_TRAINING, "training", training.layout),
    ("Model Comparison", ids.TAB_COMPARISON, "comparison", comparison.layout),
    ("Configuration", ids.TAB_CONFIGURATION, "configuration", configuration.layout),
)

TICK_MS = 500  # two ticks a second: smooth enough to watch, cheap enough for many viewers

STORE_LIMIT_BYTES = 512 * 1024
"""Largest stored value (session or local storage) the page loads into a Store. A Store is
sent with every callback that reads it, and a request may carry at most 1 MB (the request
guard and nginx refuse more with 413), so a larger value would make every such callback
fail. The largest value this app writes is 20 saved runs of at most 16 KB each (~330 KB)."""

# Every Store kept in session or local storage (id, storage, what a person calls it).
# assets/js/stores.js checks them before Dash reads them (size, JSON): saved runs that cannot
# be loaded are set aside under ids.SAVED_RUNS_ASIDE for the user to download; any other such
# value is cleared. Either way the page says so (ids.PAGE_NOTICE).
PERSISTED_STORES: tuple[tuple[str, str, str], ...] = (
    (ids.RUN_STORE, "session", "the run kept in this tab"),
    (ids.CONFIG_STORE, "local", "the config applied for the next run"),
    (ids.CFG_DRAFT, "local", "the Configuration form's unapplied edits"),
    (ids.SAVED_RUNS_STORE, "local", "your saved runs"),
    (ids.CMP_SELECTION, "local", "the comparison list"),
    (ids.THEME_STORE, "local", "the colour mode"),
)

_STORES_ATTR = html_escape(
    json.dumps(
        {
            "limit": STORE_LIMIT_BYTES,
            "stores": PERSISTED_STORES,
            "saved": ids.SAVED_RUNS_STORE,
            "aside": ids.SAVED_RUNS_ASIDE,
            "notice": ids.PAGE_NOTICE,
        },
        separators=(",", ":"),
    ),
    quote=True,
)

# Dash's default page, plus lang="en" (screen readers, hyphenation) and the theme store's id
# on <html>, where assets/js/shell.js reads it before Dash starts.
#
# The connection banner (assets/js/connection.js) is plain HTML here, outside Dash's React
# tree: it must work when no callback can reach the server, React never re-renders over what
# the script writes into it, and a live region announces changes only if it is in the page
# before they happen. The script finds it through <html data-connection-banner>. The page
# notice is plain HTML for the same reasons: assets/js/stores.js writes into it before Dash
# starts, and connection.js when the server refuses a request (413).
INDEX_STRING = (
    "<!DOCTYPE html>\n"
    f'<html lang="en" data-theme-store="{ids.THEME_STORE}" '
    f'data-connection-banner="{ids.CONNECTION_BANNER}" data-stores="{_STORES_ATTR}">\n'
    "<head>\n{%metas%}\n<title>{%title%}</title>\n{%favicon%}\n{%css%}\n</head>\n"
    "<body>\n"
    f'<div id="{ids.CONNECTION_BANNER}" class="conn-banner" role="status" aria-live="polite" '
    'data-state="" hidden></div>\n'
    f'<div id="{ids.PAGE_NOTICE}" class="page-notice" role="alert" hidden></div>\n'
    "{%app_entry%}\n<footer>\n{%config%}\n{%scripts%}\n{%renderer%}\n</footer>\n"
    "</body>\n</html>\n"
)

META_TAGS = (
    {"name": "viewport", "content": "width=device-width, initial-scale=1"},
    {"name": "color-scheme", "content": "light dark"},
    {
        "name": "description",
        "content": "Watch, control, compare and plan LLM training runs.",
    },
)


def hash_for_tab(tab: str | None) -> str:
    """The URL hash that opens ``tab`` (``"#training"``), or ``""`` for an unknown value."""
    for _, value, slug, _ in TABS:
        if value == tab:
            return f"#{slug}"
    return ""


def tab_for_hash(url_hash: str | None) -> str | None:
    """The tab a URL hash asks for, or ``None`` when it names no tab (any case, ``#`` optional)."""
    slug = (url_hash or "").lstrip("#").strip().lower()
    for _, value, tab_slug, _ in TABS:
        if slug == tab_slug:
            return value
    return None


def build_layout() -> html.Div:
    """The whole page: top bar, tabs, shared stores, tick timer and alert area."""
    return html.Div(
        [
            dcc.Location(id=ids.URL, refresh=False),
            dcc.Store(id=ids.RUN_STORE, storage_type="session"),
            dcc.Store(id=ids.CONFIG_STORE, storage_type="local"),
            dcc.Store(id=ids.CFG_DRAFT, storage_type="local"),  # Configuration's unapplied form
            dcc.Store(id=ids.SAVED_RUNS_STORE, storage_type="local"),
            # The comparison list: here, not in its tab (whose Stores are read from local
            # storage only when it mounts), so its views can be drawn before it is shown.
            dcc.Store(id=ids.CMP_SELECTION, storage_type="local"),
            dcc.Store(id=ids.THEME_STORE, storage_type="local"),
            # The real run the Training tab shows, for the top bar (views.real_tab.Chosen.badge).
            dcc.Store(id=ids.TR_REAL_BADGE, storage_type="memory"),
            dcc.Interval(id=ids.TICK, interval=TICK_MS, disabled=True),
            *_opened_stores(),
            _top_bar(),
            html.Div(id=ids.ALERT_AREA, className="alert-area", role="status"),
            _tabs(),
        ],
        className="app-shell",
    )


def _opened_stores() -> list[dcc.Store]:
    """One Store per tab that does not open first, set once (``assets/js/shell.js``
    ``openTabs``): just after the Training charts are first drawn, or at once when that tab
    is shown first. (A ``?config=`` link opened on the Training tab is thus read, reported
    if bad and cleared from the address just after the charts.)

    Why: the Comparison and Configuration callbacks that fill a tab take these as inputs
    instead of running at page load, where they cost the page's main thread about 0.7 s
    before the Training charts were drawn (issue 17, ``benchmarks/bench_page.py``). Drawn
    right after the charts rather than when the tab is clicked, a tab switch only shows
    them (a click that waited for the Comparison views took 0.5-0.6 s instead of 0.2).
    Each Store says which tab it is for, so the script needs no copy of the tab values."""
    return [
        dcc.Store(id=ids.CMP_OPENED, data={"tab": ids.TAB_COMPARISON}),
        dcc.Store(id=ids.CFG_OPENED, data={"tab": ids.TAB_CONFIGURATION}),
    ]


def _top_bar() -> html.Header:
    return html.Header(
        [
            html.Div(
                [
                    html.Span(className="app-logo", **{"aria-hidden": "true"}),
                    html.H1(PRODUCT_NAME, className="app-title"),
                    html.Span(
                        "Simulated",
                        id=ids.APP_TAG,
                        className="app-tag",
                        title="Runs come from a built-in simulator grounded in published "
                        "scaling laws and hardware figures.",
                    ),
                ],
                className="app-brand",
            ),
            html.Span(className="app-topbar-divider", **{"aria-hidden": "true"}),
            html.Span(
                "Idle",
                id=ids.STATUS_BADGE,
                className="status-badge status-idle",
                title="Run status",
                role="status",
                **{"aria-live": "polite"},
            ),
            html.Div(
                [
                    html.Span(className="theme-icon theme-icon-sun", **{"aria-hidden": "true"}),
                    dbc.Switch(
                        id=ids.THEME_SWITCH,
                        value=False,
                        label=html.Span("Dark mode", className="visually-hidden"),
                        class_name="mb-0",
                    ),
                    html.Span(className="theme-icon theme-icon-moon", **{"aria-hidden": "true"}),
                ],
                className="theme-toggle",
                title="Light or dark mode",
            ),
        ],
        className="app-topbar",
    )


def _tabs() -> dcc.Tabs:
    # dcc.Tabs (Dash 4.4) draws its tabs as plain <div>s with a click handler only: no role, no
    # tabindex, no keys. assets/js/tabs.js makes the strip an ARIA tablist (roles, selection,
    # roving tabindex, arrow keys, Enter and Space); the panels' role and names are set here.
    return dcc.Tabs(
        id=ids.TABS,
        value=ids.TAB_TRAINING,
        className="app-tabs",
        parent_className="app-tabs-parent",
        content_className="app-tab-content",
        mobile_breakpoint=0,
        children=[
            dcc.Tab(
                id=ids.TAB_ELEMENT.format(slug),
                label=label,
                value=value,
                className="app-tab",
                selected_className="app-tab--selected",
                children=html.Div(
                    content(),
                    id=ids.TAB_PANEL.format(slug),
                    className="tab-panel",
                    role="tabpanel",
                    **{"data-tab": slug, "aria-labelledby": ids.TAB_ELEMENT.format(slug)},
                ),
            )
            for label, value, slug, content in TABS
        ],
    )
