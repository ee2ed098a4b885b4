"""Outage drill: stop and restart gunicorn behind nginx while headless Chromium watches a run.

Starts the production stack on free loopback ports (tests/deploy/stack.py: real gunicorn
from deploy/gunicorn.conf.py behind real nginx), opens the page in Debian's chromium, starts
a run, then ``--outages`` times: stops gunicorn (SIGTERM, as ``systemctl stop``), keeps it
down ``--down`` seconds, starts it again on the same port. For each outage it prints what a
person would notice and what nginx saw:

- stop: seconds gunicorn took to exit after SIGTERM (its graceful shutdown);
- banner: seconds from gunicorn gone to the "connection lost" banner on screen (the script
  waits 1 s after the first failure, so a blip shows nothing);
- frozen: the step shown did not move while the server was away, and the run (seed, config,
  title) is the same one afterwards;
- resume: seconds from gunicorn answering /healthz again to the next step on screen;
- retries/s: callback requests nginx answered 502 during the outage, per second (the
  backoff keeps one tab at <= ~2/s at first and ~0.2/s after a few seconds);
- alerts: any error message on the page afterwards.

    .venv/bin/python scripts/outage_drill.py                 # 5 outages of 6 s
    .venv/bin/python scripts/outage_drill.py --outages 3 --down 20 --shots /tmp/outage

Loopback only; stops itself; needs chromium, chromium-driver and nginx (``make test``
installs them).
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.webdriver.chrome.options import Options

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "deploy")]

from stack import Stack  # noqa: E402

from layouts import ids  # noqa: E402

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1440,900",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait(pred: Any, timeout: float, what: str) -> float:
    """Poll ``pred`` every 20 ms; the seconds it took."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if pred():
            return time.monotonic() - t0
        time.sleep(0.02)
    raise TimeoutError(f"no {what} within {timeout} s")


class Page:
    """The dashboard as the drill reads it."""

    def __init__(self, driver: Any) -> None:
        self.d = driver

    def step(self) -> int:
        text = self.d.find_element("id", ids.tr_kpi("step")).text.replace(",", "")
        return int(text) if text.isdigit() else 0

    def run(self) -> dict[str, Any]:
        raw = self.d.execute_script("return sessionStorage.getItem(arguments[0]);", ids.RUN_STORE)
        return json.loads(raw) if raw else {}

    def identity(self) -> tuple[Any, ...]:
        run = self.run()
        title = self.d.find_element("id", ids.TR_RUN_TITLE).text
        return run.get("seed"), json.dumps(run.get("config"), sort_keys=True), title

    def banner(self) -> str:
        """The banner's state when shown ("lost", "busy", "reconnected"), else ""."""
        return str(
            self.d.execute_script(
                "const b = document.getElementById(arguments[0]);"
                "return b.hidden ? '' : b.getAttribute('data-state');",
                ids.CONNECTION_BANNER,
            )
        )

    def alerts(self) -> str:
        return " ".join(
            e.text
            for e in self.d.find_elements(
                "css selector", f"#{ids.ALERT_AREA} .alert, #{ids.TR_NOTICE} .alert"
            )
        )


def count_502(access_log: Path) -> int:
    if not access_log.exists():
        return 0
    return sum(
        1
        for line in access_log.read_text(errors="replace").splitlines()
        if "_dash-update-component" in line and '" 502 ' in line
    )


def drill(outages: int, down: float, shots: Path | None) -> None:
    options = Options()
    options.binary_location = "/usr/bin/chromium"
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    with Stack(f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}") as stack:
        driver = webdriver.Chrome(options=options)
        page = Page(driver)
        access_log = stack.prefix / "logs" / "access.log"
        try:
            driver.get(stack.base + "/")
            wait(lambda: driver.find_elements("id", ids.TR_START), 30, "page")
            for _ in range(20):
                driver.find_element("id", ids.TR_START).click()
                try:
                    wait(lambda: page.run().get("status") == "running", 1.5, "run")
                    break
                except TimeoutError:
                    continue
            wait(lambda: page.step() > 0, 15, "first tick")
            identity = page.identity()
            rows = []
            print(
                f"{'#':>2} {'stop s':>7} {'banner s':>9} {'frozen':>7} {'resume s':>9} "
                f"{'retries/s':>10}  run"
            )
            for n in range(1, outages + 1):
                time.sleep(2.0)
                before_502 = count_502(access_log)
                t_stop = time.monotonic()
                stack.stop_gunicorn()  # returns once the master has exited
                stop_s = time.monotonic() - t_stop
                banner_s = wait(lambda: page.banner() == "lost", 15, "banner")
                held = page.step()
                time.sleep(max(0.0, down - (time.monotonic() - t_stop)))
                if shots is not None and n == 1:
                    shots.mkdir(parents=True, exist_ok=True)
                    for mode in ("light", "dark"):
                        driver.execute_script(
                            "document.documentElement.setAttribute('data-bs-theme', arguments[0]);",
                            mode,
                        )
                        time.sleep(0.3)
                        driver.save_screenshot(str(shots / f"outage-banner-{mode}.png"))
                frozen = page.step() == held
                down_s = time.monotonic() - t_stop
                retries = count_502(access_log) - before_502
                stack.start_gunicorn()  # returns once /healthz answers through gunicorn
                resume_s = wait(lambda held=held: page.step() > held, 30, "resumed tick")
                wait(lambda: page.banner() in ("", "reconnected"), 10, "banner cleared")
                same = page.identity() == identity
                alerts = page.alerts()
                rows.append((banner_s, frozen, resume_s, retries / down_s, same, alerts))
                print(
                    f"{n:>2} {stop_s:>7.2f} {banner_s:>9.2f} {frozen!s:>7} {resume_s:>9.2f} "
                    f"{retries / down_s:>10.2f}  {'same' if same else 'CHANGED'}"
                    f"{'  alerts: ' + alerts if alerts else ''}"
                )
            banners = [r[0] for r in rows]
            resumes = [r[2] for r in rows]
            print(
                f"banner: median {statistics.median(banners):.2f} s, max {max(banners):.2f} s; "
                f"resume after healthz: median {statistics.median(resumes):.2f} s, "
                f"max {max(resumes):.2f} s; frozen {sum(r[1] for r in rows)}/{len(rows)}; "
                f"same run {sum(r[4] for r in rows)}/{len(rows)}; "
                f"error alerts {sum(bool(r[5]) for r in rows)}"
            )
        finally:
            driver.quit()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outages", type=int, default=5)
    parser.add_argument("--down", type=float, default=6.0, help="seconds gunicorn stays down")
    parser.add_argument("--shots", type=Path, help="save the banner in light and dark here")
    args = parser.parse_args(argv)
    drill(max(1, min(args.outages, 50)), max(1.0, min(args.down, 600.0)), args.shots)


if __name__ == "__main__":
    main()
