"""The run API (tracking/api.py) through the whole app's Flask test client, on a real store.

Each test gets a fresh app whose ``DASHBOARD_DB`` is a new SQLite file in ``tmp_path`` (the
round trip runs on PostgreSQL too): pushes with tokens, every refusal's message, the limits,
resends, non-finite values, reads and their buckets, and the store being unavailable.
"""

from __future__ import annotations

import io
import json
import math
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dash
import numpy as np
import pytest

from callbacks import security
from tracking import store as store_module
from tracking.api_input import MAX_BODY_BYTES, MAX_STEP
from tracking.records import Series
from tracking.store import Store

pytest_plugins = ["tracking_pg"]  # store_url: SQLite and PostgreSQL

API = "/api/v1"


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path}/runs.sqlite3"
    monkeypatch.setenv("DASHBOARD_DB", url)
    return url


@pytest.fixture
def client(make_app: Callable[[], dash.Dash], db: str) -> Any:
    return make_app().server.test_client()


@pytest.fixture
def store(db: str) -> Iterator[Store]:
    opened = store_module.open(db)
    yield opened
    opened.close()


@pytest.fixture
def auth(store: Store) -> dict[str, str]:
    return {"Authorization": f"Bearer {store.create_token('trainer')}"}


def point(step: int, **metrics: Any) -> dict[str, Any]:
    return {"step": step, "time": 1_700_000_000.0, "metrics": metrics}


def push(client: Any, auth: dict[str, str], points: list[Any], run: str = "run-1") -> Any:
    return client.post(f"{API}/runs/{run}/points", json={"points": points}, headers=auth)


# --------------------------------------------------------------------------- round trips
def test_points_round_trip_with_non_finite_values_on_both_engines(
    make_app: Callable[[], dash.Dash], store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DASHBOARD_DB", store_url)
    client = make_app().server.test_client()
    store = store_module.open(store_url)
    auth = {"Authorization": f"Bearer {store.create_token('trainer')}"}
    values: list[Any] = [2.5, "NaN", "Infinity", "-Infinity", 7, 1e-300]
    reply = push(client, auth, [point(i, loss=v) for i, v in enumerate(values)])
    assert reply.status_code == 200, reply.json
    assert reply.json["new"] == 6

    series = client.get(f"{API}/runs/run-1/series/loss").json
    assert series["exact"] is True
    assert series["step"] == [0, 1, 2, 3, 4, 5]
    assert series["value"] == [2.5, "NaN", "Infinity", "-Infinity", 7.0, 1e-300]
    stored = store.series("run-1", "loss")
    assert math.isnan(stored.value[1]) and stored.value[2] == math.inf
    run = client.get(f"{API}/runs/run-1").json
    assert (run["first_step"], run["last_step"], run["source"]) == (0, 5, "push")
    assert run["metrics"] == [{"metric": "loss", "points": 6, "first_step": 0, "last_step": 5}]
    store.close()


def test_an_empty_list_of_points_makes_no_run(
    client: Any, auth: dict[str, str], store: Store
) -> None:
    reply = push(client, auth, [])
    assert reply.status_code == 200 and reply.json["points"] == 0
    assert store.run("run-1") is None


def test_a_resent_request_is_stored_once(client: Any, auth: dict[str, str], store: Store) -> None:
    points = [point(i, loss=1.0 / (i + 1), lr=3e-4) for i in range(1000)]
    first = push(client, auth, points).json
    again = push(client, auth, points).json
    assert (first["new"], first["same"]) == (2000, 0)
    assert (again["new"], again["same"], again["replaced"]) == (0, 2000, 0)
    assert [m.points for m in store.metrics("run-1")] == [1000, 1000]
    assert store.superseded("run-1", "loss") == []
    assert len(client.get(f"{API}/runs/run-1/series/loss?points=10000").json["step"]) == 1000


def test_metric_names_with_slashes_are_one_path_segment_or_escaped(
    client: Any, auth: dict[str, str]
) -> None:
    push(client, auth, [point(3, **{"train/loss": 1.5})])
    for path in ("train/loss", "train%2Floss"):
        assert client.get(f"{API}/runs/run-1/series/{path}").json["value"] == [1.5]


# --------------------------------------------------------------------------- refusals
BAD_POINTS: list[tuple[str, Any, str, int | None, str]] = [
    ("bool step", point(True, loss=1), "points[1].step", 1, "booleans"),
    ("negative step", point(-1, loss=1), "points[1].step", 1, "from 0 to"),
    ("huge step", point(MAX_STEP, loss=1), "points[1].step", 1, str(MAX_STEP - 1)),
    ("float step", point(1.0, loss=1), "points[1].step", 1, "whole number"),  # type: ignore[arg-type]
    ("text step", point("3", loss=1), "points[1].step", 1, "whole number"),  # type: ignore[arg-type]
    ("bool value", point(1, loss=True), 'points[1].metrics["loss"]', 1, "boolean"),
    ("lower-case nan", point(1, loss="nan"), 'points[1].metrics["loss"]', 1, '"NaN"'),
    ("object value", point(1, loss={}), 'points[1].metrics["loss"]', 1, "a number"),
    ("no metrics", point(1), "points[1].metrics", 1, "1 to 1,000"),
    ("empty name", point(1, **{"": 1}), 'points[1].metrics[""]', 1, "metric name"),
    ("control char", point(1, **{"a\x01": 1}), 'points[1].metrics["a\\u0001"]', 1, "control"),
    ("long name", point(1, **{"m" * 201: 1}), "points[1].metrics[", 1, "1 to 200 characters"),
    ("text time", {"step": 1, "time": "now", "metrics": {"a": 1}}, "points[1].time", 1, "Unix"),
    ("negative time", {"step": 1, "time": -5, "metrics": {"a": 1}}, "points[1].time", 1, "Unix"),
    ("typo", {"step": 1, "metric": {"a": 1}}, "points[1].metric", 1, "step, time, metrics"),
    ("not an object", [1, 2], "points[1]", 1, "must be an object"),
]


@pytest.mark.parametrize(
    ("bad", "field", "index", "says"),
    [case[1:] for case in BAD_POINTS],
    ids=[case[0] for case in BAD_POINTS],
)
def test_a_bad_point_is_named_with_its_index_and_what_is_allowed(
    client: Any, auth: dict[str, str], store: Store, bad: Any, field: str, index: int, says: str
) -> None:
    reply = push(client, auth, [point(0, loss=1.0), bad])
    assert reply.status_code == 400
    body = reply.json
    assert body["status"] == 400 and body["index"] == index
    assert body["field"].startswith(field), body
    assert body["error"].startswith(body["field"] + ":") and says in body["error"], body
    assert store.run("run-1") is None  # the good point before it was not written either


BAD_BODIES: list[tuple[str, bytes, str, str]] = [
    ("NaN literal", b'{"points": [{"step": 1, "metrics": {"a": NaN}}]}', "body", "not JSON"),
    ("past doubles", b'{"points": [{"step": 1, "metrics": {"a": 1e400}}]}', "body", "double"),
    ("not UTF-8", b'{"points": [{"step": 1, "metrics": {"\xff": 1}}]}', "body", "UTF-8"),
    ("surrogate", b'{"points": [{"step": 1, "metrics": {"\\ud800": 1}}]}', "body", "surrogate"),
    ("invalid", b'{"points": [', "body", "not valid JSON"),
    (
        "deep",
        b'{"points": [{"step": 1, "metrics": {"a": ' + b"[" * 20 + b"]" * 20 + b"}}]}",
        "body",
        "deeper than 8",
    ),
    ("very deep", b"[" * 200_000 + b"]" * 200_000, "body", "too deeply"),
    ("a list", b"[]", "body", "JSON object"),
    ("no points", b'{"point": []}', "point", "allowed: points"),
    ("points not a list", b'{"points": {}}', "points", "must be a list"),
]


@pytest.mark.parametrize(
    ("data", "field", "says"), [c[1:] for c in BAD_BODIES], ids=[c[0] for c in BAD_BODIES]
)
def test_a_bad_body_is_a_400_naming_what_is_wrong(
    client: Any, auth: dict[str, str], data: bytes, field: str, says: str
) -> None:
    reply = client.post(
        f"{API}/runs/run-1/points", data=data, headers=auth, content_type="application/json"
    )
    assert reply.status_code == 400, reply.data[:200]
    assert reply.json["field"] == field and says in reply.json["error"], reply.json


def test_more_than_1000_points_or_metrics_in_a_request_are_refused(
    client: Any, auth: dict[str, str]
) -> None:
    many = push(client, auth, [point(i, loss=1.0) for i in range(1001)]).json
    assert many["field"] == "points" and "at most 1,000" in many["error"]
    names = {f"m{i}": 1.0 for i in range(1001)}
    wide = push(client, auth, [point(0, **names)]).json
    assert wide["index"] == 0 and "at most 1,000 distinct metric names" in wide["error"]
    assert push(client, auth, [point(i, loss=1.0) for i in range(1000)]).status_code == 200


def test_a_body_over_1_mb_is_refused_by_its_length_before_it_is_read(
    client: Any, auth: dict[str, str]
) -> None:
    # The length says 2 MB, the stream holds 10 bytes: the answer comes from the header alone.
    reply = client.post(
        f"{API}/runs/run-1/points",
        input_stream=io.BytesIO(b'{"points":'),
        headers=auth,
        content_type="application/json",
        environ_overrides={"CONTENT_LENGTH": str(2 * MAX_BODY_BYTES)},
    )
    assert reply.status_code == 413
    assert "2,097,152 bytes; at most 1,048,576" in reply.json["error"]
    # A full 1,000-point body just under the limit passes the app's request guard too.
    name = "m" * 150
    points = [point(i, **{f"{name}{k}": 1.0 for k in range(5)}) for i in range(1000)]
    data = json.dumps({"points": points}).encode()
    assert 0.8 * MAX_BODY_BYTES < len(data) < MAX_BODY_BYTES
    ok = client.post(
        f"{API}/runs/run-1/points", data=data, headers=auth, content_type="application/json"
    )
    assert ok.status_code == 200 and ok.json["new"] == 5000


def test_a_body_without_length_or_as_a_form_is_refused(client: Any, auth: dict[str, str]) -> None:
    chunked = client.post(
        f"{API}/runs/run-1/points",
        input_stream=io.BytesIO(b'{"points": []}'),
        headers=auth,
        content_type="application/json",
        environ_overrides={"CONTENT_LENGTH": "", "HTTP_TRANSFER_ENCODING": "chunked"},
    )
    assert chunked.status_code == 411 and "Content-Length" in chunked.json["error"]
    form = client.post(f"{API}/runs/run-1/points", data={"points": "[]"}, headers=auth)
    assert form.status_code == 415 and "application/json" in form.json["error"]


def test_bad_run_ids_are_refused_with_the_rule(client: Any, auth: dict[str, str]) -> None:
    for run in ("..", "-x", "a" * 129, "a%20b"):
        reply = push(client, auth, [point(0, loss=1.0)], run=run)
        assert reply.status_code == 400, run
        assert reply.json["field"] == "run_id" and "letters, digits" in reply.json["error"]


# --------------------------------------------------------------------------- tokens
def test_writes_need_a_live_bearer_token(client: Any, store: Store) -> None:
    body = [point(0, loss=1.0)]
    missing = push(client, {}, body)
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"] == 'Bearer realm="LLM Training Dashboard API"'
    assert "token create" in missing.json["error"]
    wrong = push(client, {"Authorization": "Bearer not-a-token"}, body)
    assert wrong.status_code == 401 and 'error="invalid_token"' in wrong.headers["WWW-Authenticate"]
    login = push(client, {"Authorization": "Basic dGVhbTpwdw=="}, body)
    assert login.status_code == 401 and "not a login" in login.json["error"]

    secret = store.create_token("ci")
    # Only the header counts: a token in the URL (where a page or a log could hold it) is not
    # looked at.
    in_url = client.post(f"{API}/runs/run-1/points?token={secret}", json={"points": body})
    assert in_url.status_code == 401
    assert push(client, {"Authorization": f"bearer {secret}"}, body).status_code == 200
    store.revoke_token("ci")
    revoked = push(client, {"Authorization": f"Bearer {secret}"}, body)
    assert revoked.status_code == 403 and "'ci' was revoked" in revoked.json["error"]
    put = client.put(f"{API}/runs/run-1", json={}, headers={"Authorization": f"Bearer {secret}"})
    assert put.status_code == 403
    assert client.get(f"{API}/runs/run-1").status_code == 200  # reads need no token


def test_a_cross_origin_preflight_gets_no_cors_permission(client: Any) -> None:
    reply = client.options(
        f"{API}/runs/run-1/points",
        headers={"Origin": "https://elsewhere.example", "Access-Control-Request-Method": "POST"},
    )
    assert reply.status_code == 405 and reply.is_json
    assert "Access-Control-Allow-Origin" not in reply.headers


# --------------------------------------------------------------------------- run fields
def test_put_sets_the_run_fields_and_keeps_what_it_leaves_out(
    client: Any, auth: dict[str, str], store: Store
) -> None:
    first = client.put(
        f"{API}/runs/run-1",
        json={
            "name": "7B, lr 3e-4",
            "tags": ["sweep", "a100"],
            "params": {"learning_rate": 3e-4, "model": "llama-7b", "bf16": True, "steps": 1000},
            "notes": "warm-up 2k\nthen cosine",
            "status": "running",
        },
        headers=auth,
    )
    assert first.status_code == 201 and first.json["created"] is True
    # "running" (what clients send) is stored as "live"; a fresh run is live
    assert (first.json["run"]["status"], first.json["run"]["reported_status"]) == ("live", "live")
    again = client.put(f"{API}/runs/run-1", json={"status": "finished"}, headers=auth)
    assert again.status_code == 200 and again.json["created"] is False
    run = client.get(f"{API}/runs/run-1").json
    assert (run["name"], run["tags"], run["status"]) == (
        "7B, lr 3e-4",
        ["sweep", "a100"],
        "finished",
    )
    assert run["notes"] == "warm-up 2k\nthen cosine" and run["kind"] == "push"
    assert run["params"] == {
        "learning_rate": "0.0003",
        "model": "llama-7b",
        "bf16": "true",
        "steps": "1000",
    }
    assert store.params("run-1")["learning_rate"] == "0.0003"


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        ({"status": "done"}, "status", "running, finished, failed"),
        ({"tags": "sweep"}, "tags", "list"),
        ({"tags": ["ok", ""]}, "tags[1]", "1 to 100 characters"),
        ({"name": "two\nlines"}, "name", "one line"),
        ({"params": {"model": {"d": 1}}}, 'params["model"]', "dotted keys"),
        ({"colour": "red"}, "colour", "allowed: name, tags, params, notes, status"),
    ],
)
def test_bad_run_fields_are_named(
    client: Any, auth: dict[str, str], store: Store, body: Any, field: str, says: str
) -> None:
    reply = client.put(f"{API}/runs/run-1", json=body, headers=auth)
    assert reply.status_code == 400 and reply.json["field"] == field
    assert says in reply.json["error"], reply.json
    assert store.run("run-1") is None


# --------------------------------------------------------------------------- reads
def test_a_long_series_comes_back_in_buckets_that_keep_the_spike(client: Any, store: Store) -> None:
    n = 20_000
    value = np.linspace(3.0, 1.0, n)
    value[12_345] = 50.0
    value[7_000] = math.nan
    store.add("run-1", Series("loss", np.arange(n), value, np.full(n, math.nan)))
    reply = client.get(f"{API}/runs/run-1/series/loss?points=100")
    body = reply.json
    assert reply.status_code == 200 and body["exact"] is False
    assert len(body["step"]) <= 100 + 3 * 50 and body["step"] == sorted(body["step"])
    assert 50.0 in body["value"] and "NaN" in body["value"]
    assert body["step"][body["value"].index(50.0)] == 12_345
    window = client.get(f"{API}/runs/run-1/series/loss?start=100&stop=199").json
    assert window["exact"] is True and window["step"] == list(range(100, 200))
    default = client.get(f"{API}/runs/run-1/series/loss").json
    assert not default["exact"] and len(default["step"]) <= 4000 + 3 * 2000
    newest = client.get(f"{API}/runs/run-1/since/loss?after=19990").json
    assert newest["step"] == list(range(19_991, 20_000)) and newest["exact"] is True


@pytest.mark.parametrize(
    ("query", "field", "says"),
    [
        ("points=1", "points", "from 2 to 10000"),
        ("points=10001", "points", "from 2 to 10000"),
        ("points=abc", "points", "whole number"),
        ("start=-1", "start", "whole number from 0"),
        ("start=1e3", "start", "whole number"),
    ],
)
def test_bad_read_arguments_are_named(
    client: Any, store: Store, query: str, field: str, says: str
) -> None:
    store.add("run-1", Series("loss", np.arange(3), np.ones(3), np.zeros(3)))
    reply = client.get(f"{API}/runs/run-1/series/loss?{query}")
    assert reply.status_code == 400 and reply.json["field"] == field
    assert says in reply.json["error"]


def test_reads_of_what_is_not_there_are_404s_that_say_what_is(client: Any, store: Store) -> None:
    assert client.get(f"{API}/runs").json == {"runs": []}
    assert "GET /api/v1/runs lists" in client.get(f"{API}/runs/nope").json["error"]
    store.add("run-1", Series("loss", np.arange(3), np.ones(3), np.zeros(3)))
    missing = client.get(f"{API}/runs/run-1/series/accuracy")
    assert missing.status_code == 404 and "it has: loss" in missing.json["error"]
    since = client.get(f"{API}/runs/run-1/since/loss")
    assert since.status_code == 400 and since.json["field"] == "after"
    order = client.get(f"{API}/runs/run-1/series/loss?start=5&stop=4")
    assert order.status_code == 400 and "after stop" in order.json["error"]
    listed = client.get(f"{API}/runs").json["runs"]
    assert [(r["run_id"], r["metrics"], r["last_step"]) for r in listed] == [("run-1", ["loss"], 2)]


def test_unknown_api_paths_and_methods_are_json_not_the_page(client: Any) -> None:
    typo = client.get(f"{API}/run")
    assert typo.status_code == 404 and typo.is_json and "PUT runs/<run_id>" in typo.json["error"]
    wrong = client.delete(f"{API}/runs/run-1")
    assert wrong.status_code == 405 and wrong.headers["Allow"] == "GET, HEAD, PUT"
    assert client.get("/").status_code == 200  # the page itself is still the page


def test_every_api_reply_carries_the_security_headers(client: Any, auth: dict[str, str]) -> None:
    replies = [
        push(client, auth, [point(0, loss=1.0)]),
        push(client, {}, [point(0, loss=1.0)]),
        client.get(f"{API}/runs"),
        client.get(f"{API}/runs/run-1/series/nope"),
    ]
    for reply in replies:
        assert reply.is_json and reply.headers["Cache-Control"] == "no-store"
        for name, value in security.STATIC_HEADERS.items():
            assert reply.headers[name] == value, (name, reply.status_code)
        assert reply.headers["Content-Security-Policy"].startswith("default-src 'self'")


def test_the_api_follows_the_apps_url_prefix(
    make_app: Callable[[], dash.Dash], db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DASH_URL_BASE_PATHNAME", "/dash/")
    client = make_app().server.test_client()
    assert client.get("/dash/api/v1/runs").json == {"runs": []}
    assert client.get("/api/v1/runs").status_code == 404
    assert "GET /dash/api/v1/runs lists" in client.get("/dash/api/v1/runs/x").json["error"]


# --------------------------------------------------------------------------- the store away
def test_making_the_app_opens_no_store(make_app: Callable[[], dash.Dash], db: str) -> None:
    path = Path(db.removeprefix("sqlite:///"))
    client = make_app().server.test_client()
    assert client.get("/healthz").status_code == 200 and not path.exists()
    assert client.get(f"{API}/runs").status_code == 200 and path.exists()


def test_a_store_that_cannot_be_opened_is_a_503_until_it_can(
    make_app: Callable[[], dash.Dash], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "data"
    blocker.write_text("a file where the store's folder should be")
    monkeypatch.setenv("DASHBOARD_DB", f"sqlite:///{blocker}/runs.sqlite3")
    client = make_app().server.test_client()
    down = client.get(f"{API}/runs")
    assert down.status_code == 503 and down.headers["Retry-After"] == "5"
    assert "cannot be opened" in down.json["error"] and "retry" in down.json["error"]
    blocker.unlink()  # the operator fixes it: the next request opens the store
    assert client.get(f"{API}/runs").status_code == 200


def test_a_misconfigured_store_url_is_a_503_that_does_not_show_it(
    make_app: Callable[[], dash.Dash], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DASHBOARD_DB", "mysql://user:s3cret@db.example/runs")
    reply = make_app().server.test_client().get(f"{API}/runs")
    assert reply.status_code == 503 and "DASHBOARD_DB" in reply.json["error"]
    assert "s3cret" not in reply.get_data(as_text=True)


def test_a_write_while_another_writer_holds_the_lock_is_a_503_then_succeeds(
    make_app: Callable[[], dash.Dash], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "runs.sqlite3"
    monkeypatch.setenv("DASHBOARD_DB", f"sqlite:///{path}?timeout=0.2")
    client = make_app().server.test_client()
    store = store_module.open(f"sqlite:///{path}")
    auth = {"Authorization": f"Bearer {store.create_token('trainer')}"}
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer, for longer than the store waits
    try:
        busy = push(client, auth, [point(0, loss=1.0)])
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert busy.status_code == 503 and busy.headers["Retry-After"] == "5"
    assert "locked by another writer" in busy.json["error"]
    assert "nothing was written" in busy.json["error"]
    assert push(client, auth, [point(0, loss=1.0)]).json["new"] == 1
    store.close()
