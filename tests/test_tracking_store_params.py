"""``Store.update_params`` and the ``dashboard.`` params ``put_run`` keeps, on both engines
(docs/tracking.md, "Recipe corrections from the dashboard")."""

from __future__ import annotations

import pytest

from tracking import store as store_module
from tracking.store import UnknownRun

pytest_plugins = ["tracking_pg"]  # store_url: SQLite and PostgreSQL


def test_update_params_merges_and_put_run_keeps_the_dashboards_keys(store_url: str) -> None:
    s = store_module.open(store_url)
    s.put_run("r1", params={"args.learning_rate": "0.0003"})
    now = s.update_params("r1", {"dashboard.recipe.gpu": "h100-sxm", "recipe.gpu": "h100-sxm"})
    assert now == {
        "args.learning_rate": "0.0003",
        "dashboard.recipe.gpu": "h100-sxm",
        "recipe.gpu": "h100-sxm",
    }
    s.put_run("r1", params={"args.learning_rate": "0.0001"})  # the watcher rewrites them
    assert s.params("r1") == {"args.learning_rate": "0.0001", "dashboard.recipe.gpu": "h100-sxm"}
    s.update_params("r1", {"dashboard.recipe.gpu": None})
    assert s.params("r1") == {"args.learning_rate": "0.0001"}
    s.delete_run("r1")
    with pytest.raises(UnknownRun):
        s.update_params("r1", {"dashboard.recipe.gpu": "a100-80gb"})
    assert s.run("r1") is None  # a deleted run is not made again
