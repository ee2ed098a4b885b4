"""``python -m tracking COMMAND ...``: the run store's command line.

A dispatcher only: each command group lives in a small module of its own (``cli_tokens``
for ``token create|list|revoke``, ``cli_runs`` for ``watch``, ``ingest`` and ``list``) with
a ``register(commands, common)`` that adds its subparsers and sets ``run`` on them. A new
group is one module and one line in ``GROUPS``.

Every command takes ``--db URL`` (default ``DASHBOARD_DB``, else ``data/runs.sqlite3`` under
the project; see ``tracking.store``). Exit status: 0 done, 1 refused or failed (the reason
on stderr), 2 a usage error (argparse's own).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from types import ModuleType

from tracking import cli_runs, cli_tokens
from tracking.store import StoreError

GROUPS: tuple[ModuleType, ...] = (cli_tokens, cli_runs)


def parser() -> argparse.ArgumentParser:
    """The full command line: every group's subcommands, each with the common options."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--db",
        metavar="URL",
        default=None,
        help="the run store (sqlite:///path or postgresql://...); default: DASHBOARD_DB, "
        "else data/runs.sqlite3 under the project",
    )
    top = argparse.ArgumentParser(
        prog="python -m tracking", description="The dashboard's run store: tokens and runs."
    )
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in GROUPS:
        group.register(commands, common)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        return run(args)
    except StoreError as exc:  # a bad name, an existing token, the store unavailable
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
