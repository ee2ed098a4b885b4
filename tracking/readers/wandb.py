"""W&B run folders kept on disk (``wandb/offline-run-<date>-<id>/``, and ``run-...`` ones):
the run's config and final summary, not its history.

W&B writes a run's step-by-step history only into ``run-<id>.wandb``, its own binary log,
which only ``wandb sync`` turns into something readable (on a W&B server). So this reader
returns:

- params from ``files/config.yaml`` (each setting's ``value``, under its own key, nested ones
  dotted; W&B's internal ``_wandb`` block left out) and ``files/wandb-metadata.json`` as
  ``wandb.<key>`` (GPU model and count, host, program, start time);
- one point per summary metric from ``files/wandb-summary.json``: the metric's last logged
  value, placed at the run's last step (``_step``) and wall time (``_timestamp``). W&B keeps
  no step per summary value, so a metric last logged earlier is still drawn at ``_step``.
  Keys starting with ``_`` (W&B's own) and media summaries (objects with a ``_type``) are
  left out;
- always a problem that says the history was not read and why, so the run's status tells the
  user a chart of this run has one point per metric until it is synced and exported.

W&B also keeps the console output as ``files/output.log``; ``tracking.readers.find`` offers
it to the text-log reader when it holds a known format, which recovers a curve for scripts
that print one (nanoGPT, llm.c).

``config.yaml`` is loaded with ``yaml.safe_load`` only. Everything is re-read whole each pass
(``position`` is 0); W&B rewrites the summary as a run goes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tracking.readers._common import (
    MAX_SIDE_FILE_BYTES,
    NAN,
    Problems,
    SeriesBuilder,
    flatten,
    inside,
    load_json_file,
    load_yaml_file,
    number,
    whole_step,
)
from tracking.records import Read

RUN_FOLDER = re.compile(r"^(?:offline-)?run-\d{8}_\d{6}-[A-Za-z0-9]+$")
MAX_SUMMARY_DEPTH = 4
HISTORY_NOT_READ = (
    "history not read: W&B keeps a run's step-by-step metrics in run-<id>.wandb, its own "
    "binary log, readable only after `wandb sync`; shown: config and each metric's last value "
    "(summary)"
)


def detect(path: Path) -> bool:
    """A W&B run folder: named ``offline-run-<date>_<time>-<id>`` (or ``run-...``) with a
    ``files/config.yaml`` or ``files/wandb-summary.json``."""
    p = Path(path)
    return (
        p.is_dir()
        and RUN_FOLDER.match(p.name) is not None
        and (
            (p / "files" / "config.yaml").is_file()
            or (p / "files" / "wandb-summary.json").is_file()
        )
    )


def read(path: Path, position: int = 0, *, root: Path | None = None) -> Read:
    """Config, metadata and summary of the run folder ``path`` (see the module doc).

    Raises:
        OutsideRoot: ``path`` or a file in it resolves outside ``root``.
    """
    run_dir = inside(path, root)
    files = run_dir / "files"
    problems = Problems()
    params: dict[str, str] = {}
    builder = SeriesBuilder()
    config_file = files / "config.yaml"
    if config_file.is_file():
        config = load_yaml_file(inside(config_file, root), problems, "config.yaml")
        if isinstance(config, Mapping):
            _config_params(config, params, problems)
        elif config is not None:
            problems.add(f"config.yaml: a {type(config).__name__}, not a mapping; not read")
    meta_file = files / "wandb-metadata.json"
    if meta_file.is_file():
        meta = load_json_file(
            inside(meta_file, root), MAX_SIDE_FILE_BYTES, problems, "wandb-metadata.json"
        )
        if isinstance(meta, Mapping):
            flatten(meta, "wandb", params, problems, "wandb-metadata.json")
    summary_file = files / "wandb-summary.json"
    if summary_file.is_file():
        summary = load_json_file(
            inside(summary_file, root), MAX_SIDE_FILE_BYTES, problems, "wandb-summary.json"
        )
        if isinstance(summary, Mapping):
            _summary_points(summary, builder, problems)
    problems.add(HISTORY_NOT_READ)
    return Read(series=builder.build(), params=params, position=0, problems=problems.to_list())


def _config_params(config: Mapping[Any, Any], params: dict[str, str], problems: Problems) -> None:
    """``key: {value: X, desc: ...}`` -> ``params[key] = X`` (older files also say ``desc``)."""
    plain: dict[str, Any] = {}
    for key, item in config.items():
        name = str(key)
        if name in ("_wandb", "wandb_version"):
            continue
        if isinstance(item, Mapping) and "value" in item and set(item) <= {"value", "desc"}:
            plain[name] = item["value"]
        else:
            plain[name] = item
    flatten(plain, "", params, problems, "config.yaml")


def _summary_points(summary: Mapping[Any, Any], builder: SeriesBuilder, problems: Problems) -> None:
    step = whole_step(summary.get("_step"))
    if step is None:
        problems.add("wandb-summary.json: no `_step`; the summary values have no step to sit at")
        return
    t = number(summary.get("_timestamp"))
    time = t if t is not None else NAN

    def walk(node: Mapping[Any, Any], prefix: str, depth: int) -> None:
        for key, value in node.items():
            name = f"{prefix}{key}"
            if str(key).startswith("_"):
                continue
            if isinstance(value, Mapping):
                if "_type" not in value and depth < MAX_SUMMARY_DEPTH:
                    walk(value, f"{name}.", depth + 1)
                continue
            x = number(value) if not isinstance(value, str) else None
            if x is not None:
                builder.add(name, step, x, time)

    walk(summary, "", 0)
