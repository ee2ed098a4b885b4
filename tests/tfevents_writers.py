"""Event files for the tests, written the way real writers write them.

tensorboardX writes the records (its own TFRecord framing and CRCs): ``add_scalar`` gives
the ``simple_value`` form (tensorboardX, PyTorch's default, so HF Trainer, Lightning,
Megatron-LM); raw ``Summary`` protos give the tensor forms other writers use:

- ``torch_float``: PyTorch's ``new_style=True``: ``float_val`` + ``scalars`` plugin metadata
  on every record;
- ``torch_double``: PyTorch's ``double_precision=True``: ``double_val``, ``DT_DOUBLE``;
- ``tf2``: TF2's ``tf.summary.scalar``: a rank-0 ``tensor_content``, metadata on the tag's
  first record only;
- ``int64`` and ``half``: varint-coded values (``int64_val``, ``half_val``);
- ``int32_content``, ``half_content``, ``bf16_content``: raw ``tensor_content`` of those
  dtypes.

``oracle()`` reads a file with the ``tensorboard`` package (the reference), keeping every
event (size guidance 0, rewound steps not purged).
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from tensorboardX import FileWriter, SummaryWriter
from tensorboardX.proto.summary_pb2 import Summary, SummaryMetadata
from tensorboardX.proto.tensor_pb2 import TensorProto
from tensorboardX.proto.tensor_shape_pb2 import TensorShapeProto

Point = tuple[int, float]  # (step, value)


def only_file(folder: Path) -> Path:
    files = sorted(folder.glob("events.out.tfevents.*"))
    assert len(files) == 1, files
    return files[0]


def write_scalars(
    folder: Path,
    rows: Iterable[tuple[int | None, dict[str, float]]],
    *,
    suffix: str = "",
    wall_start: float = 1.7e9,
) -> Path:
    """``add_scalar`` for each (step, {tag: value}) row (step None: no step field)."""
    writer = SummaryWriter(str(folder), filename_suffix=suffix, flush_secs=600)
    for i, (step, values) in enumerate(rows):
        for tag, value in values.items():
            writer.add_scalar(tag, value, step, walltime=wall_start + i)
    writer.close()
    return _newest(folder, suffix)


def _newest(folder: Path, suffix: str) -> Path:
    return sorted(folder.glob(f"events.out.tfevents.*{suffix}"), key=lambda p: p.stat().st_mtime)[
        -1
    ]


def scalars_metadata() -> SummaryMetadata:
    return SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name="scalars"))


def tf2_metadata() -> SummaryMetadata:
    """TF2's scalar metadata, with ``data_class`` (a field tensorboardX's proto lacks: built
    with tensorboard's and carried over as bytes)."""
    from tensorboard.compat.proto.summary_pb2 import DATA_CLASS_SCALAR
    from tensorboard.compat.proto.summary_pb2 import SummaryMetadata as TbMetadata

    meta = TbMetadata(
        plugin_data=TbMetadata.PluginData(plugin_name="scalars"), data_class=DATA_CLASS_SCALAR
    )
    return SummaryMetadata.FromString(meta.SerializeToString())


def tensor_value(form: str, tag: str, value: float, first: bool) -> Summary.Value:
    """One ``Summary.Value`` holding ``value`` in the given tensor form."""
    if form == "torch_float":
        tensor = TensorProto(dtype="DT_FLOAT", float_val=[value])
        return Summary.Value(tag=tag, tensor=tensor, metadata=scalars_metadata())
    if form == "torch_double":
        tensor = TensorProto(dtype="DT_DOUBLE", double_val=[value])
        return Summary.Value(tag=tag, tensor=tensor, metadata=scalars_metadata())
    if form == "tf2":
        tensor = TensorProto(
            dtype="DT_FLOAT",
            tensor_shape=TensorShapeProto(),
            tensor_content=struct.pack("<f", value),
        )
        if first:
            return Summary.Value(tag=tag, tensor=tensor, metadata=tf2_metadata())
        return Summary.Value(tag=tag, tensor=tensor)
    if form == "int64":
        tensor = TensorProto(
            dtype="DT_INT64", int64_val=[int(value)], tensor_shape=TensorShapeProto()
        )
        return Summary.Value(tag=tag, tensor=tensor, metadata=scalars_metadata())
    if form == "half":
        bits = int(np.array([value], dtype=np.float16).view(np.uint16)[0])
        tensor = TensorProto(dtype="DT_HALF", half_val=[bits], tensor_shape=TensorShapeProto())
        return Summary.Value(tag=tag, tensor=tensor)
    if form in CONTENT:
        dtype, pack = CONTENT[form]
        tensor = TensorProto(
            dtype=dtype, tensor_content=pack(value), tensor_shape=TensorShapeProto()
        )
        return Summary.Value(tag=tag, tensor=tensor)
    raise ValueError(form)


# Raw ``tensor_content`` of other dtypes (TF writes every tensor this way).
CONTENT = {
    "int32_content": ("DT_INT32", lambda v: struct.pack("<i", int(v))),
    "half_content": ("DT_HALF", lambda v: np.float16(v).tobytes()),
    "bf16_content": ("DT_BFLOAT16", lambda v: struct.pack("<f", v)[2:]),  # the high half
}


def write_tensor_scalars(
    folder: Path, form: str, rows: Sequence[tuple[int, dict[str, float]]], *, suffix: str = ""
) -> Path:
    writer = FileWriter(str(folder), filename_suffix=suffix, flush_secs=600)
    seen: set[str] = set()
    for i, (step, values) in enumerate(rows):
        for tag, value in values.items():
            summary = Summary(value=[tensor_value(form, tag, value, tag not in seen)])
            seen.add(tag)
            writer.add_summary(summary, step, walltime=1.7e9 + i)
    writer.close()
    return _newest(folder, suffix)


def write_summaries(folder: Path, summaries: Sequence[tuple[int, Summary]]) -> Path:
    """Raw (step, Summary) events, e.g. several values in one event (TF1's merged
    summaries)."""
    writer = FileWriter(str(folder), flush_secs=600)
    for i, (step, summary) in enumerate(summaries):
        writer.add_summary(summary, step, walltime=1.7e9 + i)
    writer.close()
    return only_file(folder)


def hf_trainer_like(folder: Path, steps: int) -> tuple[Path, dict[str, object], dict[str, object]]:
    """What HF Trainer's TensorBoardCallback writes: ``args`` and ``model_config`` as JSON
    text summaries, then loss, learning rate and epoch every step, then the end-of-training
    summary scalars at the last step."""
    args: dict[str, object] = {
        "output_dir": "out",
        "learning_rate": 0.0002,
        "per_device_train_batch_size": 16,
        "max_steps": steps,
        "lr_scheduler_type": "linear",
        "fsdp_config": {"min_num_params": 0, "xla": False},
        "report_to": ["tensorboard"],
        "push_to_hub_token": None,
    }
    config: dict[str, object] = {
        "architectures": ["LlamaForCausalLM"],
        "hidden_size": 2048,
        "num_hidden_layers": 22,
        "quantization_config": {"load_in_4bit": True, "bnb_4bit_quant_type": "nf4"},
        "rms_norm_eps": 1e-05,
    }
    writer = SummaryWriter(str(folder), flush_secs=600)
    writer.add_text("args", json.dumps(args, indent=2, sort_keys=True))
    writer.add_text("model_config", json.dumps(config, indent=2, sort_keys=True))
    for step in range(1, steps + 1):
        writer.add_scalar("train/loss", 3.5 - step * 1e-3, step, walltime=1.7e9 + step)
        writer.add_scalar(
            "train/learning_rate", 2e-4 * (1 - step / steps), step, walltime=1.7e9 + step
        )
        writer.add_scalar("train/epoch", step / steps * 2, step, walltime=1.7e9 + step)
    for tag, value in (("train/train_runtime", 1234.5), ("train/train_loss", 3.1)):
        writer.add_scalar(tag, value, steps, walltime=1.7e9 + steps + 1)
    writer.close()
    return only_file(folder), args, config


def oracle(
    path: Path,
) -> tuple[dict[str, tuple[list[int], list[float], list[float]]], dict[str, str]]:
    """Scalars and texts as the ``tensorboard`` package reads them.

    Scalars: ``simple_value`` events, and tensor events whose every tensor is one numeric
    element. Texts: the last string of each ``DT_STRING`` tensor tag.
    """
    from tensorboard.backend.event_processing import event_accumulator as ea
    from tensorboard.util import tensor_util

    acc = ea.EventAccumulator(
        str(path), size_guidance={ea.SCALARS: 0, ea.TENSORS: 0}, purge_orphaned_data=False
    )
    acc.Reload()
    tags = acc.Tags()
    scalars: dict[str, tuple[list[int], list[float], list[float]]] = {}
    texts: dict[str, str] = {}
    for tag in tags["scalars"]:
        events = acc.Scalars(tag)
        scalars[tag] = (
            [e.step for e in events],
            [e.value for e in events],
            [e.wall_time for e in events],
        )
    for tag in tags["tensors"]:
        events = acc.Tensors(tag)
        arrays = [tensor_util.make_ndarray(e.tensor_proto) for e in events]
        if all(a.size == 1 and a.dtype.kind in "fiub" for a in arrays):
            values = [float(a.item()) for a in arrays]
            scalars[tag] = ([e.step for e in events], values, [e.wall_time for e in events])
        elif all(a.dtype.kind in "OSU" for a in arrays):
            last = arrays[-1].ravel()
            texts[tag] = "\n".join(
                s.decode() if isinstance(s, bytes) else str(s) for s in last.tolist()
            )
    return scalars, texts
