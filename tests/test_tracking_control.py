"""Pause, Resume and Stop for real runs: the store's control state (SQLite and PostgreSQL),
the buttons' messages (tracking/control.py), the API a script reads it through, and a real
client in a training loop against the real app over real HTTP honouring it.

What is asserted is what people see: the state and who set it, a refusal that says why, a
training loop whose step stops advancing while paused and carries on when resumed, a loop
that ends on Stop, and a name recorded from ``X-Remote-User`` only when the operator said
to trust it. The nginx side (the header set only where a login was checked, the poll
through nginx with a token and no login) is in tests/deploy/test_deploy_api.py.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import dash
import flask
import numpy as np
import pytest
from werkzeug.serving import BaseWSGIServer, make_server

from tracking import control
from tracking import store as store_module
from tracking.client import Run
from tracking.records import Series
from tracking.store import BadInput, ControlRefused, Store, UnknownRun

pytest_plugins = ["tracking_pg"]  # store_url: SQLite and PostgreSQL

API = "/api/v1"
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def loss(steps: int) -> Series:
    step = np.arange(steps + 1, dtype=np.int64) * 100  # 0, 100, ... steps * 100
    return Series("loss", step, np.linspace(3, 2, len(step)), np.zeros(len(step)))


@pytest.fixture
def pg_store(store_url: str) -> Iterator[Store]:
    opened = store_module.open(store_url)
    opened.put_run("run-1", source="push", kind="push", status="running")
    opened.add("run-1", loss(124))  # last step 12,400
    yield opened
    opened.close()


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path}/runs.sqlite3"
    monkeypatch.setenv("DASHBOARD_DB", url)
    monkeypatch.delenv(control.TRUST_ENV, raising=False)
    return url


@pytest.fixture
def store(db: str) -> Iterator[Store]:
    opened = store_module.open(db)
    opened.put_run("run-1", source="push", kind="push", status="running")
    opened.add("run-1", loss(124))
    yield opened
    opened.close()


# --------------------------------------------------------------------------- the store
def test_each_change_is_recorded_with_who_when_and_the_state_before(pg_store: Store) -> None:
    s = pg_store
    assert s.control("run-1").state == "running"  # never set: running
    assert s.control_history("run-1", 10) == []
    before = time.time()
    paused = s.set_control("run-1", "paused", "alice", note="checking the spike")
    assert (paused.state, paused.previous, paused.who, paused.step) == (
        "paused",
        "running",
        "alice",
        12_400,
    )
    assert paused.note == "checking the spike" and paused.time is not None
    assert before <= paused.time <= time.time()
    assert s.control("run-1") == paused
    resumed = s.set_control("run-1", "running", "bob")
    assert (resumed.previous, resumed.who) == ("paused", "bob")
    # the same state again is not a change: nothing recorded, the standing record returned
    assert s.set_control("run-1", "running", "carol") == resumed
    history = s.control_history("run-1", 10)
    assert [(c.state, c.who) for c in history] == [("running", "bob"), ("paused", "alice")]
    assert [c.state for c in s.control_history("run-1", 1)] == ["running"]


def test_a_stop_is_final(pg_store: Store) -> None:
    s = pg_store
    s.set_control("run-1", "stopped", "alice")
    for state in ("running", "paused"):
        with pytest.raises(ControlRefused, match="stopped by alice; a stop is final"):
            s.set_control("run-1", state, "bob")
    assert s.set_control("run-1", "stopped", "bob").who == "alice"  # already stopped
    assert s.control("run-1").state == "stopped"
    assert len(s.control_history("run-1", 10)) == 1


def test_bad_states_runs_and_names_are_refused_with_what_is_allowed(pg_store: Store) -> None:
    s = pg_store
    with pytest.raises(BadInput, match="'killed' is not one of running, paused, stopped"):
        s.set_control("run-1", "killed", "alice")
    with pytest.raises(UnknownRun, match="no run 'no-such-run' in the store"):
        s.set_control("no-such-run", "paused", "alice")
    with pytest.raises(UnknownRun):
        s.control("no-such-run")
    for who in ("", "   ", "a\nb", "x" * 201):
        with pytest.raises(BadInput, match=r"who .* is not allowed"):
            s.set_control("run-1", "paused", who)
    with pytest.raises(BadInput, match="limit must be a whole number from 1 to 1000"):
        s.control_history("run-1", 0)
    assert s.control_history("run-1", 10) == []  # nothing was written by a refusal
    assert s.run("no-such-run") is None  # and no run was made for a typo


def test_a_deleted_run_made_again_starts_running(pg_store: Store) -> None:
    pg_store.set_control("run-1", "stopped", "alice")
    assert pg_store.delete_run("run-1")
    pg_store.put_run("run-1", source="push", kind="push")
    assert pg_store.control("run-1").state == "running"
    assert pg_store.control_history("run-1", 10) == []


# --------------------------------------------------------------------------- the buttons
def test_the_buttons_say_what_the_script_will_do(store: Store) -> None:
    paused = control.request(store, "run-1", "pause", "alice")
    assert paused.ok and paused.state == "paused"
    assert paused.message == (
        "Paused by alice at step 12,400: the script pauses when it next calls "
        "run.wait_while_paused()."
    )
    again = control.request(store, "run-1", "pause", "bob")
    assert again.ok and again.message.startswith("Already paused by alice at step 12,400")
    resumed = control.request(store, "run-1", "resume", "bob")
    assert resumed.ok and resumed.message.startswith("Resumed by bob at step 12,400")
    idle = control.request(store, "run-1", "resume", "bob")
    assert idle.ok and idle.message == "The run is not paused: nothing to resume."
    stopped = control.request(store, "run-1", "stop", "carol")
    assert stopped.ok and stopped.state == "stopped"
    assert "the dashboard never kills a process" in stopped.message
    refused = control.request(store, "run-1", "resume", "alice")
    assert not refused.ok and refused.state == "stopped"
    assert refused.message == (
        "Run 'run-1' was stopped by carol; a stop is final, so it cannot be resumed: "
        "start a new run to train again."
    )
    assert [c.who for c in store.control_history("run-1", 10)] == ["carol", "bob", "alice"]


def test_the_buttons_refuse_what_cannot_apply(store: Store) -> None:
    unknown = control.request(store, "run-1", "kill", "alice")
    assert not unknown.ok and unknown.message == "Unknown action 'kill': use pause, resume or stop."
    missing = control.request(store, "nope", "pause", "alice")
    assert not missing.ok and missing.message == "No run 'nope' in the store: nothing to pause."
    store.put_run("done", source="push", kind="push", status="finished")
    finished = control.request(store, "done", "stop", "alice")
    assert not finished.ok and "has finished: no script is left to stop it" in finished.message
    store.put_run("from-logs", source="/runs/a", kind="tfevents", status="ok")
    logs = control.request(store, "from-logs", "pause", "alice")
    assert logs.ok and "only a script pushing with tracking.client reads" in logs.message
    assert store.control_history("done", 10) == []


def test_who_is_the_nginx_user_only_when_trusted() -> None:
    headers = {"x-remote-user": "alice"}  # any case, as a plain dict
    assert control.who_from_headers(headers, trust=True) == "alice"
    assert control.who_from_headers(headers, trust=False) == "dashboard"
    for value in ("", "a\x00b", "x" * 300):
        assert control.who_from_headers({"X-Remote-User": value}, trust=True) == "dashboard"
    for bad in ({}, {"X-Other": "alice"}):
        assert control.who_from_headers(bad, trust=True) == "dashboard"
    assert control.trust_from_env({"DASHBOARD_TRUST_REMOTE_USER": "1"}) is True
    for value in ("", "0", "yes", "true"):
        assert control.trust_from_env({"DASHBOARD_TRUST_REMOTE_USER": value}) is False
    assert control.trust_from_env({}) is False


# --------------------------------------------------------------------------- the API
@pytest.fixture
def app(make_app: Callable[[], dash.Dash], store: Store) -> Any:
    return make_app().server


@pytest.fixture
def token(store: Store) -> str:
    return store.create_token("trainer")


def test_a_token_reads_the_state_but_cannot_change_it(app: Any, store: Store, token: str) -> None:
    client = app.test_client()
    auth = {"Authorization": f"Bearer {token}"}
    body = {"points": [{"step": 12_500, "time": 1.7e9, "metrics": {"loss": 2.0}}]}
    pushed = client.post(f"{API}/runs/run-1/points", json=body, headers=auth)
    assert pushed.status_code == 200 and pushed.json["control"] == "running"
    store.set_control("run-1", "paused", "alice")
    assert client.post(f"{API}/runs/run-1/points", json=body, headers=auth).json["control"] == (
        "paused"
    )
    polled = client.post(f"{API}/runs/run-1/control/poll", headers=auth)
    assert polled.status_code == 200 and polled.json == {"run_id": "run-1", "control": "paused"}
    # a run not stored yet (its PUT still on the way) is running
    fresh = client.post(f"{API}/runs/not-yet/control/poll", headers=auth)
    assert fresh.json["control"] == "running"
    anonymous = client.post(f"{API}/runs/run-1/control/poll")
    assert anonymous.status_code == 401 and "token" in anonymous.json["error"]
    # no route changes the state with a token: tokens are not tied to a run
    for method in ("post", "put"):
        refused = getattr(client, method)(
            f"{API}/runs/run-1/control", json={"action": "stop"}, headers=auth
        )
        assert refused.status_code == 405 and refused.headers["Allow"] == "GET, HEAD"
    assert store.control("run-1").state == "paused"


def test_the_page_reads_the_state_its_history_and_who_it_is(
    app: Any, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = app.test_client()
    store.set_control("run-1", "paused", "alice")
    store.set_control("run-1", "running", "bob")
    read = client.get(f"{API}/runs/run-1/control", headers={"X-Remote-User": "mallory"})
    assert read.status_code == 200
    body = read.json
    assert (body["state"], body["who"], body["previous"], body["step"]) == (
        "running",
        "bob",
        "paused",
        12_400,
    )
    assert [(h["state"], h["who"]) for h in body["history"]] == [
        ("running", "bob"),
        ("paused", "alice"),
    ]
    assert body["as"] == "dashboard"  # the header is not trusted by default
    monkeypatch.setenv(control.TRUST_ENV, "1")
    trusted = client.get(
        f"{API}/runs/run-1/control?history=1", headers={"X-Remote-User": "mallory"}
    )
    assert trusted.json["as"] == "mallory" and len(trusted.json["history"]) == 1
    assert client.get(f"{API}/runs/nope/control").status_code == 404
    bad = client.get(f"{API}/runs/run-1/control?history=0")
    assert (
        bad.status_code == 400
        and "history must be a whole number from 1 to 1000" in (bad.json["error"])
    )


def test_a_button_records_the_trusted_user_and_no_one_else(
    app: Any, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the Dash callback does with the request it answers: the name from the request's
    headers, trusted only with DASHBOARD_TRUST_REMOTE_USER=1."""
    headers = {"X-Remote-User": "alice"}
    with app.test_request_context(headers=headers):
        who = control.who_from_headers(flask.request.headers, control.trust_from_env())
        control.request(store, "run-1", "pause", who)
    monkeypatch.setenv(control.TRUST_ENV, "1")
    with app.test_request_context(headers=headers):
        who = control.who_from_headers(flask.request.headers, control.trust_from_env())
        control.request(store, "run-1", "resume", who)
    assert [c.who for c in store.control_history("run-1", 10)] == ["alice", "dashboard"]


# --------------------------------------------------------------------------- a real script
class Server:
    def __init__(self, app: WSGIApp, port: int) -> None:
        self._server: BaseWSGIServer = make_server("127.0.0.1", port, app, threaded=True)
        self.url = f"http://127.0.0.1:{port}"
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def serve(free_port: Callable[[], int]) -> Iterator[Callable[[WSGIApp], Server]]:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    made: list[Server] = []

    def start(app: WSGIApp) -> Server:
        made.append(Server(app, free_port()))
        return made[-1]

    yield start
    for server in made:
        server.stop()


class Counting:
    """The app, counting the control polls it answers."""

    def __init__(self, app: WSGIApp) -> None:
        self.app, self.polls = app, 0

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ["PATH_INFO"].endswith("/control/poll"):
            self.polls += 1
        return self.app(environ, start_response)


class Loop:
    """A small training loop in a thread, honouring the dashboard as the README shows."""

    def __init__(self, run: Run) -> None:
        self.run, self.step, self.ended = run, 0, ""
        self.thread = threading.Thread(target=self._train, daemon=True)
        self.thread.start()

    def _train(self) -> None:
        while self.step < 100_000:
            if self.run.should_stop():
                self.ended = "should_stop"
                return
            if self.run.wait_while_paused(poll=0.05) == "stopped":
                self.ended = "stopped while paused"
                return
            self.run.log(self.step, loss=1.0 / (self.step + 1))
            self.step += 1
            time.sleep(0.005)


def wait_for(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_training_loop_pauses_resumes_and_stops_from_the_dashboard(
    app: Any, serve: Callable[[WSGIApp], Server], store: Store, token: str, tmp_path: Path
) -> None:
    counting = Counting(app)
    server = serve(counting)
    run = Run(server.url, token, "live", spill_dir=tmp_path, interval=0.05, control_poll=0.2)
    loop = Loop(run)
    wait_for(lambda: store.run("live") is not None and loop.step > 20)

    store.set_control("live", "paused", "alice")
    wait_for(lambda: run.control == "paused")  # heard from a points reply
    held = loop.step
    time.sleep(0.6)
    assert loop.step in (held, held + 1), "the loop kept training while paused"
    paused_at = loop.step
    polls = counting.polls
    assert polls >= 3  # wait_while_paused asks every 0.05 s (plus the sender's own)

    store.set_control("live", "running", "bob")
    wait_for(lambda: loop.step > paused_at + 10)
    store.set_control("live", "stopped", "carol")
    loop.thread.join(15)
    assert not loop.thread.is_alive() and loop.ended == "should_stop"
    assert run.close(timeout=10) is True
    # every step the loop logged arrived, and none after it stopped
    steps = store.series("live", "loss", points=100_000).step.tolist()
    assert steps == list(range(loop.step))


def test_a_paused_loop_ends_on_stop_and_a_timeout_returns_paused(
    app: Any, serve: Callable[[WSGIApp], Server], store: Store, token: str, tmp_path: Path
) -> None:
    server = serve(app)
    run = Run(server.url, token, "held", spill_dir=tmp_path, interval=0.05)
    run.log(0, loss=1.0)
    wait_for(lambda: store.run("held") is not None and store.metrics("held") != [])
    assert run.wait_while_paused(poll=0.05) == "running"  # not paused: at once
    store.set_control("held", "paused", "alice")
    assert run.wait_while_paused(poll=0.05, timeout=0) == "running"  # not heard yet
    run.log(1, loss=0.9)  # the reply to this says "paused"
    wait_for(lambda: run.control == "paused")
    started = time.monotonic()
    assert run.wait_while_paused(poll=0.05, timeout=0.3) == "paused"
    assert 0.25 <= time.monotonic() - started < 5
    loop = Loop(run)
    time.sleep(0.2)
    assert loop.step == 0 and loop.thread.is_alive()  # blocked in wait_while_paused
    store.set_control("held", "stopped", "carol")
    loop.thread.join(15)
    assert loop.ended == "stopped while paused" and run.should_stop()
    run.close(timeout=10)


def test_a_script_that_never_asks_makes_no_control_requests(
    app: Any, serve: Callable[[WSGIApp], Server], token: str, tmp_path: Path
) -> None:
    counting = Counting(app)
    server = serve(counting)
    run = Run(server.url, token, "quiet", spill_dir=tmp_path, interval=0.05, control_poll=0.05)
    run.log(0, loss=1.0)
    time.sleep(0.5)  # ten idle sender passes
    assert counting.polls == 0
    assert run.control == "running"  # from now on it asks, at most every control_poll
    time.sleep(0.5)
    assert 2 <= counting.polls <= 15
    run.close(timeout=10)


def test_who_paused_resumed_and_stopped_shows_in_the_runs_events(pg_store: Store) -> None:
    """The events panel reads ``Store.events``: a control change is one line there, with who
    made it and the step the run had reached; a no-op change adds nothing."""
    s = pg_store
    s.set_control("run-1", "paused", "alice", note="checking the spike")
    s.set_control("run-1", "paused", "bob")  # already paused: not a change
    s.set_control("run-1", "running", "bob")
    s.set_control("run-1", "stopped", "carol")
    lines = [(e.kind, e.step, e.text) for e in s.events("run-1") if e.kind == "control"]
    assert lines == [
        ("control", 12_400, "Paused by alice (was running): checking the spike"),
        ("control", 12_400, "Resumed by bob (was paused)"),
        ("control", 12_400, "Stopped by carol (was running)"),
    ]
