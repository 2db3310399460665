"""The record pipeline: never blocks the request path, survives outages and crashes."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from pathlib import Path
from typing import Any

import pytest

from ollama_proxy import recorder as recorder_module
from ollama_proxy.recorder import Recorder
from ollama_proxy.records import ContentRecord, MetricPoint, utcnow
from ollama_proxy.store import open_store
from ollama_proxy.store.base import Store
from tests.pg import pg_url
from tests.store.conftest import settings_for
from tests.store.test_stores_functional import count, records
from tests.waiting import until


class Forwarder:
    """A TCP forwarder that can be cut and restored: a store going down and coming back."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._conns: set[asyncio.StreamWriter] = set()

    async def up(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def down(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._conns):
            writer.transport.abort()
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self._conns.update({writer, up_writer})

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


async def test_postgres_outage_loses_nothing_and_duplicates_nothing(
    tmp_path: Path, pg_database: str
) -> None:
    forwarder = Forwarder("127.0.0.1", 5432)
    await forwarder.up()
    settings = settings_for(tmp_path, metrics_export_interval=3600, batch_max_records=100)
    store = open_store(pg_url(pg_database, forwarder.port), settings)
    await store.open()
    async with store.engine.begin() as conn:  # type: ignore[attr-defined]
        await conn.exec_driver_sql("DELETE FROM request_logs")
    recorder = Recorder([store], settings)
    await recorder.start()
    try:
        batch = records(1000, seed=11)
        for record in batch[:300]:
            recorder.submit(record)
        await recorder.flush()
        assert await count(store) == 300

        await forwarder.down()
        loop = asyncio.get_running_loop()
        started = loop.time()
        for record in batch[300:]:
            recorder.submit(record)  # the request path: must not block while the store is down
        assert loop.time() - started < 0.5
        await recorder.flush()
        [health] = recorder.health()
        assert not health["healthy"] and health["journal_segments"] >= 1

        await forwarder.up()  # same port: the store comes back
        await recorder.flush()
        assert await count(store) == 1000
        assert recorder.health()[0]["backlog_records"] == 0
    finally:
        await recorder.close()
        await store.close()
        await forwarder.down()


async def test_a_crash_with_records_in_the_journal_replays_them_once(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, metrics_export_interval=3600)
    url = f"sqlite:///{tmp_path}/crash.db"
    first = Recorder([_DownStore(url)], settings)  # the store fails: records go to the journal
    batch = records(250, seed=5)
    for record in batch:
        first.submit(record)
    await first.flush()
    await die(first)  # no close(): the journal is all that is left

    store = open_store(url, settings)
    await store.open()
    second = Recorder([store], settings)
    await second.flush()
    await second.flush()
    assert await count(store) == 250
    # A replay of a batch the store had already taken is absorbed too.
    await store.write_requests(batch[:50])
    assert await count(store) == 250
    await second.close()
    await store.close()


async def test_full_queue_drops_the_oldest_and_counts(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, queue_max_records=10, metrics_export_interval=3600)
    store = open_store(f"sqlite:///{tmp_path}/q.db", settings)
    await store.open()
    recorder = Recorder([store], settings)
    batch = records(25)
    for record in batch:
        recorder.submit(record)
    assert recorder.dropped == 15
    await recorder.flush()
    rows = await store.fetch("SELECT request_id FROM request_logs")
    assert {r["request_id"] for r in rows} == {r.request_id for r in batch[-10:]}
    await recorder.close()
    await store.close()


async def test_an_idle_writer_sleeps_and_wakes_for_each_kind_of_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No record, no journal pass (an idle proxy woke four times a second for nothing); the
    first record of any kind wakes the writer, which journals it within a tick."""
    settings = settings_for(tmp_path, metrics_export_interval=3600)
    store = open_store(f"sqlite:///{tmp_path}/i.db", settings)
    await store.open()
    recorder = Recorder([store], settings)
    passes = 0
    journal_queue = recorder._journal_queue

    async def counted() -> None:
        nonlocal passes
        passes += 1
        await journal_queue()

    monkeypatch.setattr(recorder, "_journal_queue", counted)
    await recorder.start()
    try:
        await asyncio.sleep(4 * recorder_module.JOURNAL_TICK_S)
        assert passes == 0
        submits = (
            lambda: recorder.submit(records(1)[0]),
            lambda: recorder.submit_metric(MetricPoint("cpu", 1.0)),
            lambda: recorder.submit_content(ContentRecord("r", utcnow(), prompt="p")),
        )
        before = [recorder.log.end()]
        for number, submit in enumerate(submits, start=1):
            await until(lambda: recorder._idle)
            submit()
            await until(lambda n=number: passes == n and recorder.log.end() != before[-1])  # type: ignore[misc]
            before.append(recorder.log.end())
        assert await count(store) == 1
    finally:
        await recorder.close()
        await store.close()


async def test_close_flushes_everything_queued(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, metrics_export_interval=3600)
    store = open_store(f"sqlite:///{tmp_path}/c.db", settings)
    await store.open()
    recorder = Recorder([store], settings)
    await recorder.start()
    for record in records(40):
        recorder.submit(record)
    await recorder.close()
    assert await count(store) == 40
    await store.close()


async def test_close_while_a_batch_is_being_journaled_loses_none_of_it(
    tmp_path: Path, monkeypatch: object
) -> None:
    """SIGTERM under load: close() cancels the loop in the middle of a slow journal write
    (fsync on a busy disk); that batch must still reach the store."""
    import threading
    import time

    from ollama_proxy.store.segments import Position, SegmentLog

    settings = settings_for(tmp_path, metrics_export_interval=3600)
    store = open_store(f"sqlite:///{tmp_path}/j.db", settings)
    await store.open()
    recorder = Recorder([store], settings)
    writing = threading.Event()
    append = SegmentLog.append

    def slow_append(self: SegmentLog, *args: object, **kwargs: object) -> Position:
        if not writing.is_set():  # only the first write is slow
            writing.set()
            time.sleep(0.5)
        return append(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(SegmentLog, "append", slow_append)  # type: ignore[attr-defined]
    await recorder.start()
    for record in records(30):
        recorder.submit(record)
    while not writing.is_set():  # the loop's tick has started journaling the 30
        await asyncio.sleep(0.02)
    for record in records(5):
        recorder.submit(record)
    await recorder.close()
    assert await count(store) == 35
    await store.close()


async def die(recorder: Recorder) -> None:
    """What SIGKILL leaves: tasks gone mid-way, files as they are, nothing flushed."""
    tasks = [recorder._writer, *(s.task for s in recorder.shippers)]
    for task in tasks:
        if task is not None:
            task.cancel()
    await asyncio.gather(*(t for t in tasks if t is not None), return_exceptions=True)
    recorder.log.seal()


class _DownStore:
    """A store whose server is unreachable."""

    kind = "sqlite"

    def __init__(self, url: str) -> None:
        self.url = url

    async def write_requests(self, records: object) -> None:
        raise ConnectionRefusedError("store down")

    async def write_metrics(self, points: object) -> None:
        raise ConnectionRefusedError("store down")

    def health(self) -> dict[str, object]:
        return {"url": self.url, "kind": self.kind, "healthy": False}


async def test_clients_never_notice_a_postgres_outage(tmp_path: Path, pg_database: str) -> None:
    """1,000 requests through the proxy while PostgreSQL is unreachable all succeed, and after
    it comes back exactly 1,000 rows are in the table."""
    import aiohttp

    from ollama_proxy import appkeys
    from ollama_proxy.app import create_app
    from ollama_proxy.config import Settings
    from ollama_proxy.simulator import SimulatorConfig, create_simulator_app
    from tests.servers import start_app

    forwarder = Forwarder("127.0.0.1", 5432)
    await forwarder.up()
    sim_runner, sim_url = await start_app(create_simulator_app(SimulatorConfig.zero_delay()))
    settings = Settings(
        upstream=sim_url,
        listen="127.0.0.1:0",
        store_urls=[pg_url(pg_database, forwarder.port)],
        journal_dir=str(tmp_path / "journal"),
        metrics_export_interval=3600,
        instance_name="outage",
    )
    app = create_app(settings)
    runner, url = await start_app(app)
    store = app[appkeys.STORES][0]
    try:
        async with store.engine.begin() as conn:
            await conn.exec_driver_sql("DELETE FROM request_logs")
        await forwarder.down()
        body = {"model": "llama3.2", "prompt": "x", "stream": False, "options": {"num_predict": 2}}
        statuses: list[int] = []
        async with aiohttp.ClientSession() as http:

            async def one() -> None:
                async with http.post(f"{url}/api/generate", json=body) as response:
                    await response.read()
                    statuses.append(response.status)

            for _ in range(20):
                await asyncio.gather(*(one() for _ in range(50)))
        assert statuses == [200] * 1000
        await app[appkeys.RECORDER].flush()  # the store is still down: all of it journaled
        assert not app[appkeys.RECORDER].health()[0]["healthy"]

        await forwarder.up()
        await app[appkeys.RECORDER].flush()
        rows = await store.fetch(
            "SELECT count(*) AS n, count(DISTINCT request_id) AS d FROM request_logs "
            "WHERE instance = 'outage'"
        )
        from tests.faults.procs import record_figure

        record_figure(
            "PostgreSQL unreachable for 1,000 requests, then back",
            1000,
            1000,
            rows[0]["n"],
            rows[0]["n"] - rows[0]["d"],
            sum(s >= 500 for s in statuses),
        )
        assert (rows[0]["n"], rows[0]["d"]) == (1000, 1000)
    finally:
        await runner.cleanup()
        await sim_runner.cleanup()
        await forwarder.down()


async def stored_at_least(store: Store, n: int) -> bool:
    return await count(store) >= n


async def test_a_hung_journal_write_is_abandoned_and_records_still_reach_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A journal disk that hangs (not one that fails): the write is given up after
    JOURNAL_APPEND_TIMEOUT_S, batches go straight to the store meanwhile, no second write is
    started behind the hung one, and journaling resumes once the disk answers; every record
    lands once."""
    monkeypatch.setattr(recorder_module, "JOURNAL_APPEND_TIMEOUT_S", 0.3)
    monkeypatch.setattr(recorder_module, "JOURNAL_RETRY_S", 0.2)
    settings = settings_for(tmp_path, metrics_export_interval=3600)
    store = open_store(f"sqlite:///{tmp_path}/h.db", settings)
    await store.open()
    recorder = Recorder([store], settings)
    disk = threading.Event()
    calls: list[int] = []
    real_append = recorder.log.append

    def hanging_append(*args: Any) -> Any:
        calls.append(len(calls))
        if len(calls) == 1:
            disk.wait(30)  # the disk answers when the test says so
        return real_append(*args)

    monkeypatch.setattr(recorder.log, "append", hanging_append)
    await recorder.start()
    try:
        first, second, third = records(30, seed=1), records(30, seed=2), records(30, seed=3)
        for record in first:
            recorder.submit(record)
        await recorder.flush()
        assert "hung" in recorder.journal_error
        await asyncio.sleep(0.3)  # past the retry interval: only the hung write holds it back
        for record in second:  # while the first write still hangs: not journaled
            recorder.submit(record)
        await recorder.flush()
        await until(lambda: stored_at_least(store, 60))
        assert calls == [0], "a second journal write was started behind the hung one"
        assert recorder.degraded_reason()

        disk.set()  # the disk is back: the hung write completes, the next ones journal again
        await asyncio.sleep(recorder_module.JOURNAL_RETRY_S + 0.1)
        for record in third:
            recorder.submit(record)
        await recorder.flush()
        assert recorder.journal_error == ""
        assert len(calls) >= 2
        await until(lambda: stored_at_least(store, 90))
        assert await count(store) == 90  # the hung write's records too, once
        assert recorder.dropped == 0
    finally:
        disk.set()
        await recorder.close()
        await store.close()
