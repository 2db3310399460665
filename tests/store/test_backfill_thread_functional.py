"""The rollup backfill's CPU work runs in worker threads, off the event loop.

Regression: a 20,000-row batch parsed, binned and encoded its cells on the loop, stalling
every relayed stream up to 44 ms at a time while an upgraded database was backfilled.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ollama_proxy.records import RequestRecord
from ollama_proxy.store import open_store, rollups


async def test_backfill_cells_and_rows_are_built_in_worker_threads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[threading.Thread] = []
    cells_of, rows_of = rollups._backfill_cells, rollups.Cells.rows
    merge_of = rollups._merge_stored

    def watched_cells(session: Any, rows: Any) -> Any:
        threads.append(threading.current_thread())
        return cells_of(session, rows)

    def watched_rows(self: Any, session: Any) -> Any:
        threads.append(threading.current_thread())
        return rows_of(self, session)

    def watched_merge(cells: Any, stored: Any) -> None:
        merged.append(threading.current_thread())
        merge_of(cells, stored)

    merged: list[threading.Thread] = []

    store = open_store(f"sqlite:///{tmp_path / 'b.db'}")
    await store.open()
    try:
        now = datetime.now(UTC)
        records = [
            RequestRecord(
                request_id=f"r{i}",
                timestamp=now - timedelta(minutes=i),
                model="m",
                inference=True,
                latency_ms=10.0 + i,
            )
            for i in range(50)
        ]
        await store.write_requests(records)
        tables = [*rollups.TABLES.values(), rollups.TOTAL_TABLE]
        span = [now - timedelta(days=1), now + timedelta(minutes=1)]
        async with store.engine.begin() as conn:  # type: ignore[attr-defined]
            for table in tables:  # the rollups an older release never built
                await conn.exec_driver_sql(f"DELETE FROM {table}")
            await conn.exec_driver_sql(
                f"UPDATE {rollups.BACKFILL_TABLE} SET next_ts = ?, until_ts = ? WHERE id = 1",
                tuple(rollups.sqlite_time(t) for t in span),
            )
        monkeypatch.setattr(rollups, "_backfill_cells", watched_cells)
        monkeypatch.setattr(rollups.Cells, "rows", watched_rows)
        monkeypatch.setattr(rollups, "_merge_stored", watched_merge)
        while await store.backfill_step(20):  # type: ignore[attr-defined]
            pass
        assert threads and threading.main_thread() not in threads
        assert merged and threading.main_thread() not in merged  # the stored rows' merge too
        total = await store.fetch(f"SELECT sum(requests) AS n FROM {rollups.TOTAL_TABLE}", {})
        assert total[0]["n"] == len(records)
    finally:
        await store.close()
