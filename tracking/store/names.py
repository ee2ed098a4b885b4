"""Checks for the names a caller hands the store (run ids, metric names, token names).

Run ids appear in URLs (``/api/v1/runs/<run_id>``) and on the command line, so they are kept
to short ASCII that needs no escaping and cannot be ``.`` or ``..``. Metric names come from
the logs themselves (``train/loss``, ``eval_loss``), so they may hold any printable text, but
bounded.
"""

from __future__ import annotations

import re

from tracking.store.errors import BadName, BadRunId

MAX_RUN_ID = 128
MAX_METRIC = 200
MAX_TOKEN_NAME = 64

_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_run_id(run_id: object) -> str:
    """``run_id`` if it is 1..128 of ``[A-Za-z0-9._-]`` starting with a letter or digit."""
    if not isinstance(run_id, str) or not _RUN_ID.fullmatch(run_id) or len(run_id) > MAX_RUN_ID:
        raise BadRunId(
            f"run id {run_id!r} is not allowed: use 1 to {MAX_RUN_ID} ASCII letters, digits, "
            "'.', '_' or '-', starting with a letter or digit"
        )
    return run_id


def check_metric(metric: object) -> str:
    """``metric`` if it is 1..200 characters with no control characters."""
    if (
        not isinstance(metric, str)
        or not metric
        or len(metric) > MAX_METRIC
        or _CONTROL.search(metric)
    ):
        raise BadName(
            f"metric name {metric!r} is not allowed: use 1 to {MAX_METRIC} characters "
            "without control characters"
        )
    return metric


def check_token_name(name: object) -> str:
    """A token's name follows the run-id rule, at most 64 characters."""
    if not isinstance(name, str) or not _RUN_ID.fullmatch(name) or len(name) > MAX_TOKEN_NAME:
        raise BadName(
            f"token name {name!r} is not allowed: use 1 to {MAX_TOKEN_NAME} ASCII letters, "
            "digits, '.', '_' or '-', starting with a letter or digit"
        )
    return name
