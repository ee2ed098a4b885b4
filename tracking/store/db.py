"""The small surface the store needs from an engine, so ``tracking.store.store`` is written
once: run a statement, fetch rows, run one statement for many rows, inside a read or a write
transaction. SQL is written with ``?`` placeholders; an engine translates them if its driver
wants another style.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

Row = tuple[Any, ...]


class Db(Protocol):
    """One connection inside one transaction."""

    #: appended to a SELECT that must lock the rows it reads until commit ("" for SQLite,
    #: whose write transactions already hold the whole database)
    for_update: str

    def all(self, sql: str, params: Sequence[object] = ()) -> list[Row]: ...

    def one(self, sql: str, params: Sequence[object] = ()) -> Row | None: ...

    def run(self, sql: str, params: Sequence[object] = ()) -> int: ...

    def many(self, sql: str, rows: Sequence[Sequence[object]]) -> None: ...


class Engine(Protocol):
    """Opens transactions on one database; maps the driver's failures to ``StoreUnavailable``
    (``StoreBusy`` for the ones worth retrying)."""

    #: where the data is, for messages (never a password)
    display: str
    #: seconds a write waits for a lock before giving up
    timeout: float

    def read(self) -> AbstractContextManager[Db]: ...

    def write(self, wait: float) -> AbstractContextManager[Db]: ...

    def close(self) -> None: ...
