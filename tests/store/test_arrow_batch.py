"""chDB's Arrow insert: constant columns repeated, empty nullable columns left out, and every
field reads back as written whatever shape its column has in the batch."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ollama_proxy.records import REQUEST_FIELDS, RequestRecord, request_column, request_columns
from ollama_proxy.store.clickhouse import ClickHouseStore, ch_time

pytest.importorskip("chdb")

from ollama_proxy.store.arrow_batch import OMITTED_WHEN_EMPTY, arrow_batch  # noqa: E402

START = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


@pytest.fixture
async def chdb(tmp_path: Path) -> AsyncIterator[ClickHouseStore]:
    store = ClickHouseStore(f"chdb://{tmp_path}/chdb")
    await store.open()
    yield store
    await store.close()


async def test_columns_left_out_when_empty_read_null(chdb: ClickHouseStore) -> None:
    """Leaving a column out fills its DEFAULT: only Nullable columns with none read NULL."""
    rows = await chdb.fetch(
        "SELECT name, type, default_kind FROM system.columns "
        "WHERE database = currentDatabase() AND table = 'request_logs'"
    )
    columns = {row["name"]: row for row in rows}
    for name in sorted(OMITTED_WHEN_EMPTY):
        assert columns[name]["type"].startswith("Nullable("), name
        assert columns[name]["default_kind"] == "", name


def shapes(n: int) -> list[RequestRecord]:
    """A batch where each kind of column comes as a constant, all None, mixed None, varied,
    and with values of another type than the field's (as a replayed record may carry)."""
    return [
        RequestRecord(
            timestamp=START + timedelta(milliseconds=1500 * i),
            instance="proxy-a",  # constant text
            endpoint="/api/chat",
            model=f"m{i % 3}",  # varied text
            error_message="quote ' and \\ and \n newline",  # constant, needs escaping as text
            done_reason="stöp" if i % 2 else "",
            inference=True,  # constant bool
            stream=bool(i % 2),  # varied bool
            http_status=200,  # constant int
            prompt_tokens=i * 11,
            completion_tokens=7,
            latency_ms=5,  # type: ignore[arg-type]  # an int in a float field, constant
            ttft_ms=None if i % 2 else 1.5 * i,  # mixed None
            load_duration_ms=1200.0,  # constant float in a nullable field
            eval_duration_ms=i,  # type: ignore[arg-type]  # varied ints in a float field
            thinking_tokens=3,  # constant nullable int
            attempts=2,
            gpu_ms=None,  # None throughout: left out
        )
        for i in range(n)
    ]


def read_back(row: dict[str, Any], record: RequestRecord, name: str) -> tuple[Any, Any]:
    """A column's value as read and the record's, in one form (JSON gives Int64 as text)."""
    want, got = getattr(record, name), row[name]
    if name == "timestamp":
        return got, ch_time(want)
    if isinstance(want, bool) or want is None or got is None:
        return got, want
    if isinstance(want, int | float) and not isinstance(got, bool):
        return pytest.approx(float(got)), float(want)
    return got, want


@pytest.mark.parametrize("n", [1, 6, 3000])
async def test_every_field_reads_back_in_every_column_shape(chdb: ClickHouseStore, n: int) -> None:
    batch = shapes(n)
    await chdb.write_requests(batch)
    rows = await chdb.fetch("SELECT * FROM request_logs FINAL ORDER BY timestamp")
    assert len(rows) == n
    for record, row in zip(batch, rows, strict=True):
        for name in REQUEST_FIELDS:
            got, want = read_back(row, record, name)
            assert got == want, name
        assert int(row["tokens_generated"]) == 7  # its DEFAULT (completion_tokens)


def test_constant_and_empty_columns_take_the_short_path() -> None:
    batch = arrow_batch(shapes(6))
    assert "gpu_ms" in batch.omitted and "ttft_ms" not in batch.omitted
    assert set(batch.omitted) <= OMITTED_WHEN_EMPTY
    assert set(batch.names) | set(batch.omitted) == set(REQUEST_FIELDS)
    assert batch.table.schema.field("instance").type.id != batch.table.schema.field("model").type.id
    assert batch.table.column("instance").to_pylist() == ["proxy-a"] * 6
    assert batch.table.column("latency_ms").to_pylist() == [5.0] * 6


def test_columns_of_a_large_batch_are_read_in_chunks_alike() -> None:
    batch = shapes(5000)
    columns = request_columns(batch)
    assert columns == [request_column(batch, name) for name in REQUEST_FIELDS]
