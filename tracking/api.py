"""The HTTP API under ``{prefix}api/v1/``: scripts push metrics, scripts and tabs read runs.

Writes (``PUT /runs/<run_id>``, ``POST /runs/<run_id>/points``) and a script's control poll
(``POST /runs/<run_id>/control/poll``) need ``Authorization: Bearer <token>``, a token made
with ``python -m tracking token create NAME`` and checked against the store's SHA-256 of it.
Only that header is read: a token in a URL, a cookie or a form is never looked at, so no
page, link or browser store can carry one, and a cross-site form cannot write (it cannot set
the header). Reads need no token: they are behind whatever protects the page (nginx's login
where one is set; deploy/nginx.conf lets writes past the login because they carry their own
credential).

Control (docs/tracking.md, "Control"): a token reads its run's control state (in every points
reply, and from the poll) but cannot change it. Tokens are not tied to a run, so a token that
could pause or stop would let any training script stop any other run; changes come from the
page (``tracking.control.request``, behind the page's login, with who made them).
``GET /runs/<run_id>/control`` (behind the login, like every read) shows the state and its
history.

Every reply is JSON: errors are ``{"error": "<what was wrong>; <what is allowed>",
"status": code}`` like the rest of the app (a refused body adds ``field`` and, for a point,
``index``); the app's ``after_request`` adds the security headers. A store that cannot answer
(locked past its timeout, disk full, database gone) is a 503 with ``Retry-After``, which
``tracking.client`` honours; nothing here answers a 500 on purpose.

The store is opened on the first request that needs it, once per process, from the URL
``DASHBOARD_DB`` held when the app was made (``StoreSlot`` in the Flask app's ``extensions``;
no module-level state), so importing the app touches no database and a store that was down
at start is opened when it is back.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import flask
import numpy as np
from werkzeug.exceptions import HTTPException

from tracking import alerting, api_input
from tracking import control as control_view
from tracking import forecast as forecast_module
from tracking import store as store_module
from tracking.api_input import InputError
from tracking.records import Read
from tracking.status import stall_event
from tracking.status import status as run_status
from tracking.store import (
    Added,
    BadInput,
    BadStoreUrl,
    Control,
    Curve,
    Event,
    RunInfo,
    Store,
    StoreUnavailable,
    UnknownRun,
)
from tracking.store.names import check_metric, check_run_id

log = logging.getLogger(__name__)

PREFIX = "api/v1"
REALM = "LLM Training Dashboard API"
RETRY_AFTER_S = 5
DEFAULT_POINTS = 4000
DEFAULT_EVENTS = 200
MAX_EVENTS = 1000
MAX_READ_POINTS = 10_000
_KEY = "tracking.store"
_INT = re.compile(r"-?[0-9]{1,19}")

T = TypeVar("T")


class StoreSlot:
    """One app's store, opened on first use (then shared by the process's threads)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._store: Store | None = None
        self._lock = threading.Lock()

    def get(self) -> Store:
        """The store; ``StoreUnavailable`` while it cannot be opened (tried again next time)."""
        with self._lock:
            if self._store is None:
                try:
                    self._store = store_module.open(self.url)
                except BadStoreUrl as exc:
                    # The operator's setting, not the client's request: the URL may hold a
                    # password, so the reason goes to the log only.
                    log.error("DASHBOARD_DB is not usable: %s", exc)
                    raise StoreUnavailable(
                        "the run store is misconfigured (DASHBOARD_DB); the server's log says why"
                    ) from exc
            return self._store


def store_of(server: flask.Flask) -> Store:
    slot: StoreSlot = server.extensions[_KEY]
    return slot.get()


class ApiError(Exception):
    """A refusal with its status and message (and extra fields/headers for the reply)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra or {}
        self.headers = headers or {}


def reply(body: dict[str, Any], status: int = 200) -> flask.Response:
    """A JSON reply that no cache keeps (a run changes while it trains)."""
    response = flask.jsonify(body)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def error_reply(
    status: int,
    message: str,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> flask.Response:
    """``{"error": message, "status": status, ...}``, the shape of every error the app sends."""
    response = reply({"error": message, "status": status, **(extra or {})}, status)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


# ----------------------------------------------------------------------------- encoding
def values_json(value: np.ndarray[Any, Any]) -> list[float | str]:
    """Values for JSON: non-finite ones as ``"NaN"``, ``"Infinity"``, ``"-Infinity"``."""
    out: list[float | str] = value.tolist()
    for i in np.flatnonzero(~np.isfinite(value)).tolist():
        v = out[i]
        assert isinstance(v, float)
        out[i] = "NaN" if math.isnan(v) else ("Infinity" if v > 0 else "-Infinity")
    return out


def event_json(e: Event) -> dict[str, Any]:
    """An event or alert for JSON (``value`` as ``values_json`` writes non-finite ones)."""
    value: float | str | None = None
    if e.value is not None:
        value = values_json(np.array([e.value]))[0]
    return {
        "seq": e.seq,
        "time": e.time,
        "step": e.step,
        "kind": e.kind,
        "severity": e.severity,
        "text": e.text,
        "state": e.state,
        "key": e.key,
        "metric": e.metric,
        "value": value,
        "closed_step": e.closed_step,
        "closed_time": e.closed_time,
    }


def curve_json(run_id: str, metric: str, curve: Curve) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "metric": metric,
        "step": curve.step.tolist(),
        "value": values_json(curve.value),
        "exact": curve.exact,
        "time": times_json(curve.time),
    }


def times_json(time: np.ndarray[Any, Any]) -> list[float | None]:
    """Wall times for JSON: Unix s, null where the source gave none (unknown, not a value)."""
    out: list[float | None] = time.tolist()
    for i in np.flatnonzero(~np.isfinite(time)).tolist():
        out[i] = None
    return out


def run_json(info: RunInfo, now: float | None = None) -> dict[str, Any]:
    """A run for JSON: ``status`` is the unified one (``tracking.status``: live, finished,
    stalled, failed), ``reported_status`` what the script or the watcher stored."""
    return {
        "run_id": info.run_id,
        "name": info.name,
        "source": info.source,
        "kind": info.kind,
        "tags": list(info.tags),
        "notes": info.notes,
        "status": run_status(info, time.time() if now is None else now),
        "reported_status": info.status,
        "open_alerts": info.open_alerts,
        "log_interval": info.log_interval,
        "problems": list(info.problems),
        "metrics": list(info.metrics),
        "first_step": info.first_step,
        "last_step": info.last_step,
        "created": info.created,
        "updated": info.updated,
    }


def control_json(control: Control) -> dict[str, Any]:
    return {
        "state": control.state,
        "previous": control.previous,
        "who": control.who,
        "note": control.note,
        "step": control.step,
        "time": control.time,
    }


def control_state(s: Store, rid: str) -> str:
    """The run's control state for a script's reply (``running`` for a run not stored yet)."""
    try:
        return s.control(rid).state
    except UnknownRun:
        return "running"


def number_json(x: float | None) -> float | str | None:
    """A number for JSON: None stays null, non-finite ones as the strings ``values_json``
    uses."""
    if x is None or math.isfinite(x):
        return x
    return "NaN" if math.isnan(x) else ("Infinity" if x > 0 else "-Infinity")


def forecast_json(fc: forecast_module.Forecast) -> dict[str, Any]:
    """``tracking.forecast.Forecast`` as the forecast route answers it (nulls where nothing
    was forecast, ``reason`` saying why; times as Unix seconds and ISO 8601 UTC)."""
    finish = fc.finish_time
    return {
        "run_id": fc.run_id,
        "step": fc.step,
        "metric": fc.metric,
        "target_step": fc.target_step,
        "target_source": fc.target_source,
        "final_loss": number_json(fc.final_loss),
        "low": number_json(fc.low),
        "high": number_json(fc.high),
        "last_value": number_json(fc.last_value),
        "power_law": number_json(fc.power_law),
        "val_metric": fc.val_metric,
        "val_final_loss": number_json(fc.val_final_loss),
        "val_low": number_json(fc.val_low),
        "val_high": number_json(fc.val_high),
        "finish_time": number_json(finish),
        "finish_time_iso": (
            datetime.fromtimestamp(finish, UTC).isoformat(timespec="seconds")
            if finish is not None and math.isfinite(finish) and abs(finish) < 1e11
            else None
        ),
        "steps_per_second": number_json(fc.steps_per_second),
        "gpu_hours": number_json(fc.gpu_hours),
        "cost": number_json(fc.cost),
        "method": fc.method,
        "reason": fc.reason,
    }


# ----------------------------------------------------------------------------- requests
def _run_id(run_id: str) -> str:
    try:
        return check_run_id(run_id)
    except BadInput as exc:
        raise ApiError(400, str(exc), extra={"field": "run_id"}) from None


def _metric(metric: str) -> str:
    try:
        return check_metric(metric)
    except BadInput as exc:
        raise ApiError(400, str(exc), extra={"field": "metric"}) from None


def _int_arg(name: str, default: int | None, lo: int, hi: int) -> int | None:
    """Query argument ``name`` as a whole number from ``lo`` to ``hi`` (``default`` if absent)."""
    text = flask.request.args.get(name)
    if text is None or text == "":
        return default
    if not _INT.fullmatch(text) or not lo <= int(text) <= hi:
        raise ApiError(
            400,
            f"{name} must be a whole number from {lo} to {hi}, got {text[:40]!r}",
            extra={"field": name},
        )
    return int(text)


def _bearer(store: Store) -> str:
    """The name of the live token the request carries; 401 or 403 otherwise."""
    header = flask.request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    challenge = f'Bearer realm="{REALM}"'
    how = "create one with `python -m tracking token create NAME`"
    if not header:
        raise ApiError(
            401,
            f"this write needs a token: send Authorization: Bearer <token> ({how})",
            headers={"WWW-Authenticate": challenge},
        )
    if scheme.lower() != "bearer" or not secret.strip():
        raise ApiError(
            401,
            f"writes take Authorization: Bearer <token>, not a login or another scheme ({how})",
            headers={"WWW-Authenticate": challenge},
        )
    token = store.token_for(secret.strip())
    if token is None:
        raise ApiError(
            401,
            f"the bearer token is not one this dashboard issued (or was replaced); {how}",
            headers={"WWW-Authenticate": f'{challenge}, error="invalid_token"'},
        )
    if token.revoked is not None:
        when = datetime.fromtimestamp(token.revoked, UTC).strftime("%Y-%m-%d %H:%M UTC")
        raise ApiError(
            403, f"the token {token.name!r} was revoked on {when}; {how} and use that instead"
        )
    return token.name


def _json_body() -> Any:
    """The request's JSON, its length checked before a byte is read."""
    request = flask.request
    length = request.content_length
    if length is None:
        raise ApiError(411, "the body must be sent with a Content-Length header")
    if length > api_input.MAX_BODY_BYTES:
        raise ApiError(
            413,
            f"the body is {length:,} bytes; at most {api_input.MAX_BODY_BYTES:,} a request "
            f"(and at most {api_input.MAX_POINTS:,} points): send it in several",
        )
    if request.mimetype != "application/json":
        raise ApiError(415, "the body must be sent as Content-Type: application/json")
    return api_input.parse_json(request.get_data(cache=False))


def _guarded(work: Callable[[], flask.Response]) -> flask.Response:
    """Run a view, turning every refusal and store failure into its JSON reply."""
    try:
        return work()
    except ApiError as exc:
        return error_reply(exc.status, exc.message, exc.extra, exc.headers)
    except InputError as exc:
        extra: dict[str, Any] = {"field": exc.field}
        if exc.index is not None:
            extra["index"] = exc.index
        return error_reply(400, str(exc), extra)
    except BadInput as exc:  # a store rule the checks above did not catch first
        return error_reply(400, str(exc))
    except StoreUnavailable as exc:
        log.warning("run store unavailable: %s", exc)
        return error_reply(
            503,
            f"{exc}; nothing was written, retry in {RETRY_AFTER_S} s",
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )


# ----------------------------------------------------------------------------- routes
_CATCH_ALL = ("tracking_api.unknown", "tracking_api.unknown_root")
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def _allowed_methods(server: flask.Flask) -> list[str]:
    """The methods a real API route takes at this request's path (none: the path is unknown)."""
    adapter = server.url_map.bind_to_environ(flask.request.environ)
    allowed = []
    for method in _METHODS:
        try:
            endpoint, _ = adapter.match(method=method)
        except HTTPException:
            continue
        if endpoint not in _CATCH_ALL:
            allowed.append(method)
    return allowed


def blueprint(server: flask.Flask, base: str) -> flask.Blueprint:
    """The API's routes for ``server`` (whose ``extensions`` hold the store slot), to be
    mounted at ``base`` (``/api/v1`` or ``/<prefix>/api/v1``, for messages)."""
    bp = flask.Blueprint("tracking_api", __name__)

    def store() -> Store:
        return store_of(server)

    def put_run(run_id: str) -> flask.Response:
        def work() -> flask.Response:
            rid = _run_id(run_id)
            s = store()
            _bearer(s)
            fields = api_input.run_fields(_json_body())
            new = s.run(rid) is None
            s.put_run(
                rid,
                name=fields.name,
                tags=fields.tags,
                params=fields.params,
                notes=fields.notes,
                status=fields.status,
                source="push" if new else None,
                kind="push" if new else None,
            )
            info = s.run(rid)
            assert info is not None
            return reply({"run": run_json(info), "created": new}, 201 if new else 200)

        return _guarded(work)

    def post_points(run_id: str) -> flask.Response:
        def work() -> flask.Response:
            rid = _run_id(run_id)
            s = store()
            _bearer(s)
            checked = api_input.points(_json_body())
            added = Added()
            if checked.count:  # an empty list makes no run
                if s.run(rid) is None:
                    s.put_run(rid, source="push", kind="push")
                added = s.add_read(rid, Read(series=checked.series))
                if added.new or added.replaced:  # committed; alerts never fail the request
                    alerting.safe_evaluate(s, rid, checked.series)
            return reply(
                {
                    "run_id": rid,
                    "points": checked.count,
                    "values": added.new + added.same + added.replaced,
                    "new": added.new,
                    "same": added.same,
                    "replaced": added.replaced,
                    "control": control_state(s, rid),
                }
            )

        return _guarded(work)

    def poll_control(run_id: str) -> flask.Response:
        # POST, not GET: nginx asks for the page's login on every GET under api/v1/, and a
        # request cannot carry both that login and the bearer token in Authorization.
        # No body is read.
        def work() -> flask.Response:
            rid = _run_id(run_id)
            s = store()
            _bearer(s)
            return reply({"run_id": rid, "control": control_state(s, rid)})

        return _guarded(work)

    def get_control(run_id: str) -> flask.Response:
        def work() -> flask.Response:
            rid = _run_id(run_id)
            limit = _int_arg("history", 20, 1, 1000)
            assert limit is not None
            s = store()
            _known_run(s, rid)
            trust = control_view.trust_from_env()
            body: dict[str, Any] = {"run_id": rid, **control_json(s.control(rid))}
            body["history"] = [control_json(c) for c in s.control_history(rid, limit)]
            body["as"] = control_view.who_from_headers(flask.request.headers, trust)
            return reply(body)

        return _guarded(work)

    def list_runs() -> flask.Response:
        return _guarded(lambda: reply({"runs": [run_json(r) for r in store().runs()]}))

    def _known_run(s: Store, rid: str) -> RunInfo:
        info = s.run(rid)
        if info is None:
            raise ApiError(404, f"no run {rid!r}: GET {base}/runs lists the runs")
        return info

    def get_run(run_id: str) -> flask.Response:
        def work() -> flask.Response:
            rid = _run_id(run_id)
            s = store()
            info = _known_run(s, rid)
            body = run_json(info)
            body["metrics"] = [
                {
                    "metric": m.metric,
                    "points": m.points,
                    "first_step": m.first_step,
                    "last_step": m.last_step,
                }
                for m in s.metrics(rid)
            ]
            body["params"] = s.params(rid)
            return reply(body)

        return _guarded(work)

    def _known_metric(s: Store, rid: str, metric: str) -> None:
        info = _known_run(s, rid)
        if metric not in info.metrics:
            shown = ", ".join(info.metrics[:20]) + (" ..." if len(info.metrics) > 20 else "")
            raise ApiError(
                404, f"run {rid!r} has no metric {metric!r}; it has: {shown or 'none yet'}"
            )

    def series(run_id: str, metric: str) -> flask.Response:
        def work() -> flask.Response:
            rid, name = _run_id(run_id), _metric(metric)
            start = _int_arg("start", None, 0, api_input.MAX_STEP)
            stop = _int_arg("stop", None, 0, api_input.MAX_STEP)
            points = _int_arg("points", DEFAULT_POINTS, 2, MAX_READ_POINTS)
            assert points is not None
            if start is not None and stop is not None and start > stop:
                raise ApiError(400, f"start ({start}) is after stop ({stop})")
            s = store()
            _known_metric(s, rid, name)
            curve = s.series(rid, name, start=start, stop=stop, points=points)
            return reply(curve_json(rid, name, curve))

        return _guarded(work)

    def since(run_id: str, metric: str) -> flask.Response:
        def work() -> flask.Response:
            rid, name = _run_id(run_id), _metric(metric)
            after = _int_arg("after", None, -1, api_input.MAX_STEP)
            if after is None:
                raise ApiError(
                    400,
                    "after is required: the last step the chart has (-1 for everything)",
                    extra={"field": "after"},
                )
            points = _int_arg("points", DEFAULT_POINTS, 2, MAX_READ_POINTS)
            assert points is not None
            s = store()
            _known_metric(s, rid, name)
            curve = s.since(rid, name, after, points=points)
            return reply(curve_json(rid, name, curve))

        return _guarded(work)

    def forecast(run_id: str) -> flask.Response:
        def work() -> flask.Response:
            rid = _run_id(run_id)
            until = _int_arg("until", None, 0, api_input.MAX_STEP)
            s = store()
            _known_run(s, rid)
            try:
                fc = forecast_module.forecast(s, rid, until)
            except (ValueError, ArithmeticError, np.linalg.LinAlgError) as exc:
                # A fit this run's data broke (a bug to fix, logged with its traceback);
                # the client gets a reason, not a 500.
                log.exception("forecast of run %r up to step %r failed", rid, until)
                raise ApiError(422, f"the forecast failed on this run's points: {exc}") from exc
            if fc is None:  # deleted between the two reads
                raise ApiError(404, f"no run {rid!r}: GET {base}/runs lists the runs")
            return reply(forecast_json(fc))

        return _guarded(work)

    def events(run_id: str) -> flask.Response:
        def work() -> flask.Response:
            rid = _run_id(run_id)
            after = _int_arg("after", 0, 0, api_input.MAX_STEP)
            limit = _int_arg("limit", DEFAULT_EVENTS, 1, MAX_EVENTS)
            assert after is not None and limit is not None
            s = store()
            info = _known_run(s, rid)
            rows = [event_json(e) for e in s.events(rid, after_seq=after, limit=limit)]
            stall = stall_event(info, time.time())
            return reply(
                {
                    "run_id": rid,
                    "events": rows,
                    "open_alerts": info.open_alerts,
                    "stalled": None if stall is None else event_json(stall),
                }
            )

        return _guarded(work)

    def unknown(rest: str = "") -> flask.Response:
        # Without this, a GET to a mistyped API path would reach Dash's catch-all page route
        # and answer 200 with the dashboard's HTML.
        method = flask.request.method
        allowed = _allowed_methods(server)
        if allowed:
            return error_reply(
                405,
                f"method {method} is not allowed here; allowed: {', '.join(allowed)}",
                headers={"Allow": ", ".join(allowed)},
            )
        return error_reply(
            404,
            f"no API route {method} {flask.request.path[:200]}; the routes under {base}/ are "
            "PUT runs/<run_id>, "
            "POST runs/<run_id>/points, GET runs, GET runs/<run_id>, "
            "GET runs/<run_id>/series/<metric>, GET runs/<run_id>/since/<metric>, "
            "GET runs/<run_id>/control, POST runs/<run_id>/control/poll, "
            "GET runs/<run_id>/forecast, GET runs/<run_id>/events",
        )

    # No automatic OPTIONS: it would answer an empty text/html 200. OPTIONS reaches the
    # catch-all instead, a JSON 405 (a cross-origin preflight gets no CORS header either).
    routes: list[tuple[str, str, Callable[..., flask.Response], list[str]]] = [
        ("/runs", "runs", list_runs, ["GET"]),
        ("/runs/<run_id>", "run", get_run, ["GET"]),
        ("/runs/<run_id>", "put_run", put_run, ["PUT"]),
        ("/runs/<run_id>/points", "points", post_points, ["POST"]),
        ("/runs/<run_id>/control/poll", "control_poll", poll_control, ["POST"]),
        ("/runs/<run_id>/control", "control", get_control, ["GET"]),
        ("/runs/<run_id>/series/<path:metric>", "series", series, ["GET"]),
        ("/runs/<run_id>/since/<path:metric>", "since", since, ["GET"]),
        ("/runs/<run_id>/forecast", "forecast", forecast, ["GET"]),
        ("/runs/<run_id>/events", "events", events, ["GET"]),
        ("/", "unknown_root", unknown, [*_METHODS, "OPTIONS"]),
        ("/<path:rest>", "unknown", unknown, [*_METHODS, "OPTIONS"]),
    ]
    for rule, endpoint, view, methods in routes:
        bp.add_url_rule(rule, endpoint, view, methods=methods, provide_automatic_options=False)
    return bp


def register(server: flask.Flask, prefix: str = "/") -> None:
    """Mount the API at ``{prefix}api/v1`` on ``server`` with the store ``DASHBOARD_DB``
    names now (opened on first use)."""
    server.extensions[_KEY] = StoreSlot(store_module.default_url())
    base = f"{prefix}{PREFIX}"
    server.register_blueprint(blueprint(server, base), url_prefix=base)
