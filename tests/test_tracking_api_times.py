"""The read API's series and since answers carry each point's wall time (``"time"``: Unix
s, null where unknown) beside the unchanged ``step``, ``value`` and ``exact``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dash
import pytest

from tracking import store as store_module

pytest_plugins = ["tracking_pg"]  # store_url: SQLite and PostgreSQL

API = "/api/v1"


def test_series_and_since_answer_each_points_time_or_null(
    make_app: Callable[[], dash.Dash], store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DASHBOARD_DB", store_url)
    client = make_app().server.test_client()
    store = store_module.open(store_url)
    auth = {"Authorization": f"Bearer {store.create_token('trainer')}"}
    points: list[dict[str, Any]] = [
        {"step": 0, "time": 1_700_000_000.5, "metrics": {"loss": 3.0}},
        {"step": 1, "metrics": {"loss": "NaN"}},  # no time sent
        {"step": 2, "time": 1_700_000_002.25, "metrics": {"loss": 2.5}},
    ]
    reply = client.post(f"{API}/runs/run-1/points", json={"points": points}, headers=auth)
    assert reply.status_code == 200, reply.json

    series = client.get(f"{API}/runs/run-1/series/loss").json
    assert series["step"] == [0, 1, 2]
    assert series["value"] == [3.0, "NaN", 2.5]
    assert series["exact"] is True
    assert series["time"] == [1_700_000_000.5, None, 1_700_000_002.25]
    since = client.get(f"{API}/runs/run-1/since/loss?after=0").json
    assert since["step"] == [1, 2] and since["time"] == [None, 1_700_000_002.25]
    store.close()
