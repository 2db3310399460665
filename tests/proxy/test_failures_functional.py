"""Upstream down or broken, clients leaving: what the client sees and what gets recorded."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from yarl import URL

from ollama_proxy.app import create_app
from ollama_proxy.records import RequestRecord
from tests.proxy.conftest import proxy_settings
from tests.proxy.tap import TapRelay, http_request, parse_responses, raw_request
from tests.servers import start_app

LINE = (
    b'{"model":"llama3.2","created_at":"2025-10-26T17:21:21.196249Z","response":"x","done":false}\n'
)


def endless_upstream(reset_after: int | None = None) -> web.Application:
    """An upstream that streams lines (forever, or until it resets the connection)."""

    async def generate(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        sent = 0
        while reset_after is None or sent < reset_after:
            await response.write(LINE)
            sent += 1
            await asyncio.sleep(0.005)
        assert request.transport is not None
        request.transport.abort()  # a reset mid-stream
        return response

    app = web.Application()
    app.router.add_post("/api/generate", generate)
    return app


async def _proxy_for(upstream: str, records: list[RequestRecord]) -> tuple[web.AppRunner, str]:
    return await start_app(create_app(proxy_settings(upstream), submit=records.append))


@pytest.fixture
async def records() -> list[RequestRecord]:
    return []


@pytest.fixture
async def relayed(records: list[RequestRecord]) -> AsyncIterator[tuple[str, TapRelay]]:
    up_runner, up_url = await start_app(endless_upstream())
    relay = TapRelay("127.0.0.1", URL(up_url).port or 0)
    runner, url = await _proxy_for(await relay.start(), records)
    yield url, relay
    await runner.cleanup()
    await relay.close()
    await up_runner.cleanup()


async def test_client_leaving_mid_stream_closes_upstream_within_100ms(
    relayed: tuple[str, TapRelay], records: list[RequestRecord]
) -> None:
    url, relay = relayed
    port = URL(url).port
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    body = json.dumps({"model": "llama3.2", "prompt": "go on forever"}).encode()
    writer.write(http_request("POST", "/api/generate", body))
    await writer.drain()
    await reader.readuntil(b'"done":false}\n')
    await reader.readuntil(b'"done":false}\n')

    loop = asyncio.get_running_loop()
    writer.transport.abort()
    left_at = loop.time()
    await asyncio.wait_for(relay.closed.wait(), 5)
    assert relay.closed_at[0] - left_at < 0.100

    for _ in range(100):  # the handler finishes right after the close
        if records:
            break
        await asyncio.sleep(0.01)
    [record] = records
    assert record.status == "cancelled"
    assert record.estimated and record.completion_tokens >= 2


async def test_upstream_unreachable_gives_502_naming_it(records: list[RequestRecord]) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    runner, url = await _proxy_for(dead, records)
    try:
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{url}/api/chat", json={"model": "m"}) as response:
                assert response.status == 502
                assert response.content_type == "application/json"
                error = (await response.json())["error"]
        assert dead in error
        [record] = records
        assert record.status == "error" and record.http_status == 502
        assert record.error_type
    finally:
        await runner.cleanup()


async def test_upstream_reset_mid_stream_ends_like_an_ollama_error(
    records: list[RequestRecord],
) -> None:
    up_runner, up_url = await start_app(endless_upstream(reset_after=3))
    runner, url = await _proxy_for(up_url, records)
    try:
        body = json.dumps({"model": "llama3.2", "prompt": "x"}).encode()
        raw = await raw_request(
            "127.0.0.1", URL(url).port or 0, http_request("POST", "/api/generate", body)
        )
        [client] = parse_responses(raw, [b"POST"])
        lines = client.body.splitlines()
        assert lines[:3] == [LINE.strip()] * 3
        # Ollama ends a failed stream with one {"error": ...} line; clients raise on it.
        assert json.loads(lines[-1])["error"]
        [record] = records
        assert record.status == "error" and record.estimated
    finally:
        await runner.cleanup()
        await up_runner.cleanup()


async def test_instrumentation_off_is_a_plain_pass_through() -> None:
    records: list[RequestRecord] = []
    up_runner, up_url = await start_app(endless_upstream(reset_after=2))
    app = create_app(proxy_settings(up_url, enable_instrumentation=False), submit=records.append)
    runner, url = await start_app(app)
    try:
        body = json.dumps({"model": "m"}).encode()
        raw = await raw_request(
            "127.0.0.1", URL(url).port or 0, http_request("POST", "/api/generate", body)
        )
        assert raw.count(b'"done":false') == 2
        assert records == []
    finally:
        await runner.cleanup()
        await up_runner.cleanup()
