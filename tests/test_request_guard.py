"""The request guard, rule by rule, through Flask's test client (callbacks/request_guard.py).

Each refused request must get a 4xx whose JSON ``error`` says what was wrong, before Dash
runs (so never a 500); each request a real page sends must still pass. The generated
hostile requests against real gunicorn are in tests/deploy/test_hostile_input.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import dash
import pytest
from renderer import Callbacks

import simulator as sim
from callbacks.request_guard import (
    MAX_BODY_BYTES,
    MAX_DEPTH,
    MAX_PATTERN_ITEMS,
    GuardError,
    check_tree,
)
from layouts import ids
from simulator import benchmarks_data as bd
from simulator import saved
from views import comparison as vc
from views import config_form as cf

DISPATCH = "/_dash-update-component"
FIELDS = '{"name":["ALL"],"type":"cfg-field"}'


@pytest.fixture
def app(make_app: Callable[[], dash.Dash]) -> dash.Dash:
    return make_app()


@pytest.fixture
def client(app: dash.Dash) -> Any:
    return app.server.test_client()


def post(client: Any, body: Any, content_type: str = "application/json") -> Any:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post(DISPATCH, data=data, content_type=content_type)


def refused(r: Any, status: int, *words: str) -> str:
    """Assert a JSON refusal with ``status`` whose message holds ``words``; return it."""
    assert r.status_code == status, r.get_data(as_text=True)[:300]
    assert r.is_json, r.get_data(as_text=True)[:300]
    error = r.json["error"]
    assert r.json["status"] == status, r.json
    for w in words:
        assert w in error, error
    return str(error)


def tab_body(**overrides: Any) -> dict[str, Any]:
    """The tab <-> hash callback's request (as tests/conftest.py's ``tab_sync_body``)."""
    body = {
        "output": f"..{ids.URL}.hash...{ids.TABS}.value..",
        "outputs": [{"id": ids.URL, "property": "hash"}, {"id": ids.TABS, "property": "value"}],
        "inputs": [
            {"id": ids.URL, "property": "hash", "value": "#comparison"},
            {"id": ids.TABS, "property": "value", "value": ids.TAB_TRAINING},
        ],
        "changedPropIds": [f"{ids.URL}.hash"],
    }
    body.update(overrides)
    return body


def form_body(client: Any, first: str = f"{FIELDS}.invalid", **overrides: Any) -> dict[str, Any]:
    """A Configuration form callback (by its first output: the estimate's fields' ``invalid``,
    the loader's preset ``value``) as tests/renderer.py builds it: every field of the ``ALL``
    groups filled in, no fit-advice buttons (the config fits)."""
    model, values = cf.config_to_form(sim.preset("llama-2-7b"))
    components = {
        ids.CFG_FIELD: list(values),
        ids.CFG_FEEDBACK: list(values),
        ids.CFG_HINT: list(values),
        ids.CFG_GROUP: list(cf.GROUPS),
        ids.CFG_ADVICE: [],
    }
    callbacks = Callbacks(client.get("/_dash-dependencies").json, components=components)
    dep = next(d for d in callbacks.dependencies if d["output"].startswith(f"..{first}..."))
    page = {f"{ids.CFG_PRESET}.value": model, f"{FIELDS}.value": values}
    body = callbacks.request(dep, page, [f"{ids.CFG_PRESET}.value"])
    body.update(overrides)
    return body


# ----------------------------------------------------------------------- what passes
def test_a_real_request_passes_and_is_parsed_once(
    app: dash.Dash, client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert post(client, tab_body()).status_code == 200  # the first request sets Dash up
    calls = []
    loads = app.server.json.loads
    monkeypatch.setattr(app.server.json, "loads", lambda s, **kw: calls.append(1) or loads(s, **kw))
    r = post(client, tab_body())
    assert len(calls) == 1  # the guard's parse is Flask's cached one, which Dash reuses
    assert r.status_code == 200
    assert r.json["response"] == {ids.TABS: {"value": ids.TAB_COMPARISON}}


def test_a_pattern_matching_request_passes(client: Any) -> None:
    r = post(client, form_body(client))
    assert r.status_code == 200, r.get_data(as_text=True)[:300]


def test_state_may_be_left_out_when_the_callback_has_none(client: Any) -> None:
    body = tab_body()
    assert "state" not in body  # dash-renderer omits an empty state
    assert post(client, body).status_code == 200
    assert post(client, {**body, "state": []}).status_code == 200


def test_other_routes_are_not_touched(client: Any) -> None:
    assert client.get("/healthz").status_code == 200
    assert client.get("/_dash-layout").status_code == 200


def test_the_guard_follows_the_url_prefix(
    make_app: Callable[[], dash.Dash], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DASH_URL_BASE_PATHNAME", "/dash/")
    c = make_app().server.test_client()
    refused(c.post("/dash" + DISPATCH, data=b"{", content_type="application/json"), 400, "JSON")
    r = c.post("/dash" + DISPATCH, json=tab_body())
    assert r.status_code == 200


# ----------------------------------------------------------------------- the body
def test_only_post_is_allowed(client: Any) -> None:
    refused(client.get(DISPATCH), 405, "POST")


def test_an_oversized_body_is_a_json_413(client: Any) -> None:
    r = post(client, b"[" + b"1," * (MAX_BODY_BYTES // 2) + b"1]")
    refused(r, 413, "larger than", f"{MAX_BODY_BYTES:,}")


def test_a_body_without_a_length_is_a_411(client: Any) -> None:
    refused(client.post(DISPATCH, content_type="application/json"), 411, "Content-Length")


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_a_body_that_is_not_json_by_type_is_a_415(client: Any, content_type: str) -> None:
    refused(post(client, tab_body(), content_type), 415, "application/json")


@pytest.mark.parametrize(
    "raw",
    [b"{", b'{"output": "x"} trailing', b"{'output': 'x'}", b'{"output": "\xff\xfe"}'],
    ids=["truncated", "trailing", "single-quotes", "invalid-utf8"],
)
def test_invalid_json_or_utf8_is_a_400(client: Any, raw: bytes) -> None:
    refused(post(client, raw), 400, "not valid UTF-8 JSON")


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
def test_nan_and_infinity_literals_are_refused(client: Any, literal: bytes) -> None:
    body = json.dumps(tab_body()).replace('"#comparison"', literal.decode()).encode()
    refused(post(client, body), 400, "NaN or Infinity", "finite")


@pytest.mark.parametrize("where", ["value", "key"])
def test_a_lone_surrogate_is_refused(client: Any, where: str) -> None:
    # Valid JSON (an escape), but not Unicode text: no reply echoing it could be encoded.
    body = tab_body()
    if where == "value":
        body["inputs"][0]["value"] = "#\ud800"
    else:
        body["inputs"][0]["extra"] = {"\udfff": 1}
    refused(post(client, body), 400, "lone UTF-16 surrogate")


def test_integers_past_64_bits_become_the_doubles_a_browser_meant() -> None:
    body = {"a": [10**30, 2**63, -(2**63), 5, True], "b": {"c": -(10**25)}}
    check_tree(body)
    assert body == {"a": [1e30, 2**63, -(2**63), 5, True], "b": {"c": -1e25}}
    assert isinstance(body["a"][0], float) and isinstance(body["a"][1], int)
    with pytest.raises(GuardError, match="beyond the double range"):
        check_tree([10**400])


def plain_body(client: Any, values: dict[str, Any], changed: str) -> Any:
    """The request for the callback triggered by ``changed`` (an input without patterns)."""
    deps = client.get("/_dash-dependencies").json
    dep = next(d for d in deps if any(f"{i['id']}.{i['property']}" == changed for i in d["inputs"]))
    outs = [o.rsplit(".", 1) for o in dep["output"].strip(".").split("...")]

    def slot(i: dict[str, str]) -> dict[str, Any]:
        return {**i, "value": values.get(f"{i['id']}.{i['property']}")}

    return {
        "output": dep["output"],
        "outputs": [{"id": c, "property": p} for c, p in outs] if len(outs) > 1 else None,
        "inputs": [slot(i) for i in dep["inputs"]],
        "state": [slot(s) for s in dep["state"]],
        "changedPropIds": [changed],
    }


def test_a_saved_run_holding_a_huge_integer_is_answered(client: Any) -> None:
    # Training's "Save run" appends to the saved list and writes back the entries it cannot
    # read as they were; orjson cannot write an integer past 64 bits: this was a 500.
    run = sim.start(sim.new_run(sim.preset("llama-2-7b")))
    entry = saved.make_entry(run)
    entry["state"]["seed"] = 10**40
    values = {
        f"{ids.SAVED_RUNS_STORE}.data": [entry],
        f"{ids.RUN_STORE}.data": sim.advance(run, 10).to_dict(),
        f"{ids.TR_SAVE}.n_clicks": 1,
    }
    r = post(client, plain_body(client, values, f"{ids.TR_SAVE}.n_clicks"))
    assert r.status_code == 200, r.get_data(as_text=True)[:300]
    kept = r.json["response"][ids.SAVED_RUNS_STORE]["data"]
    assert kept[0]["state"]["seed"] == 1e40 and len(kept) == 2


def test_nesting_past_the_limit_is_refused_however_deep(client: Any) -> None:
    ok = {"a": 1}
    for _ in range(MAX_DEPTH - 1):
        ok = {"a": ok}
    check_tree(ok)  # exactly MAX_DEPTH levels: fine
    refused(post(client, {"x": ok}), 400, f"deeper than {MAX_DEPTH}")
    # Deep enough that the json parser itself gives up (RecursionError, not a ValueError).
    refused(post(client, b"[" * 200_000 + b"]" * 200_000), 400, "nests too deeply")


# ----------------------------------------------------------------------- the envelope
@pytest.mark.parametrize("body", [[], "x", 1, None], ids=["list", "str", "int", "null"])
def test_a_body_that_is_not_an_object_is_refused(client: Any, body: Any) -> None:
    refused(post(client, body), 400, "JSON object", "output")


@pytest.mark.parametrize(
    ("output", "words"),
    [
        (None, ["'output' must be a string"]),
        (["x"], ["'output' must be a string"]),
        ("..nope.children..", ["names no server-side callback", "/_dash-dependencies"]),
        (f"{ids.TICK}.interval", ["names no server-side callback"]),  # a clientside one
    ],
)
def test_output_must_name_a_server_side_callback(
    client: Any, output: Any, words: list[str]
) -> None:
    refused(post(client, tab_body(output=output)), 400, *words)


@pytest.mark.parametrize(
    "outputs",
    [
        None,
        {"id": ids.URL, "property": "hash"},
        [{"id": ids.URL, "property": "hash"}],
        [{"id": ids.URL, "property": "hash"}, {"id": "nope", "property": "value"}],
        [{"id": ids.URL, "property": "hash"}, {"id": ids.TABS, "property": "children"}],
        [{"id": ids.URL, "property": "hash"}, "x"],
    ],
    ids=["missing", "object", "short", "wrong-id", "wrong-prop", "not-object"],
)
def test_outputs_must_be_the_callbacks_own(client: Any, outputs: Any) -> None:
    refused(post(client, tab_body(outputs=outputs)), 400, "outputs")


def test_a_single_output_is_sent_as_an_object(client: Any) -> None:
    deps = client.get("/_dash-dependencies").json
    dep = next(d for d in deps if d["output"] == f"{ids.CMP_CHIPS}.children")
    body = {
        "output": dep["output"],
        "outputs": {"id": ids.CMP_CHIPS, "property": "children"},
        "inputs": [{**i, "value": None} for i in dep["inputs"]],
        "state": [{**s, "value": None} for s in dep.get("state", [])],
        "changedPropIds": [],
    }
    assert post(client, body).status_code == 200
    refused(post(client, {**body, "outputs": [body["outputs"]]}), 400, "outputs")


@pytest.mark.parametrize(
    ("inputs", "words"),
    [
        (None, ["'inputs' must be a list of this callback's 2"]),
        ({"id": ids.URL, "property": "hash"}, ["'inputs' must be a list"]),
        ([{"id": ids.URL, "property": "hash", "value": ""}], ["callback's 2"]),
        (["a", "b"], ["inputs[0] must be an object"]),
        (
            [{"id": "nope", "property": "hash"}, {"id": ids.TABS, "property": "value"}],
            ["inputs[0] has the wrong id", f"{ids.URL}.hash"],
        ),
        (
            [{"id": ids.URL, "property": "href"}, {"id": ids.TABS, "property": "value"}],
            ["inputs[0] must have property 'hash'"],
        ),
        (
            [{"id": {"type": "x"}, "property": "hash"}, {"id": ids.TABS, "property": "value"}],
            ["wrong id"],
        ),
    ],
    ids=["missing", "object", "short", "strings", "wrong-id", "wrong-prop", "dict-id"],
)
def test_inputs_must_match_the_callback(client: Any, inputs: Any, words: list[str]) -> None:
    refused(post(client, tab_body(inputs=inputs)), 400, *words)


def test_state_must_match_the_callback(client: Any) -> None:
    good = form_body(client)
    refused(post(client, {**good, "state": None}), 400, "'state' must be a list")
    refused(post(client, {**good, "state": good["state"][::-1]}), 400, "state[0]")
    missing = {k: v for k, v in good.items() if k != "state"}
    refused(post(client, missing), 400, "'state' must be a list of this callback's")


def test_pattern_lists_are_bounded_and_their_ids_checked(client: Any) -> None:
    good = form_body(client)
    item = good["inputs"][1][0]
    k = 1  # the ALL-pattern input of the estimate callback

    def with_input(value: Any) -> dict[str, Any]:
        inputs = list(good["inputs"])
        inputs[k] = value
        return {**good, "inputs": inputs}

    refused(post(client, with_input(item)), 400, f"inputs[{k}] must be a list of at most")
    many = [item] * (MAX_PATTERN_ITEMS + 1)
    refused(post(client, with_input(many)), 400, f"at most {MAX_PATTERN_ITEMS}")
    for bad_id in (
        {"name": {"nested": 1}, "type": "cfg-field"},  # a wildcard value must be a scalar
        {"name": "lr_peak", "type": "cfg-other"},  # the fixed key must match
        {"name": "lr_peak", "type": "cfg-field", "extra": 1},  # no other keys
        {"name": "x" * 500, "type": "cfg-field"},  # bounded strings
    ):
        r = post(client, with_input([{**item, "id": bad_id}]))
        refused(r, 400, f"inputs[{k}][0] has the wrong id")


@pytest.mark.parametrize(
    ("changed", "words"),
    [
        ("url.hash", ["must be a list"]),
        ([1], ["must be a list"]),
        (["a.b"] * (MAX_PATTERN_ITEMS + 1), [f"at most {MAX_PATTERN_ITEMS}"]),
        (["x" * 2000], ["characters"]),
        (['{"type":.value'], ["JSON object id"]),
        (["no-dot"], ["'<id>.<property>'"]),
    ],
    ids=["string", "numbers", "too-many", "too-long", "bad-json-id", "no-dot"],
)
def test_changed_prop_ids_are_checked(client: Any, changed: Any, words: list[str]) -> None:
    refused(post(client, tab_body(changedPropIds=changed)), 400, "changedPropIds", *words)


def test_a_changed_prop_id_naming_no_input_is_left_to_the_callback(client: Any) -> None:
    r = post(client, tab_body(changedPropIds=["nope.n_clicks"]))
    assert r.status_code in (200, 204)


# ------------------------------------------------- callbacks the fuzz made crash (fixed)
@pytest.mark.parametrize("url_hash", [0.5, -1, ["#training"], {"a": 1}, True])
def test_a_url_hash_that_is_not_a_string_changes_nothing(client: Any, url_hash: Any) -> None:
    body = tab_body()
    body["inputs"][0]["value"] = url_hash
    r = post(client, body)
    assert r.status_code == 200 and r.json["response"] == {}  # no_update on both outputs


@pytest.mark.parametrize("junk", [[], {}, [None, None], {"step": 1}])
def test_comparison_controls_and_source_fall_back_to_defaults(junk: Any) -> None:
    assert vc.Controls.from_browser(junk, junk, junk, junk) == vc.Controls()
    assert vc.Controls() == vc.Controls("step", "train", 0.0, ())
    assert vc.benchmark_source(junk) == bd.DEFAULT_SOURCE


@pytest.mark.parametrize("how", ["one", "none", "a duplicate"])
def test_the_form_loader_fills_as_many_fields_as_the_request_lists(client: Any, how: str) -> None:
    body = form_body(
        client, f"{ids.CFG_PRESET}.value", changedPropIds=[f"{ids.CFG_RESET}.n_clicks"]
    )
    slot = next(i for i, s in enumerate(body["state"]) if isinstance(s, list))  # the fields
    group = body["state"][slot]
    body["state"][slot] = {"one": group[:1], "none": [], "a duplicate": [*group, group[0]]}[how]
    r = post(client, body)
    assert r.status_code == 200, r.get_data(as_text=True)[:300]
    # Each field listed comes back set (callbacks/configuration.py: load, with set_props).
    listed = {"one": 1, "none": 0, "a duplicate": len(group)}[how]
    assert len(r.json.get("sideUpdate", {})) == listed


def test_a_deeply_nested_import_file_is_refused_with_a_message() -> None:
    with pytest.raises(saved.SavedFileError, match="nests too deeply"):
        saved.parse_document(b"[" * 100_000 + b"]" * 100_000)
