"""Pure figure builders: plain data in, a Plotly figure as a plain dict out.

No Dash import, no clock, no I/O, so tests call them directly and callbacks stay adapters.
Figures are plain dicts rather than ``go.Figure`` objects: a dict is what ``dcc.Graph`` sends
anyway, it skips plotly.py's validation cost on every tick, and it never picks up
``plotly.io.templates.default`` (about 6.5 KB per figure). Every figure starts from
``theme.base_layout()``.
"""
