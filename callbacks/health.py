"""``GET /healthz``, a liveness probe, and ``GET /version``, the build, for operators.

Plain Flask routes, not Dash callbacks, so a probe costs no layout or callback work. Both
answer from any worker, because the server holds no per-user state.

``/healthz`` is what nginx, load balancers, ``make serve`` and gunicorn's ``post_worker_init``
probe; nginx serves it without the login (probes carry no password), so it says nothing but
``{"status": "ok"}``: the version told anyone which release (and which known bugs) runs.
No probe reads more: they all look at the status code. (Dash 4's own ``health_endpoint``
answers plain text "OK"; this one is JSON like every other reply.)

``/version`` says which build and which run-state schema the worker speaks, which tells a
rolling deploy when old and new workers disagree. nginx asks for the login on every path but
``/healthz`` (deploy/nginx.conf), so behind a login only signed-in users and operators (who
can also ask gunicorn directly) see it.

Registered by ``app.create_app`` through ``register(server, prefix)``; nothing here imports
the app.
"""

from __future__ import annotations

from importlib import metadata

import flask

import simulator

DIST_NAME = "llm-training-dashboard"


def version() -> str:
    """The installed distribution's version, or "unknown" in a checkout never installed."""
    try:
        return metadata.version(DIST_NAME)
    except metadata.PackageNotFoundError:
        return "unknown"


def _json(body: dict[str, object]) -> flask.Response:
    response = flask.jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response


def register(server: flask.Flask, prefix: str = "/") -> None:
    """Add ``{prefix}healthz`` and ``{prefix}version`` to ``server``.

    Args:
        server: The Flask app behind Dash (``app.server``).
        prefix: Dash's ``routes_pathname_prefix`` (``"/"`` unless the app lives under a
            sub-path), so the routes sit beside the app's own.
    """
    build = {"version": version(), "state_schema": simulator.SCHEMA_VERSION}

    def healthz() -> flask.Response:
        return _json({"status": "ok"})

    def version_route() -> flask.Response:
        return _json(build)

    server.add_url_rule(f"{prefix}healthz", endpoint="healthz", view_func=healthz)
    server.add_url_rule(f"{prefix}version", endpoint="version", view_func=version_route)
