"""The connection banner's place in the page and the retry policy of assets/js/connection.js.

The behaviour itself (banner, retries, the run carrying on) is exercised by a real browser
against real nginx and gunicorn in tests/deploy/test_outage_browser.py; these checks are the
cheap ones that say the page is wired for it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import dash

from layouts import ids, shell

ROOT = Path(__file__).resolve().parent.parent
JS = ROOT / "assets" / "js" / "connection.js"


def _banner_tag(page: str) -> str:
    match = re.search(rf'<div id="{ids.CONNECTION_BANNER}"[^>]*>', page)
    assert match, "the index page has the connection banner"
    return match.group(0)


def test_index_page_has_an_accessible_hidden_banner(make_app: Callable[[], dash.Dash]) -> None:
    page = make_app().server.test_client().get("/").get_data(as_text=True)
    tag = _banner_tag(page)
    assert 'role="status"' in tag
    assert 'aria-live="polite"' in tag
    assert " hidden" in tag, "nothing shows while the server answers"
    # The script finds the banner by the id written on <html>, defined once in ids.py.
    assert f'data-connection-banner="{ids.CONNECTION_BANNER}"' in page
    # Outside Dash's React root, so React never re-renders over what the script writes.
    assert page.index(tag) < page.index('id="react-entry-point"')


def test_page_loads_the_script_and_its_styles(make_app: Callable[[], dash.Dash]) -> None:
    page = make_app().server.test_client().get("/").get_data(as_text=True)
    assert re.search(r'<script src="[^"]*assets/js/connection\.js', page)
    assert re.search(r'<link rel="stylesheet" href="[^"]*assets/theme/connection\.css', page)


def test_banner_is_static_html_not_a_dash_component() -> None:
    ids_in_layout = {str(getattr(c, "id", None)) for c in shell.build_layout()._traverse()}
    assert ids.CONNECTION_BANNER not in ids_in_layout
    assert ids.CONNECTION_BANNER in shell.INDEX_STRING


def test_only_no_server_answers_are_retried() -> None:
    """502/503/504 (nginx without gunicorn) and 429 are retried; a 4xx or 500 never is."""
    js = JS.read_text()
    block = js[js.index("var RETRY_STATUS = {") : js.index("};", js.index("var RETRY_STATUS"))]
    retried = {int(code): kind for code, kind in re.findall(r"(\d{3}): \"(\w+)\"", block)}
    assert retried == {502: "lost", 503: "lost", 504: "lost", 429: "busy"}


def test_script_has_no_inline_handlers_or_eval() -> None:
    """A strict Content-Security-Policy forbids inline script and eval."""
    js = JS.read_text()
    assert "eval(" not in js
    assert "new Function" not in js
    assert "innerHTML" not in js
    assert 'setAttribute("on' not in js
