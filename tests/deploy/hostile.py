"""Generated hostile requests for ``/_dash-update-component``, built the way dash-renderer builds.

``cases(deps, layout, seed)`` turns the app's own ``/_dash-dependencies`` and
``/_dash-layout`` into a deterministic list of ``Case``s: raw bodies that are not JSON or not
an envelope, envelopes that do not match their callback, and, for EVERY server-side
callback, well-formed envelopes whose values are hostile (wrong types, huge and negative
numbers, long strings, deep and wide containers), tampered or outdated stores (absurd steps,
thousands of changes, wrong schema versions, a wrong type in each field) and hostile upload
files. Every value a browser could send is fair game; only the generator's seed decides
which ones are drawn, so a failure replays exactly.

Used by tests/deploy/test_hostile_input.py against real gunicorn; importable from a shell
(``sys.path`` += tests/deploy) to replay a case through Flask's test client.
"""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import simulator as sim
from layouts import ids
from simulator import saved
from views import config_form as cf


@dataclass(frozen=True)
class Case:
    """One request: its category (for counts), a label (for replay), body and content type."""

    category: str
    label: str
    body: bytes
    content_type: str | None = "application/json"
    callback: str = ""  # the ``output`` key of the callback it aims at, if any


def dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def nested(depth: int, leaf: Any = 1) -> Any:
    value = leaf
    for k in range(depth):
        value = [value] if k % 2 else {"a": value}
    return value


# Values that fit in valid JSON (NaN and Infinity are raw-body cases: JSON has no such literal).
HOSTILE_VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    -(2**31),
    2**63,
    10**40,
    -(10**40),
    1e308,
    -1e308,
    5e-324,
    -0.0,
    0.5,
    "",
    "x" * 100_000,
    "NaN",
    "Infinity",
    "-1",
    "1e999",
    "\ud800",  # a lone surrogate: valid JSON, not encodable as UTF-8
    "<script>alert(1)</script>",
    "../../etc/passwd",
    [],
    {},
    [None] * 5_000,
    list(range(20_000)),
    {f"k{i}": i for i in range(2_000)},
    nested(20),
    {"__proto__": {"admin": True}},
    [[1, 2], {"a": "b"}, None, "x", 3.5],
]


def _state(**overrides: Any) -> dict[str, Any]:
    d = sim.start(sim.new_run(sim.preset("llama-2-7b"))).to_dict()
    d.update(overrides)
    return d


def tampered_states(rng: random.Random) -> Iterator[tuple[str, Any]]:
    """Run states that are stale, edited or hostile, each named by what is wrong."""
    base = _state()
    total = sim.RunState.from_dict(base).total_steps
    yield "absurd step", _state(step=10**15)
    yield "negative step", _state(step=-5)
    yield "step past the end", _state(step=total + 1)
    yield "float step", _state(step=12.5)
    yield "schema version 0", _state(**{_schema_key(base): 0})
    yield "schema version 999", _state(**{_schema_key(base): 999})
    yield "schema version as text", _state(**{_schema_key(base): "1"})
    yield "unknown status", _state(status="exploded")
    yield "thousands of changes", _state(changes=[[i, {"lr": 1e-4}] for i in range(5_000)])
    yield "thousands of events", _state(events=[[i, "spike", 0.1] for i in range(10_000)])
    yield "changes not a list", _state(changes={"0": {"lr": 1}})
    yield "change with a NaN-like string", _state(changes=[[1, {"lr": "NaN"}]])
    yield "change with a huge value", _state(changes=[[1, {"lr": 1e308}]])
    yield "config not an object", _state(config="llama")
    yield "config with wrong types", _state(config={k: [] for k in base["config"]})
    yield (
        "config with huge numbers",
        _state(config={**base["config"], "global_batch_tokens": 2**80}),
    )
    yield "missing keys", {"step": 1}
    yield "extra keys", {**base, "history": list(range(50_000))}
    yield "state as a list", [base]
    for key in base:
        value = rng.choice(HOSTILE_VALUES)
        yield f"field {key} = {_short(value)}", {**base, key: value}
    for key in base["config"]:
        value = rng.choice(HOSTILE_VALUES)
        yield f"config.{key} = {_short(value)}", {**base, "config": {**base["config"], key: value}}


def _schema_key(d: dict[str, Any]) -> str:
    for k in ("schema", "schema_version", "version", "v"):
        if k in d:
            return k
    raise KeyError("the run state has no schema version key")


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 30 else text[:27] + "..."


def tampered_configs(rng: random.Random) -> Iterator[tuple[str, Any]]:
    base = sim.preset("llama-2-7b").to_dict()
    yield "config with 10k keys", {**base, **{f"k{i}": i for i in range(10_000)}}
    yield "config with absurd tokens", {**base, "total_tokens": 10**30}
    yield "config as a string", json.dumps(base)
    for key in base:
        value = rng.choice(HOSTILE_VALUES)
        yield f"config.{key} = {_short(value)}", {**base, key: value}


def tampered_saved(rng: random.Random) -> Iterator[tuple[str, Any]]:
    good = saved.make_entry(sim.RunState.from_dict(_state()), "ok")
    yield "1k saved entries", [good] * 1_000
    yield "saved entries of wrong shape", [{"id": 1}, [good], "x", None]
    yield "saved entry with tampered state", [{**good, "state": _state(step=-1)}]
    yield "saved as an object", {"runs": [good]}
    for label, state in tampered_states(rng):
        if rng.random() < 0.25:
            yield f"saved: {label}", [{"id": good["id"], "state": state}]


def upload(blob: bytes, mime: str = "application/json") -> str:
    return f"data:{mime};base64," + base64.b64encode(blob).decode()


def hostile_uploads(rng: random.Random, kind: str) -> Iterator[tuple[str, Any]]:
    """``dcc.Upload`` contents no real file of ``kind`` (config/runs) would give."""
    cfg = sim.preset("llama-2-7b").to_dict()
    yield "not a string", 12345
    yield "no comma", "data:application/json;base64"
    yield "empty data url", "data:;base64,"
    yield "malformed base64", "data:application/json;base64,!!!not*base64==="
    yield "base64 with bad padding", "data:application/json;base64,eyJh"
    yield "binary, not JSON", upload(b"\x89PNG\r\n\x1a\n\x00\x00" + bytes(range(256)))
    yield "invalid UTF-8", upload(b'{"a": "\xff\xfe"}')
    yield "JSON with NaN", upload(b'{"total_tokens": NaN, "lr": Infinity}')
    yield "deep nesting 100k", upload(b"[" * 100_000 + b"]" * 100_000)
    yield "deep nesting 900", upload(b"[" * 900 + b"]" * 900)
    yield "huge (600 KB) JSON", upload(b"[" + b"1," * 300_000 + b"1]")
    yield "JSON list", upload(b"[1, 2, 3]")
    yield "JSON string", upload(b'"hello"')
    yield "JSON null", upload(b"null")
    yield "wrong schema", upload(dumps({"runs": 5, "format": "other", "version": 99}))
    yield (
        "config with hostile numbers",
        upload(dumps({**cfg, "total_tokens": 10**40, "global_batch_tokens": -1, "lr": 1e308})),
    )
    yield (
        "run export with hostile state",
        upload(
            dumps(
                {
                    "format": saved.EXPORT_FORMAT,
                    "version": saved.EXPORT_VERSION,
                    "runs": [{"id": "x", "state": _state(step=10**15)}],
                }
            )
        ),
    )
    yield (
        "run export, 5k entries",
        upload(dumps({"format": saved.EXPORT_FORMAT, "version": 1, "runs": [{"id": "a"}] * 5_000})),
    )
    for key in cfg:
        value = rng.choice(HOSTILE_VALUES[:20])
        yield f"config file: {key} = {_short(value)}", upload(dumps({**cfg, key: value}))


# ------------------------------------------------------------------------ the envelope
class Envelopes:
    """Request bodies for each server-side callback, as dash-renderer builds them."""

    def __init__(self, deps: list[dict[str, Any]], layout: Any) -> None:
        self.deps = [d for d in deps if not d.get("clientside_function")]
        self.clientside = [d for d in deps if d.get("clientside_function")]
        self.pattern_ids = _pattern_ids(layout)
        self.base_values = _base_values()

    def label(self, dep: dict[str, Any]) -> str:
        return dep["output"].strip(".").split("...")[0].split("@")[0]

    def expand(self, id_str: str, prop: str, value: Any = None, with_value: bool = False) -> Any:
        """One slot: an object, or for an ``ALL`` pattern the list of every matching component."""
        if not id_str.startswith("{"):
            spec: dict[str, Any] = {"id": id_str, "property": prop}
            if with_value:
                spec["value"] = value
            return spec
        pattern = json.loads(id_str)
        out = []
        for concrete in self.pattern_ids.get(pattern["type"], []):
            item: dict[str, Any] = {"id": concrete, "property": prop}
            if with_value:
                key = next(k for k in concrete if k != "type")
                item["value"] = value.get(concrete[key]) if isinstance(value, dict) else value
            out.append(item)
        return out

    def body(
        self, dep: dict[str, Any], values: dict[str, Any] | None = None, changed: int = 0
    ) -> dict[str, Any]:
        """The envelope for ``dep``; ``values`` keyed ``id.prop`` override the base values."""
        vals = {**self.base_values, **(values or {})}
        outs = dep["output"].strip(".").split("...")
        outputs = [self.expand(*o.rsplit(".", 1)) for o in outs]

        def slot(item: dict[str, str]) -> Any:
            key = f"{item['id']}.{item['property']}"
            return self.expand(item["id"], item["property"], vals.get(key), True)

        first = dep["inputs"][changed]
        body = {
            "output": dep["output"],
            "outputs": outputs if len(outs) > 1 else outputs[0],
            "inputs": [slot(i) for i in dep["inputs"]],
            "changedPropIds": [f"{first['id']}.{first['property']}"],
        }
        if dep["state"]:
            body["state"] = [slot(s) for s in dep["state"]]
        return body


def _pattern_ids(layout: Any) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    stack = [layout]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            props = node.get("props")
            cid = props.get("id") if isinstance(props, dict) else None
            if isinstance(cid, dict):
                found.setdefault(cid["type"], []).append(cid)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def _base_values() -> dict[str, Any]:
    """What a fresh page holds: a live run, a config, one saved run, the form filled in."""
    cfg = sim.preset("llama-2-7b")
    model, form = cf.config_to_form(cfg)
    state = _state()
    return {
        f"{ids.RUN_STORE}.data": state,
        f"{ids.CONFIG_STORE}.data": cfg.to_dict(),
        f"{ids.SAVED_RUNS_STORE}.data": [saved.make_entry(sim.RunState.from_dict(state), "a")],
        f"{ids.CFG_PRESET}.value": model,
        '{"name":["ALL"],"type":"cfg-field"}.value': form,
        f"{ids.TR_SPEED}.value": "100",
        f"{ids.TICK}.interval": 500,
        f"{ids.TICK}.n_intervals": 1,
        f"{ids.TR_XAXIS}.value": "step",
        f"{ids.TR_SMOOTHING}.value": 0.6,
        f"{ids.TR_LOG}.value": False,
        f"{ids.URL}.href": "http://127.0.0.1/",
    }


# ------------------------------------------------------------------------ all the cases
RAW_BODIES: list[tuple[str, bytes, str | None]] = [
    ("empty body", b"", "application/json"),
    ("truncated JSON", b'{"output": "x", "inputs": [', "application/json"),
    ("trailing garbage", b'{"output": "x"} garbage', "application/json"),
    ("single quotes", b"{'output': 'x'}", "application/json"),
    ("invalid UTF-8", b'{"output": "\xff\xfe\xfd"}', "application/json"),
    ("UTF-8 BOM", b"\xef\xbb\xbf{}", "application/json"),
    ("NaN literal", b'{"output": NaN}', "application/json"),
    ("Infinity literal", b'{"output": "x", "inputs": [Infinity]}', "application/json"),
    ("-Infinity literal", b'{"n": -Infinity}', "application/json"),
    ("nesting 40", dumps(nested(40)), "application/json"),
    ("nesting 5000", b"[" * 5_000 + b"]" * 5_000, "application/json"),
    ("nesting 200k", b"[" * 200_000 + b"]" * 200_000, "application/json"),
    ("nesting 200k unclosed", b'{"a":' * 150_000, "application/json"),
    ("null", b"null", "application/json"),
    ("number", b"12", "application/json"),
    ("string", b'"output"', "application/json"),
    ("array", b"[]", "application/json"),
    ("huge number", b"1" + b"0" * 5_000, "application/json"),
    ("text/plain", b'{"output": "x"}', "text/plain"),
    ("form encoded", b"output=x&inputs=y", "application/x-www-form-urlencoded"),
    ("no content type", b'{"output": "x"}', None),
    ("duplicate keys", b'{"output": 1, "output": {"a": 1}}', "application/json"),
    ("control characters", b'{"output": "\x00\x01"}', "application/json"),
]


def envelope_mutations(env: Envelopes, dep: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """Envelopes of ``dep`` with one part wrong."""
    good = env.body(dep)
    first_in = good["inputs"][0]
    yield "output missing", {k: v for k, v in good.items() if k != "output"}
    yield "output not a string", {**good, "output": ["x"]}
    yield "output unknown", {**good, "output": "..nope.children.."}
    yield "output of a clientside callback", {**good, "output": "tick-interval.interval"}
    yield "outputs missing", {k: v for k, v in good.items() if k != "outputs"}
    yield "outputs wrong type", {**good, "outputs": "x"}
    yield "outputs short", {**good, "outputs": [good["outputs"]][:0]}
    yield "outputs wrong id", {**good, "outputs": _rename(good["outputs"])}
    yield "inputs missing", {k: v for k, v in good.items() if k != "inputs"}
    yield "inputs an object", {**good, "inputs": first_in}
    yield "inputs one too many", {**good, "inputs": [*good["inputs"], first_in]}
    yield "inputs of strings", {**good, "inputs": ["a"] * len(good["inputs"])}
    yield "input with unknown id", {**good, "inputs": [_rename(first_in), *good["inputs"][1:]]}
    yield (
        "input with wrong property",
        {
            **good,
            "inputs": [_reprop(first_in), *good["inputs"][1:]],
        },
    )
    if "state" in good:
        yield "state missing", {k: v for k, v in good.items() if k != "state"}
        yield "state an object", {**good, "state": {"a": 1}}
        yield "state reversed", {**good, "state": good["state"][::-1]}
    yield "changedPropIds a string", {**good, "changedPropIds": "x.n_clicks"}
    yield "changedPropIds numbers", {**good, "changedPropIds": [1, 2]}
    yield "changedPropIds bad JSON id", {**good, "changedPropIds": ['{"type":.value']}
    yield "changedPropIds 10k", {**good, "changedPropIds": ["a.b"] * 10_000}
    yield "changedPropIds unknown", {**good, "changedPropIds": ["nope.n_clicks"]}
    # ALL-pattern groups that list other components than the page has: fewer, none, one
    # twice, reordered. Each group alone (outputs, inputs, state), so they disagree.
    for part in ("outputs", "inputs", "state"):
        slots = good.get(part)
        if not isinstance(slots, list):
            continue
        for k, group in enumerate(slots):
            if isinstance(group, list) and group:
                for how, changed in (
                    ("one", group[:1]),
                    ("none", []),
                    ("a duplicate", [*group, group[0]]),
                    ("reversed", group[::-1]),
                ):
                    yield f"{part}[{k}] pattern group: {how}", _replace(good, part, k, changed)
    for k, item in enumerate(good["inputs"]):
        if isinstance(item, list):
            many = [item[0]] * 5_000 if item else [{"id": {}, "property": "x"}] * 5_000
            yield f"pattern input {k} with 5k items", _replace(good, "inputs", k, many)
            if item:
                bad = [{**item[0], "id": {**item[0]["id"], "type": {"nested": [1]}}}]
                yield f"pattern input {k} nested id", _replace(good, "inputs", k, bad)
                bad = [{**item[0], "id": {**item[0]["id"], "extra": 1}}]
                yield f"pattern input {k} extra id key", _replace(good, "inputs", k, bad)


def _rename(spec: Any) -> Any:
    if isinstance(spec, list):
        return [_rename(s) for s in spec]
    return {**spec, "id": "no-such-component"}


def _reprop(spec: Any) -> Any:
    if isinstance(spec, list):
        return [_reprop(s) for s in spec]
    return {**spec, "property": "no_such_prop"}


def _replace(body: dict[str, Any], key: str, k: int, value: Any) -> dict[str, Any]:
    slots = list(body[key])
    slots[k] = value
    return {**body, key: slots}


STORE_SLOTS = {
    f"{ids.RUN_STORE}.data": tampered_states,
    f"{ids.TR_AUTOSAVE}.data": tampered_states,
    f"{ids.CONFIG_STORE}.data": tampered_configs,
    f"{ids.CFG_DRAFT}.data": tampered_configs,
    f"{ids.SAVED_RUNS_STORE}.data": tampered_saved,
}
UPLOAD_SLOTS = {f"{ids.CFG_UPLOAD}.contents": "config", f"{ids.CMP_IMPORT_UPLOAD}.contents": "runs"}


def cases(deps: list[dict[str, Any]], layout: Any, seed: int = 7) -> list[Case]:
    """Every hostile request, deterministic for a given ``seed`` (see the module docstring)."""
    rng = random.Random(seed)
    env = Envelopes(deps, layout)
    out = [Case("malformed body", label, body, ctype) for label, body, ctype in RAW_BODIES]
    for dep in env.clientside:  # well-formed, but these run in the browser, not here
        label = f"clientside {env.label(dep)}: a whole envelope"
        out.append(Case("envelope", label, dumps(env.body(dep)), callback=dep["output"]))
    for dep in env.deps:
        name = env.label(dep)
        for label, body in envelope_mutations(env, dep):
            out.append(Case("envelope", f"{name}: {label}", dumps(body), callback=dep["output"]))
        slots = [(i, "inputs") for i in dep["inputs"]] + [(s, "state") for s in dep["state"]]
        # Every hostile value reaches every callback (in a slot the seed picks), and every
        # slot gets a few more, each with a trigger the seed picks.
        picks = [(v, rng.choice(slots)[0]) for v in HOSTILE_VALUES]
        picks += [(v, item) for item, _ in slots for v in rng.sample(HOSTILE_VALUES, 3)]
        for value, item in picks:
            key = f"{item['id']}.{item['property']}"
            body = env.body(dep, {key: value}, rng.randrange(len(dep["inputs"])))
            label = f"{name}: {key}={_short(value)}"
            out.append(Case("hostile value", label, dumps(body), callback=dep["output"]))
        for item, _where in slots:
            key = f"{item['id']}.{item['property']}"
            if key in STORE_SLOTS:
                for label, value in STORE_SLOTS[key](random.Random(rng.random())):
                    body = env.body(dep, {key: value})
                    out.append(
                        Case(
                            "tampered store",
                            f"{name}: {key}: {label}",
                            dumps(body),
                            callback=dep["output"],
                        )
                    )
            if key in UPLOAD_SLOTS:
                changed = [i["id"] for i in dep["inputs"]].index(item["id"])
                for label, value in hostile_uploads(rng, UPLOAD_SLOTS[key]):
                    body = env.body(dep, {key: value}, changed)
                    out.append(
                        Case(
                            "upload", f"{name}: {key}: {label}", dumps(body), callback=dep["output"]
                        )
                    )
    return out
