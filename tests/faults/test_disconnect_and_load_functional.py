"""Clients leaving before the first byte and during an upload; many concurrent streams."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

import aiohttp
from yarl import URL

from ollama_proxy.app import create_app
from ollama_proxy.simulator import SimulatorConfig, create_simulator_app
from tests.faults.procs import proxy, record_figure, simulator, stored_ids
from tests.proxy.conftest import RecordSink, proxy_settings
from tests.proxy.tap import TapRelay, http_request
from tests.servers import start_app

SCALE = float(os.environ.get("FAULTS_SCALE", "1"))  # 12 runs the full 500 x 60 s


async def _stack(config: SimulatorConfig) -> tuple[list, str, TapRelay, RecordSink]:  # type: ignore[type-arg]
    sim_runner, sim_url = await start_app(create_simulator_app(config))
    relay = TapRelay("127.0.0.1", URL(sim_url).port or 0)
    records = RecordSink()
    runner, url = await start_app(
        create_app(proxy_settings(await relay.start()), submit=records.append)
    )
    return [runner, relay, sim_runner], url, relay, records


async def _close(parts: list) -> None:  # type: ignore[type-arg]
    runner, relay, sim_runner = parts
    await runner.cleanup()
    await relay.close()
    await sim_runner.cleanup()


async def test_leaving_before_the_first_byte_closes_the_upstream(tmp_path: Path) -> None:
    # A cold load keeps Ollama silent: the client gives up before any byte arrives.
    parts, url, relay, records = await _stack(SimulatorConfig(tokens_per_s=0, ttft_s=0, load_s=3.0))
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", URL(url).port)
        body = json.dumps({"model": "llama3.2", "prompt": "x"}).encode()
        writer.write(http_request("POST", "/api/generate", body))
        await writer.drain()
        await asyncio.sleep(0.3)
        loop = asyncio.get_running_loop()
        writer.transport.abort()
        left = loop.time()
        await asyncio.wait_for(relay.closed.wait(), 2)
        # Promptly, not after the rest of the 2 GB: a bound loose enough for a loaded machine.
        assert relay.closed_at[0] - left < 1.0
        [record] = await records.await_for(1)
        assert record.status == "cancelled" and record.ttfb_ms is None
    finally:
        await _close(parts)


async def test_leaving_during_a_large_upload_closes_the_upstream(tmp_path: Path) -> None:
    parts, url, relay, records = await _stack(SimulatorConfig.zero_delay())
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", URL(url).port)
        head = (
            "POST /api/blobs/sha256:" + "0" * 64 + " HTTP/1.1\r\nHost: x\r\n"
            "Content-Length: 2000000000\r\n\r\n"
        ).encode()
        writer.write(head)
        for _ in range(16):  # 16 MB of a 2 GB upload
            writer.write(b"\0" * 1_048_576)
            await writer.drain()
        loop = asyncio.get_running_loop()
        writer.transport.abort()
        left = loop.time()
        await asyncio.wait_for(relay.closed.wait(), 2)
        # Promptly, not after the rest of the 2 GB: a bound loose enough for a loaded machine.
        assert relay.closed_at[0] - left < 1.0
        [record] = await records.await_for(1)
        assert record.status == "cancelled" and record.bytes_in >= 1_048_576
    finally:
        await _close(parts)


async def test_many_concurrent_streams_no_errors_no_growth_every_record(tmp_path: Path) -> None:
    streams = int(200 * min(SCALE, 2.5))
    seconds = 5 * SCALE
    sim = simulator(
        "--tokens-per-s",
        "100",
        "--ttft-s",
        "0",
        "--load-s",
        "0",
        "--num-parallel",
        "1000",
        "--max-queue",
        "5000",
    )
    prox = proxy(sim.url, tmp_path)
    done = errors = 0
    rss: list[tuple[float, float]] = []
    try:
        body = {"model": "llama3.2", "prompt": "x", "options": {"num_predict": 50}}
        deadline = time.monotonic() + seconds

        async def worker(http: aiohttp.ClientSession) -> None:
            nonlocal done, errors
            while time.monotonic() < deadline:
                async with http.post(f"{prox.url}/api/generate", json=body) as response:
                    lines = [line async for line in response.content]
                    ok = response.status == 200 and b'"done":true' in lines[-1]
                done += 1
                errors += not ok

        async def watch() -> None:
            started = time.monotonic()
            while time.monotonic() < deadline:
                rss.append((time.monotonic() - started, prox.rss_mb()))
                await asyncio.sleep(0.25)

        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as http:
            await asyncio.gather(watch(), *(worker(http) for _ in range(streams)))
        prox.signal(15)  # SIGTERM: the final flush
    finally:
        prox.stop()
        sim.stop()
    assert errors == 0 and done >= streams
    second_half = [mb for t, mb in rss if t >= seconds / 2]
    assert max(second_half) - min(second_half) < 15, f"RSS moved {second_half}"
    ids = stored_ids(tmp_path)
    record_figure(
        f"{streams} concurrent streams for {seconds:.0f} s",
        done,
        done,
        len(ids),
        len(ids) - len(set(ids)),
        errors,
    )
    # Every client request stored exactly once (the monitor's own polls are not records).
    assert len(ids) == len(set(ids)) == done
