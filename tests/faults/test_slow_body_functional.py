"""A client that stops sending its request body gets 408 after REQUEST_BODY_IDLE_S and its
connection is closed: one upstream and a fleet (where the stall is not the node's failure),
with a Content-Length body and a chunked one. A slow but steady upload still goes through."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlsplit

import pytest

from ollama_proxy.app import create_app
from ollama_proxy.simulator import create_simulator_app
from tests.fleet.harness import fleet_proxy, three_nodes
from tests.proxy.conftest import RecordSink, fast_simulator, proxy_settings
from tests.servers import start_app

IDLE_S = 0.5
BODY = b'{"model": "llama3.2", "prompt": "hi", "stream": false}'


def _head(url: str, *, chunked: bool) -> bytes:
    host = urlsplit(url).netloc
    length = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {len(BODY)}"
    return (
        f"POST /api/generate HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"{length}\r\n\r\n"
    ).encode()


async def _stall(url: str, *, chunked: bool) -> tuple[bytes, float]:
    """Send the head and the first 10 bytes of the body, then nothing: the whole answer and
    how long it took to come (the connection is closed after it)."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    first = BODY[:10]
    writer.write(_head(url, chunked=chunked) + (b"a\r\n" + first + b"\r\n" if chunked else first))
    await writer.drain()
    started = time.monotonic()
    async with asyncio.timeout(10):
        answer = await reader.read()  # to EOF: the proxy closes the connection
    writer.close()
    return answer, time.monotonic() - started


async def _trickle(url: str) -> bytes:
    """The whole body a few bytes at a time, each pause shorter than the idle bound."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    writer.write(_head(url, chunked=False))
    for start in range(0, len(BODY), 8):
        writer.write(BODY[start : start + 8])
        await writer.drain()
        await asyncio.sleep(IDLE_S / 3)
    async with asyncio.timeout(10):
        head = await reader.readuntil(b"\r\n\r\n")
    writer.close()
    return head


@pytest.mark.parametrize("chunked", [False, True])
async def test_a_stalled_body_gets_408_and_a_closed_connection(chunked: bool) -> None:
    sim_runner, sim_url = await start_app(create_simulator_app(fast_simulator()))
    records = RecordSink()
    settings = proxy_settings(sim_url, request_body_idle_s=IDLE_S, otel_sdk_disabled=True)
    runner, url = await start_app(create_app(settings, submit=records.append))
    try:
        answer, waited = await _stall(url, chunked=chunked)
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        assert b"no bytes from the client for 0.5 s" in answer
        assert IDLE_S * 0.8 <= waited < IDLE_S + 5
        [record] = await records.await_for(1)
        assert (record.http_status, record.status) == (408, "error")
        assert (await _trickle(url)).startswith(b"HTTP/1.1 200")
    finally:
        await runner.cleanup()
        await sim_runner.cleanup()


@pytest.mark.parametrize("chunked", [False, True])
async def test_in_a_fleet_a_stalled_body_is_not_a_node_failure(chunked: bool) -> None:
    async with three_nodes() as nodes, fleet_proxy(nodes, request_body_idle_s=IDLE_S) as proxy:
        answer, _ = await _stall(proxy.url, chunked=chunked)
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        assert all(node.healthy for node in proxy.fleet.nodes)
        assert (await _trickle(proxy.url)).startswith(b"HTTP/1.1 200")


async def test_in_a_fleet_a_body_over_the_held_limit_that_stalls_gets_408() -> None:
    """Past MAX_HELD the rest of the body streams to the node as it comes: the stall is raised
    inside aiohttp's send (wrapped in a ClientConnectionError) and still answered 408, with no
    node counted as failed."""
    from ollama_proxy.proxy.fleet_forward import MAX_HELD

    head = b'{"model": "llama3.2", "prompt": "' + b"x" * (MAX_HELD + 4096)
    async with three_nodes() as nodes, fleet_proxy(nodes, request_body_idle_s=IDLE_S) as proxy:
        parts = urlsplit(proxy.url)
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        writer.write(
            f"POST /api/generate HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(head) + 100}\r\n\r\n".encode()
            + head
        )
        await writer.drain()
        async with asyncio.timeout(10):
            answer = await reader.read()
        writer.close()
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        assert all(node.healthy for node in proxy.fleet.nodes)
        assert (await _trickle(proxy.url)).startswith(b"HTTP/1.1 200")
