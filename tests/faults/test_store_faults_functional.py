"""Stores that hang, refuse or sit behind a full disk, with the proxy as a real process.

- PostgreSQL made silent (a relay that stops reading and forwarding, no reset: a partition or
  a hung server) under load, next to a healthy SQLite store; the proxy SIGKILLed while it is
  still silent, then restarted with the store back.
- PostgreSQL refusing connections for a while under load: memory flat, journal growing on
  disk, the backlog shipped after it returns.
- The journal on a small tmpfs that fills up: records still reach the store; with the store
  down too, what is dropped is counted exactly.

Lengths scale with FAULTS_SCALE (1 in CI; 10 gives the issue's 60 s of silence, 120 its ten
minutes of refusal). Figures go to FAULTS_REPORT (see docs/reliability.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bench.run import free_port, wait_http
from tests.ci import missing
from tests.faults.procs import Proc, record_figure, simulator
from tests.pg import drop_pg_database, pg_database_or_skip, pg_url

SCALE = float(os.environ.get("FAULTS_SCALE", "1"))
BODY = {"model": "llama3.2", "prompt": "x", "stream": False, "options": {"num_predict": 2}}


class Relay:
    """TCP relay to PostgreSQL with three modes: pass, silent (connections stay open, nothing
    is read or forwarded, new ones are accepted and held) and refuse (listener closed and
    connections reset)."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self.flowing = asyncio.Event()
        self.flowing.set()
        self._server: asyncio.Server | None = None
        self._conns: set[asyncio.StreamWriter] = set()

    async def up(self) -> None:
        self.flowing.set()
        if self._server is None:
            self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    def silent(self) -> None:
        self.flowing.clear()

    async def refuse(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._conns):
                writer.transport.abort()
            await self._server.wait_closed()
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._conns.add(writer)
        await self.flowing.wait()
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._conns.add(up_writer)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while True:
                    await self.flowing.wait()
                    data = await src.read(65536)
                    if not data:
                        break
                    await self.flowing.wait()  # a read in flight when it went silent
                    dst.write(data)
                    await dst.drain()
            dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def close(self) -> None:
        self.flowing.set()
        await self.refuse()


@pytest.fixture
async def pg_db() -> AsyncIterator[str]:
    name = await pg_database_or_skip()
    yield name
    await drop_pg_database(name)


def start_proxy(upstream: str, workdir: Path, stores: list[str], port: int, **env: str) -> Proc:
    environment = dict(
        os.environ,
        JOURNAL_DIR=str(workdir / "journal"),
        METRICS_EXPORT_INTERVAL="2",
        SHUTDOWN_GRACE_S="30",
        INSTANCE_NAME="faults",
        APP_PROFILE="prod",
        STORE_WRITE_TIMEOUT_S="2",
    )
    environment.update(env)
    cmd = [sys.executable, "-m", "ollama_proxy", "serve", "--listen", f"127.0.0.1:{port}"]
    cmd += ["--upstream", upstream]
    for url in stores:
        cmd += ["--store", url]
    process = subprocess.Popen(cmd, cwd=workdir, env=environment)
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/api/health", timeout=60)  # blocking: call start_proxy in a thread
    return Proc(process, url)


class Load:
    """A steady request rate; when each answered request was sent."""

    def __init__(self, url: str, rate: float) -> None:
        self.url, self.rate = url, rate
        self.sent_at: list[float] = []
        self.started = 0  # includes a request cut off by stop(), which the proxy may record
        self.errors = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async with aiohttp.ClientSession() as http:
            next_at = time.monotonic()
            while True:
                next_at += 1 / self.rate
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
                self.started += 1
                try:
                    async with http.post(f"{self.url}/api/generate", json=BODY) as response:
                        await response.read()
                        if response.status == 200:
                            self.sent_at.append(time.monotonic())
                        else:
                            self.errors += 1
                except aiohttp.ClientError:
                    self.errors += 1

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


async def health(url: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{url}/api/health") as response:
            return dict(await response.json())


async def pg_counts(database: str) -> tuple[int, int]:
    import asyncpg

    conn = await asyncpg.connect(pg_url(database), timeout=5)
    try:
        row = await conn.fetchrow(
            "SELECT count(*) AS n, count(DISTINCT request_id) AS d FROM request_logs"
        )
        return int(row["n"]), int(row["d"])
    finally:
        await conn.close()


def sqlite_count(path: Path) -> int:
    import sqlite3

    with contextlib.closing(sqlite3.connect(path)) as conn:
        return int(conn.execute("SELECT count(*) FROM request_logs").fetchone()[0])


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


@pytest.mark.timeout(int(120 + 60 * SCALE))
async def test_silent_store_then_sigkill_loses_only_the_last_second(
    tmp_path: Path, pg_db: str
) -> None:
    relay = Relay(("127.0.0.1", 5432))
    await relay.up()
    sim = simulator("--zero-delay", "--num-parallel", "64")
    port = free_port()
    relayed = pg_url(pg_db, relay.port)
    stores = [f"sqlite:///{tmp_path / 'healthy.db'}", relayed]
    prox = await asyncio.to_thread(start_proxy, sim.url, tmp_path, stores, port)
    load = Load(prox.url, 40)
    silent_s = 6 * SCALE
    try:
        load.start()
        await asyncio.sleep(3)
        rss_before = prox.rss_mb()
        relay.silent()
        silent_from = time.monotonic()
        lag: list[float] = []
        states: set[str] = set()
        while time.monotonic() - silent_from < silent_s:
            report = await health(prox.url)
            healthy, silent = report["stores"]
            lag.append(healthy["backlog_age_s"])
            states.add(silent["state"])
            await asyncio.sleep(0.5)
        rss_silent = prox.rss_mb()
        killed_at = time.monotonic()
        prox.signal(signal.SIGKILL)
        await load.stop()
        await relay.up()
        again = await asyncio.to_thread(start_proxy, sim.url, tmp_path, stores, port)
        await asyncio.to_thread(again.signal, signal.SIGTERM)
    finally:
        await load.stop()
        await asyncio.to_thread(prox.stop)
        sim.stop()
        await relay.close()
    sent = len(load.sent_at)
    last_second = sum(1 for t in load.sent_at if killed_at - t <= 1.0)
    stored, distinct = await pg_counts(pg_db)
    record_figure(
        f"PostgreSQL silent {silent_s:.0f} s at 40 req/s, SIGKILL while silent, restart; "
        f"{last_second} sent in the last second; RSS {rss_silent - rss_before:+.1f} MB; "
        f"healthy store lag max {max(lag):.2f} s",
        sent,
        sent,
        stored,
        stored - distinct,
        load.errors,
    )
    assert load.errors == 0
    assert stored == distinct, "no record stored twice"
    assert sent - last_second <= stored <= load.started
    assert sqlite_count(tmp_path / "healthy.db") >= sent - last_second
    assert "down" in states
    assert max(lag) < 2.0, f"the healthy store fell behind: {lag}"
    assert rss_silent - rss_before < 20


@pytest.mark.timeout(int(120 + 60 * SCALE))
async def test_refusing_store_backlog_grows_on_disk_and_ships_after(
    tmp_path: Path, pg_db: str
) -> None:
    relay = Relay(("127.0.0.1", 5432))
    await relay.up()
    sim = simulator("--zero-delay", "--num-parallel", "64")
    relayed = pg_url(pg_db, relay.port)
    prox = await asyncio.to_thread(start_proxy, sim.url, tmp_path, [relayed], free_port())
    load = Load(prox.url, 50)
    refuse_s = 5 * SCALE
    journal = tmp_path / "journal"
    try:
        load.start()
        await asyncio.sleep(2)
        rss_before = prox.rss_mb()
        await relay.refuse()
        started = time.monotonic()
        sizes: list[tuple[float, int]] = []
        while (elapsed := time.monotonic() - started) < refuse_s:
            sizes.append((elapsed, dir_bytes(journal)))
            await asyncio.sleep(0.5)
        rss_after = prox.rss_mb()
        await load.stop()
        backlog = (await health(prox.url))["stores"][0]["backlog_records"]
        await relay.up()
        # The shipper notices at its next retry (backoff at most 30 s); then time the backlog.
        first = last = None
        async with asyncio.timeout(90):
            while True:
                left = (await health(prox.url))["stores"][0]["backlog_records"]
                now = time.monotonic()
                if first is None and left < backlog:
                    first = (now, left)
                if left == 0:
                    last = now
                    break
                await asyncio.sleep(0.05)
        await asyncio.to_thread(prox.signal, signal.SIGTERM)
    finally:
        await load.stop()
        await asyncio.to_thread(prox.stop)
        sim.stop()
        await relay.close()
    stored, distinct = await pg_counts(pg_db)
    sent = len(load.sent_at)
    assert first is not None and last is not None
    rate = first[1] / max(last - first[0], 0.05)
    half = [b for t, b in sizes if t >= refuse_s / 2]
    growth = (sizes[-1][1] - half[0]) / max(sizes[-1][1] - sizes[0][1], 1)
    record_figure(
        f"PostgreSQL refusing {refuse_s:.0f} s at 50 req/s: RSS {rss_after - rss_before:+.1f} MB, "
        f"journal {sizes[-1][1] / 1e6:.2f} MB (second half {growth:.0%} of the growth), "
        f"backlog of {backlog} shipped at >= {rate:,.0f} records/s",
        sent,
        sent,
        stored,
        stored - distinct,
        load.errors,
    )
    assert load.errors == 0 and stored == distinct
    assert sent <= stored <= load.started
    assert rss_after - rss_before < 20
    assert 0.3 < growth < 0.7, f"journal growth not linear: {sizes}"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "journal-disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mount)],
        capture_output=True,
        timeout=30,
    )
    if done.returncode != 0:
        missing(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False, timeout=30)


@pytest.mark.timeout(int(120 + 60 * SCALE))
async def test_full_journal_disk_records_still_reach_the_store_and_drops_are_exact(
    tmp_path: Path, small_disk: Path, pg_db: str
) -> None:
    relay = Relay(("127.0.0.1", 5432))
    await relay.up()
    sim = simulator("--zero-delay", "--num-parallel", "64")
    relayed = pg_url(pg_db, relay.port)
    environment = {"JOURNAL_DIR": str(small_disk), "QUEUE_MAX_RECORDS": "100"}
    workdir = tmp_path / "w"
    workdir.mkdir()
    prox = await asyncio.to_thread(
        start_proxy, sim.url, workdir, [relayed], free_port(), **environment
    )
    try:
        # Fill the disk: the journal cannot take another frame.
        filler = small_disk / f"filler-{uuid.uuid4().hex}"
        with contextlib.suppress(OSError), open(filler, "wb") as handle:
            while True:
                handle.write(b"\0" * 4096)
                handle.flush()
        load = Load(prox.url, 50)
        load.start()
        await asyncio.sleep(2 * SCALE)
        await load.stop()
        report = await health(prox.url)
        assert report["status"] == "degraded"
        assert any("journal unwritable" in reason for reason in report["reasons"])
        phase1 = len(load.sent_at)
        async with asyncio.timeout(30):  # with the journal full, records go straight there
            while (stored_up := (await pg_counts(pg_db))[0]) < phase1:
                await asyncio.sleep(0.1)

        await relay.refuse()  # every store down too: the overflow fills and drops, counted
        load2 = Load(prox.url, 50)
        load2.start()
        await asyncio.sleep(4 * SCALE)
        await load2.stop()
        await relay.up()
        async with asyncio.timeout(60):
            while (await health(prox.url))["stores"][0]["backlog_records"]:
                await asyncio.sleep(0.2)
        dropped = (await health(prox.url))["stores"][0]["dropped_requests"]
        await asyncio.to_thread(prox.signal, signal.SIGTERM)
    finally:
        await asyncio.to_thread(prox.stop)
        sim.stop()
        await relay.close()
    stored, distinct = await pg_counts(pg_db)
    sent = phase1 + len(load2.sent_at)
    record_figure(
        f"journal disk full (tmpfs), then the store down too: {dropped} dropped and counted",
        sent,
        sent - dropped,
        stored,
        stored - distinct,
        load.errors + load2.errors,
    )
    assert load.errors == load2.errors == 0
    assert phase1 <= stored_up <= load.started
    assert dropped > 0
    assert stored == distinct
    # every record is stored or counted as dropped (stop() may cut a request off after the
    # proxy recorded it)
    assert sent <= stored + dropped <= load.started + load2.started
