"""Configuration callbacks over HTTP (Flask test client), including malformed and hostile input.

Payloads are built from /_dash-dependencies as the browser builds them, with the
pattern-matching groups (every form field) expanded, so a changed signature fails here.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any

import dash
import pytest
from renderer import Callbacks

import simulator as sim
from layouts import ids
from views import config_form as cf
from views import config_io as cio

NAMES = {
    ids.CFG_FIELD: list(cf.FIELDS),
    ids.CFG_FEEDBACK: list(cf.FIELDS),
    ids.CFG_HINT: list(cf.FIELDS),
    ids.CFG_GROUP: list(cf.GROUPS),
    ids.CFG_ADVICE: [],
}


class Client:
    """Runs Configuration callbacks by their first input (``tests/renderer.py`` builds the
    request, every form field of the ``ALL`` groups in it); returns status, response, seconds."""

    def __init__(self, app: dash.Dash) -> None:
        self.client = app.server.test_client()
        self.callbacks = Callbacks(self.client.get("/_dash-dependencies").json, components=NAMES)

    def dep(self, first_input: str) -> dict[str, Any]:
        for d in self.callbacks.dependencies:
            if d["inputs"] and f"{d['inputs'][0]['id']}.{d['inputs'][0]['property']}" == (
                first_input
            ):
                return d
        raise KeyError(first_input)

    def post(
        self, first_input: str, values: dict[str, Any], changed: list[str]
    ) -> tuple[int, dict[str, Any], float]:
        """POST the callback whose first input is ``first_input``; values keyed ``id.prop``
        (a pattern group's value is a dict name -> value). Returns status, response, seconds."""
        t0 = time.perf_counter()
        r = self.callbacks.post(self.client, self.dep(first_input), values, changed)
        dt = time.perf_counter() - t0
        payload = r.get_json(silent=True) or {}
        # Props set with set_props (``load``'s fields) come beside the outputs; the browser
        # applies both alike.
        return r.status_code, {**payload.get("sideUpdate", {}), **payload.get("response", {})}, dt


FIELD_KEY = '{"name":["ALL"],"type":"cfg-field"}.value'


def form_values(cfg: sim.TrainingConfig, **changes: Any) -> dict[str, Any]:
    model, values = cf.config_to_form(cfg)
    values.update(changes)
    return {f"{ids.CFG_PRESET}.value": model, FIELD_KEY: values}


@pytest.fixture
def ui(make_app: Callable[[], dash.Dash]) -> Client:
    return Client(make_app())


def estimate(ui: Client, values: dict[str, Any], changed: str = FIELD_KEY) -> tuple[Any, ...]:
    values = {**values, f"{ids.URL}.href": "http://localhost:8050/"}
    return ui.post(f"{ids.CFG_PRESET}.value", values, [changed])


def field_out(resp: dict[str, Any], kind: str, prop: str) -> dict[str, Any]:
    """The response's values for a pattern group, keyed by name (each id is its own key)."""
    out = {}
    for n in NAMES[kind]:
        key = json.dumps({"name": n, "type": kind}, separators=(",", ":"))
        if key in resp:
            out[n] = resp[key][prop]
    return out


def test_estimate_answers_in_one_request_with_everything(ui: Client) -> None:
    status, resp, _ = estimate(ui, form_values(sim.preset("llama-2-7b")))
    assert status == 200
    assert not any(field_out(resp, ids.CFG_FIELD, "invalid").values())
    assert resp[ids.CFG_APPLY_NEXT]["disabled"] is False
    stats = json.dumps(resp[ids.CFG_ESTIMATE]["children"])
    assert "6.74B" in stats and "Wall time" in stats
    assert resp[ids.CFG_MEMORY]["figure"]["data"]
    assert resp[ids.CFG_LR]["figure"]["data"][0]["x"]
    assert "?config=" in resp[ids.CFG_LINK]["value"]
    assert sim.TrainingConfig.from_dict(resp[ids.CFG_DRAFT]["data"]) == sim.preset("llama-2-7b")


def test_estimate_is_fast_on_the_server(ui: Client) -> None:
    estimate(ui, form_values(sim.preset("llama-2-7b")))  # warm up
    times = sorted(
        estimate(ui, form_values(sim.preset("llama-2-70b"), num_gpus=str(n)))[2]
        for n in (256, 512, 1024, 2048, 4096) * 4
    )
    assert times[len(times) // 2] < 0.05  # the budget is 20 ms; leave room for a busy machine


def test_invalid_field_is_marked_and_apply_disabled(ui: Client) -> None:
    _, resp, _ = estimate(ui, form_values(sim.preset("llama-2-7b"), seq_len="99999999"))
    invalid = field_out(resp, ids.CFG_FIELD, "invalid")
    assert [n for n, v in invalid.items() if v] == ["seq_len"]
    assert "128 – 131,072" in field_out(resp, ids.CFG_FEEDBACK, "children")["seq_len"]
    assert resp[ids.CFG_APPLY_NEXT]["disabled"] is True
    assert resp[ids.CFG_SAVE]["disabled"] is True
    assert ids.CFG_DRAFT not in resp  # the last valid draft is kept


def test_does_not_fit_shows_the_warning_and_fixes(ui: Client) -> None:
    cfg = sim.preset("llama-2-70b", num_gpus=64, zero_stage=0)
    _, resp, _ = estimate(ui, form_values(cfg))
    text = json.dumps(resp[ids.CFG_FIT]["children"])
    assert "Does not fit" in text and ids.CFG_ADVICE in text
    advice = resp[ids.CFG_ADVICE_STORE]["data"]
    assert advice and all(sim.estimate(cfg.with_changes(a)).fits for a in advice)


@pytest.mark.parametrize(
    "values",
    [
        {FIELD_KEY: {"seq_len": {"$gt": 1}}, f"{ids.CFG_PRESET}.value": "llama-2-7b"},
        {FIELD_KEY: None, f"{ids.CFG_PRESET}.value": ["x"]},
        {FIELD_KEY: {n: "9" * 39 for n in cf.FIELDS}, f"{ids.CFG_PRESET}.value": "custom"},
        {FIELD_KEY: {n: 1e308 for n in cf.FIELDS}, f"{ids.CFG_PRESET}.value": "llama-2-7b"},
    ],
)
def test_hostile_form_values_never_500(ui: Client, values: dict[str, Any]) -> None:
    status, resp, _ = estimate(ui, values)
    assert status == 200
    assert resp[ids.CFG_APPLY_NEXT]["disabled"] is True


def load(ui: Client, changed: str, **values: Any) -> tuple[int, dict[str, Any]]:
    base = form_values(sim.preset("llama-2-7b"))
    base.update(values)
    status, resp, _ = ui.post(f"{ids.CFG_OPENED}.data", base, [changed])
    return status, resp


def upload_of(content: str | bytes) -> str:
    raw = content.encode() if isinstance(content, str) else content
    return "data:application/json;base64," + base64.b64encode(raw).decode()


def test_upload_of_a_saved_file_fills_the_form(ui: Client) -> None:
    cfg = sim.preset("mistral-7b", num_gpus=128, seed=9)
    status, resp = load(
        ui,
        f"{ids.CFG_UPLOAD}.contents",
        **{
            f"{ids.CFG_UPLOAD}.contents": upload_of(cio.config_file(cfg)),
            f"{ids.CFG_UPLOAD}.filename": "m.json",
        },
    )
    assert status == 200
    fields = field_out(resp, ids.CFG_FIELD, "value")
    assert fields["num_gpus"] == "128" and fields["seed"] == "9"
    assert resp[ids.CFG_PRESET]["value"] == "mistral-7b"
    assert "Loaded m.json" in json.dumps(resp[ids.CFG_MESSAGE]["children"])


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("not json", "not valid JSON"),
        ("[]", "not a config object"),
        ('{"model":"llama-2-7b","evil":1}', "unknown setting"),
        ('{"model":"llama-2-7b","seq_len":NaN}', "not a number JSON allows"),
        ('{"model":"llama-2-7b","num_gpus":1e400}', "too large"),
        ('{"model":"llama-2-7b","num_gpus":"8"}', "a number"),
        ("[" * 5000 + "]" * 5000, "nested"),
        (b"\x00\x01\x02\xff", "UTF-8"),
        (" " * (70 * 1024), "larger than 64 KB"),
    ],
)
def test_hostile_upload_leaves_the_form_untouched(ui: Client, content: Any, says: str) -> None:
    status, resp = load(
        ui,
        f"{ids.CFG_UPLOAD}.contents",
        **{f"{ids.CFG_UPLOAD}.contents": upload_of(content), f"{ids.CFG_UPLOAD}.filename": "x"},
    )
    assert status == 200
    assert field_out(resp, ids.CFG_FIELD, "value") == {}  # every field left as it was
    assert ids.CFG_PRESET not in resp
    message = json.dumps(resp[ids.CFG_MESSAGE]["children"])
    assert "Could not load" in message and says in message


def test_upload_that_is_not_a_data_url(ui: Client) -> None:
    status, resp = load(
        ui, f"{ids.CFG_UPLOAD}.contents", **{f"{ids.CFG_UPLOAD}.contents": {"a": 1}}
    )
    assert status == 200 and "Could not load" in json.dumps(resp[ids.CFG_MESSAGE])


def test_shared_link_opens_the_same_config(ui: Client) -> None:
    cfg = sim.preset("codellama-34b", num_gpus=512, schedule="wsd")
    empty = {FIELD_KEY: dict.fromkeys(cf.FIELDS), f"{ids.CFG_PRESET}.value": "llama-2-7b"}
    search = "?config=" + cio.encode_link(cfg)
    status, resp = load(ui, f"{ids.CFG_OPENED}.data", **empty, **{f"{ids.URL}.search": search})
    assert status == 200
    fields = field_out(resp, ids.CFG_FIELD, "value")
    assert cf.form_to_config(resp[ids.CFG_PRESET]["value"], fields).config == cfg
    assert resp[ids.URL]["search"] == ""  # later edits are not overwritten by the link


def test_bad_link_is_reported_and_the_stored_config_used(ui: Client) -> None:
    empty = {FIELD_KEY: dict.fromkeys(cf.FIELDS), f"{ids.CFG_PRESET}.value": "llama-2-7b"}
    applied = sim.preset("llama-13b").to_dict()
    status, resp = load(
        ui,
        f"{ids.CFG_OPENED}.data",
        **empty,
        **{f"{ids.URL}.search": "?config=@@@", f"{ids.CONFIG_STORE}.data": applied},
    )
    assert status == 200
    assert resp[ids.CFG_PRESET]["value"] == "llama-13b"
    assert "link" in json.dumps(resp[ids.CFG_MESSAGE]["children"])


def test_apply_next_writes_the_config_store(ui: Client) -> None:
    values = form_values(sim.preset("mistral-7b"), num_gpus="256")
    status, resp, _ = ui.post(f"{ids.CFG_APPLY_NEXT}.n_clicks", values, ["x.n_clicks"])
    assert status == 200
    stored = sim.TrainingConfig.from_dict(resp[ids.CONFIG_STORE]["data"])
    assert stored == sim.preset("mistral-7b", num_gpus=256)


def test_apply_next_refuses_an_invalid_form_even_if_the_button_was_clicked(ui: Client) -> None:
    values = form_values(sim.preset("mistral-7b"), num_gpus="-4")
    status, resp, _ = ui.post(f"{ids.CFG_APPLY_NEXT}.n_clicks", values, ["x.n_clicks"])
    assert status == 200 and ids.CONFIG_STORE not in resp


def test_apply_now_records_a_change_on_the_live_run(ui: Client) -> None:
    state = sim.advance(sim.start(sim.new_run(sim.preset("vicuna-7b"))), 40)
    values = form_values(sim.preset("vicuna-7b"), lr_peak="1e-5", grad_clip="0.5")
    values[f"{ids.RUN_STORE}.data"] = state.to_dict()
    status, resp, _ = ui.post(f"{ids.CFG_APPLY_NOW}.n_clicks", values, ["x.n_clicks"])
    assert status == 200
    after = sim.RunState.from_dict(resp[ids.RUN_STORE]["data"])
    assert after.changes == ((40, {"lr_peak": 1e-5, "grad_clip": 0.5}),)
    assert after.events[-1][1] == "change"


@pytest.mark.parametrize("run", [None, {"version": 999}, "x" * 100, [1, 2]])
def test_apply_now_with_a_missing_or_tampered_run(ui: Client, run: Any) -> None:
    values = form_values(sim.preset("vicuna-7b"), lr_peak="1e-5")
    values[f"{ids.RUN_STORE}.data"] = run
    status, resp, _ = ui.post(f"{ids.CFG_APPLY_NOW}.n_clicks", values, ["x.n_clicks"])
    assert status == 200 and ids.RUN_STORE not in resp
    assert "no running or paused run" in json.dumps(resp)


def test_save_downloads_json_that_loads_back(ui: Client) -> None:
    values = form_values(sim.preset("llama-2-13b"), seed="42")
    status, resp, _ = ui.post(f"{ids.CFG_SAVE}.n_clicks", values, ["x.n_clicks"])
    assert status == 200
    data = resp[ids.CFG_DOWNLOAD]["data"]
    assert json.loads(data["content"])["seed"] == 42
    assert cio.decode_upload(upload_of(data["content"])) == sim.preset("llama-2-13b", seed=42)
