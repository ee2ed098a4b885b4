"""Readers: one module per kind of source, ``read(path, position) -> Read`` (docs/tracking.md).

- ``tfevents`` (+ ``tfrecord``, ``crc32c``, ``protowire``, ``eventproto``): TensorBoard event files.
"""
