"""Fixtures for the deploy tier: the real production stack on free loopback ports."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from stack import Stack


@pytest.fixture(scope="module")
def stack(free_port: Callable[[], int]) -> Iterator[Stack]:
    """gunicorn with 2 gthread workers behind nginx, shared by one test module."""
    with Stack(f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}") as running:
        yield running


@pytest.fixture
def make_stack(free_port: Callable[[], int]) -> Iterator[Callable[..., Stack]]:
    """A factory for stacks a test may break (kill, stop, restart); all torn down after it."""
    made: list[Stack] = []

    def factory(**kwargs: object) -> Stack:
        s = Stack(f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}", **kwargs)  # type: ignore[arg-type]
        made.append(s)
        return s.start()

    yield factory
    for s in reversed(made):
        s.stop()
