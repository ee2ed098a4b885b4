"""A real run on the Training tab: which chart each metric goes to, the run picker's rows,
the run's URL, its KPIs and x-axis options, and the hooks later features fill in.

Dash-free and store-agnostic where it can be (plain values in, plain values out); the
reads are in ``views.real_charts`` and the actions in ``views.real_tab``.

What fills the real run's other parts lives beside this: the predicted band and the
assumed-field form (``views.real_predict``), the forecast panel (``views.real_forecast``),
events, the banner and status (``views.real_events``), Pause/Resume/Stop
(``views.real_control``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

from layouts.definitions import TRAIN_LOSS
from simulator import fmt
from simulator.run import FINAL_TAIL
from tracking import metric_names, status
from tracking.recipe.settings import base_name
from tracking.store.rows import RunInfo

SIMULATED = "simulated"  # the picker's value for the simulated run; a stored run's value is
REAL_PREFIX = "run:"  # "run:<id>", so no run id can be mistaken for it
PICKER_LIMIT = 200  # rows the picker lists (newest first; the search box finds the rest)
RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")

# Metric names by what they measure (``base_name``: the last part, lower case).
LOSS, VAL = metric_names.LOSS, metric_names.VAL
VAL_WORDS = ("val", "eval", "valid", "test")
LR, GRAD = metric_names.LR, metric_names.GRAD
THROUGHPUT = (
    "tokens_per_sec",
    "tokens_per_second",
    "tok_per_sec",
    "tokens/s",
    "throughput",
    "train_tokens_per_second",
    "samples_per_second",
    "train_samples_per_second",
    "iter_time",
)


@dataclass(frozen=True)
class Mapped:
    """Which stored metric each chart slot shows, and what is left for the "other" chart."""

    slots: Mapping[str, str]  # slot -> metric name
    rest: tuple[str, ...]  # metrics on no main chart, offered in the "other" picker
    other: str  # the one shown on the "other" chart ("" for none)


def _is_val(name: str) -> bool:
    parts = re.split(r"[/._ -]", name.lower())
    return any(p in VAL_WORDS or p.startswith(VAL_WORDS) for p in parts[:-1]) or (
        base_name(name) in VAL
    )


def map_metrics(metrics: Iterable[str], other: str = "") -> Mapped:
    """Assign each of the run's metrics to a Training chart by its normalised name (first
    match wins, in the store's order); the rest go to the "other" chart's picker."""
    names = list(metrics)
    slots: dict[str, str] = {}

    def take(slot: str, ok: Any) -> None:
        for n in names:
            if slot not in slots and n not in slots.values() and ok(n):
                slots[slot] = n

    take("train_loss", lambda n: base_name(n) in LOSS and not _is_val(n))
    take("val_loss", lambda n: base_name(n) in LOSS + VAL and _is_val(n))
    take("lr", lambda n: base_name(n) in LR)
    take("grad_norm", lambda n: base_name(n) in GRAD)
    take("throughput", lambda n: base_name(n) in THROUGHPUT)
    rest = tuple(n for n in names if n not in slots.values())
    pick = other if other in rest else (rest[0] if rest else "")
    if pick:
        slots["other"] = pick
    return Mapped(slots, rest, pick)


# ----------------------------------------------------------------------------- picker
def ago(seconds: float) -> str:
    """A relative time as a person says it: "just now", "2 min ago", "3 h ago", "4 d ago"."""
    s = max(0.0, seconds)
    if s < 45:
        return "just now"
    if s < 3600:
        return f"{max(1, round(s / 60))} min ago"
    if s < 86_400:
        return f"{round(s / 3600)} h ago"
    return f"{round(s / 86_400)} d ago"


def open_alerts(info: RunInfo) -> int:
    """Open alerts of a run (counted where the data arrives, ``RunInfo.open_alerts``)."""
    return max(0, int(info.open_alerts))


def run_status(info: RunInfo, now: float, control: str | None = None) -> str:
    """The unified status (``tracking.status.status``: live, paused, finished, stalled,
    failed) with the run's control state when known."""
    return status.status(info, now, control=control)


def title(info: RunInfo, state: str) -> str:
    """The real run's title bar: name, source kind, status and where it comes from."""
    where = info.source if info.source and info.source != "push" else "pushed over the API"
    return f"{info.name or info.run_id} · {info.kind or 'pushed'} · {state} · {where}"


def picker_options(
    runs: Sequence[RunInfo],
    now: float,
    search: str = "",
    keep: str = "",
    control: Callable[[str], str | None] | None = None,
) -> list[dict[str, Any]]:
    """The picker's rows: the simulated run, then at most ``PICKER_LIMIT`` stored runs,
    newest first (``runs`` comes so from ``Store.runs``), filtered by ``search`` (in the id,
    name or source). ``keep`` (the value shown) stays listed even when filtered out.
    ``control(run_id)``: the run's control state (asked only for a run not yet ended)."""
    out: list[dict[str, Any]] = [{"label": "Simulated run", "value": SIMULATED}]
    needle = search.strip().lower()[:200]
    shown = 0
    for info in runs:
        value = REAL_PREFIX + info.run_id
        hay = f"{info.run_id} {info.name} {info.source} {info.kind}".lower()
        if (needle and needle not in hay) or shown >= PICKER_LIMIT:
            if value == keep:
                out.append(_option(info, now, control))
            continue
        out.append(_option(info, now, control))
        shown += 1
    return out


def _option(
    info: RunInfo, now: float, control: Callable[[str], str | None] | None
) -> dict[str, Any]:
    alerts = open_alerts(info)
    state = control(info.run_id) if control and info.status not in ("finished", "failed") else None
    parts = [
        info.name or info.run_id,
        info.kind or "pushed",
        run_status(info, now, state),
        f"updated {ago(now - info.updated)}",
        f"{alerts} open alert{'s' if alerts != 1 else ''}",
    ]
    return {
        "label": " · ".join(parts),
        "value": REAL_PREFIX + info.run_id,
        "search": f"{info.run_id} {info.name} {info.source}",
        "title": info.source or info.run_id,
    }


# ----------------------------------------------------------------------------- URL
def run_from_search(search: Any) -> str | None:
    """The ``run`` of a page's query string (``?run=<id>``), or None when it has none."""
    if not isinstance(search, str) or "run=" not in search or len(search) > 4096:
        return None
    for key, value in parse_qsl(search.lstrip("?"), keep_blank_values=True):
        if key == "run":
            return value
    return None


def search_with(search: Any, run_id: str | None) -> str:
    """The query string with ``run`` set to ``run_id`` (removed for None), others kept."""
    pairs = []
    if isinstance(search, str) and len(search) <= 4096:
        pairs = [(k, v) for k, v in parse_qsl(search.lstrip("?"), keep_blank_values=True)]
    pairs = [(k, v) for k, v in pairs if k != "run"]
    if run_id is not None:
        pairs.append(("run", run_id))
    return "?" + urlencode(pairs) if pairs else ""


def valid_run_id(run_id: str) -> bool:
    return bool(RUN_ID.fullmatch(run_id))


# ----------------------------------------------------------------------------- recipe, axes
@dataclass(frozen=True)
class Recipe:
    """What the x-axes need from the recipe guess the watcher stored (``recipe.*``)."""

    tokens_per_step: float | None
    missing: str  # why tokens are unknown ("" when known)


def recipe_of(params: Mapping[str, str]) -> Recipe:
    """Tokens per step from the stored recipe, when the batch was found or derived (an
    assumed batch would make a tokens axis look exact when it is a guess)."""
    prov = params.get("recipe_provenance.global_batch_tokens", "")
    raw = params.get("recipe.global_batch_tokens")
    if raw is None:
        return Recipe(None, "the run's recipe is not known (no batch size in its settings)")
    if prov.startswith("assumed"):
        return Recipe(None, f"the batch in tokens is assumed, not found ({prov})")
    try:
        tokens = float(json.loads(raw))
    except (ValueError, TypeError):
        return Recipe(None, "the recipe's batch in tokens is not a number")
    if not math.isfinite(tokens) or tokens <= 0:
        return Recipe(None, "the recipe's batch in tokens is not a positive number")
    return Recipe(tokens, "")


WALL_MISSING = (
    "Wall time: this run's points carry no time (its {kind} source records none per step; "
    "e.g. HF trainer_state.json and llm.c main.log do not, event files and pushed points do)"
)


def xaxis_options(
    recipe: Recipe | None, timed: bool = False, kind: str = ""
) -> list[dict[str, Any]]:
    """The x-axis choices: all three for the simulated run (``recipe`` None); for a real
    run, step, tokens once tokens per step are known, and wall time when its points carry
    wall times (``timed``; ``kind`` is the run's source, named in the reason when not).
    Disabled ones say why."""
    labels = {"step": "Step", "tokens": "Tokens", "wall": "Wall time"}
    if recipe is None:
        return [{"label": labels[k], "value": k} for k in labels]
    why = {
        "step": "",
        "tokens": "" if recipe.tokens_per_step else "Tokens: " + recipe.missing,
        "wall": "" if timed else WALL_MISSING.format(kind=kind or "log"),
    }
    return [
        {"label": labels[k], "value": k, "disabled": bool(why[k]), "title": why[k]} for k in labels
    ]


# ----------------------------------------------------------------------------- KPIs
KPI_KEYS = ("step", "loss", "final", "val", "tps", "updated")
KPI_LABELS = {
    "step": "Last step",
    "loss": "Last train loss",
    "final": "Train loss (final def.)",
    "val": "Last val loss",
    "tps": "Throughput",
    "updated": "Last update",
}
KPI_TIPS = {
    "step": "The last step any metric of the run was logged at.",
    "loss": "The last logged train loss and its step.",
    "final": TRAIN_LOSS,
    "val": "The last logged validation loss and its step.",
    "tps": "The last value of the run's throughput metric (the Throughput chart's), in its "
    "own unit.",
    "updated": "When the store last received anything for this run.",
}


def kpis(
    last_step: int | None,
    tails: Mapping[str, tuple[list[int], list[float]]],
    mapped: Mapped,
    updated: float,
    now: float,
) -> dict[str, str]:
    """The KPI cards' text from the run's last points per slot (``tails``: the last
    ``FINAL_TAIL`` steps of each charted metric). Nothing the data does not hold: a missing
    metric reads "-"."""
    out = dict.fromkeys(KPI_KEYS, "-")
    if last_step is not None:
        out["step"] = f"{last_step:,}"
    out["updated"] = ago(now - updated)

    def last(slot: str) -> tuple[int, float] | None:
        steps, values = tails.get(slot, ([], []))
        return (steps[-1], values[-1]) if steps else None

    for slot, key in (("train_loss", "loss"), ("val_loss", "val")):
        got = last(slot)
        if got:
            out[key] = f"{_num(got[1])} @ {got[0]:,}"
    steps, values = tails.get("train_loss", ([], []))
    if steps:
        tail = values[-FINAL_TAIL:]
        mean = math.fsum(tail) / len(tail)
        out["final"] = f"{_num(mean)} ({len(tail)} pts)" if len(tail) < FINAL_TAIL else _num(mean)
    got = last("throughput")
    if got:
        out["tps"] = fmt.si(got[1]) if abs(got[1]) >= 1000 else _num(got[1])
    return out


def _num(v: float) -> str:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+inf" if v > 0 else "-inf"
    return f"{v:.4g}"
