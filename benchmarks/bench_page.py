"""The page as a person feels it, in headless Chromium: first load, charts drawn, tab switches.

Run from the repo root: ``.venv/bin/python benchmarks/bench_page.py`` (or ``make bench``);
``--target app`` or ``--target nginx`` for one server, ``--runs N`` loads each (default 3).

Against both servers a person meets: ``python app.py`` (``make run``: Flask's own server) and
the production stack (gunicorn behind nginx, started as the deploy tests do,
tests/deploy/stack.py). For each it opens the page in a fresh browser (cold cache) at
1440x900 and prints the median and the worst of ``--runs`` loads:

- requests and bytes transferred (as sent, so compressed when they were) on the first load,
  and the largest transfers of one load;
- first contentful paint, the first chart and all Training charts drawn (ms after the
  navigation started; tests/pageload.py says how "drawn" is seen), and the CPU time the
  page's main thread spent until then (hardly changed by other load, unlike the times);
- in the same page: a switch to each tab until its charts are drawn, adding a recipe to the
  comparison until the curves show it, and changing its x-axis until the axis says so.

Targets (issue 17, "Speed a user feels"): first load at most 1.5 MB transferred from either
server, charts drawn within 2 s of navigation on a quiet machine, a tab switch or a
comparison change visible within 300 ms. The machine's load average is printed before and
after: on a busy machine every time grows.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "deploy"))

import pageload  # noqa: E402
from stack import Stack  # noqa: E402

BUDGET_BYTES = 1_500_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


@contextmanager
def flask_server() -> Iterator[str]:
    """``python app.py`` on a free port, as ``make run`` starts it."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "app.py", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        session = requests.Session()
        session.trust_env = False
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if session.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.2)
        else:
            raise TimeoutError("python app.py never answered /healthz")
        yield base
    finally:
        # Ctrl-C, as a person stops `make run`: Python then runs its exit handlers, which end
        # the heavy-job helper and its forkserver (after SIGTERM they were left running).
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@contextmanager
def nginx_stack() -> Iterator[str]:
    """gunicorn behind nginx on free ports (tests/deploy/stack.py)."""
    with Stack(f"127.0.0.1:{_free_port()}", f"127.0.0.1:{_free_port()}") as stack:
        yield stack.base


def measure(base: str) -> tuple[dict[str, float], pageload.PageLoad]:
    """One cold load of ``base`` in a fresh browser, then the interactions on that page."""
    driver = pageload.browser()
    try:
        pageload.watch(driver)
        page = pageload.load(driver, base + "/")
        figures: dict[str, float] = {
            "requests": page.requests,
            "transferred_kb": page.transferred / 1000,
            "decoded_kb": page.decoded / 1000,
            "fcp_ms": page.first_contentful_paint_ms or float("nan"),
            "first_chart_ms": page.first_chart_ms or float("nan"),
            "charts_ms": page.charts_ms or float("nan"),
            "cpu_ms": page.main_thread_cpu_ms,
        }
        figures["to_comparison_ms"] = pageload.switch_tab(driver, "Model Comparison", "comparison")
        time.sleep(1.0)
        figures["add_recipe_ms"] = pageload.add_recipe(driver, "preset:llama-2-7b")
        time.sleep(1.0)
        figures["x_axis_ms"] = pageload.set_x_axis(driver, "Training compute (FLOPs)")
        time.sleep(1.0)
        figures["to_configuration_ms"] = pageload.switch_tab(
            driver, "Configuration", "configuration"
        )
        time.sleep(1.0)
        figures["to_training_ms"] = pageload.switch_tab(driver, "Training", "training")
        return figures, page
    finally:
        driver.quit()


ROWS: tuple[tuple[str, str, Callable[[float], str]], ...] = (
    ("requests", "requests on first load", lambda v: f"{v:.0f}"),
    ("transferred_kb", "KB transferred", lambda v: f"{v:,.0f}"),
    ("decoded_kb", "KB after decompression", lambda v: f"{v:,.0f}"),
    ("fcp_ms", "first contentful paint (ms)", lambda v: f"{v:,.0f}"),
    ("first_chart_ms", "first chart drawn (ms)", lambda v: f"{v:,.0f}"),
    ("charts_ms", "all Training charts drawn (ms)", lambda v: f"{v:,.0f}"),
    ("cpu_ms", "  main-thread CPU until then (ms)", lambda v: f"{v:,.0f}"),
    ("to_comparison_ms", "tab switch -> Comparison (ms)", lambda v: f"{v:,.0f}"),
    ("add_recipe_ms", "add a recipe -> curves (ms)", lambda v: f"{v:,.0f}"),
    ("x_axis_ms", "x-axis -> FLOPs (ms)", lambda v: f"{v:,.0f}"),
    ("to_configuration_ms", "tab switch -> Configuration (ms)", lambda v: f"{v:,.0f}"),
    ("to_training_ms", "tab switch -> Training (ms)", lambda v: f"{v:,.0f}"),
)


def report(name: str, runs: list[dict[str, float]], page: pageload.PageLoad) -> None:
    print(f"\n{name}: {len(runs)} cold loads (median / worst)")
    for key, label, show in ROWS:
        values = [r[key] for r in runs]
        worst = min(values) if key == "requests" else max(values)
        print(f"  {label:<34} {show(statistics.median(values)):>8}  {show(worst):>8}")
    kb = page.transferred / 1000
    verdict = "yes" if page.transferred <= BUDGET_BYTES else "NO"
    print(f"  first load within {BUDGET_BYTES / 1e6:.1f} MB: {verdict} ({kb:,.0f} KB, last load)")
    print("  largest transfers of the last load:")
    for t in page.largest():
        url = t.url if len(t.url) <= 70 else t.url[:67] + "..."
        print(f"    {t.transferred / 1000:8,.1f} KB  {t.decoded / 1000:8,.1f} KB decoded  {url}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", choices=("app", "nginx", "both"), default="both")
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    print(f"load average at start: {_load_average()} ({os.cpu_count()} cores)")
    targets = {"python app.py (Flask)": flask_server, "nginx + gunicorn": nginx_stack}
    for name, server in targets.items():
        if a.target != "both" and (a.target == "app") != (server is flask_server):
            continue
        with server() as base:
            measured = [measure(base) for _ in range(a.runs)]
            report(name, [figures for figures, _ in measured], measured[-1][1])
    print(f"\nload average at end: {_load_average()}")


if __name__ == "__main__":
    main()
