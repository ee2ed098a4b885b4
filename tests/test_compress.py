"""The app compresses what it sends (callbacks/compress.py): ``python app.py`` weighs what nginx
sends, and revalidation and the security headers still work on a compressed answer."""

from __future__ import annotations

import gzip
import random
import re
from collections.abc import Callable
from typing import Any

import dash
import pytest

from callbacks import compress

GZIP = {"Accept-Encoding": "gzip, deflate, br"}


@pytest.fixture
def client(make_app: Callable[[], dash.Dash]) -> Any:
    return make_app().server.test_client()


def _page_files(client: Any) -> list[str]:
    """Every script and stylesheet the index page names (all on the app's own origin)."""
    page = client.get("/").get_data(as_text=True)
    return re.findall(r'<script src="([^"]+)"', page) + re.findall(
        r'<link rel="stylesheet" href="([^"]+)"', page
    )


def test_the_page_its_files_and_layout_come_gzipped_and_a_third_the_size(client: Any) -> None:
    urls = ["/", "/_dash-layout", "/_dash-dependencies", *_page_files(client)]
    assert len(urls) > 15
    plain = sent = 0
    for url in urls:
        identity = client.get(url)
        r = client.get(url, headers=GZIP)
        assert r.status_code == 200, url
        assert "Accept-Encoding" in r.vary, url
        assert r.headers.get("Content-Security-Policy") == identity.headers.get(
            "Content-Security-Policy"
        )
        plain += len(identity.data)
        if len(identity.data) < compress.MIN_BYTES:
            assert "Content-Encoding" not in r.headers, url
            sent += len(r.data)
            continue
        assert r.headers["Content-Encoding"] == "gzip", url
        body = gzip.decompress(r.data)
        if url == "/":  # the page carries a token signed per load: same page, other token
            assert body.startswith(b"<!DOCTYPE html>") and len(body) == len(identity.data)
        else:
            assert body == identity.data, url
        sent += len(r.data)
    assert sent * 3 < plain, (sent, plain)


@pytest.mark.parametrize("accept", [None, "identity", "gzip;q=0, identity", "br"])
def test_a_browser_that_refuses_gzip_gets_the_plain_bytes(client: Any, accept: str | None) -> None:
    headers = {"Accept-Encoding": accept} if accept else {}
    r = client.get("/_dash-layout", headers=headers)
    assert "Content-Encoding" not in r.headers
    assert r.get_json()  # readable as it is


@pytest.mark.parametrize(
    "url",
    [
        "/assets/00-vendor/bootstrap-5.3.6/bootstrap.min.css",  # send_file (assets/)
        "/_dash-component-suites/dash/dcc/async-graph.js",  # Dash's bundle route, unversioned
    ],
)
def test_a_compressed_file_is_revalidated_with_304(client: Any, url: str) -> None:
    first = client.get(url, headers=GZIP)
    assert first.headers["Content-Encoding"] == "gzip"
    etag = first.headers["ETag"]
    assert etag.startswith('W/"')  # another representation of the file: a weak tag
    again = client.get(url, headers={**GZIP, "If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    assert client.get(url, headers=GZIP).data == first.data  # the same bytes every time


def test_fonts_and_tiny_answers_are_sent_as_they_are(client: Any) -> None:
    for url in (
        "/assets/00-vendor/inter-5.3.0/inter-latin-wght-normal.woff2",  # already compressed
        "/healthz",  # JSON under MIN_BYTES: gzip would make it larger
    ):
        r = client.get(url, headers=GZIP)
        assert r.status_code == 200 and "Content-Encoding" not in r.headers, url


def test_kept_files_stay_within_their_bound_newest_first() -> None:
    kept = compress.Compressed(limit=3_000)
    noise = [random.Random(i).randbytes(1_200) for i in range(3)]  # gzip cannot shrink these
    first = kept.put(("/a", "1"), noise[0])
    assert gzip.decompress(first) == noise[0]
    assert kept.get(("/a", "1")) == first
    assert kept.get(("/a", "2")) is None  # a changed file (new ETag) is compressed again
    kept.put(("/b", "1"), noise[1])
    kept.put(("/c", "1"), noise[2])
    assert kept.get(("/a", "1")) is None  # the oldest made room
    assert kept.get(("/c", "1")) is not None
