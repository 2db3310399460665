"""A large batch is rolled up off the event loop (a catch-up after an outage used to spend
tens of milliseconds of CPU there, stalling every stream the proxy relayed)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ollama_proxy.records import RequestRecord
from ollama_proxy.store import open_store, rollups


def records(count: int) -> list[RequestRecord]:
    now = datetime.now(UTC)
    return [
        RequestRecord(
            request_id=f"r{i}",
            timestamp=now - timedelta(seconds=i),
            model="m",
            inference=True,
            latency_ms=10.0 + i,
        )
        for i in range(count)
    ]


@pytest.mark.parametrize("count", [rollups.OFF_LOOP_FACTS - 1, rollups.OFF_LOOP_FACTS])
async def test_large_batches_are_rolled_up_in_a_worker_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, count: int
) -> None:
    threads: list[threading.Thread] = []
    grains = rollups.all_grains

    def watched(facts: Any) -> Any:
        threads.append(threading.current_thread())
        return grains(facts)

    monkeypatch.setattr(rollups, "all_grains", watched)
    store = open_store(f"sqlite:///{tmp_path / 'r.db'}")
    await store.open()
    try:
        await store.write_requests(records(count))
        off_loop = count >= rollups.OFF_LOOP_FACTS
        assert [t is threading.main_thread() for t in threads] == [not off_loop]
        rows = await store.fetch("SELECT sum(requests) AS n FROM request_rollup_total", {})
        assert rows[0]["n"] == count
    finally:
        await store.close()
