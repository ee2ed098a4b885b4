"""Offline first: everything the page loads ships in assets/, with its licence."""

from __future__ import annotations

import re
from pathlib import Path

import simulator

ROOT = Path(__file__).resolve().parent.parent
ASSETS = ROOT / "assets"
VENDOR = ASSETS / "00-vendor"


def test_vendored_files_are_present_with_their_licences() -> None:
    for folder, payload in (
        ("bootstrap-5.3.6", "bootstrap.min.css"),
        ("inter-5.3.0", "inter-latin-wght-normal.woff2"),
        ("jetbrains-mono-5.3.0", "jetbrains-mono-latin-wght-normal.woff2"),
        ("plotly-4.1.1", "plotly-dashboard.min.js"),
    ):
        assert (VENDOR / folder / payload).stat().st_size > 10_000
        assert (VENDOR / folder / "LICENSE").read_text().strip()
    for font in VENDOR.glob("*/*.woff2"):
        assert font.read_bytes()[:4] == b"wOF2", font


def test_bootstrap_is_the_version_dbc_targets_and_asks_for_no_source_map() -> None:
    css = (VENDOR / "bootstrap-5.3.6" / "bootstrap.min.css").read_text()
    assert css.startswith("@charset") or "Bootstrap  v5.3.6" in css[:200]
    assert "v5.3.6" in css[:200]
    assert "sourceMappingURL" not in css


def test_no_stylesheet_or_script_points_at_another_host() -> None:
    for path in [*ASSETS.rglob("*.css"), *ASSETS.rglob("*.js")]:
        text = path.read_text()
        for url in re.findall(r"url\(\s*['\"]?([^'\")]+)", text):
            assert url.startswith(("data:", "../", "./")) or not re.match(r"\w+:|//", url), (
                f"{path.relative_to(ROOT)} loads {url}"
            )
        assert "@import" not in text, path


def test_our_font_faces_point_at_files_that_exist() -> None:
    fonts_css = ASSETS / "theme" / "fonts.css"
    for ref in re.findall(r'url\("([^"]+)"\)', fonts_css.read_text()):
        assert (fonts_css.parent / ref).resolve().is_file(), ref


def test_status_badge_knows_every_run_status() -> None:
    js = (ASSETS / "js" / "shell.js").read_text()
    block = js[js.index("var STATUS = {") : js.index("};", js.index("var STATUS = {"))]
    labels = dict(re.findall(r"(\w+): \"([^\"]+)\"", block))
    assert set(labels) == set(simulator.STATUSES)
