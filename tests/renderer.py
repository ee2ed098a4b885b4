"""What dash-renderer does on the wire, for tests and benchmarks that speak to the callback
endpoint without a browser: build a callback's POST body from ``/_dash-dependencies``, and
apply a ``Patch`` answer to the value it patches.

One copy, used by the HTTP unit tests, benchmarks/bench_training.py and the deploy tier's
simulated sessions (tests/deploy/session.py), so a change in Dash's wire format is fixed once.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from dash import Patch


class Callbacks:
    """The app's server-side callbacks (``/_dash-dependencies``), by the input that fires them."""

    def __init__(self, dependencies: list[dict[str, Any]]) -> None:
        self.dependencies = [d for d in dependencies if not d.get("clientside_function")]

    def find(self, input_id: str, prop: str) -> dict[str, Any]:
        for d in self.dependencies:
            if any(i["id"] == input_id and i["property"] == prop for i in d["inputs"]):
                return d
        raise KeyError(f"no server-side callback has the input {input_id}.{prop}")

    def body(self, input_id: str, prop: str, values: dict[tuple[str, str], Any]) -> bytes:
        """The POST body dash-renderer sends when ``input_id.prop`` changes."""
        d = self.find(input_id, prop)
        outputs = []
        for part in d["output"].strip(".").split("..."):
            cid, p = part.rsplit(".", 1)
            outputs.append({"id": cid, "property": p})

        def vals(items: list[dict[str, str]]) -> list[dict[str, Any]]:
            return [{**i, "value": values.get((i["id"], i["property"]))} for i in items]

        return json.dumps(
            {
                "output": d["output"],
                # One output goes as an object, several as a list (a "..a.b...c.d.." string).
                "outputs": outputs if d["output"].startswith("..") else outputs[0],
                "inputs": vals(d["inputs"]),
                "state": vals(d["state"]),
                "changedPropIds": [f"{input_id}.{prop}"],
            },
            separators=(",", ":"),
        ).encode()


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
