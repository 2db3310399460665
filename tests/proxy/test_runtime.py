"""Interpreter tuning of the serving process (ollama_proxy/runtime.py)."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from ollama_proxy.runtime import GC_THRESHOLDS, settle_gc


@pytest.fixture
def restored_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_settle_gc_freezes_what_exists_and_raises_the_thresholds(restored_gc: None) -> None:
    survivor = [object() for _ in range(10)]
    settle_gc()
    assert gc.get_threshold() == GC_THRESHOLDS
    assert gc.get_freeze_count() >= len(survivor)


def test_cyclic_garbage_is_still_collected_after_settling(restored_gc: None) -> None:
    settle_gc()

    class Node:
        def __init__(self) -> None:
            self.me = self

    probe = weakref.ref(Node())
    assert probe() is not None  # a cycle: reference counting alone cannot free it
    # No explicit collect: allocations past the young threshold must trigger one by themselves.
    _kept = [[] for _ in range(GC_THRESHOLDS[0] + 1_000)]
    assert probe() is None
