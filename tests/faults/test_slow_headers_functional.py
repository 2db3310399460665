"""A client that sends its request head a byte at a time (slowloris), or sits on an idle
keep-alive connection, is cut after KEEPALIVE_TIMEOUT_S however steadily bytes trickle in;
a response that streams for longer than that is not. `ollama-proxy serve` as a process."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import pytest

from tests.faults.procs import Proc, proxy, running_simulator

TIMEOUT_S = 1.0


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    workdir: Path = tmp_path_factory.mktemp("slow-headers")
    with running_simulator("--tokens-per-s", "10", "--ttft-s", "0", "--load-s", "0") as sim:
        proc = proxy(sim, workdir, env={"KEEPALIVE_TIMEOUT_S": str(TIMEOUT_S)})
        try:
            yield proc
        finally:
            proc.stop()


async def _closed_after(url: str, head: bytes, pause_s: float) -> float:
    """Send `head` one byte every `pause_s` (and then more header lines, never the blank line
    that ends the head) until the proxy closes the connection: seconds from connect."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    started = time.monotonic()
    trickle = head + b"".join(b"X-Filler-%d: x\r\n" % i for i in range(10_000))
    try:
        async with asyncio.timeout(20):
            for byte in trickle:
                writer.write(bytes([byte]))
                await writer.drain()
                try:
                    async with asyncio.timeout(pause_s):
                        if await reader.read(1) == b"":
                            break  # closed by the proxy
                except TimeoutError:
                    continue
    except (ConnectionResetError, BrokenPipeError):
        pass
    finally:
        writer.close()
    return time.monotonic() - started


async def test_a_head_sent_a_byte_at_a_time_is_cut(served: Proc) -> None:
    host = urlsplit(served.url).netloc
    head = f"POST /api/generate HTTP/1.1\r\nHost: {host}\r\n".encode()
    elapsed = await _closed_after(served.url, head, pause_s=0.05)
    assert TIMEOUT_S * 0.9 <= elapsed < TIMEOUT_S + 3, elapsed


async def test_an_idle_keep_alive_connection_is_closed_and_streams_are_not(served: Proc) -> None:
    connector = aiohttp.TCPConnector(limit=1)
    async with aiohttp.ClientSession(connector=connector) as http:
        body = {"model": "llama3.2", "prompt": "hi", "options": {"num_predict": 25}}
        started = time.monotonic()
        async with http.post(f"{served.url}/api/generate", json=body) as response:
            lines = [line async for line in response.content]
        assert time.monotonic() - started > TIMEOUT_S * 2  # 25 tokens at 10/s
        assert b'"done":true' in lines[-1].replace(b" ", b"")
        parts = urlsplit(served.url)
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        writer.write(f"GET /api/version HTTP/1.1\r\nHost: {parts.netloc}\r\n\r\n".encode())
        async with asyncio.timeout(TIMEOUT_S + 5):
            answer = await reader.read()  # to EOF: kept alive, then closed when idle
        writer.close()
        assert answer.startswith(b"HTTP/1.1 200")
