"""Callbacks, one module per tab, registered with ``dash.callback`` on import.

Importing this package registers every callback; ``app.py`` imports it once. No module here
imports ``app``: callbacks are global to the Dash process and attach to whichever app is
created, which keeps them testable without a server.
"""

from callbacks import comparison, configuration, real_parts, real_tab, shell, training  # noqa: F401
