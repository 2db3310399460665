"""A batch's rollup cells (numpy over its columns, with shortcuts for a batch of one dimension
or one cell) equal the merge of its records' cells taken one at a time; the raw insert's
timestamp text equals `sqlite_time` of every stamp."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ollama_proxy.records import RequestRecord
from ollama_proxy.store import rollups, sketch
from ollama_proxy.store.sqlite_writer import sqlite_rows, sqlite_times

ANCHOR = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
ms = st.none() | st.floats(min_value=0, max_value=1e5).map(lambda v: round(v, 3))


def records(span_s: int, models: list[str], clients: list[str]) -> Any:
    return st.lists(
        st.builds(
            lambda offset_ms, model, client, status, tokens, lat, ttft, ev, load, think: (
                RequestRecord(
                    timestamp=ANCHOR + timedelta(milliseconds=offset_ms),
                    model=model,
                    instance="box-1",
                    client=client,
                    status=status,
                    prompt_tokens=tokens,
                    completion_tokens=tokens // 2,
                    latency_ms=lat if lat is not None else 0.0,
                    ttft_ms=ttft,
                    eval_duration_ms=ev,
                    load_duration_ms=load,
                    thinking_ms=think,
                )
            ),
            st.integers(0, span_s * 1000),
            st.sampled_from(models),
            st.sampled_from(clients),
            st.sampled_from(["success", "error"]),
            st.integers(0, 10_000),
            ms,
            ms,
            ms,
            st.none() | st.sampled_from([3.0, 1500.0]),
            ms,
        ),
        min_size=1,
        max_size=60,
    )


batches = st.one_of(
    records(30, ["llama3.2"], ["10.0.0.1"]),  # one dimension, mostly one cell
    records(7200, ["llama3.2", "qwen3:8b"], ["10.0.0.1", "10.0.0.2"]),
)


def cells(records: list[RequestRecord], step: int) -> dict[rollups.Key, tuple[Any, ...]]:
    found = rollups.grain_cells(rollups.batch_of_records(records), step)
    rows = rollups.rows_of(found, {}, lambda stamp: stamp)
    width = len(rollups.KEY_COLUMNS)
    return {row[:width]: row[width:] for row in rows}


def merged(parts: list[dict[rollups.Key, tuple[Any, ...]]]) -> dict[rollups.Key, list[Any]]:
    """Cells added up: sums, the newest timestamp, sketch bin counts."""
    out: dict[rollups.Key, list[Any]] = {}
    n_sums = len(rollups.SUM_COLUMNS)
    for part in parts:
        for key, row in part.items():
            sums, last, sketches = list(row[:n_sums]), row[n_sums], row[n_sums + 1 :]
            counts = [sketch.decode_counts(blob) for blob in sketches]
            if key not in out:
                out[key] = [sums, last, counts]
                continue
            cell = out[key]
            cell[0] = [a + b for a, b in zip(cell[0], sums, strict=True)]
            cell[1] = max(cell[1], last)
            for into, more in zip(cell[2], counts, strict=True):
                for bin_key, count in more.items():
                    into[bin_key] = into.get(bin_key, 0) + count
    return out


@settings(max_examples=150, deadline=None)
@given(batches)
def test_a_batch_rolls_up_as_its_records_one_at_a_time(batch: list[RequestRecord]) -> None:
    for _table, step in rollups.GRAINS:
        whole = merged([cells(batch, step)])
        one_by_one = merged([cells([record], step) for record in batch])
        assert whole.keys() == one_by_one.keys()
        for key, (sums, last, counts) in whole.items():
            want_sums, want_last, want_counts = one_by_one[key]
            assert np.allclose(sums, want_sums, rtol=1e-12, atol=1e-9)
            assert (last, counts) == (want_last, want_counts)


stamps = st.datetimes(
    min_value=datetime(1971, 1, 1),
    max_value=datetime(2090, 1, 1),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)), None]),
)


@settings(max_examples=100, deadline=None)
@given(st.lists(stamps, max_size=20), st.booleans())
def test_insert_text_is_sqlite_time_of_every_stamp(values: list[datetime], utc: bool) -> None:
    if utc:  # the recorder's own stamps: the numpy path
        values = [v.replace(tzinfo=UTC) for v in values]
    batch = [RequestRecord(timestamp=v) for v in values]
    columns = rollups.Columns(batch)
    assert columns.recorders_own == all(v.tzinfo is UTC for v in values)
    assert list(sqlite_times(columns)) == [rollups.sqlite_time(v) for v in values]
    rows = sqlite_rows(columns)
    assert [row[-2:] for row in rows] == [
        (r.completion_tokens, rollups.sqlite_time(r.timestamp)) for r in batch
    ]


def test_whole_seconds_and_last_microseconds_keep_their_text() -> None:
    values = [
        datetime(2026, 1, 1, tzinfo=UTC),
        datetime(2026, 1, 1, 0, 0, 0, 999_999, tzinfo=UTC),
        datetime(2026, 12, 31, 23, 59, 59, 1, tzinfo=UTC),
    ]
    columns = rollups.Columns([RequestRecord(timestamp=v) for v in values])
    assert list(sqlite_times(columns)) == [
        "2026-01-01 00:00:00.000000",
        "2026-01-01 00:00:00.999999",
        "2026-12-31 23:59:59.000001",
    ]


def test_grouped_counts_dense_and_sorted_paths_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(7)
    owner = np.sort(rng.integers(0, 5, 400))
    keys = rng.integers(-300, 600, 400)
    keys[::50] = sketch.ZERO_KEY
    counts = rng.integers(1, 9, 400)
    for sample in (slice(1, 400, 50), slice(None)):  # without, then with, the zero key
        dense = sketch.grouped_counts(owner[sample], keys[sample], counts[sample])
        with monkeypatch.context() as patch:
            patch.setattr(sketch, "_DENSE_CELLS", 0)
            by_sort = sketch.grouped_counts(owner[sample], keys[sample], counts[sample])
        assert [a.tolist() for a in dense] == [a.tolist() for a in by_sort]
        assert int(dense[2].sum()) == int(counts[sample].sum())
