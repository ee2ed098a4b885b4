"""Readers: one module per kind of source, each ``read(path, position=0) -> Read`` and
``detect(path) -> bool`` (docs/tracking.md).

- ``tfevents``: TensorBoard event files (``events.out.tfevents.*``), with ``tfrecord``
  (framing), ``crc32c``, ``protowire`` and ``eventproto`` (the few protobuf fields needed).
"""
