"""``python -m tracking token create NAME | list | revoke NAME``: the push API's write tokens.

A token is what a training script sends as ``Authorization: Bearer <token>`` to push metrics
(``tracking.client``). ``create`` prints its secret once, on stdout alone so a script can
capture it (``TOKEN=$(python -m tracking token create trainer)``); the store keeps only its
SHA-256, so a lost secret is revoked and made again, never shown again. A token writes runs
and nothing else: reading is behind the page's own login, and no page ever holds a token.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any

from tracking import store as store_module
from tracking.store import TokenInfo


def _when(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def create(args: argparse.Namespace) -> int:
    store = store_module.open(args.db)
    try:
        secret = store.create_token(args.name)
    finally:
        store.close()
    print(secret)
    print(
        f"token {args.name!r} created in {store.url}: the line above is its secret, shown "
        "this once; send it as Authorization: Bearer <secret>",
        file=sys.stderr,
    )
    return 0


def _row(token: TokenInfo) -> dict[str, Any]:
    return {"name": token.name, "created": token.created, "revoked": token.revoked}


def list_tokens(args: argparse.Namespace) -> int:
    store = store_module.open(args.db)
    try:
        tokens = store.tokens()
    finally:
        store.close()
    if args.json:
        print(json.dumps([_row(t) for t in tokens], indent=1))
        return 0
    if not tokens:
        print("no tokens yet: python -m tracking token create NAME", file=sys.stderr)
        return 0
    width = max(4, *(len(t.name) for t in tokens))
    print(f"{'NAME':<{width}}  {'CREATED':<23}  REVOKED")
    for t in tokens:
        print(f"{t.name:<{width}}  {_when(t.created):<23}  {_when(t.revoked)}")
    return 0


def revoke(args: argparse.Namespace) -> int:
    store = store_module.open(args.db)
    try:
        done = store.revoke_token(args.name)
    finally:
        store.close()
    if not done:
        print(f"error: no live token named {args.name!r} (see: token list)", file=sys.stderr)
        return 1
    print(f"token {args.name!r} revoked: writes with it are refused from now on")
    return 0


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add ``token`` and its subcommands to the dispatcher's ``commands``."""
    token = commands.add_parser(
        "token",
        help="write tokens for the push API",
        description="Write tokens for the push API: a script sends one as "
        "Authorization: Bearer <token>. The store keeps only its SHA-256.",
    )
    actions = token.add_subparsers(dest="action", required=True, metavar="ACTION")
    make = actions.add_parser(
        "create", parents=[common], help="make a token and print its secret once"
    )
    make.add_argument("name", help="1-64 of A-Z a-z 0-9 . _ -, e.g. the machine or the team")
    make.set_defaults(run=create)
    listed = actions.add_parser("list", parents=[common], help="names and dates, never secrets")
    listed.add_argument("--json", action="store_true", help="a JSON list for scripts")
    listed.set_defaults(run=list_tokens)
    gone = actions.add_parser(
        "revoke", parents=[common], help="refuse a token's writes from now on"
    )
    gone.add_argument("name")
    gone.set_defaults(run=revoke)
