"""HF Trainer's ``trainer_state.json``: the ``log_history`` curve and the settings beside it.

The Trainer rewrites this file whole at each checkpoint (``checkpoint-N/trainer_state.json``,
and ``trainer_state.json`` in the output folder when the script calls ``save_state``), so it
is read whole every pass and ``position`` is always 0; the store's upsert makes re-reading
free of doubles. Python's ``json`` writes ``NaN`` and ``Infinity`` literals, which are kept.

What becomes what:

- each ``log_history`` entry with a ``step``: every numeric key is a metric at that step
  (``loss``, ``grad_norm``, ``learning_rate``, ``epoch``, ``eval_*``, TRL's ``num_tokens``
  and ``mean_token_accuracy``, the closing ``train_runtime`` / ``train_loss`` summary);
- entries without a ``step`` (``predict_*`` metrics some scripts append) are skipped, with
  one problem naming how many and their keys: a point needs a step, and guessing one from a
  neighbour would put a test-set figure on the training curve;
- params: the file's own top-level settings as ``trainer_state.<key>`` (``max_steps``,
  ``num_train_epochs``, ``train_batch_size``, ``logging_steps``...), ``config.json`` beside it
  as ``model_config.<key>`` (the name HF gives the same dict in TensorBoard), and PEFT's
  ``adapter_config.json`` as ``adapter_config.<key>``. In a ``checkpoint-N`` folder without
  them, the output folder's copies are used.

``training_args.bin`` is a pickle: it is never opened (unpickling runs code). Its values are
in the event file's ``args`` text summary when TensorBoard logging was on.

Bounds: the file is refused over ``MAX_WHOLE_FILE_BYTES``; JSON nested deeper than Python's
parser allows is a problem, not a ``RecursionError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from tracking.readers._common import (
    MAX_WHOLE_FILE_BYTES,
    Problems,
    SeriesBuilder,
    inside,
    load_json_file,
    param_text,
)
from tracking.readers._objects import entry, side_settings
from tracking.records import Read

FILE_NAME = "trainer_state.json"


def detect(path: Path) -> bool:
    """A file named ``trainer_state.json``."""
    p = Path(path)
    return p.name == FILE_NAME and p.is_file()


def read(
    path: Path,
    position: int = 0,
    *,
    root: Path | None = None,
    max_bytes: int = MAX_WHOLE_FILE_BYTES,
) -> Read:
    """Every point in ``path``'s ``log_history`` and the run's settings (see the module doc).

    ``position`` is accepted for the common reader signature and ignored: the file is
    rewritten in place, so it is always read from 0.

    Raises:
        OutsideRoot: ``path`` (or a settings file beside it) resolves outside ``root``.
    """
    path = inside(path, root)
    problems = Problems()
    params: dict[str, str] = {}
    builder = SeriesBuilder()
    state = load_json_file(path, max_bytes, problems, path.name)
    if state is not None:
        if isinstance(state, Mapping):
            _state_params(state, params)
            _log_history(state.get("log_history"), builder, problems, path.name)
        else:
            problems.add(
                f"{path.name}: not a JSON object (found {type(state).__name__}); no points"
            )
    side_settings(path, root, params, problems)
    if (path.parent / "training_args.bin").exists():
        problems.add(
            "training_args.bin: not read (a pickle, and unpickling runs code); the run's "
            "arguments come from the event file's `args` text when TensorBoard logging was on"
        )
    return Read(series=builder.build(), params=params, position=0, problems=problems.to_list())


def _log_history(history: object, builder: SeriesBuilder, problems: Problems, what: str) -> None:
    if history is None:
        problems.add(f"{what}: no `log_history`; no points")
        return
    if not isinstance(history, list):
        problems.add(f"{what}: `log_history` is a {type(history).__name__}, not a list; no points")
        return
    no_step: list[Mapping[str, object]] = []
    for i, item in enumerate(history):
        if not isinstance(item, Mapping):
            problems.once("not-object", f"{what}: log_history[{i}] is not an object; skipped")
            continue
        e = entry(item, ("step",))
        if e.step is None:
            if e.step_key is None:
                no_step.append(item)
            else:
                problems.once(
                    "bad-step",
                    f"{what}: log_history[{i}] has step {param_text(item.get('step'))!r}, not "
                    "a whole number; skipped",
                )
            continue
        builder.add_row(e.step, e.time, e.metrics)
    if no_step:
        keys = sorted({str(k) for item in no_step for k in item})
        shown = ", ".join(keys[:8]) + (", ..." if len(keys) > 8 else "")
        problems.add(
            f"{what}: {len(no_step):,} log_history entries have no `step` (keys: {shown}); "
            "skipped, since a point needs a step"
        )


def _state_params(state: Mapping[str, object], params: dict[str, str]) -> None:
    """Top-level scalars of the state (``max_steps``, ``train_batch_size``...)."""
    for key, value in state.items():
        if key == "log_history" or isinstance(value, (dict, list)):
            continue
        params[f"trainer_state.{key}"] = param_text(value)
