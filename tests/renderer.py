"""What dash-renderer does on the wire, for tests and benchmarks that speak to the callback
endpoint without a browser: build a callback's POST body from ``/_dash-dependencies``, and
apply a ``Patch`` answer to the value it patches.

The one copy, used by the HTTP unit tests, the benchmarks and the deploy tier's simulated
sessions (tests/deploy/session.py), so a change in Dash's wire format is fixed once. The
request the browser makes, and why each part looks the way it does, is described on
``Callbacks``; docs/architecture.md says what the callbacks themselves may trust of it.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from typing import Any

from dash import Patch

DISPATCH = "/_dash-update-component"
"""Where dash-renderer POSTs every server-side callback."""


def prop_id(component_id: str | Mapping[str, Any], prop: str) -> str:
    """``"id.prop"`` as dash-renderer writes it in ``changedPropIds``: a pattern-matching id
    (a dict) as compact JSON with its keys sorted, then ``.prop``."""
    if isinstance(component_id, Mapping):
        component_id = json.dumps(component_id, sort_keys=True, separators=(",", ":"))
    return f"{component_id}.{prop}"


class Callbacks:
    """The app's server-side callbacks (``/_dash-dependencies``) and the requests that run them.

    Every entry of ``/_dash-dependencies`` describes one callback: ``output`` (its key: one
    ``"id.prop"``, or several as ``"..a.x...b.y.."``; an ``allow_duplicate`` output carries an
    ``@<hash>`` suffix), ``inputs`` and ``state`` (lists of ``{"id", "property"}``; a
    pattern-matching id appears as its JSON, e.g. ``{"name":["ALL"],"type":"cfg-field"}``).
    Clientside callbacks run in the browser and are left out.

    When an input changes, dash-renderer POSTs to ``/_dash-update-component`` a JSON object with

    - ``output``: the callback's key, as is;
    - ``outputs``: ``{"id", "property"}`` for each output: a list when the key starts with
      ``..`` (several outputs, or dict-shaped ones), else the one object;
    - ``inputs`` and ``state``: ``{"id", "property", "value"}`` for each, the value being what
      the component holds in the page; ``state`` is left out when the callback has none;
    - ``changedPropIds``: the ``"id.prop"`` of what fired it (see ``prop_id``).

    A pattern-matching ``ALL`` slot (in any of the three lists) becomes a list with one item
    per matching component on the page, each with its concrete id (the pattern with the
    wildcard replaced, e.g. ``{"name": "seq_len", "type": "cfg-field"}``). This class has no
    page, so it is told which components exist: ``components`` maps a pattern's ``type`` to
    the values its wildcard key takes (``{"cfg-field": ["seq_len", ...]}``). A type not in
    ``components`` matches the components a value is given for (see ``request``), else none.

    Values are looked up by ``"id.prop"`` (a pattern by its JSON as in
    ``/_dash-dependencies``), as the request itself names them; missing ones are ``None``, as
    for a prop the page never set. (``body`` keeps its older ``(id, prop)`` keys.)
    """

    def __init__(
        self,
        dependencies: list[dict[str, Any]],
        components: Mapping[str, Sequence[Any]] | None = None,
    ) -> None:
        self.dependencies = [d for d in dependencies if not d.get("clientside_function")]
        self.components = dict(components or {})

    # ------------------------------------------------------------------ finding a callback
    def find(self, input_id: str, prop: str) -> dict[str, Any]:
        """The first callback that has ``input_id.prop`` among its inputs."""
        for d in self.dependencies:
            if any(i["id"] == input_id and i["property"] == prop for i in d["inputs"]):
                return d
        raise KeyError(f"no server-side callback has the input {input_id}.{prop}")

    def find_output(self, output: str, duplicate: bool = False) -> dict[str, Any]:
        """The callback that writes ``output`` (``"id.prop"``).

        Several callbacks may write one prop if all but one say ``allow_duplicate=True``;
        ``duplicate`` picks the first of those (whose key has ``output@<hash>``) instead of
        the one plain writer.
        """
        for d in self.dependencies:
            for o in d["output"].strip(".").split("..."):
                name, _, suffix = o.partition("@")
                if name == output and bool(suffix) == duplicate:
                    return d
        kind = "an allow_duplicate" if duplicate else "a plain"
        raise KeyError(f"no server-side callback has {kind} output {output}")

    # ------------------------------------------------------------------ the request
    def request(
        self, dep: dict[str, Any], values: Mapping[str, Any], changed: Sequence[str]
    ) -> dict[str, Any]:
        """The JSON object dash-renderer POSTs to run ``dep`` (see the class docstring).

        ``values`` maps ``"id.prop"`` to what the page holds; for an ``ALL`` pattern, the value
        is a dict from the wildcard's value to each component's value (``{"seq_len": "4096",
        ...}``). ``changed`` is ``changedPropIds`` as sent, e.g. ``["tabs.value"]``.
        """
        outs = [o.rsplit(".", 1) for o in dep["output"].strip(".").split("...")]
        outputs = [self._slot(cid, p) for cid, p in outs]
        body: dict[str, Any] = {
            "output": dep["output"],
            "outputs": outputs if dep["output"].startswith("..") else outputs[0],
            "inputs": [self._slot(i["id"], i["property"], values) for i in dep["inputs"]],
            "changedPropIds": list(changed),
        }
        if dep["state"]:
            body["state"] = [self._slot(s["id"], s["property"], values) for s in dep["state"]]
        return body

    def _slot(self, cid: str, prop: str, values: Mapping[str, Any] | None = None) -> Any:
        """One entry of ``outputs`` (``values`` None) or ``inputs``/``state``."""
        value = values.get(f"{cid}.{prop}") if values is not None else None
        if not cid.startswith("{"):
            item: dict[str, Any] = {"id": cid, "property": prop}
            if values is not None:
                item["value"] = value
            return item
        pattern = json.loads(cid)
        wild = [k for k, v in pattern.items() if isinstance(v, list)]
        if len(wild) != 1 or pattern[wild[0]] != ["ALL"]:
            raise ValueError(f"only one ALL wildcard per pattern is supported: {cid}")
        key = wild[0]
        if pattern["type"] in self.components:
            names = list(self.components[pattern["type"]])
        else:
            names = list(value) if isinstance(value, Mapping) else []
        items = []
        for name in names:
            item = {"id": {**pattern, key: name}, "property": prop}
            if values is not None:
                item["value"] = value.get(name) if isinstance(value, Mapping) else None
            items.append(item)
        return items

    def encode(self, request: dict[str, Any]) -> bytes:
        """``request`` as the browser sends it: compact JSON (``JSON.stringify``)."""
        return json.dumps(request, separators=(",", ":")).encode()

    def post(
        self, client: Any, dep: dict[str, Any], values: Mapping[str, Any], changed: Sequence[str]
    ) -> Any:
        """POST ``request(dep, values, changed)`` with a Flask test client; its response."""
        return client.post(
            DISPATCH,
            data=self.encode(self.request(dep, values, changed)),
            content_type="application/json",
        )

    def body(self, input_id: str, prop: str, values: dict[tuple[str, str], Any]) -> bytes:
        """The POST body dash-renderer sends when ``input_id.prop`` changes (the first callback
        with that input); ``values`` keyed ``(id, prop)``."""
        flat = {f"{cid}.{p}": v for (cid, p), v in values.items()}
        d = self.find(input_id, prop)
        return self.encode(self.request(d, flat, [f"{input_id}.{prop}"]))


def apply_patch(value: Any, patch: Any) -> Any:
    """``value`` after a callback answered ``patch`` (a ``Patch``, its JSON, or a plain value
    that replaces it), as dash-renderer applies it; ``value`` itself is left as it was."""
    if isinstance(patch, Patch):
        ops = patch._operations
    elif isinstance(patch, dict) and "__dash_patch_update" in patch:
        ops = patch["operations"]
    else:
        return patch
    value = copy.deepcopy(value)
    for op in ops:
        *path, last = op["location"]
        target = value
        for k in path:
            target = target[k]
        if op["operation"] == "Assign":
            target[last] = op["params"]["value"]
        elif op["operation"] == "Extend":
            target[last].extend(op["params"]["value"])
        elif op["operation"] == "Merge":
            target[last].update(op["params"]["value"])
        else:
            raise ValueError(f"unexpected Patch operation {op['operation']!r}")
    return value
