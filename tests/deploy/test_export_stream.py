"""The CSV of a long run streams through nginx, compressed, with flat worker memory.

Through real nginx in front of real gunicorn. Before, Export CSV was a Dash callback whose
answer held the whole file as JSON: 128 MB for a 1M-step run, and the worker grew by
~470 MB (issue 16, item 2). Now it is a plain streamed route (``callbacks/export.py``).
"""

from __future__ import annotations

import pytest
import requests
from export_stream import download, run_at

from views import training_export as te

pytestmark = pytest.mark.deploy

MAX_GROWTH_MB = 50


def test_a_million_step_export_streams_gzipped_in_bounded_memory(stack) -> None:  # type: ignore[no-untyped-def]
    workers = stack.worker_pids()
    # A short export first on each worker starts its helper process (callbacks/limits.py):
    # a fixed cost per worker, whatever the exports, counted in the "before" figure.
    warm = [download(stack.base, run_at(50_000), workers) for _ in range(3)]
    print("warm-up:", warm[0].summary())
    got = download(stack.base, run_at(te.MAX_EXPORT_STEPS), workers)
    print(got.summary())
    assert got.status == 200
    assert got.lines == 1 + te.MAX_EXPORT_STEPS  # the header and every step
    assert got.encoding == "gzip" and got.wire_bytes < got.text_bytes / 2
    assert got.growth_mb < MAX_GROWTH_MB, got.summary()


def test_a_script_looping_over_exports_is_refused(stack) -> None:  # type: ignore[no-untyped-def]
    """nginx's exports limit (6 a minute, a burst of 5) answers JSON 429s to a loop; the
    requests here name no run, so the app itself would answer 400 at once."""
    codes = []
    for _ in range(12):
        got = requests.get(stack.base + "/export/metrics.csv?run=x", timeout=10)
        codes.append(got.status_code)
        if got.status_code == 429:
            assert got.json()["status"] == 429 and got.headers["Content-Type"].startswith(
                "application/json"
            )
    assert codes.count(429) >= 5 and set(codes) <= {400, 429}, codes
