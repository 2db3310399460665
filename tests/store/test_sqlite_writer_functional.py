"""The SQLite writer thread: a batch's raw rows and rollups commit together or not at all."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest

from ollama_proxy.records import RequestRecord
from ollama_proxy.store import open_store, rollups
from ollama_proxy.store.sql import SqlStore
from ollama_proxy.store.sqlite_writer import WriterBusy
from tests.store.test_stores_functional import count, records
from tests.waiting import until


async def test_a_failed_rollup_rolls_back_the_raw_rows_and_the_next_batch_lands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(f"sqlite:///{tmp_path}/w.db")
    assert isinstance(store, SqlStore)
    await store.open()
    try:
        batch = records(40)
        real = rollups.rows_of

        def broken(*args: object, **kwargs: object) -> list[rollups.Row]:
            raise RuntimeError("rollup failed")

        monkeypatch.setattr(rollups, "rows_of", broken)
        with pytest.raises(RuntimeError, match="rollup failed"):
            await store.write_requests(batch)
        assert await count(store) == 0  # the raw rows went with the failed rollup
        assert not store.health()["healthy"]

        monkeypatch.setattr(rollups, "rows_of", real)
        await store.write_requests(batch)  # the shipper's retry
        assert await count(store) == 40
        [row] = await store.fetch("SELECT sum(requests) AS n FROM request_rollup_total")
        assert row["n"] == 40
        assert store.health()["healthy"]
    finally:
        await store.close()


async def test_rows_written_by_the_writer_are_read_by_the_engine_at_once(tmp_path: Path) -> None:
    """The writer's commit is visible to the readers' connections (WAL), batch after batch."""
    store = open_store(f"sqlite:///{tmp_path}/w.db")
    await store.open()
    try:
        for n in range(1, 4):
            await store.write_requests(records(10, seed=n))
            assert await count(store) == 10 * n
    finally:
        await store.close()


async def test_a_write_hung_on_the_disk_is_not_queued_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hung write is abandoned by its caller (the shipper's timeout) but goes on in the
    writer's thread: the next batch is refused at once, not queued holding its records, and
    writes go through again once the hung one ends."""
    store = open_store(f"sqlite:///{tmp_path}/w.db")
    assert isinstance(store, SqlStore) and store._writer is not None
    await store.open()
    disk = threading.Event()
    real = store._writer._write

    def hung(batch: Sequence[RequestRecord]) -> None:
        disk.wait(10)
        real(batch)

    monkeypatch.setattr(store._writer, "_write", hung)
    try:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):
                await store.write_requests(records(5, seed=1))
        with pytest.raises(WriterBusy, match="still running"):
            await store.write_requests(records(5, seed=2))
        disk.set()
        await until(
            lambda: (
                store._writer is not None
                and store._writer._running is not None
                and store._writer._running.done()
            )
        )
        await store.write_requests(records(5, seed=3))
        assert await count(store) == 10  # the hung batch landed when the disk came back
    finally:
        disk.set()
        await store.close()
