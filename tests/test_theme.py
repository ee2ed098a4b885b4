"""The Plotly template: small on the wire, readable in light and dark mode."""

from __future__ import annotations

import json
import re
from pathlib import Path

import plotly.graph_objects as go
import plotly.io as pio

from layouts.figures import theme

ROOT = Path(__file__).resolve().parent.parent


def compact(obj: object) -> str:
    return json.dumps(obj, separators=(",", ":"))


def test_template_is_small() -> None:
    ours = len(compact(theme.TEMPLATE))
    plotly_default = len(compact(pio.templates["plotly"].to_plotly_json()))  # ~6.5 KB
    assert ours < 1500
    assert ours * 4 < plotly_default


def test_a_figure_built_on_base_layout_carries_only_our_template() -> None:
    fig = go.Figure(layout=theme.base_layout())  # even through plotly.py's defaults
    assert fig.to_plotly_json()["layout"]["template"] == theme.TEMPLATE
    plain = {"data": [], "layout": theme.base_layout()}
    assert len(compact(plain)) < 1600


def test_base_layout_overrides_win_and_copies_never_leak() -> None:
    a = theme.base_layout(title={"text": "loss"}, height=300)
    assert a["title"] == {"text": "loss"} and a["height"] == 300
    a["template"]["layout"]["font"]["size"] = 99
    assert theme.base_layout()["template"]["layout"]["font"]["size"] == 12
    assert theme.TEMPLATE["layout"]["font"]["size"] == 12


def test_backgrounds_are_transparent_so_css_decides_the_mode() -> None:
    layout = theme.TEMPLATE["layout"]
    assert layout["paper_bgcolor"] == layout["plot_bgcolor"] == "rgba(0,0,0,0)"


def _luminance(hex_colour: str) -> float:
    r, g, b = (int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5))

    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(a: str, b: str) -> float:
    hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_every_trace_colour_is_readable_on_both_surfaces() -> None:
    for colour in theme.COLORWAY:
        assert contrast(colour, theme.LIGHT_SURFACE) >= 3.0, colour
        assert contrast(colour, theme.DARK_SURFACE) >= 3.0, colour
    assert len(set(theme.COLORWAY)) == len(theme.COLORWAY) >= 8


def test_surfaces_match_the_css() -> None:
    css = (ROOT / "assets" / "theme" / "app.css").read_text()
    surfaces = re.findall(r"--app-surface:\s*(#[0-9a-fA-F]{6})", css)
    assert surfaces == [theme.LIGHT_SURFACE, theme.DARK_SURFACE]
