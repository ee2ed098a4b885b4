"""Save corrections to the run over HTTP: who is recorded (the login nginx checked, only when
the operator trusts the header), through the app's own store slot (``DASHBOARD_DB``)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dash
import pytest
from renderer import DISPATCH, Callbacks
from tracking_samples import case_dir

import simulator as sim
from layouts import ids
from tracking import store as store_module
from tracking.control import HEADER, TRUST_ENV
from tracking.ingest import ingest
from views import config_form as cf
from views import config_plan as cp

CASE = "trainer-state-metamath-sft"
NAMES = {
    ids.CFG_FIELD: list(cf.FIELDS),
    ids.CFG_FEEDBACK: list(cf.FIELDS),
    ids.CFG_HINT: list(cf.FIELDS),
    ids.CFG_GROUP: list(cf.GROUPS),
    ids.CFG_ADVICE: [],
    ids.CFG_PROV: list(cp.MARK_NAMES),
}
FIELD_KEY = '{"name":["ALL"],"type":"cfg-field"}.value'


def _save(app: dash.Dash, plan: Any, values: dict[str, Any], user: str) -> dict[str, Any]:
    client = app.server.test_client()
    callbacks = Callbacks(client.get("/_dash-dependencies").json, components=NAMES)
    dep = callbacks.find(ids.CFG_PLAN_SAVE, "n_clicks")
    request = callbacks.request(
        dep,
        {
            f"{ids.CFG_PLAN_SAVE}.n_clicks": 1,
            f"{ids.CFG_PRESET}.value": "llama-2-7b",
            FIELD_KEY: values,
            f"{ids.CFG_PLAN_STORE}.data": plan,
        },
        [f"{ids.CFG_PLAN_SAVE}.n_clicks"],
    )
    r = client.post(
        DISPATCH,
        data=callbacks.encode(request),
        content_type="application/json",
        headers={HEADER: user},
    )
    assert r.status_code == 200, r.get_data(as_text=True)
    return dict(r.get_json()["response"])


@pytest.mark.parametrize(("trust", "recorded"), [("1", "alice"), ("", "dashboard")])
def test_the_correction_records_the_login_only_when_the_operator_trusts_it(
    make_app: Callable[[], dash.Dash],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    trust: str,
    recorded: str,
) -> None:
    root = tmp_path / CASE
    shutil.copytree(case_dir(CASE), root)
    url = f"sqlite:///{tmp_path / 'runs.sqlite3'}"
    store = store_module.open(url)
    [report] = ingest(store, [root.resolve()])
    monkeypatch.setenv(store_module.ENV, url)
    monkeypatch.setenv(TRUST_ENV, trust)
    loaded = cp.load_plan(lambda: store, report.run_id)
    assert loaded.config is not None
    _, values = cf.config_to_form(loaded.config.with_changes({"precision": "fp16"}))
    response = _save(make_app(), loaded.plan, values, "alice")
    assert f"corrected by {recorded}" in str(response[ids.CFG_MESSAGE]["children"])
    assert store.params(report.run_id)["dashboard.recipe_by.precision"] == recorded
    assert (
        sim.TrainingConfig.from_dict(response[ids.CFG_PLAN_STORE]["data"]["config"]).precision
        == "fp16"
    )
