"""The store's errors: one for "the database cannot answer now", named ones for bad input.

``StoreUnavailable`` covers every failure that is not the caller's fault and may pass: the
SQLite file locked by another writer past the retry window, the disk full, the database file
or server gone. The API answers it with 503 and the watcher retries later; its message says
which of these it was, so an operator knows what to fix.
"""

from __future__ import annotations


class StoreError(Exception):
    """Base of everything the store raises on purpose."""


class StoreUnavailable(StoreError):
    """The database cannot be used right now (locked, full, gone). Nothing was written."""


class BadInput(StoreError, ValueError):
    """A name or argument the store does not accept; the message says what is allowed."""


class BadRunId(BadInput):
    """A run id that is not short ASCII letters, digits, ``.``, ``_`` and ``-``."""


class BadName(BadInput):
    """A metric or token name the store does not accept."""


class BadStoreUrl(BadInput):
    """A ``DASHBOARD_DB`` URL that names no engine the store has."""


class TokenExists(BadInput):
    """``create_token`` for a name that already has a live (unrevoked) token."""


class StoreBusy(StoreUnavailable):
    """Another writer held the lock (SQLite busy, PostgreSQL lock timeout or deadlock).

    The store retries these itself until its timeout; what reaches a caller means the
    lock was held for the whole window.
    """
