"""What the store hands back: plain frozen records, numpy arrays for points."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tracking.records import Steps, Values


@dataclass(frozen=True)
class Curve:
    """Points of one metric in step order.

    ``exact`` is true when these are every stored point of the range asked for; false when
    the range held more than was asked for and these are each bucket's extremes (see
    ``tracking.store.downsample``).

    ``time`` is each point's stored wall time (Unix s; NaN where the source gave none):
    a bucket's extremes carry the times of the very points kept, so a spike's time is the
    spike's. Left out, every time is NaN.
    """

    step: Steps
    value: Values
    exact: bool
    time: Values = field(default_factory=lambda: np.empty(0, np.float64))

    def __post_init__(self) -> None:
        if len(self.time) != len(self.step):
            object.__setattr__(self, "time", np.full(len(self.step), np.nan))

    def __len__(self) -> int:
        return len(self.step)

    @staticmethod
    def empty() -> Curve:
        return Curve(np.empty(0, np.int64), np.empty(0, np.float64), True)


@dataclass(frozen=True)
class Added:
    """What ``Store.add`` did with one series' points; the three add up to its length.

    ``new``: a step the series did not have. ``same``: the value it already had (NaN equals
    NaN), nothing written. ``replaced``: a different value; the point it replaced (stored
    before, or earlier in the same series) was kept as a superseded segment.
    """

    new: int = 0
    same: int = 0
    replaced: int = 0

    def __add__(self, other: Added) -> Added:
        return Added(self.new + other.new, self.same + other.same, self.replaced + other.replaced)


@dataclass(frozen=True)
class RunInfo:
    """One run as the run list shows it. ``first_step``/``last_step`` span all its metrics
    (None before any point); ``created``/``updated`` are Unix seconds."""

    run_id: str
    name: str
    source: str
    kind: str
    tags: tuple[str, ...]
    notes: str
    status: str
    problems: tuple[str, ...]
    metrics: tuple[str, ...]
    first_step: int | None
    last_step: int | None
    created: float
    updated: float
    open_alerts: int = 0
    """alerts open now (``Store.alerts(run_id, open_only=True)`` lists them)"""
    log_interval: float | None = None
    """median wall seconds between the run's points (None until known): what
    ``tracking.status`` measures silence in"""


@dataclass(frozen=True)
class Event:
    """One entry of a run's events panel: an alert (``state`` ``open`` or ``closed``) or a
    plain event (``state = "event"``: a control change, a detector that failed).

    ``seq`` numbers a run's events from 1 in the order they were recorded; ``time`` is when
    (Unix s); ``step`` where in the run (None if no step applies). An alert's ``key`` is its
    kind and metric (``loss_spike:train/loss``); ``value`` the metric's value where it opened;
    ``closed_step``/``closed_time`` where and when it closed."""

    run_id: str
    seq: int
    time: float
    step: int | None
    kind: str
    severity: str
    text: str
    state: str
    key: str | None = None
    metric: str | None = None
    value: float | None = None
    closed_step: int | None = None
    closed_time: float | None = None


@dataclass(frozen=True)
class MetricInfo:
    """One metric of a run: how many points it holds and the steps they span."""

    metric: str
    points: int
    first_step: int | None
    last_step: int | None


@dataclass(frozen=True)
class FileState:
    """How far the watcher has read one file: its inode and size when read, and the byte
    offset the next read resumes at (``tracking.records.Read.position``)."""

    path: str
    inode: int
    size: int
    position: int
    run_id: str


@dataclass(frozen=True)
class TokenInfo:
    """A write token as listed: never its secret, which is not stored."""

    name: str
    created: float
    revoked: float | None
