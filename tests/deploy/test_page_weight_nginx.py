"""The first load through nginx stays within the budget too, every text file on it compressed.

Real Chromium -> real nginx -> real gunicorn (tests/deploy/stack.py), one cold load measured
as tests/browser/test_page_weight_browser.py measures Flask's own server (tests/pageload.py).
"""

from __future__ import annotations

from typing import Any

import pageload
import pytest
from stack import Stack

pytestmark = [pytest.mark.deploy, pytest.mark.browser]

BUDGET_BYTES = 1_500_000  # issue 17: at most 1.5 MB transferred on a first load
TEXT = ("script", "link", "fetch", "navigation")  # JS, CSS, JSON and the page itself


def test_a_cold_first_load_through_nginx_is_light_and_compressed(
    stack: Stack, dash_br: Any
) -> None:
    driver = dash_br.driver
    pageload.watch(driver)  # a fresh browser: its cache is cold
    page = pageload.load(driver, stack.base + "/")
    assert page.charts_ms is not None
    largest = ", ".join(f"{t.url[:60]} {t.transferred:,} B" for t in page.largest())
    assert page.transferred <= BUDGET_BYTES, f"{page.transferred:,} B; largest: {largest}"
    # Every script, stylesheet and JSON answer worth compressing came compressed (its body
    # on the wire, transferred less a few hundred bytes of headers, is well under its size).
    for t in page.transfers:
        if t.kind in TEXT and t.decoded >= 4096:
            assert t.transferred < 0.6 * t.decoded, (t.url, t.transferred, t.decoded)


def test_nginx_compresses_and_gunicorn_is_not_asked_to(stack: Stack) -> None:
    """Compression is nginx's work: gunicorn's workers (one GIL each) spend no time on it."""
    path = "/assets/00-vendor/plotly-4.1.1/plotly-dashboard.min.js"
    gzip = {"Accept-Encoding": "gzip"}
    front = stack.session.get(stack.base + path, headers=gzip, stream=True)
    behind = stack.session.get(stack.upstream_base + path, headers=gzip, stream=True)
    sent, app_sent = front.raw.read(), behind.raw.read()
    assert front.headers["Content-Encoding"] == behind.headers["Content-Encoding"] == "gzip"
    # nginx's own gzip (level 5) differs from the app's (level 9, callbacks/compress.py): had
    # gunicorn been asked, nginx would have passed the app's bytes on as they were.
    assert sent != app_sent
    assert front.headers["Vary"] == "Accept-Encoding"  # once, nginx's
