"""Security headers on every response, debug off, and no stack trace in any reply.

Flask-level, so ``python app.py`` and gunicorn send the same headers on every response the
app makes: the page, Dash's bundles and assets, callbacks, ``/healthz`` and the error
replies (400/404/405/413/500). nginx adds the same headers to the replies it makes itself
(deploy/nginx.conf); ``policy_headers`` is the single source both are checked against.

The Content-Security-Policy allows only the app's own origin. Dash writes inline
``<script>`` into the page for its renderer bootstrap and for any clientside callback given
as a JavaScript string (this app has none: they are named functions in assets/js/). Those
are allowed by hash (``app.csp_hashes()``), computed when a response is made, so callbacks
registered after the app was built are covered too; hashing them costs microseconds.
Everything else is a file under assets/ or Dash's bundles, served from the same origin.

Every error reply is ``{"error": "<what was wrong>; <what is allowed>", "status": code}``
JSON, the shape nginx's own errors have, never Werkzeug's HTML page: a missing asset or a path
outside the app's prefix (404), a wrong method (405, with ``Allow``). Two of Dash's routes
are closed further:

- ``_dash-component-suites/<package>/<path>`` raises ``DependencyException`` for a package
  or path it did not register (``dash._validate.validate_js_path``), and ``FileNotFoundError``
  for two it registers but does not ship (``dash_renderer.min.js.map``,
  ``async-mathjax.js.map`` in Dash 4.4.1). Flask logged each as an unhandled 500 with a 3 KB
  traceback (listing every registered bundle); here the route answers 404 and logs nothing
  (the access log has the request).
- ``_reload-hash`` answers the hot-reload poll with the installed component packages; it is
  a 404 unless Dash's hot reload runs (``python app.py --debug``), which gunicorn never
  starts.

Registered by ``app.create_app`` through ``register(app)``; no module-level mutable state.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dash
import flask
from dash.exceptions import DependencyException
from werkzeug.exceptions import HTTPException, InternalServerError, MethodNotAllowed, NotFound

# 'unsafe-inline' for styles only: plotly.js (and Dash's components) write stylesheets into
# <style> elements at run time (modebar, hover labels, cursors), made in the browser, so they
# cannot be hashed in advance. With "style-src 'self'" Chromium refused 40 inline <style>
# elements (all style-src-elem) during tests/browser/test_security_browser.py's walk.
# Inline styles cannot run code; scripts stay 'self' plus hashes, without 'unsafe-inline'.
STYLE_SRC = "'self' 'unsafe-inline'"

STATIC_HEADERS: dict[str, str] = {
    "X-Content-Type-Options": "nosniff",
    # no-referrer: the app links nowhere that needs to know where a visitor came from, and a
    # URL under a shared host may name a team or project; the strictest setting costs nothing.
    "Referrer-Policy": "no-referrer",
    # For browsers older than CSP's frame-ancestors.
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    # The app uses none of these; a script that got in could not either.
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
}


def content_security_policy(script_hashes: Sequence[str]) -> str:
    """The CSP header value, with ``script_hashes`` (``'sha256-...'``) allowed as scripts."""
    directives = {
        "default-src": "'self'",
        "script-src": " ".join(["'self'", *script_hashes]),
        "style-src": STYLE_SRC,
        # Bootstrap's form controls draw their arrows and checks as data: SVGs.
        "img-src": "'self' data:",
        "font-src": "'self'",
        "connect-src": "'self'",
        "object-src": "'none'",
        "base-uri": "'self'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
    }
    return "; ".join(f"{name} {value}" for name, value in directives.items())


def policy_headers(app: dash.Dash) -> dict[str, str]:
    """Every security header the app sends, for ``app`` as it is registered right now."""
    # csp_hashes() also moves callbacks registered with dash.callback since the last call
    # into the app (as serving the page does), so the hashes match the page it serves.
    return {
        "Content-Security-Policy": content_security_policy(app.csp_hashes()),
        **STATIC_HEADERS,
    }


def error_body(status: int, message: str) -> flask.Response:
    """``{"error": message, "status": status}``: the same shape nginx's own errors use."""
    response = flask.jsonify(error=message, status=status)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def register(app: dash.Dash) -> None:
    """Add the headers to every response of ``app`` and make a failure say nothing inside.

    Flask's debug flag also follows ``FLASK_DEBUG`` from the environment; it is switched off
    here, so only ``app.run(debug=True)`` (``python app.py --debug``) turns it back on. Dash's
    dev tools are only ever enabled by ``app.run``/``enable_dev_tools``, which gunicorn never
    calls, and ``app.py`` passes ``debug`` explicitly, so ``DASH_DEBUG`` cannot switch them on.
    """
    server = app.server
    server.debug = False

    def add_headers(response: flask.Response) -> flask.Response:
        for name, value in policy_headers(app).items():
            response.headers[name] = value
        return response

    def internal_error(_exc: InternalServerError) -> flask.Response:
        # The exception and its traceback go to the log (Flask logs it before calling this);
        # the browser learns only that it failed and what to do.
        return error_body(500, "internal server error: the failure is logged; retry or reload")

    server.after_request(add_headers)
    server.register_error_handler(InternalServerError, internal_error)
    server.register_error_handler(HTTPException, http_error)
    guard_bundles(app)
    reload_hash = app.config.routes_pathname_prefix + "_reload-hash"

    def no_reload_hash_in_production() -> None:
        # Read per request: app.run(debug=True) enables the dev tools after create_app.
        if flask.request.endpoint == reload_hash and not app._dev_tools.get("hot_reload"):
            raise NotFound()

    server.before_request(no_reload_hash_in_production)


NOT_FOUND = "not found: nothing is served at this address; the dashboard is at its start page"


def http_error(exc: HTTPException) -> flask.Response | HTTPException:
    """Werkzeug's HTML error page (404, 405, ...) as JSON; ``Allow`` kept on a 405.

    The more specific handlers (the 500 here, the request guard's 400/413) take precedence:
    Flask picks the handler registered for the exception's own code or class first.
    """
    if exc.code is None:  # not an error reply (Flask never routes redirects here)
        return exc
    if isinstance(exc, NotFound):
        response = error_body(404, NOT_FOUND)
    elif isinstance(exc, MethodNotAllowed):
        allowed = ", ".join(sorted(exc.valid_methods or []))
        method = flask.request.method
        response = error_body(405, f"method {method} is not allowed here; allowed: {allowed}")
    else:
        response = error_body(exc.code, f"{exc.name.lower()}: {exc.description}")
    for name, value in exc.get_headers():
        if name != "Content-Type":
            response.headers[name] = value
    return response


BUNDLE_ROUTE = "_dash-component-suites/<string:package_name>/<path:fingerprinted_path>"
"""Dash's route for its components' JavaScript (``dash/backends/_flask.py``)."""


def guard_bundles(app: dash.Dash) -> None:
    """Answer 404, logging nothing, for a bundle path Dash cannot serve.

    Wraps Dash's own view (its endpoint is the prefixed rule), so only this route's two
    "no such file" failures become 404s; any other exception there is still a logged 500.
    The exception's text (every registered bundle) stays out of the reply: the page names
    every bundle it needs. A Dash release that renames the route fails here, at start-up.
    """
    endpoint = app.config.routes_pathname_prefix + BUNDLE_ROUTE
    serve = app.server.view_functions[endpoint]

    def serve_known_bundles(**kwargs: str) -> Any:
        try:
            return serve(**kwargs)
        except (DependencyException, FileNotFoundError):
            return error_body(404, "not found: no such Dash bundle; the page names each it loads")

    app.server.view_functions[endpoint] = serve_known_bundles
