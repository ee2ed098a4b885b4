"""A guard in front of Dash's callback route: refuse malformed requests with a clear 4xx.

Dash 4.4's dispatch (``dash/backends/_flask.py`` ``serve_callback``) trusts the envelope it is
given. ``request.get_json()`` answers 400/415 in HTML for bad JSON but lets a deeply nested
body escape as ``RecursionError`` (not a ``ValueError``, so a 500) and accepts the ``NaN`` /
``Infinity`` literals a browser never sends. After that, every malformed part of the
envelope is a 500: an unknown ``output`` is a ``KeyError``; an ``inputs`` or ``state`` that
is not a list of ``{id, property, value}`` objects fails in ``inputs_to_dict``; the wrong
number of them is a ``CallbackException`` ("Inputs do not match callback definition"), and
so are ``outputs`` that differ from the callback's ("Output does not match callback
definition"); a ``changedPropIds`` entry such as ``"{bad.value"`` makes ``ctx.triggered_id``
run ``json.loads`` on it. A browser running our page never sends any of these, so each is
answered here, before Dash sees it, with a 400 and a JSON body
``{"error": "<what was wrong>; <what is allowed>", "status": <code>}``.

What the guard checks, once per request and in time linear in the body:

- the body: sent with a Content-Length, at most ``MAX_BODY_BYTES`` (Flask's
  ``MAX_CONTENT_LENGTH``, so Werkzeug stops reading and answers 413, which is turned into
  JSON here), JSON by content type, UTF-8, valid JSON, no container nested deeper than
  ``MAX_DEPTH``, no non-finite number, no string with a lone surrogate, integers past 64
  bits read as the doubles a browser meant;
- the envelope: ``output`` names a registered server-side callback (Dash also lists
  clientside callbacks in ``callback_map``, and dispatching one is a ``KeyError``);
  ``outputs``, ``inputs`` and ``state`` have exactly that callback's ids and properties,
  in its order, in the form dash-renderer sends (a single output as an object, a
  multi-output as a list, an ``ALL`` pattern as a list of at most ``MAX_PATTERN_ITEMS``
  concrete ids with scalar values);
  ``changedPropIds`` is a short list of ``"<id>.<property>"`` strings whose id, when it
  starts with ``{``, is a JSON object (``ctx.triggered_id`` parses it). Dash only compares
  the others with its inputs, so an id naming no input is harmless and left to the callback.

The guard parses with ``request.get_json()``, which Flask caches, so Dash's own call reuses
the parse. Beyond the checks above it does not judge property values: what a value means is
each callback's
business, and the callbacks validate every value from the browser (stores included) into a
message and a fresh state.

No last-resort safety net (Dash's ``on_error=``, or a Flask handler turning 500 into a
200): a callback that raises is a bug, and a net would turn it into a quiet "no update"
that a user cannot report and a test cannot see. With debug off, Flask already answers a
bare 500 without a stack trace and logs the traceback to gunicorn's log, which is exactly
where the hostile-input test (tests/deploy/test_hostile_input.py) looks for it.

Registered by ``app.create_app`` through ``register(app)``; nothing here imports the app.
"""

from __future__ import annotations

import json
import math
from typing import Any

import dash
import flask
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge, UnsupportedMediaType

MAX_BODY_BYTES = 1024 * 1024
"""Largest callback body read (Flask ``MAX_CONTENT_LENGTH``), like nginx's client_max_body_size.

The largest legitimate body is the Model Comparison import: a full export file (at most
``simulator.saved.MAX_IMPORT_BYTES``, 324 KB, 432 KB once base64-encoded) sent with a full
saved-runs list: 527 KB with 20 of the largest runs a user can make (4.2 KB each) saved
and the file padded to the import limit (benchmarks/bench_request_guard.py), so 1 MiB
leaves about twice that.
"""
MAX_DEPTH = 32
"""Deepest container nesting accepted; our deepest legitimate request nests 9 deep."""
MAX_PATTERN_ITEMS = 256
"""Components one ``ALL`` pattern may list (the config form has a few dozen fields)."""
MAX_ID_CHARS = 200
"""Longest string value inside a pattern-matching id."""
MAX_PROP_ID_CHARS = 1000
"""Longest ``changedPropIds`` entry (ours are under 60 characters)."""

DISPATCH = "_dash-update-component"


class GuardError(Exception):
    """A request the guard refuses: an HTTP status and a message for the client."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def error_response(status: int, message: str) -> flask.Response:
    """``{"error": message, "status": status}``, never cached: the shape of the app's 500 and
    of nginx's own replies, so a client reads every refusal the same way."""
    response = flask.jsonify(error=message, status=status)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


# --------------------------------------------------------------------------- the body
INT_RANGE = (-(2**63), 2**64 - 1)
"""Integers the reply encoder (orjson, through Dash) can write; larger ones become floats."""


def _check_leaf(node: Any) -> None:
    if isinstance(node, float) and not math.isfinite(node):
        raise GuardError(
            400, "the body holds NaN or Infinity; only finite numbers are allowed in JSON"
        )
    if isinstance(node, str) and not node.isascii():
        try:
            node.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise GuardError(
                400, "the body holds a lone UTF-16 surrogate; only Unicode text is allowed"
            ) from exc


def _as_double(n: int) -> float:
    """An integer literal past 64 bits, as the browser's JSON.parse reads it: a double."""
    try:
        return float(n)
    except OverflowError as exc:
        raise GuardError(
            400, "the body holds a number beyond the double range; at most about 1.8e308"
        ) from exc


def check_tree(value: Any, max_depth: int = MAX_DEPTH) -> None:
    """Refuse nesting deeper than ``max_depth``, non-finite numbers and strings that are not
    Unicode text, in place and without recursion.

    A ``"\\ud800"`` escape is valid JSON but parses to a lone surrogate, which no UTF-8
    encoder accepts, so a reply echoing it back would be a 500. So would an integer literal
    past 64 bits (``100000000000000000000`` is how a browser writes 1e20): orjson refuses
    it. A browser's numbers are doubles, so such an integer is turned into the float it
    stands for, as JSON.parse would; one past the double range is refused.

    Raises:
        GuardError: naming the problem.
    """
    lo, hi = INT_RANGE
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > max_depth:
            raise GuardError(
                400, f"the body nests deeper than {max_depth} levels; at most {max_depth} allowed"
            )
        items: Any = node.items() if isinstance(node, dict) else enumerate(node)
        for key, child in items:
            if isinstance(key, str):
                _check_leaf(key)
            if isinstance(child, dict | list):
                stack.append((child, depth + 1))
            elif isinstance(child, int) and not isinstance(child, bool) and not lo <= child <= hi:
                node[key] = _as_double(child)
            else:
                _check_leaf(child)


def parse_body(request: flask.Request) -> Any:
    """The request's JSON, parsed once through Flask's cache, checked by ``check_tree``.

    Raises:
        GuardError: 411 no length, 413 too large, 415 not JSON, 400 not UTF-8, invalid,
            too deep, non-finite, a lone surrogate or a number past the double range.
    """
    if request.content_length is None:
        # Without a length (a chunked upload straight to gunicorn) Werkzeug reads an empty
        # body rather than an unbounded stream. Browsers send a length, and nginx buffers
        # a chunked body and forwards it with one, so only a hand-made request lands here.
        raise GuardError(411, "the body must be sent with a Content-Length header")
    try:
        body = request.get_json()
    except RequestEntityTooLarge as exc:
        raise GuardError(
            413, f"the body is larger than {MAX_BODY_BYTES:,} bytes; a callback needs far less"
        ) from exc
    except UnsupportedMediaType as exc:
        raise GuardError(415, "the body must be sent as Content-Type: application/json") from exc
    except BadRequest as exc:  # Flask's answer to invalid UTF-8 or invalid JSON
        raise GuardError(400, "the body is not valid UTF-8 JSON") from exc
    except RecursionError as exc:  # the C parser's answer to deep nesting: not a ValueError
        raise GuardError(
            400, f"the body nests too deeply to parse; at most {MAX_DEPTH} levels allowed"
        ) from exc
    if isinstance(body, dict | list):
        check_tree(body)
    else:
        _check_leaf(body)
    return body


# --------------------------------------------------------------------------- the envelope
def _pattern(id_str: str) -> Any:
    """A dependency's id: a plain string, or the dict a pattern-matching id stands for."""
    return json.loads(id_str) if id_str.startswith("{") else id_str


def _wildcard(v: Any) -> str | None:
    """The wildcard (ALL, MATCH, ALLSMALLER) a pattern-id value stands for, else None."""
    if isinstance(v, list) and len(v) == 1 and v[0] in ("ALL", "MATCH", "ALLSMALLER"):
        return str(v[0])
    return None


def _scalar_id_value(v: Any) -> bool:
    if isinstance(v, str):
        return len(v) <= MAX_ID_CHARS
    return isinstance(v, bool | int | float)


def _id_matches(got: Any, pattern: Any) -> bool:
    if isinstance(pattern, str):
        return got == pattern
    if not isinstance(got, dict) or set(got) != set(pattern):
        return False
    for key, want in pattern.items():
        if _wildcard(want) is None:
            if got[key] != want:
                return False
        elif not _scalar_id_value(got[key]):
            return False
    return True


def _describe(pattern: Any, prop: str) -> str:
    shown = pattern if isinstance(pattern, str) else json.dumps(pattern, sort_keys=True)
    return f"{shown}.{prop}"


def _check_item(item: Any, pattern: Any, prop: str, where: str) -> None:
    """One ``{id, property[, value]}`` object against the callback's id and property."""
    wanted = _describe(pattern, prop)
    if not isinstance(item, dict):
        raise GuardError(400, f"{where} must be an object {{id, property, value}} for {wanted}")
    # For outputs dash-renderer keeps allow_duplicate's "@<hash>" suffix on the property.
    got_prop = item.get("property")
    if not isinstance(got_prop, str) or got_prop.split("@")[0] != prop.split("@")[0]:
        raise GuardError(400, f"{where} must have property {prop.split('@')[0]!r} ({wanted})")
    if not _id_matches(item.get("id"), pattern):
        raise GuardError(400, f"{where} has the wrong id; this callback expects {wanted}")


def _check_slot(value: Any, pattern: Any, prop: str, where: str) -> list[dict[str, Any]]:
    """One slot of ``inputs``/``state``/``outputs``; returns its concrete items."""
    kinds = {_wildcard(v) for v in pattern.values()} if isinstance(pattern, dict) else set()
    if kinds & {"ALL", "ALLSMALLER"}:
        wanted = _describe(pattern, prop)
        if not isinstance(value, list) or len(value) > MAX_PATTERN_ITEMS:
            raise GuardError(
                400, f"{where} must be a list of at most {MAX_PATTERN_ITEMS} objects for {wanted}"
            )
        for k, item in enumerate(value):
            _check_item(item, pattern, prop, f"{where}[{k}]")
        return value
    _check_item(value, pattern, prop, where)
    return [value]


def check_envelope(body: Any, callbacks: dict[str, dict[str, Any]]) -> None:
    """The envelope dash-renderer sends, against the callback its ``output`` names.

    Args:
        body: the parsed request body.
        callbacks: Dash's ``app.callback_map`` (output key -> registered callback).

    Raises:
        GuardError: naming the first part that is wrong and what is allowed.
    """
    if not isinstance(body, dict):
        raise GuardError(
            400, "the body must be a JSON object {output, outputs, inputs, state, changedPropIds}"
        )
    output = body.get("output")
    if not isinstance(output, str):
        raise GuardError(400, "'output' must be a string naming a callback's outputs")
    cb = callbacks.get(output)
    if cb is None or "callback" not in cb:  # a clientside callback has no server function
        raise GuardError(
            400,
            f"'output' {output[:80]!r} names no server-side callback of this app; "
            "see /_dash-dependencies",
        )

    if not cb.get("no_output"):
        declared = cb["output"]
        multi = isinstance(declared, list | tuple)
        specs = [o.to_dict() for o in (declared if multi else [declared])]
        outputs = body.get("outputs")
        if multi:
            if not isinstance(outputs, list) or len(outputs) != len(specs):
                raise GuardError(400, f"'outputs' must be a list of this callback's {len(specs)}")
            slots = outputs
        else:
            slots = [outputs]
        for k, (got, spec) in enumerate(zip(slots, specs, strict=True)):
            where = f"outputs[{k}]" if multi else "outputs"
            _check_slot(got, _pattern(spec["id"]), spec["property"], where)

    for name in ("inputs", "state"):
        declared = cb[name]
        got = body.get(name, [] if name == "state" else None)
        if not isinstance(got, list) or len(got) != len(declared):
            raise GuardError(
                400,
                f"'{name}' must be a list of this callback's {len(declared)} "
                "{id, property, value} objects",
            )
        for k, (slot, spec) in enumerate(zip(got, declared, strict=True)):
            _check_slot(slot, _pattern(spec["id"]), spec["property"], f"{name}[{k}]")

    changed = body.get("changedPropIds", [])
    if (
        not isinstance(changed, list)
        or len(changed) > MAX_PATTERN_ITEMS
        or not all(isinstance(c, str) and len(c) <= MAX_PROP_ID_CHARS for c in changed)
    ):
        raise GuardError(
            400,
            f"'changedPropIds' must be a list of at most {MAX_PATTERN_ITEMS} strings "
            f"'<id>.<property>' of at most {MAX_PROP_ID_CHARS} characters",
        )
    for c in changed:
        component_id, dot, _prop = c.rpartition(".")
        if not dot or (component_id.startswith("{") and not _json_object(component_id)):
            raise GuardError(
                400,
                f"'changedPropIds' entry {c[:80]!r} is not '<id>.<property>' "
                "with a string id or a JSON object id",
            )


def _json_object(text: str) -> bool:
    """Whether ``text`` parses as a JSON object (what ``ctx.triggered_id`` will parse)."""
    try:
        return isinstance(json.loads(text), dict)
    except (ValueError, RecursionError):
        return False


# --------------------------------------------------------------------------- wiring
def register(app: dash.Dash) -> None:
    """Guard ``app``'s callback route and bound request bodies (see the module docstring)."""
    server = app.server
    server.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    path = app.config.routes_pathname_prefix + DISPATCH

    def guard() -> flask.Response | None:
        if flask.request.path != path:
            return None
        if flask.request.method != "POST":
            return error_response(405, "callbacks are POSTed; only POST is allowed here")
        try:
            check_envelope(parse_body(flask.request), app.callback_map)
        except GuardError as exc:
            return error_response(exc.status, exc.message)
        return None

    def too_large(_exc: RequestEntityTooLarge) -> flask.Response:
        return error_response(413, f"the body is larger than {MAX_BODY_BYTES:,} bytes")

    server.before_request(guard)
    server.register_error_handler(RequestEntityTooLarge, too_large)
