"""gzip for every text response the app makes, so ``python app.py`` sends what nginx would.

Behind nginx (deploy/nginx.conf) responses are compressed at the edge; ``make run`` (Flask's
own server) sent the page's 6.9 MB uncompressed (issue 17). Here the app compresses its own
responses when the browser accepts gzip, so the first load weighs the same whichever serves
it. nginx does not pass the browser's ``Accept-Encoding`` on, so behind it the app never
compresses and gunicorn's workers spend no time (and no GIL) on it.

- What: JavaScript, CSS, JSON, SVG and HTML answers of at least ``MIN_BYTES`` with status
  200. Streamed answers (the CSV export, ``callbacks/export.py``) are left to nginx: the app
  would have to hold the whole file to compress it here.
- Files (Dash's bundles, ``assets/``) are the same bytes for everyone, so each is compressed
  once at the highest level and kept (``Compressed``: at most ``CACHE_BYTES`` of gzip, held
  by the app, keyed by path and ETag, so a changed file is compressed again). Everything
  else (the page, the layout, callbacks) is compressed per answer at ``LEVEL``, as nginx
  does: the 124 KB layout takes about 1 ms (14 KB sent).
- Caching stays right: ``Vary: Accept-Encoding`` on every answer that could be compressed
  (to a request that says what it accepts), a compressed answer's ETag made weak (as nginx
  does; it is another representation), and revalidation (``If-None-Match``) answers 304.

No module-level mutable state: the cache lives in the Flask app's ``extensions``.
"""

from __future__ import annotations

import gzip
import threading
from collections import OrderedDict

import dash
import flask

MIN_BYTES = 512  # nginx's gzip_min_length: below this gzip saves less than its header costs
LEVEL = 5  # per-answer level (nginx's gzip_comp_level): most of the gain for little CPU
FILE_LEVEL = 9  # files are compressed once, so the smallest output is worth its time
CACHE_BYTES = 16 * 1024 * 1024  # the files a page loads are under 1 MB of gzip
COMPRESSIBLE = frozenset(
    {
        "text/html",
        "text/css",
        "text/javascript",
        "application/javascript",
        "application/json",
        "image/svg+xml",
    }
)
_KEY = "llm_dashboard.compressed"


class Compressed:
    """The compressed bytes of files served, most recently used kept, at most ``limit``."""

    def __init__(self, limit: int = CACHE_BYTES) -> None:
        self.limit = limit
        self._items: OrderedDict[tuple[str, str], bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str]) -> bytes | None:
        """The gzip kept for ``key`` (path, ETag), if any."""
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: tuple[str, str], data: bytes) -> bytes:
        """``data`` gzipped, kept for ``key`` while it fits among the most recent."""
        packed = gzip.compress(data, FILE_LEVEL, mtime=0)
        with self._lock:
            if key not in self._items and len(packed) <= self.limit:
                self._items[key] = packed
                self._size += len(packed)
                while self._size > self.limit:
                    _, dropped = self._items.popitem(last=False)
                    self._size -= len(dropped)
        return packed


def accepts_gzip(request: flask.Request) -> bool:
    """Whether the browser takes gzip (``Accept-Encoding: gzip``, not refused with ``q=0``)."""
    return request.accept_encodings["gzip"] > 0


FILE_ROUTES = ("assets/", "_dash-component-suites/")
"""Where the app serves files (under its prefix): ``assets/`` and Dash's bundles."""


def file_endpoints(app: dash.Dash) -> frozenset[str]:
    """The Flask endpoints of the routes that serve files (``FILE_ROUTES``)."""
    prefix = app.config.routes_pathname_prefix
    return frozenset(
        rule.endpoint
        for rule in app.server.url_map.iter_rules()
        if rule.rule.startswith(tuple(prefix + route for route in FILE_ROUTES))
    )


def register(dash_app: dash.Dash) -> None:
    """Compress the answers of ``dash_app``'s server; files are compressed once and kept."""
    app = dash_app.server
    app.extensions[_KEY] = Compressed()
    files = file_endpoints(dash_app)
    cache: Compressed = app.extensions[_KEY]

    def compress(response: flask.Response) -> flask.Response:
        request = flask.request
        if response.mimetype not in COMPRESSIBLE or "Accept-Encoding" not in request.headers:
            return response  # behind nginx there is none: nginx compresses, and adds Vary
        response.vary.add("Accept-Encoding")
        if (
            response.status_code != 200
            or (response.is_streamed and not response.direct_passthrough)  # not send_file's
            or "Content-Encoding" in response.headers
            or "no-transform" in (response.headers.get("Cache-Control") or "")
            or not accepts_gzip(request)
        ):
            return response
        etag, _ = response.get_etag()
        if request.endpoint in files:
            if (response.content_length or MIN_BYTES) < MIN_BYTES:
                return response
            key = (request.path, etag or "")
            found = cache.get(key)
            if found is None:
                response.direct_passthrough = False  # send_file's answer: read the file here
                packed = cache.put(key, response.get_data())
            else:
                close = getattr(response.response, "close", None)
                if close is not None:
                    close()  # the file send_file opened is not read
                packed = found
        else:
            data = response.get_data()
            if len(data) < MIN_BYTES:
                return response
            packed = gzip.compress(data, LEVEL, mtime=0)
        response.set_data(packed)
        response.headers["Content-Encoding"] = "gzip"
        if etag:
            response.set_etag(etag, weak=True)
            # Dash's own bundle route compares If-None-Match strictly, and a weak tag never
            # matches that way: answer the revalidation here.
            response.make_conditional(request)
        return response

    app.after_request(compress)
