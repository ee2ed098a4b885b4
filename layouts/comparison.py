"""The Model Comparison tab (placeholder until its own issue lands; its owner replaces this module)."""

from dash import html


def layout() -> html.Div:
    """The tab's content."""
    return html.Div("Model Comparison: coming soon.", className="p-4 text-body-secondary")
