"""UPSTREAM_MAX_CONNECTIONS: a request waiting for a pooled connection queues, it is not refused."""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp import web

from ollama_proxy.app import create_app, upstream_session
from ollama_proxy.records import RequestRecord
from ollama_proxy.system.monitor import SystemMonitor
from tests.proxy.conftest import proxy_settings
from tests.servers import start_app


def gated_upstream(gate: asyncio.Event, started: asyncio.Event) -> web.Application:
    """/api/generate streams one line, then holds its connection until the gate opens."""

    async def generate(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        await response.write(b'{"response":"x","done":false}\n')
        started.set()
        await gate.wait()
        await response.write(b'{"response":"","done":true}\n')
        return response

    async def version(_request: web.Request) -> web.Response:
        return web.json_response({"version": "0.12.6"})

    app = web.Application()
    app.router.add_post("/api/generate", generate)
    app.router.add_get("/api/version", version)
    return app


async def test_the_connect_timeout_covers_the_tcp_connect_only() -> None:
    session = upstream_session(proxy_settings("http://127.0.0.1:1", connect_timeout_s=3.0))
    try:
        timeout = session.timeout
    finally:
        await session.close()
    assert timeout.sock_connect == 3.0 and timeout.connect is None and timeout.total is None


async def test_a_request_beyond_the_pool_waits_for_a_slot_instead_of_a_false_502() -> None:
    # Reproduces: with UPSTREAM_MAX_CONNECTIONS=1 and a long stream holding the slot, the next
    # request got 502 "unreachable" once CONNECT_TIMEOUT_S ran out, though Ollama was up.
    gate, started = asyncio.Event(), asyncio.Event()
    upstream_runner, upstream_url = await start_app(gated_upstream(gate, started))
    records: list[RequestRecord] = []
    settings = proxy_settings(upstream_url, upstream_max_connections=1, connect_timeout_s=0.2)
    runner, url = await start_app(create_app(settings, submit=records.append))
    try:
        async with aiohttp.ClientSession() as http:
            first = asyncio.create_task(http.post(f"{url}/api/generate", json={"model": "m"}))
            await asyncio.wait_for(started.wait(), 5)
            second = asyncio.create_task(http.get(f"{url}/api/version"))
            done, _ = await asyncio.wait({second}, timeout=1.0)  # five connect timeouts
            assert not done, "the queued request was answered while the slot was held"
            # The health probe does not queue behind the streams: it has a pool of its own.
            monitor = SystemMonitor(settings)
            try:
                health = await asyncio.wait_for(monitor.check_upstream(), 5)
            finally:
                await monitor.stop()
            assert health["reachable"] is True, health
            gate.set()
            long_stream = await first
            assert long_stream.status == 200 and (await long_stream.read()).endswith(b"}\n")
            queued = await asyncio.wait_for(second, 5)
            assert queued.status == 200, await queued.text()
    finally:
        gate.set()
        await runner.cleanup()
        await upstream_runner.cleanup()
    assert sorted(r.http_status for r in records) == [200, 200]
