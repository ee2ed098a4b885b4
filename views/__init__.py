"""The browser contract of each tab: what its Stores hold and what each action computes.

One module per tab (``training``, ``comparison``, ``configuration``) plus what they share
(``contract``: the values a result may carry; ``stores``: reading every Store that comes back
from the browser). Dash-free: a view takes plain values (what the browser sent) and returns a
frozen dataclass whose fields are named after the callback's outputs. ``callbacks/`` turns
that into Dash's terms (``callbacks.adapt``), so each callback is a decorator and one call,
and every behaviour is unit-tested here without a server. See docs/architecture.md.
"""
