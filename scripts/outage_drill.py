"""Outage drill: stop and restart gunicorn behind nginx while headless Chromium watches a run.

Starts the production stack on free loopback ports (tests/deploy/stack.py: real gunicorn
from deploy/gunicorn.conf.py behind real nginx), opens the page in Debian's chromium, starts
a run, then ``--outages`` times takes the server away for ``--down`` seconds and gives it
back: ``--fault gunicorn`` stops gunicorn (SIGTERM, as ``systemctl stop``) and starts it again
on the same port; ``--fault offline`` takes the browser's network away (DevTools' offline
emulation: no response at all, as on a dropped Wi-Fi). ``--without-script`` blocks
assets/js/connection.js, to see the page as it was before it. Per outage it prints:

- stop: seconds gunicorn took to exit after SIGTERM (its graceful shutdown);
- banner: seconds from then to the "connection lost" banner on screen (the script waits
  1 s after the first failure, so a blip shows nothing), or "never";
- frozen: the step shown did not move while the server was away;
- resume: seconds from gunicorn answering /healthz (or the network back) to the next step
  on screen, or "never" within 15 s (then the drill stops);
- 502/s: callback requests nginx answered 502 during the outage, per second;
- errors: failed callbacks dash-renderer logged to the console;
- run: "same" when the seed, config and title are those from before the first outage.

    .venv/bin/python scripts/outage_drill.py                       # 5 outages of 6 s
    .venv/bin/python scripts/outage_drill.py --outages 3 --down 20 --shots /tmp/outage
    .venv/bin/python scripts/outage_drill.py --fault offline --without-script --outages 1

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


def set_offline(driver: Any, offline: bool) -> None:
    driver.execute_cdp_cmd(
        "Network.emulateNetworkConditions",
        {"offline": offline, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
    )


def fmt(value: float | None) -> str:
    return "never" if value is None else f"{value:.2f}"


def drill(outages: int, down: float, fault: str, without_script: bool, shots: Path | None) -> None:
    """Run the drill and print one line per outage and a summary."""
    options = Options()
    options.binary_location = "/usr/bin/chromium"
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    with Stack(f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}") as stack:
        driver = webdriver.Chrome(options=options)
        page = Page(driver)
        access_log = stack.prefix / "logs" / "access.log"
        try:
            driver.execute_cdp_cmd("Network.enable", {})
            if without_script:  # the page as it was before assets/js/connection.js
                driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["*connection.js*"]})
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
                f"fault: {fault}; connection.js: {'blocked' if without_script else 'loaded'}\n"
                f"{'#':>2} {'stop s':>7} {'banner s':>9} {'frozen':>7} {'resume s':>9} "
                f"{'502/s':>6} {'errors':>7}  run"
            )
            for n in range(1, outages + 1):
                time.sleep(2.0)
                driver.get_log("browser")  # drop what came before
                before_502 = count_502(access_log)
                t_stop = time.monotonic()
                if fault == "gunicorn":
                    stack.stop_gunicorn()  # returns once the master has exited
                else:
                    set_offline(driver, True)
                stop_s = time.monotonic() - t_stop
                try:
                    banner_s: float | None = wait(lambda: page.banner() == "lost", down, "banner")
                except TimeoutError:
                    banner_s = None
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
                retries = (count_502(access_log) - before_502) / down_s
                if fault == "gunicorn":
                    stack.start_gunicorn()  # returns once /healthz answers through gunicorn
                else:
                    set_offline(driver, False)
                try:
                    resume_s: float | None = wait(
                        lambda held=held: page.step() > held, 15, "resumed tick"
                    )
                except TimeoutError:
                    resume_s = None
                if resume_s is not None:
                    wait(lambda: page.banner() in ("", "reconnected"), 10, "banner cleared")
                errors = sum(
                    "dash_renderer" in e["message"] for e in driver.get_log("browser")
                )  # failed callbacks dash-renderer logged
                same = page.identity() == identity
                alerts = page.alerts()
                rows.append((banner_s, frozen, resume_s, retries, same, alerts, errors))
                print(
                    f"{n:>2} {stop_s:>7.2f} {fmt(banner_s):>9} {frozen!s:>7} {fmt(resume_s):>9} "
                    f"{retries:>6.2f} {errors:>7}  {'same' if same else 'CHANGED'}"
                    f"{'  alerts: ' + alerts if alerts else ''}"
                )
                if resume_s is None:
                    print("   the run never resumed: stopping the drill")
                    break
            banners = [r[0] for r in rows if r[0] is not None]
            resumes = [r[2] for r in rows if r[2] is not None]
            print(
                f"banner shown {len(banners)}/{len(rows)}"
                + (f" (median {statistics.median(banners):.2f} s)" if banners else "")
                + f"; resumed {len(resumes)}/{len(rows)}"
                + (
                    f" (after healthz/online: median {statistics.median(resumes):.2f} s, "
                    f"max {max(resumes):.2f} s)"
                    if resumes
                    else ""
                )
                + f"; frozen {sum(r[1] for r in rows)}/{len(rows)}"
                + f"; same run {sum(r[4] for r in rows)}/{len(rows)}"
                + f"; failed callbacks logged {sum(r[6] for r in rows)}"
                + f"; error alerts {sum(bool(r[5]) for r in rows)}"
            )
        finally:
            driver.quit()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outages", type=int, default=5)
    parser.add_argument("--down", type=float, default=6.0, help="seconds gunicorn stays down")
    parser.add_argument(
        "--fault",
        choices=("gunicorn", "offline"),
        default="gunicorn",
        help="stop gunicorn behind nginx, or take the browser's network away",
    )
    parser.add_argument(
        "--without-script",
        action="store_true",
        help="block assets/js/connection.js: the page as it was before it",
    )
    parser.add_argument("--shots", type=Path, help="save the banner in light and dark here")
    args = parser.parse_args(argv)
    drill(
        max(1, min(args.outages, 50)),
        max(1.0, min(args.down, 600.0)),
        args.fault,
        args.without_script,
        args.shots,
    )


if __name__ == "__main__":
    main()
