"""``GET {prefix}export/metrics.csv?run=...``: the Training tab's CSV, streamed.

A plain Flask route, not a callback: a callback's answer is one JSON document built in
memory (a 1M-step run made a 128 MB reply and grew the worker by ~470 MB), while this answer
is a stream of ``views.training_export.csv_chunks``, so a worker's memory stays flat at any
run length and nginx compresses it on the way (``gzip_types text/csv``). The browser gets the
link from the Export button's callback and downloads it like any file
(``Content-Disposition: attachment``).

Bounded like everything else (docs/architecture.md, "Trust nothing from the browser"): the
run in the link is validated before any work; an export takes the worker's one heavy-job
slot (``limits.HEAVY_SLOTS``: another export or long redraw gets 503 and ``Retry-After``);
each chunk is computed in the worker's low-priority helper process, so ticks and
``/healthz`` go first; a client that goes away stops the stream at the next chunk (the
server's write fails and the generator is closed). nginx limits how often one client may
start an export (deploy/nginx.conf).
"""

from __future__ import annotations

from collections.abc import Callable

import flask

from callbacks import limits
from callbacks.security import error_body
from views import training_export as te

RETRY_AFTER_S = 5
ROUTE = "export/metrics.csv"


def register(server: flask.Flask, prefix: str = "/") -> None:
    """Add ``{prefix}export/metrics.csv`` to ``server`` (after ``limits.register``)."""

    def metrics_csv() -> flask.Response:
        state, problem = te.run_from_token(flask.request.args.get("run"))
        if state is None:
            return error_body(400, f"Export refused: {problem}.")
        why = te.refusal(state)
        if why is not None:
            return error_body(400, why)
        work = limits.work(server)
        if not work.slots.acquire(blocking=False):
            response = error_body(
                503,
                "the server is busy with another export or a long redraw; "
                "try the export again in a few seconds",
            )
            response.headers["Retry-After"] = str(RETRY_AFTER_S)
            return response

        def chunk(job: Callable[[], str]) -> str:
            # Headers and earlier rows are sent already: if the helper cannot run this chunk,
            # compute it here rather than cut the file short under a 200.
            try:
                return work.nice(job)
            except limits.Busy:
                return job()

        response = flask.Response(te.csv_chunks(state, chunk), mimetype="text/csv")
        # Released when the server closes the response: finished, failed or abandoned.
        response.call_on_close(work.slots.release)
        response.headers["Content-Disposition"] = f'attachment; filename="{te.file_name(state)}"'
        response.headers["Cache-Control"] = "no-store"
        return response

    server.add_url_rule(f"{prefix}{ROUTE}", endpoint="export_metrics_csv", view_func=metrics_csv)
