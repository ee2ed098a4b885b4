"""LLM Training Dashboard: the entry point.

``python app.py [--host H] [--port P] [--debug]`` serves on 127.0.0.1:8050 for one user;
``gunicorn -c deploy/gunicorn.conf.py app:server`` serves production behind nginx.
To serve under a sub-path, set ``DASH_URL_BASE_PATHNAME=/dash/`` (Dash reads it itself).

Dash moves the callbacks registered with ``dash.callback`` into the first app that serves a
request, so each process runs one app: the module-level one below (tests restore the
registry between apps, see tests/conftest.py).
"""

from __future__ import annotations

import argparse

import dash

import callbacks  # noqa: F401  (registers every callback)
from callbacks import compress, export, health, limits, request_guard, security
from layouts import shell
from tracking import api as tracking_api


def create_app() -> dash.Dash:
    """Build the Dash app: offline assets, the shell layout, ``/healthz``, the run API
    (``api/v1/``, docs/tracking.md)."""
    app = dash.Dash(
        __name__,
        title=shell.PRODUCT_NAME,
        update_title=None,
        serve_locally=True,
        external_stylesheets=[],
        meta_tags=list(shell.META_TAGS),
        index_string=shell.INDEX_STRING,
    )
    app.layout = shell.build_layout
    # For a layout function Dash also embeds a copy of its result in every index page, for
    # layouts that differ per request. Ours does not, and /_dash-layout already holds every
    # component the callbacks name, so the copy only doubled the first load.
    app.validation_layout = None
    health.register(app.server, app.config.routes_pathname_prefix)
    request_guard.register(app)
    security.register(app)
    limits.register(app.server)
    export.register(app.server, app.config.routes_pathname_prefix)
    tracking_api.register(app.server, app.config.routes_pathname_prefix)
    compress.register(app)
    return app


app = create_app()
server = app.server


def main(argv: list[str] | None = None) -> None:
    """Run the development server (single process; use gunicorn in production)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8050)
    parser.add_argument("--debug", action="store_true", help="hot reload and dev tools")
    args = parser.parse_args(argv)
    if not args.debug:  # (the reloader's parent process serves nothing)
        limits.work(server).warm()  # the helper starts now, not on the first heavy request
    app.run(host=args.host, port=args.port, debug=args.debug)


if __name__ == "__main__":
    main()
