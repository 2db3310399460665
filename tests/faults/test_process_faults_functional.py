"""The proxy as a real process under SIGTERM, SIGKILL and many idle connections."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path

import aiohttp

from tests.faults.procs import proxy, record_figure, simulator, stored_ids

BODY = {"model": "llama3.2", "prompt": "x", "options": {"num_predict": 40}}


async def _stream(url: str, results: list[int], started: asyncio.Queue[None] | None = None) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{url}/api/generate", json=BODY) as response:
            lines = [await response.content.readline()]
            if started is not None:
                started.put_nowait(None)  # the proxy is relaying this one
            lines += [line async for line in response.content]
            results.append(len(lines) if json.loads(lines[-1]).get("done") else -1)


async def test_sigterm_lets_streams_finish_and_loses_no_record(tmp_path: Path) -> None:
    sim = simulator(
        "--tokens-per-s", "40", "--ttft-s", "0", "--load-s", "0", "--num-parallel", "64"
    )
    prox = proxy(sim.url, tmp_path)
    try:
        results: list[int] = []
        started: asyncio.Queue[None] = asyncio.Queue()
        tasks = [asyncio.create_task(_stream(prox.url, results, started)) for _ in range(20)]
        # Every stream under way (40 tokens at 40/s: about 1 s) before the signal: a fixed
        # sleep let a busy machine signal before some requests had reached the proxy, which
        # then rightly refused them as it stopped.
        async with asyncio.timeout(30):
            for _ in range(20):
                await started.get()
        loop = asyncio.get_running_loop()
        code = await loop.run_in_executor(None, prox.signal, signal.SIGTERM)
        await asyncio.gather(*tasks)
        assert results == [41] * 20, "every stream ran to its done line"
        assert code == 0
        ids = stored_ids(tmp_path)
        record_figure(
            "SIGTERM with 20 streams in flight", 20, 20, len(ids), len(ids) - len(set(ids)), 0
        )
        assert len(ids) == 20 == len(set(ids))
    finally:
        prox.stop()
        sim.stop()


async def test_sigkill_loses_at_most_the_last_second_and_duplicates_nothing(
    tmp_path: Path,
) -> None:
    sim = simulator("--zero-delay", "--num-parallel", "64")
    prox = proxy(sim.url, tmp_path)
    sent_at: list[float] = []
    try:
        async with aiohttp.ClientSession() as http:
            started = time.monotonic()
            while time.monotonic() - started < 3.0:
                async with http.post(
                    f"{prox.url}/api/generate", json={**BODY, "stream": False}
                ) as response:
                    await response.read()
                    assert response.status == 200
                    sent_at.append(time.monotonic())
        killed_at = time.monotonic()
        prox.signal(signal.SIGKILL)
        # A new proxy on the same journal and store replays what the journal holds.
        again = proxy(sim.url, tmp_path)
        again.signal(signal.SIGTERM)
    finally:
        prox.stop()
        sim.stop()
    ids = stored_ids(tmp_path)
    last_second = sum(1 for t in sent_at if killed_at - t <= 1.2)
    record_figure(
        f"SIGKILL mid-load (then restart); {last_second} sent in the last 1.2 s",
        len(sent_at),
        len(sent_at),
        len(ids),
        len(ids) - len(set(ids)),
        0,
    )
    assert len(ids) == len(set(ids)), "no record stored twice"
    assert len(sent_at) - last_second <= len(ids) <= len(sent_at)


async def test_a_thousand_idle_keep_alive_connections_cost_little(tmp_path: Path) -> None:
    sim = simulator("--zero-delay")
    prox = proxy(sim.url, tmp_path)
    writers: list[asyncio.StreamWriter] = []
    try:
        before = prox.rss_mb()
        port = int(prox.url.rsplit(":", 1)[1])
        for _ in range(1000):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /api/version HTTP/1.1\r\nHost: x\r\n\r\n")
            writers.append(writer)
            await reader.readuntil(b"}")  # answered; the connection stays open, idle
        grown = prox.rss_mb() - before
        assert grown < 60, f"1,000 idle connections cost {grown:.1f} MB"
        async with aiohttp.ClientSession() as http:  # and the proxy still serves
            async with http.get(f"{prox.url}/api/tags") as response:
                assert response.status == 200
    finally:
        for writer in writers:
            writer.close()
        prox.stop()
        sim.stop()
