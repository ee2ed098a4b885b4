"""The CSV of a long run streams through nginx, compressed, with flat worker memory.

Through real nginx in front of real gunicorn. Before, Export CSV was a Dash callback whose
answer held the whole file as JSON: 128 MB for a 1M-step run, and the worker grew by
~470 MB (issue 16, item 2). Now it is a plain streamed route (``callbacks/export.py``).
"""

from __future__ import annotations

import pytest
from export_stream import download, run_at

from views import training_export as te

pytestmark = pytest.mark.deploy

MAX_GROWTH_MB = 50


def test_a_million_step_export_streams_gzipped_in_bounded_memory(stack) -> None:  # type: ignore[no-untyped-def]
    got = download(stack.base, run_at(te.MAX_EXPORT_STEPS), stack.worker_pids())
    print(got.summary())
    assert got.status == 200
    assert got.lines == 1 + te.MAX_EXPORT_STEPS  # the header and every step
    assert got.encoding == "gzip" and got.wire_bytes < got.text_bytes / 2
    assert got.growth_mb < MAX_GROWTH_MB, got.summary()
