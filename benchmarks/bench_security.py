"""What the security headers cost per response (callbacks/security.py).

Run from the repo root: ``.venv/bin/python benchmarks/bench_security.py`` (or ``make bench``).
The CSP is rebuilt for every response (so clientside callbacks registered late are hashed
too): this prints the time ``policy_headers`` takes, the header's size, and how many inline
scripts it names.
"""

from __future__ import annotations

import sys
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import app as entry_point  # a benchmark drives the entry point
from callbacks import security

REPEATS = 20_000


def main() -> None:
    entry_point.server.test_client().get("/")  # Dash wires its callbacks on the first request
    seconds = timeit.timeit(lambda: security.policy_headers(entry_point.app), number=REPEATS)
    csp = security.policy_headers(entry_point.app)["Content-Security-Policy"]
    print(f"policy_headers per response: {seconds / REPEATS * 1e6:.1f} us ({REPEATS:,} calls)")
    print(f"CSP header: {len(csp)} bytes, {csp.count(chr(39) + 'sha256-')} inline scripts hashed")


if __name__ == "__main__":
    main()
