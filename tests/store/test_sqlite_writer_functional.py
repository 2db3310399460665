"""The SQLite writer thread: a batch's raw rows and rollups commit together or not at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from ollama_proxy.store import open_store, rollups
from ollama_proxy.store.sql import SqlStore
from tests.store.test_stores_functional import count, records


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
