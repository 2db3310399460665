"""Truth at the edges of a stream: a broken upstream is a broken stream for the client, and a
slow client does not slow the measured model."""

from __future__ import annotations

import asyncio
import json
import types
from collections.abc import AsyncIterator

import aiohttp
import httpx
import openai
import pytest
from aiohttp import web
from yarl import URL

from ollama_proxy.app import create_app
from ollama_proxy.proxy import handler as handler_module
from ollama_proxy.simulator import SIMULATOR, SimulatorConfig, create_simulator_app
from ollama_proxy.simulator.faults import Faults
from tests.proxy.conftest import RecordSink, proxy_settings
from tests.proxy.tap import http_request, parse_responses, raw_request
from tests.servers import start_app


@pytest.fixture
async def sim() -> AsyncIterator[tuple[web.Application, str]]:
    app = create_simulator_app(SimulatorConfig.zero_delay(num_parallel=8))
    runner, url = await start_app(app)
    yield app, url
    await runner.cleanup()


@pytest.fixture
async def proxied(
    sim: tuple[web.Application, str],
) -> AsyncIterator[tuple[web.Application, str, RecordSink]]:
    app, url = sim
    records = RecordSink()
    runner, proxy_url = await start_app(create_app(proxy_settings(url), submit=records.append))
    yield app, proxy_url, records
    await runner.cleanup()


async def test_openai_sdk_raises_when_the_upstream_resets_an_sse_stream(
    proxied: tuple[web.Application, str, RecordSink],
) -> None:
    # Bug: the proxy ended the client's SSE stream cleanly (write_eof) after an upstream reset,
    # so the SDK returned a truncated answer as if it were complete.
    app, url, records = proxied
    app[SIMULATOR].set_faults(Faults(reset_after_chunks=3, count=1))
    client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0)
    received = []
    with pytest.raises((openai.APIError, httpx.HTTPError)):
        stream = await client.chat.completions.create(
            model="llama3.2", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        async for chunk in stream:
            received.append(chunk)
    await client.close()
    assert received  # the chunks before the reset were relayed
    [record] = await records.await_for(1)
    assert (record.status, record.error_type) == ("error", "upstream_reset")


async def test_anthropic_stream_is_aborted_not_ended_on_upstream_reset(
    proxied: tuple[web.Application, str, RecordSink],
) -> None:
    app, url, records = proxied
    app[SIMULATOR].set_faults(Faults(reset_after_chunks=3, count=1))
    body = {
        "model": "llama3.2",
        "max_tokens": 64,
        "stream": True,
        "messages": [{"role": "user", "content": "hi"}],
    }
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{url}/v1/messages", json=body) as response:
            assert response.status == 200
            with pytest.raises(aiohttp.ClientPayloadError):
                await response.read()  # the chunked body never gets its last chunk
    [record] = await records.await_for(1)
    assert (record.status, record.error_type) == ("error", "upstream_reset")


async def test_ndjson_stream_still_ends_with_an_error_line_on_upstream_reset(
    proxied: tuple[web.Application, str, RecordSink],
) -> None:
    app, url, records = proxied
    app[SIMULATOR].set_faults(Faults(reset_after_chunks=3, count=1))
    body = json.dumps({"model": "llama3.2", "prompt": "x"}).encode()
    raw = await raw_request(
        "127.0.0.1", URL(url).port or 0, http_request("POST", "/api/generate", body)
    )
    [client] = parse_responses(raw, [b"POST"])
    # A complete chunked body whose last line is Ollama's error shape: clients raise on it.
    assert "failed mid-stream" in json.loads(client.body.splitlines()[-1])["error"]
    [record] = await records.await_for(1)
    assert record.error_type == "upstream_reset"


WRITE_DELAY_S = 0.2


async def test_ttft_is_taken_on_arrival_not_after_a_slow_client_write(
    sim: tuple[web.Application, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Bug: chunk times were taken after `await response.write`, so a client slow to read
    # (backpressure) inflated TTFT. Every write here takes WRITE_DELAY_S: all of them fall
    # after the first chunk arrived, so latency - TTFT covers them all.
    writes = 0

    class SlowClient(web.StreamResponse):
        async def write(self, data: bytes | bytearray | memoryview) -> None:
            nonlocal writes
            writes += 1
            await asyncio.sleep(WRITE_DELAY_S)
            await super().write(data)

    slow_web = types.SimpleNamespace(**{**vars(web), "StreamResponse": SlowClient})
    monkeypatch.setattr(handler_module, "web", slow_web)
    _, url = sim
    records = RecordSink()
    runner, proxy_url = await start_app(create_app(proxy_settings(url), submit=records.append))
    try:
        async with aiohttp.ClientSession() as session:
            body = {"model": "llama3.2", "prompt": "x", "options": {"num_predict": 4}}
            async with session.post(f"{proxy_url}/api/generate", json=body) as response:
                await response.read()
        [record] = await records.await_for(1)
        assert record.ttft_ms is not None and writes >= 1
        assert record.latency_ms - record.ttft_ms >= writes * WRITE_DELAY_S * 1000
    finally:
        await runner.cleanup()
