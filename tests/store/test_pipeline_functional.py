"""Journal first, one shipper per store: a hung store does not hold back the others, its
backlog lives on disk, an unwritable journal loses nothing it can avoid and counts what it
must drop, an undecodable segment is quarantined."""

from __future__ import annotations

import asyncio
import errno
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest

from ollama_proxy.recorder import Recorder
from ollama_proxy.records import ContentRecord, MetricPoint, RequestRecord
from ollama_proxy.store import open_store
from ollama_proxy.store.journal import encode, store_dir
from ollama_proxy.store.segments import HEADER, SegmentLog, frame
from tests.pg import pg_url
from tests.store.conftest import settings_for
from tests.store.test_recorder_functional import die
from tests.store.test_stores_functional import count, records
from tests.waiting import until


class MemoryStore:
    """A store in memory that can be made to hang (never answer) or refuse."""

    kind = "memory"

    def __init__(self, name: str) -> None:
        self.url = f"memory://{name}"
        self.rows: dict[str, RequestRecord] = {}
        self.inserts = 0
        self.hang = asyncio.Event()  # set: writes hang until it is cleared
        self.refuse = False

    async def write_requests(self, records: Sequence[RequestRecord]) -> None:
        if self.refuse:
            raise ConnectionRefusedError("refused")
        while self.hang.is_set():
            await asyncio.sleep(0.01)
        self.inserts += len(records)
        for record in records:
            self.rows.setdefault(record.request_id, record)

    async def write_metrics(self, points: Sequence[MetricPoint]) -> None:
        if self.refuse or self.hang.is_set():
            raise ConnectionRefusedError("refused")

    async def write_content(self, items: Sequence[ContentRecord]) -> None:
        pass

    def health(self) -> dict[str, Any]:
        return {"url": self.url, "kind": self.kind, "healthy": True}


async def test_a_hung_store_holds_back_only_itself_and_its_backlog_is_on_disk(
    tmp_path: Path,
) -> None:
    healthy, silent = MemoryStore("healthy"), MemoryStore("silent")
    settings = settings_for(tmp_path, store_write_timeout_s=0.3, batch_max_records=50)
    recorder = Recorder([healthy, silent], settings)  # type: ignore[list-item]
    await recorder.start()
    try:
        silent.hang.set()
        sent = records(600, seed=3)
        for i in range(0, 600, 50):
            for record in sent[i : i + 50]:
                recorder.submit(record)
            await until(lambda n=i + 50: len(healthy.rows) == n, 3)  # current throughout
        shipper = recorder.shippers[1]
        await until(lambda: shipper.failures >= 1)
        report = {h["url"]: h for h in recorder.health()}
        assert report["memory://healthy"]["state"] == "ok"
        behind = report["memory://silent"]
        assert behind["state"] == "down" and "TimeoutError" in behind["last_error"]
        assert behind["backlog_records"] >= 550 and behind["backlog_bytes"] > 0
        assert behind["backlog_age_s"] > 0
        # In memory: one batch at most (plus the hot frames every shipper shares).
        assert shipper.pending is not None and len(shipper.pending.batch) <= recorder.ship_batch()
        assert len(recorder.hot) <= 64

        silent.hang.clear()
        await recorder.flush()
        await until(lambda: len(silent.rows) == 600)
        assert recorder.health()[1]["state"] == "ok"
        assert recorder.health()[1]["backlog_records"] == 0
    finally:
        await recorder.close()
    assert set(silent.rows) == set(healthy.rows) == {r.request_id for r in sent}


async def test_segments_are_deleted_once_every_store_has_them(tmp_path: Path) -> None:
    log = SegmentLog(tmp_path, segment_age_s=0.0)  # every append opens a new segment
    log.load()
    for i in range(3):
        batch = encode_batch(records(10, seed=i))
        log.append([frame(batch, 10, 1000 * i)], [10], 1000 * i)
    log.seal()
    names = sorted(p.name for p in (tmp_path / "segments").iterdir())
    assert len(names) == 3
    first_done = (names[1], 0)  # store A is past the first segment
    assert log.collect([first_done, (names[0], 0)]) == 0  # store B is not
    assert log.backlog((names[0], 0), 0) == (30, sum(s.size for s in log._segments.values()))
    assert log.collect([first_done, first_done]) == 1
    assert sorted(p.name for p in (tmp_path / "segments").iterdir()) == names[1:]
    end = log.end()
    assert log.collect([end, end]) == 2  # sealed and read to the end by both
    assert log.segment_count() == 0


def encode_batch(requests: list[RequestRecord]) -> bytes:
    from ollama_proxy.store.journal import Batch

    return encode(Batch(requests, [], []))


async def test_garbage_and_truncated_segments_are_quarantined_and_the_rest_ships(
    tmp_path: Path,
) -> None:
    settings = settings_for(tmp_path)
    root = Path(settings.journal_dir)
    log = SegmentLog(root)
    log.load()
    good, cut, bad = records(40, seed=1), records(30, seed=2), records(20, seed=3)
    log.append([frame(encode_batch(good), 40, 1)], [40], 1)
    log.seal()
    # A segment with a good frame, then a frame whose payload was overwritten (CRC fails).
    segments = root / "segments"
    corrupt = frame(encode_batch(bad), 20, 3)
    corrupt = corrupt[: HEADER.size] + b"X" * (len(corrupt) - HEADER.size)
    (segments / "00000000000000000002.seg").write_bytes(
        frame(encode_batch(cut[:10]), 10, 2) + corrupt
    )
    (segments / "00000000000000000001.seg").write_bytes(b"not a journal at all" * 10)
    # A truncated segment (a crash mid-write): its whole frames still ship.
    whole = frame(encode_batch(cut[10:]), 20, 4)
    (segments / "00000000000000000003.seg").write_bytes(whole + whole[:30])

    store = open_store(f"sqlite:///{tmp_path}/q.db", settings)
    await store.open()
    recorder = Recorder([store], settings)
    await recorder.flush()
    try:
        rows = await store.fetch("SELECT request_id FROM request_logs")
        assert {r["request_id"] for r in rows} == {r.request_id for r in good + cut}
        quarantined = sorted(p.name for p in (root / "quarantine").iterdir())
        assert quarantined == ["00000000000000000001.seg", "00000000000000000002.seg"]
        assert recorder.log.quarantined == 2
        assert recorder.health()[0]["quarantined"] == 2
    finally:
        await recorder.close()
        await store.close()


async def test_an_unwritable_journal_sends_straight_to_the_stores_and_counts_drops(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(*_args: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    up, down = MemoryStore("up"), MemoryStore("down")
    down.refuse = True
    settings = settings_for(tmp_path, queue_max_records=100, batch_max_records=10)
    recorder = Recorder([up, down], settings)  # type: ignore[list-item]
    await recorder.start()
    monkeypatch.setattr(SegmentLog, "append", full)
    try:
        sent = records(300, seed=9)
        for i in range(0, 300, 10):
            for record in sent[i : i + 10]:
                recorder.submit(record)
            await recorder.flush()
        assert len(up.rows) == 300  # every record reached the store that is up
        # The one that is down keeps about the newest 100 (the overflow's bound, plus the
        # batch it is retrying); what it lost is counted exactly.
        health = {h["url"]: h for h in recorder.health()}
        assert health["memory://up"]["state"] == "degraded"
        assert "journal unwritable" in health["memory://up"]["error"]
        assert health["memory://up"]["dropped"] == 0
        kept = health["memory://down"]["backlog_records"]
        assert 100 <= kept <= 110
        assert health["memory://down"]["dropped"] == recorder.drops.overflow == 300 - kept
        down.refuse = False
        await recorder.flush()
        assert len(down.rows) == kept
        assert set(down.rows) >= {r.request_id for r in sent[-90:]}
        assert not recorder.overflow
    finally:
        await recorder.close()


async def test_segments_of_the_previous_release_are_shipped_then_removed(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    url = f"sqlite:///{tmp_path}/old.db"
    store = open_store(url, settings)
    await store.open()
    legacy = store_dir(settings.journal_dir, store.url)
    legacy.mkdir(parents=True)
    old = records(25, seed=4)
    document = {"requests": old, "metrics": [], "contents": []}
    (legacy / "00000000000000000001-1-00000000.ndjson").write_bytes(orjson.dumps(document))
    (legacy / "00000000000000000002-1-00000001.ndjson").write_bytes(b"\x00garbage")
    recorder = Recorder([store], settings)
    await recorder.start()
    try:
        await until(lambda: not list(legacy.glob("*.ndjson")))
        assert await count(store) == 25
        assert recorder.log.quarantined == 1
    finally:
        await recorder.close()
        await store.close()


async def test_a_restart_resumes_each_store_at_its_own_position(tmp_path: Path) -> None:
    a, b = MemoryStore("a"), MemoryStore("b")
    settings = settings_for(tmp_path)
    first = Recorder([a, b], settings)  # type: ignore[list-item]
    b.refuse = True
    batch = records(120, seed=6)
    for record in batch:
        first.submit(record)
    await first.flush()
    assert len(a.rows) == 120 and not b.rows
    await die(first)

    a2, b2 = MemoryStore("a"), MemoryStore("b")
    second = Recorder([a2, b2], settings)  # type: ignore[list-item]
    await second.flush()
    assert a2.inserts == 0  # a acknowledged everything before the crash
    assert len(b2.rows) == 120
    await second.close()
    assert not list((Path(settings.journal_dir) / "segments").iterdir()) or all(
        s.backlog()[0] == 0 for s in second.shippers
    )


class Switch:
    """A real store behind a switch: refuses while `down`."""

    def __init__(self, store: Any) -> None:
        self.store, self.down = store, True
        self.url, self.kind = store.url, store.kind

    async def write_requests(self, records: Sequence[RequestRecord]) -> None:
        if self.down:
            raise ConnectionRefusedError("refused")
        await self.store.write_requests(records)

    async def write_metrics(self, points: Sequence[MetricPoint]) -> None:
        await self.store.write_metrics(points)

    async def write_content(self, items: Sequence[ContentRecord]) -> None:
        await self.store.write_content(items)

    def health(self) -> dict[str, Any]:
        return dict(self.store.health())


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
async def test_a_backlog_ships_fast_once_the_store_is_back(
    tmp_path: Path, kind: str, request: pytest.FixtureRequest
) -> None:
    """The backlog of an outage, read back from disk: a figure for docs/reliability.md
    (records/s; printed with -s, no timed assert on a shared machine)."""
    import os
    import time

    scale = float(os.environ.get("FAULTS_SCALE", "1"))
    settings = settings_for(tmp_path)
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path}/b.db"
    else:
        url = pg_url(request.getfixturevalue("pg_database"))
    store = open_store(url, settings)
    await store.open()
    if kind == "postgres":
        async with store.engine.begin() as conn:  # type: ignore[attr-defined]
            await conn.exec_driver_sql("DELETE FROM request_logs")
    switch = Switch(store)
    recorder = Recorder([switch], settings)  # type: ignore[list-item]
    await recorder.start()
    try:
        sent = records(int(20_000 * scale), seed=21)
        for start in range(0, len(sent), 1000):
            for record in sent[start : start + 1000]:
                recorder.submit(record)
            await recorder.flush()  # journaled; the store refuses
        assert recorder.health()[0]["backlog_records"] == len(sent)
        switch.down = False
        started = time.perf_counter()
        await recorder.flush()
        elapsed = time.perf_counter() - started
        assert await count(store) == len(sent)
        print(f"{kind}: backlog of {len(sent)} shipped in {elapsed:.2f} s "
              f"({len(sent) / elapsed:,.0f} records/s)")  # fmt: skip
    finally:
        await recorder.close()
        await store.close()  # type: ignore[attr-defined]


async def test_a_journal_that_cannot_even_be_created_does_not_stop_the_proxy(
    tmp_path: Path,
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the journal should be")
    settings = settings_for(tmp_path).model_copy(update={"journal_dir": str(blocker)})
    up = MemoryStore("up")
    recorder = Recorder([up], settings)  # type: ignore[list-item]
    await recorder.start()
    try:
        sent = records(30, seed=8)
        for record in sent:
            recorder.submit(record)
        await recorder.flush()
        assert set(up.rows) == {r.request_id for r in sent}
        assert recorder.health()[0]["state"] == "degraded"
    finally:
        await recorder.close()
