"""The one place view results become Dash values: KEEP, Edit and Notice in Dash's terms.

A callback here is a decorator and one call: ``return adapt.outputs(view_function(...))``.
The decorator names its outputs in a dict (Dash's flexible callback signatures), the view
returns a frozen dataclass with fields of the same names, and ``outputs`` maps each field:

- ``KEEP`` -> ``no_update`` (leave the prop as the browser has it);
- ``Edit`` -> ``Patch`` (change part of a figure or store, e.g. append a tick's points);
- ``Notice`` -> a dismissable ``dbc.Alert``, the same look on every tab, which closes by
  itself after ``Notice.close_after_ms`` (errors stay until dismissed);
- lists and dicts holding those are walked one level, so ``{chart: Edit or KEEP}`` works;
- anything else (JSON) as it is.

Dash checks that the returned dict has exactly the decorator's keys, so a field added to a
result without its Output (or the reverse) fails on the first call, in the tests.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import dash_bootstrap_components as dbc
from dash import Patch, html, no_update

from views.contract import KEEP, Edit, Notice


def alert(notice: Notice) -> dbc.Alert:
    """A notice as the app's one kind of message: dismissable, coloured by its tone, closed
    by itself once read unless it is an error (``Notice.close_after_ms``)."""
    body: Any = notice.lines[0]
    if len(notice.lines) > 1:
        body = html.Ul([html.Li(x) for x in notice.lines], className="mb-0")
    return dbc.Alert(
        body,
        color=notice.tone,
        dismissable=True,
        duration=notice.close_after_ms,
        className="notice mb-2",
    )


def patch(edit: Edit) -> Patch:
    """``edit`` as a Dash ``Patch`` (same operations, same order)."""
    p = Patch()
    for op, path, value in edit.ops:
        node: Any = p
        for key in path[:-1] if op == "assign" else path:
            node = node[key]
        if op == "assign":
            node[path[-1]] = value
        elif op == "extend":
            node.extend(value)
        else:
            node.append(value)
    return p


def dash_value(value: Any) -> Any:
    """One view value in Dash's terms (see the module docstring)."""
    if value is KEEP:
        return no_update
    if isinstance(value, Edit):
        return patch(value)
    if isinstance(value, Notice):
        return alert(value)
    if isinstance(value, list) and any(_special(v) for v in value):
        return [dash_value(v) for v in value]
    if isinstance(value, dict) and any(_special(v) for v in value.values()):
        return {k: dash_value(v) for k, v in value.items()}
    return value


def _special(v: Any) -> bool:
    return v is KEEP or isinstance(v, (Edit, Notice))


def outputs(result: Any) -> dict[str, Any]:
    """A view result (a dataclass) as the dict of outputs its callback declares."""
    return {f.name: dash_value(getattr(result, f.name)) for f in dataclasses.fields(result)}
