"""Screenshot the dashboard with headless Chromium, for the README (``make screenshot``).

Starts the app on a free loopback port, opens it in Debian's ``chromium`` (through
``chromium-driver``, as the browser tests do) and writes PNGs: ``docs/screenshot.png`` (light)
and ``docs/screenshot-dark.png`` (dark) by default. Dark mode is the browser's
``prefers-color-scheme``, which the app follows while the user has not chosen.

The shot is taken once Dash has settled (no callback in flight, fonts loaded) rather than
after a fixed ``--virtual-time-budget``: that flag never reached its budget on this page
(chromium hung until killed), and waiting for the app is what a person does anyway.

    python scripts/screenshot.py                         # both, Training tab
    python scripts/screenshot.py --tab configuration --mode dark --out /tmp/conf.png
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.support.ui import WebDriverWait

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--hide-scrollbars",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1440,900",
)
# The page is ready when the shell is on screen, no Dash callback is in flight and the fonts
# have loaded.
SETTLED_JS = """
return !!document.querySelector('.app-shell')
    && !document.querySelector('[data-dash-is-loading="true"]')
    && document.fonts.status === 'loaded';
"""
SETTLE_S = 1.5  # then let Plotly finish drawing and transitions end


def free_port() -> int:
    """A loopback port nobody is listening on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def find_chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    sys.exit("chromium not found: `make test` installs it (apt-get install chromium)")


def wait_healthy(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s")


def shoot(chromium: str, url: str, out: Path, mode: str) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    options = Options()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options)
    try:
        # The viewport itself, not the window around it, is 1440 x 900.
        driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": 1440, "height": 900, "deviceScaleFactor": 1, "mobile": False},
        )
        driver.execute_cdp_cmd(
            "Emulation.setEmulatedMedia",
            {"features": [{"name": "prefers-color-scheme", "value": mode}]},
        )
        driver.get(url)
        WebDriverWait(driver, 60, poll_frequency=0.1).until(lambda d: d.execute_script(SETTLED_JS))
        time.sleep(SETTLE_S)
        driver.save_screenshot(str(out))
    finally:
        driver.quit()
    print(f"wrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out} ({mode})")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tab", default="training", help="training, comparison, configuration")
    parser.add_argument("--mode", choices=("light", "dark", "both"), default="both")
    parser.add_argument("--out", type=Path, help="PNG path (one mode only)")
    args = parser.parse_args(argv)
    if args.out and args.mode == "both":
        parser.error("--out needs --mode light or --mode dark")

    chromium = find_chromium()
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "app.py", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}/"
        wait_healthy(base + "healthz")
        modes = ("light", "dark") if args.mode == "both" else (args.mode,)
        for mode in modes:
            name = "screenshot.png" if mode == "light" else f"screenshot-{mode}.png"
            shoot(chromium, f"{base}#{args.tab}", args.out or ROOT / "docs" / name, mode)
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
