"""Rollup latency sketches: DDSketch's bins, merged by adding counts, read as percentiles."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ollama_proxy.stats.series import percentile_inc
from ollama_proxy.store import sketch

LEVELS = (0.0, 0.5, 0.95, 0.99, 1.0)
latencies = st.one_of(
    st.just(0.0),
    st.floats(min_value=sketch.MIN_VALUE, max_value=1e7, allow_nan=False),
)


def within_stated_error(actual: float | None, exact: float | None) -> bool:
    """The sketch's guarantee: relative error, plus the zero bin's absolute one."""
    assert actual is not None and exact is not None
    return abs(actual - exact) <= sketch.RELATIVE_ACCURACY * exact + sketch.MIN_VALUE


@settings(max_examples=200, deadline=None)
@given(st.lists(latencies, min_size=1, max_size=300))
def test_percentiles_are_within_the_stated_error_of_the_exact_ones(values: list[float]) -> None:
    blob = sketch.encode_counts(sketch.count_keys(values))
    ordered = sorted(values)
    for level, value in zip(LEVELS, sketch.quantiles(blob, LEVELS), strict=True):
        assert within_stated_error(value, percentile_inc(ordered, level)), level


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(latencies, max_size=40), min_size=1, max_size=8))
def test_merging_parts_equals_the_sketch_of_the_whole(parts: list[list[float]]) -> None:
    blobs = [sketch.encode_counts(sketch.count_keys(part)) for part in parts]
    whole = sketch.count_keys(v for part in parts for v in part)
    assert sketch.decode_counts(sketch.merge(blobs)) == whole
    # Concatenated bytes (what SQL's string_agg / group_concat hand back) decode the same.
    assert sketch.decode_counts(b"".join(b for b in blobs if b)) == whole


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=100))
def test_batch_keys_are_the_library_keys(values: list[float]) -> None:
    array = np.array(values, dtype=np.float64)
    batch = sketch.keys_of(array).tolist()
    for value, key in zip(values, batch, strict=True):
        if sketch.MIN_VALUE <= value <= 1e12:  # beyond ~1e280 ms keys are clamped
            # At an exact bin boundary the neighbour bin is as accurate (see keys_of).
            assert abs(key - sketch.key_of(value)) <= 1
            assert within_stated_error(sketch.value_of(key), value)
        elif not value >= sketch.MIN_VALUE:
            assert key == sketch.ZERO_KEY


def test_invalid_values_are_not_counted() -> None:
    assert sketch.count_keys([None, float("nan"), float("inf"), -1.0]) == {}
    assert sketch.encode_counts({}) is None
    assert sketch.quantiles(None, (0.5,)) == [None]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(latencies, max_size=40), max_size=12))
def test_many_sketches_at_once_answer_as_one_at_a_time(parts: list[list[float]]) -> None:
    blobs = [sketch.encode_counts(sketch.count_keys(part)) for part in parts]
    # Concatenated sketches too (repeated keys), as SQL hands a group back.
    blobs += [b"".join(b for b in blobs if b) or None]
    assert sketch.quantiles_many(blobs, LEVELS) == [sketch.quantiles(b, LEVELS) for b in blobs]
    # ... and as a list of parts, merged on the way.
    parts_of_all = [b for b in blobs[:-1] if b]
    assert sketch.quantiles_many([parts_of_all, []], LEVELS) == [
        sketch.quantiles(blobs[-1], LEVELS),
        [None] * len(LEVELS),
    ]


def test_many_sketches_in_several_dense_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sketch, "_MAX_CELLS", 3)  # one or two sketches a block
    parts = [[1.0, 5.0], [], [0.0, 2.0, 700.0], [9.0]]
    blobs = [sketch.encode_counts(sketch.count_keys(part)) for part in parts]
    assert sketch.quantiles_many(blobs, LEVELS) == [sketch.quantiles(b, LEVELS) for b in blobs]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(latencies, max_size=30), min_size=1, max_size=8))
def test_grouped_pairs_encode_each_group_as_its_own_sketch(parts: list[list[float]]) -> None:
    owner = np.repeat(np.arange(len(parts)), [len(p) for p in parts])
    values = np.array([v for p in parts for v in p], dtype=np.float64)
    keys = sketch.keys_of(values)
    grouped = sketch.grouped_counts(owner, keys, np.ones(keys.size, dtype=np.int64))
    blobs = sketch.encode_groups(*grouped, len(parts))
    for part, blob in zip(parts, blobs, strict=True):
        keys, counts = np.unique(sketch.keys_of(np.array(part)), return_counts=True)
        want = dict(zip(keys.tolist(), counts.tolist(), strict=True))
        assert sketch.decode_counts(blob) == want
