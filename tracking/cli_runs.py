"""``python -m tracking watch ROOT... | ingest PATH... | list``: runs from the logs on disk.

``watch`` is the long-running service (``make watch``, ``deploy/llm-dashboard-watch.service``):
it polls the folders and stores what training writes, until stopped (Ctrl-C or SIGTERM,
both a clean exit 0; a stop at any moment loses nothing, see ``tracking.ingest``). ``ingest``
is one pass, for a script or a finished run, and prints what it did per run. ``list`` shows
the store's runs (``--json`` for scripts). A folder that is missing, not a folder or not
readable is refused before anything is read, with the reason.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import time
from types import FrameType
from typing import TYPE_CHECKING, Any

from tracking import store as store_module
from tracking.polling import DEFAULT_INTERVAL, FIND_EVERY, BadRoot, check_roots
from tracking.status import status as run_status
from tracking.store import RunInfo

if TYPE_CHECKING:
    from tracking.ingest import RunReport

SHOWN_PROBLEMS = 3
"""Problems printed per run by ``list`` and ``ingest`` (all of them with ``list --json``)."""


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.05 <= value <= 3600:
        raise argparse.ArgumentTypeError(f"{text!r}: give seconds from 0.05 to 3600")
    return value


def _polls(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 100_000:
        raise argparse.ArgumentTypeError(f"{text!r}: give a whole number of polls from 1")
    return value


def _logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )


def watch_command(args: argparse.Namespace) -> int:
    _logging(args.verbose)
    try:
        roots = check_roots(args.roots)
    except BadRoot as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    from tracking.watch import watch  # the readers, only for the commands that read

    store = store_module.open(args.db)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        watch(store, roots, interval=args.interval, find_every=args.find_every, stop=stop)
    finally:
        store.close()
    return 0


def _problem_lines(problems: tuple[str, ...], hint: str) -> list[str]:
    lines = [f"    ! {p}" for p in problems[:SHOWN_PROBLEMS]]
    if len(problems) > SHOWN_PROBLEMS:
        lines.append(f"    ! ... {len(problems) - SHOWN_PROBLEMS} more ({hint})")
    return lines


def _report_line(r: RunReport) -> str:
    a = r.added
    what = "new run" if r.created else "run"
    return (
        f"{what} {r.run_id} ({r.kind}, {r.source}): {a.new:,} new, {a.same:,} same, "
        f"{a.replaced:,} replaced points from {r.files_read} file(s); "
        f"{len(r.problems)} problem(s)"
    )


def ingest_command(args: argparse.Namespace) -> int:
    _logging(args.verbose)
    try:
        roots = check_roots(args.paths)
    except BadRoot as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    from tracking.ingest import ingest

    store = store_module.open(args.db)
    try:
        reports = ingest(store, roots)
    finally:
        store.close()
    for r in reports:
        print(_report_line(r))
        for line in _problem_lines(r.problems, "python -m tracking list --json"):
            print(line)
    if not reports:
        print(
            f"no runs found under {', '.join(map(str, roots))}: looked for event files "
            "(events.out.tfevents.*), trainer_state.json, metrics CSV/JSONL, text logs of "
            "llm.c / nanoGPT / modded-nanogpt, MLflow and W&B run folders",
            file=sys.stderr,
        )
    return 0


def _row(run: RunInfo, now: float) -> dict[str, Any]:
    return {
        "run_id": run.run_id,
        "name": run.name,
        "kind": run.kind,
        "source": run.source,
        "status": run_status(run, now),
        "reported_status": run.status,
        "open_alerts": run.open_alerts,
        "log_interval": run.log_interval,
        "problems": list(run.problems),
        "metrics": list(run.metrics),
        "first_step": run.first_step,
        "last_step": run.last_step,
        "created": run.created,
        "updated": run.updated,
    }


def list_command(args: argparse.Namespace) -> int:
    store = store_module.open(args.db)
    try:
        runs = store.runs()
    finally:
        store.close()
    now = time.time()
    if args.json:
        print(json.dumps([_row(r, now) for r in runs], indent=1))
        return 0
    if not runs:
        print(
            "no runs yet: python -m tracking watch FOLDER (or ingest FOLDER) reads logs, "
            "or push them with tracking.client",
            file=sys.stderr,
        )
        return 0
    table = [("ID", "NAME", "KIND", "METRICS", "LAST STEP", "STATUS", "ALERTS", "PROBLEMS")]
    for r in runs:
        metrics = ", ".join(r.metrics[:3])
        if len(r.metrics) > 3:
            metrics += f" +{len(r.metrics) - 3}"
        last = "-" if r.last_step is None else f"{r.last_step:,}"
        status = run_status(r, now)
        alerts = str(r.open_alerts) if r.open_alerts else "-"
        table.append(
            (
                r.run_id,
                r.name,
                r.kind or "-",
                metrics or "-",
                last,
                status,
                alerts,
                str(len(r.problems)),
            )
        )
    widths = [min(max(len(row[i]) for row in table), 40) for i in range(len(table[0]))]
    for row in table:
        print("  ".join(cell[:40].ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    for r in runs:
        if r.problems:
            print(f"\n{r.run_id}:")
            for line in _problem_lines(r.problems, "list --json shows all"):
                print(line)
    return 0


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add ``watch``, ``ingest`` and ``list`` to the dispatcher's ``commands``."""
    verbose = argparse.ArgumentParser(add_help=False)
    verbose.add_argument("-v", "--verbose", action="store_true", help="log debug detail")
    w = commands.add_parser(
        "watch",
        parents=[common, verbose],
        help="follow folders of training logs into the run store (runs until stopped)",
        description="Poll the folders every few seconds and store what training writes "
        "there: TensorBoard event files, trainer_state.json, text logs, CSV/JSONL, MLflow, "
        "W&B. Stop with Ctrl-C or SIGTERM; a restart resumes where it stopped.",
    )
    w.add_argument("roots", nargs="+", metavar="ROOT", help="a folder holding runs")
    w.add_argument(
        "--interval",
        type=_seconds,
        default=DEFAULT_INTERVAL,
        metavar="S",
        help=f"seconds between polls (default {DEFAULT_INTERVAL:g})",
    )
    w.add_argument(
        "--find-every",
        type=_polls,
        default=FIND_EVERY,
        metavar="N",
        help="look for new runs every N polls even when no folder changed "
        f"(default {FIND_EVERY}; folders that change are looked at at once)",
    )
    w.set_defaults(run=watch_command)
    i = commands.add_parser(
        "ingest",
        parents=[common, verbose],
        help="read the runs under folders once and print what was stored",
        description="One pass of the watcher: store what is new in each run and print, per "
        "run, the points new / already stored / replaced and its problems.",
    )
    i.add_argument("paths", nargs="+", metavar="PATH", help="a folder holding runs")
    i.set_defaults(run=ingest_command)
    lst = commands.add_parser(
        "list", parents=[common], help="the runs in the store: id, metrics, last step, status"
    )
    lst.add_argument("--json", action="store_true", help="a JSON list for scripts")
    lst.set_defaults(run=list_command)
