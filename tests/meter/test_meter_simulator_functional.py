"""The Meter on real bytes from the simulator, chunked as the network delivered them.

Each case reads the response the way the proxy handler does (iter_any) and feeds a Meter; the
expected numbers are taken from the same bytes by a plain json parse, independently.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from time import perf_counter
from typing import Any

import aiohttp
import pytest

from ollama_proxy.meter.meter import Meter
from ollama_proxy.operations import classify
from ollama_proxy.records import RequestRecord
from ollama_proxy.simulator import SIMULATOR, SimulatorConfig, create_simulator_app
from ollama_proxy.simulator.faults import Faults
from tests.servers import start_app


@pytest.fixture
async def sim() -> AsyncIterator[tuple[str, Any]]:
    app = create_simulator_app(SimulatorConfig.zero_delay())
    runner, url = await start_app(app)
    yield url, app[SIMULATOR]
    await runner.cleanup()


async def metered(url: str, method: str, path: str, payload: Any = None) -> tuple[Any, bytes]:
    """One request through a Meter; returns (record, body)."""
    route = classify(path)
    meter = Meter(RequestRecord(endpoint=path), route, perf_counter())
    data = json.dumps(payload).encode() if payload is not None else None
    if data:
        meter.observe_request_chunk(data)
    body = b""
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        async with session.request(method, url + path, data=data) as response:
            ctype = response.headers.get("Content-Type", "")
            meter.observe_response_start(response.status, ctype, perf_counter())
            async for chunk in response.content.iter_any():
                body += chunk
                meter.observe_chunk(chunk, perf_counter())
    return meter.finish(perf_counter()), body


def sse_data(body: bytes) -> list[tuple[str, Any]]:
    events = []
    for frame in body.decode().split("\n\n"):
        name, data = "", None
        for line in frame.splitlines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data = line[6:]
        if data is not None:
            events.append((name, data if data == "[DONE]" else json.loads(data)))
    return events


async def test_native_streamed_generate(sim: tuple[str, Any]) -> None:
    url, _ = sim
    payload = {"model": "llama3.2", "prompt": "hi", "options": {"num_predict": 9}}
    record, body = await metered(url, "POST", "/api/generate", payload)
    final = json.loads(body.splitlines()[-1])
    assert record.status == "success" and record.stream and not record.estimated
    assert record.prompt_tokens == final["prompt_eval_count"]
    assert record.completion_tokens == final["eval_count"] == 9
    assert record.eval_duration_ms == pytest.approx(final["eval_duration"] / 1e6)
    assert record.chunks == len(body.splitlines()) - 1
    assert record.bytes_out == len(body) and record.model.startswith("llama3.2")
    assert record.ttft_ms is not None and record.ttfb_ms is not None


async def test_native_non_streamed_chat_and_embed(sim: tuple[str, Any]) -> None:
    url, _ = sim
    chat = {"model": "llama3.2", "messages": [{"role": "user", "content": "x"}], "stream": False}
    record, body = await metered(url, "POST", "/api/chat", chat)
    reply = json.loads(body)
    assert not record.stream and record.completion_tokens == reply["eval_count"]
    assert record.done_reason == reply["done_reason"] and record.ttft_ms is None
    record, body = await metered(url, "POST", "/api/embed", {"model": "all-minilm", "input": "x"})
    assert record.prompt_tokens == json.loads(body)["prompt_eval_count"] > 0
    assert record.status == "success" and not record.estimated


async def test_openai_chat_and_completions_streams(sim: tuple[str, Any]) -> None:
    url, _ = sim
    for path, extra in (("/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}]}),
                        ("/v1/completions", {"prompt": "once"})):  # fmt: skip
        payload = {"model": "llama3.2", "stream": True, "max_tokens": 7, **extra}
        payload["stream_options"] = {"include_usage": True}
        record, body = await metered(url, "POST", path, payload)
        events = sse_data(body)
        usage = [d for _, d in events if isinstance(d, dict) and d.get("choices") == []][-1]
        assert record.status == "success" and not record.estimated, path
        assert record.prompt_tokens == usage["usage"]["prompt_tokens"] > 0
        assert record.completion_tokens == usage["usage"]["completion_tokens"] == 7


async def test_responses_and_anthropic_streams(sim: tuple[str, Any]) -> None:
    url, _ = sim
    payload = {"model": "llama3.2", "input": "x", "stream": True, "max_output_tokens": 5}
    record, body = await metered(url, "POST", "/v1/responses", payload)
    [completed] = [d for n, d in sse_data(body) if n == "response.completed"]
    assert record.status == "success" and not record.estimated
    assert record.completion_tokens == completed["response"]["usage"]["output_tokens"]
    assert record.prompt_tokens == completed["response"]["usage"]["input_tokens"]

    messages = [{"role": "user", "content": "hello there"}]
    payload = {"model": "llama3.2", "messages": messages, "stream": True, "max_tokens": 6}
    record, body = await metered(url, "POST", "/v1/messages", payload)
    [delta] = [d for n, d in sse_data(body) if n == "message_delta"]
    assert record.status == "success" and not record.estimated
    assert record.prompt_tokens == delta["usage"]["input_tokens"]
    assert record.completion_tokens == delta["usage"]["output_tokens"]


async def test_errors_from_the_simulator(sim: tuple[str, Any]) -> None:
    url, state = sim
    record, _ = await metered(url, "POST", "/api/chat", {"model": "nope", "messages": []})
    assert record.status == "error" and record.http_status == 404 and "nope" in record.error_message
    state.set_faults(Faults(mid_stream_error_after=2, count=1))
    record, body = await metered(url, "POST", "/api/generate", {"model": "llama3.2", "prompt": "x"})
    assert b'{"error"' in body.splitlines()[-1]
    assert record.status == "error" and record.error_type == "stream_error"
    assert record.estimated and record.completion_tokens == 2


async def test_light_routes(sim: tuple[str, Any]) -> None:
    url, _ = sim
    record, body = await metered(url, "GET", "/api/tags")
    assert record.status == "success" and record.bytes_out == len(body) and not record.estimated
    record, _ = await metered(url, "POST", "/api/pull", {"model": "llama3.2"})
    assert record.status == "success" and record.stream and record.model == "llama3.2:latest"
