"""Driving the page's controls from the browser tests, as a person's input would.

One copy for what several browser tests do (it was written five times).
"""

from __future__ import annotations

from typing import Any


def select(dash_duo: Any, dom_id: str, value: str) -> None:
    """Choose ``value`` in the native ``<select>`` ``dom_id`` and fire its change event.

    Through the element's own value setter, so React sees a change a click on the open list
    would have made (selenium's Select cannot open a list Dash styles as a dropdown).
    """
    dash_duo.driver.execute_script(
        """
        const el = document.getElementById(arguments[0]);
        const setter = Object.getOwnPropertyDescriptor(HTMLSelectElement.prototype, 'value').set;
        setter.call(el, arguments[1]);
        el.dispatchEvent(new Event('change', { bubbles: true }));
        """,
        dom_id,
        value,
    )
