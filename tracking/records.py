"""What a reader hands the store: columns of points per metric, the run's parameters, and
where the next read resumes.

Columns (numpy arrays), not one object per point: a 1M-step event file is 3M points, and
ingest must take seconds (issue 14: <= 10 s for 1M steps x 3 scalars). Points keep the
source's order, its repeated and rewound steps, and its NaN and infinities: deciding what a
repeated step means (a restart) is the store's job, not each reader's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

Steps = npt.NDArray[np.int64]
Values = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Series:
    """One metric's points from one read, in source order.

    ``step`` int64; ``value`` float64 (NaN, +inf and -inf kept as they were logged); ``time``
    float64 Unix seconds of the wall clock when the point was logged, NaN where the source
    has no time. The three arrays have the same length.
    """

    metric: str
    step: Steps
    value: Values
    time: Values

    def __post_init__(self) -> None:
        if not (len(self.step) == len(self.value) == len(self.time)):
            raise ValueError(
                f"series {self.metric!r}: step, value and time differ in length "
                f"({len(self.step)}, {len(self.value)}, {len(self.time)})"
            )

    def __len__(self) -> int:
        return len(self.step)


@dataclass
class Read:
    """What one pass over one source file found.

    ``position`` is where the next pass resumes: for append-only sources (event files, text
    logs, JSONL) the byte offset just past the last *complete* record or line, so a record
    cut off by a writer still writing is read whole next time; for sources rewritten in
    place (``trainer_state.json``, Lightning ``metrics.csv``, MLflow) it is 0 and every pass
    returns every point (the store's upsert makes that free of doubles).

    ``params`` are the run's recorded settings as flat ``key -> text`` (HF ``args`` and
    ``model_config`` text summaries, ``config.json``, ``hparams.yaml``, MLflow params, W&B
    ``config.yaml``), keys dotted for nesting (``model_config.hidden_size``).

    ``problems`` name what was skipped and why (file, byte offset or line, reason), for the
    run's visible status; a reader never raises on bad content, only on a path it may not
    read.
    """

    series: list[Series] = field(default_factory=list)
    params: dict[str, str] = field(default_factory=dict)
    position: int = 0
    problems: list[str] = field(default_factory=list)


Provenance = Literal["found", "derived", "assumed"]


@dataclass(frozen=True)
class Guess:
    """One ``TrainingConfig`` field recovered from a run's metadata, and how.

    ``found``: the source states it (``args.learning_rate``); ``derived``: computed from what
    it states (tokens per step from the growth of a token counter); ``assumed``: the
    simulator's default, shown so the user can correct it. ``source`` names the key(s) used.
    """

    field: str
    value: object
    provenance: Provenance
    source: str
