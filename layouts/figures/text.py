"""Text from users inside a Plotly figure: shown as the characters typed, never as markup.

plotly.js draws every text of a figure (trace names in the legend, text beside markers,
hover labels, titles, axis titles, annotations, tick labels) through its own small HTML
renderer (``svg_text_utils.convertToTspans``): ``<a href>`` becomes an SVG link over the
chart, ``<span style>`` a styled box, ``<b>``/``<i>``/``<sup>`` change the text. It decodes
entities (``&lt;`` ``&gt;`` ``&amp;`` and numeric ``&#NN;``) in the text between tags, after
it has split the tags out, so escaping ``& < >`` makes it draw the characters themselves
(checked in headless Chromium by tests/browser/test_hostile_names_browser.py).

A hover template is also read for ``%{name}`` lookups before it is drawn, so in one ``%``,
``{`` and ``}`` become numeric entities too: the lookup pattern is gone when the template is
filled in, and the label still shows the characters.

Run names are the user's or an imported file's (``views.comparison_list`` labels), so every
builder in this package passes them through here where they enter a figure. Where they also
appear outside a figure (DataTables, notices, chips), React renders them as text already, so
they are escaped here and nowhere else.
"""

from __future__ import annotations


def plain_text(text: str) -> str:
    """``text`` for a Plotly name, label, title or annotation: ``& < >`` as entities.

    >>> plain_text('<b>R&D</b>')
    '&lt;b&gt;R&amp;D&lt;/b&gt;'
    """
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def hover_text(text: str) -> str:
    """``text`` for inside a hover template: ``plain_text`` and no ``%{...}`` lookup.

    >>> hover_text('50% {x} %{y}')
    '50&#37; &#123;x&#125; &#37;&#123;y&#125;'
    """
    return plain_text(text).replace("%", "&#37;").replace("{", "&#123;").replace("}", "&#125;")
