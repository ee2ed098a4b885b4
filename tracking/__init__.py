"""Real runs: read the logs training already writes, take metrics pushed over HTTP, store them.

The layers (docs/tracking.md):

- ``tracking.records``: the two types every reader returns and the store takes (``Series``,
  ``Read``), and the recipe guess with its provenance (``Guess``).
- ``tracking.readers``: one module per source kind (TensorBoard event files, HF
  ``trainer_state.json``, text logs, CSV/JSONL, MLflow, W&B offline). Pure: a path and a
  position in, a ``Read`` out; never unpickles, never follows a path out of its root.
- ``tracking.store``: one schema on two engines (SQLite WAL, PostgreSQL), points in chunks.
- ``tracking.api`` / ``tracking.client``: the HTTP push and read API, and the standard-library
  client a training script uses.
- ``tracking.watch`` and ``python -m tracking``: follow folders of logs into the store.
- ``tracking.alerts`` (pure detectors), ``tracking.alerting`` (run where points arrive, stored
  as the run's events), ``tracking.webhook`` (optional Slack-compatible POST),
  ``tracking.status`` (live, finished, stalled, failed).

Nothing here imports Dash: the app mounts the API and the tabs read the store.
"""
