"""The app's Plotly template: small, transparent, and recoloured by CSS for light and dark.

Why this shape:

- Size. plotly.py's default template ("plotly") adds about 6.5 KB to every serialised figure,
  and a figure travels on every full redraw. ``TEMPLATE`` sets only what differs from
  plotly.js's own defaults and serialises to well under 1.5 KB (a unit test holds it there).
- Light/dark without a server round trip. Backgrounds are transparent, so the card behind a
  chart shows through, and ``assets/theme/app.css`` recolours the SVG text, grid, axis lines,
  hover labels and mode bar from Bootstrap's CSS variables whenever ``data-bs-theme`` flips.
  The colours below are only the fallback for a figure shown without that CSS (an export, a
  notebook): mid-greys, readable on white and on near-black.
- A template, not values merged into the layout: plotly.js applies ``template.layout.xaxis``
  to every x axis (``xaxis2``, ``xaxis3`` ... of subplots), which a merged ``xaxis`` would not.
- ``COLORWAY`` is readable in both modes: each colour has at least 3:1 contrast (WCAG 2.1,
  1.4.11 non-text contrast) against the light and the dark card surface; a test checks it.
  Blue and orange come first, the pair most colour-blind readers still tell apart.

Text the CSS recolours: tick labels, axis and chart titles, legend, colour bars, annotations
and hover labels. Text drawn on data (bar or heatmap cell labels) keeps the colour the figure
gives it, since it sits on a trace colour rather than on the page.
"""

from __future__ import annotations

import copy
from typing import Any

# Keep in sync with --app-surface in assets/theme/app.css (tests/test_theme.py checks contrast
# against these two).
LIGHT_SURFACE = "#ffffff"
DARK_SURFACE = "#15181e"

COLORWAY: tuple[str, ...] = (
    "#3b82f6",  # blue
    "#d9730d",  # orange
    "#2b9a66",  # green
    "#e5484d",  # red
    "#8b5cf6",  # violet
    "#12a594",  # teal
    "#d6409f",  # pink
    "#978365",  # bronze
)

FONT_UI = "Inter Variable, Inter, system-ui, -apple-system, Segoe UI, sans-serif"
FONT_MONO = "JetBrains Mono Variable, JetBrains Mono, ui-monospace, SFMono-Regular, monospace"

_INK = "#8a909c"  # fallback text colour, readable on white and on near-black
_GRID = "rgba(128,128,128,0.2)"
_LINE = "rgba(128,128,128,0.45)"
_CLEAR = "rgba(0,0,0,0)"

# No axis lines (``showline``): the grid already frames the data, and plotly.js draws the line
# of an overlaying axis (a right-hand ``yaxis2``) with NaN coordinates on some renders, which
# the browser logs as an error. ``linecolor`` is kept for a figure that turns lines on.
_AXIS: dict[str, Any] = {
    "gridcolor": _GRID,
    "linecolor": _LINE,
    "tickcolor": _LINE,
    "zerolinecolor": _LINE,
    "ticks": "outside",
    "ticklen": 4,
    "automargin": True,
    "title": {"standoff": 8},
}

TEMPLATE: dict[str, Any] = {
    "layout": {
        "colorway": list(COLORWAY),
        "font": {"family": FONT_UI, "size": 12, "color": _INK},
        "paper_bgcolor": _CLEAR,
        "plot_bgcolor": _CLEAR,
        "margin": {"l": 16, "r": 16, "t": 40, "b": 16},
        "title": {"x": 0, "xref": "paper", "xanchor": "left", "font": {"size": 14}},
        "hoverlabel": {"font": {"family": FONT_MONO, "size": 12}},
        "legend": {"bgcolor": _CLEAR},
        "xaxis": _AXIS,
        "yaxis": _AXIS,
        "polar": {
            "bgcolor": _CLEAR,
            "angularaxis": {"gridcolor": _GRID, "linecolor": _LINE},
            "radialaxis": {"gridcolor": _GRID, "linecolor": _LINE},
        },
    }
}
"""Read-only by convention: ``base_layout`` hands out copies."""


def base_layout(**overrides: Any) -> dict[str, Any]:
    """A figure layout that starts from the app's template.

    Args:
        **overrides: Layout attributes for this figure (``title``, ``xaxis``, ``height`` ...).
            They take precedence over the template, attribute by attribute, as in plotly.js.

    Returns:
        A fresh layout dict; mutating it never changes ``TEMPLATE`` or another figure.

    Example:
        >>> fig = {"data": [{"y": [3, 1, 2]}], "layout": base_layout(title={"text": "loss"})}
    """
    return {"template": copy.deepcopy(TEMPLATE), **overrides}


# The Training tab's charts, simulated and real alike: zoom, pan, reset and image only.
GRAPH_CONFIG = {
    "displaylogo": False,
    "responsive": True,
    "displayModeBar": "hover",
    "modeBarButtonsToRemove": [
        "select2d",
        "lasso2d",
        "autoScale2d",
        "zoomIn2d",
        "zoomOut2d",
        "toggleSpikelines",
        "hoverClosestCartesian",
        "hoverCompareCartesian",
    ],
}
