"""``GET /healthz``: a liveness probe for nginx, load balancers and ``make serve``.

A plain Flask route, not a Dash callback, so a probe costs no layout or callback work. It
answers 200 with a small JSON body whenever the worker can serve requests, from any worker,
because the server holds no per-user state. Dash 4's own ``health_endpoint`` answers plain
text "OK"; this one also says which build and which run-state schema the worker speaks, which
tells a rolling deploy when old and new workers disagree.

Registered by ``app.create_app`` through ``register(server, prefix)``; nothing here imports
the app.
"""

from __future__ import annotations

from importlib import metadata

import flask

import simulator

DIST_NAME = "llm-training-dashboard"


def _version() -> str:
    try:
        return metadata.version(DIST_NAME)
    except metadata.PackageNotFoundError:  # running from a checkout that was never installed
        return "unknown"


def register(server: flask.Flask, prefix: str = "/") -> None:
    """Add ``{prefix}healthz`` to ``server``.

    Args:
        server: The Flask app behind Dash (``app.server``).
        prefix: Dash's ``routes_pathname_prefix`` (``"/"`` unless the app lives under a
            sub-path), so the probe sits beside the app's own routes.
    """
    body = {"status": "ok", "version": _version(), "state_schema": simulator.SCHEMA_VERSION}

    def healthz() -> flask.Response:
        response = flask.jsonify(body)
        response.headers["Cache-Control"] = "no-store"
        return response

    server.add_url_rule(f"{prefix}healthz", endpoint="healthz", view_func=healthz)
