"""Dash layouts: one module per tab, the shell that holds them, and every component id."""
