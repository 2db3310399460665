"""Fault injection and what the simulator observes of its clients (for the proxy's tests)."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
from yarl import URL

from ollama_proxy.simulator import Faults
from tests.simulator.conftest import SimServer, StartSim, call

GENERATE = {"model": "llama3.2", "prompt": "hi", "options": {"num_predict": 6}}


async def test_mid_stream_error_ends_the_stream_with_one_error_line(
    server: SimServer, http: aiohttp.ClientSession
) -> None:
    server.sim.set_faults(Faults(mid_stream_error_after=2, count=1))
    reply = await call(http, "POST", server.url + "/api/generate", GENERATE)
    assert reply.status == 200 and reply.headers["Content-Type"] == "application/x-ndjson"
    lines = reply.body.splitlines()
    assert len(lines) == 3 and all(b'"done":false' in line for line in lines[:2])
    assert lines[2] == b'{"error":"an error was encountered while running the model"}'
    again = await call(http, "POST", server.url + "/api/generate", GENERATE)
    assert b'"done":true' in again.body, "count=1: only the next request failed"


async def test_mid_stream_error_on_v1_chat_loses_the_finish_and_done(
    server: SimServer, http: aiohttp.ClientSession
) -> None:
    server.sim.set_faults(Faults(mid_stream_error_after=1, count=1))
    payload = {
        "model": "llama3.2",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    reply = await call(http, "POST", server.url + "/v1/chat/completions", payload)
    events = [e for e in reply.body.split(b"\n\n") if e]
    assert len(events) == 2 and b'"delta":{"content":""}' in events[1]
    assert b"[DONE]" not in reply.body and b'"usage"' not in reply.body


async def test_status_and_queue_full_faults_answer_before_any_output(
    server: SimServer, http: aiohttp.ClientSession
) -> None:
    server.sim.set_faults(Faults(status=500, error_message="boom", count=1))
    reply = await call(
        http,
        "POST",
        server.url + "/api/chat",
        {"model": "llama3.2", "messages": [{"role": "user", "content": "x"}]},
    )
    assert (reply.status, reply.body) == (500, b'{"error":"boom"}')
    server.sim.set_faults(Faults(queue_full=True, count=1))
    busy = await call(
        http,
        "POST",
        server.url + "/v1/chat/completions",
        {"model": "llama3.2", "messages": [{"role": "user", "content": "x"}]},
    )
    assert busy.status == 503
    assert json.loads(busy.body)["error"]["message"].startswith("server busy, please try again.  ")


async def test_reset_after_chunks_drops_the_connection(
    server: SimServer, http: aiohttp.ClientSession
) -> None:
    server.sim.set_faults(Faults(reset_after_chunks=2))
    with pytest.raises(aiohttp.ClientPayloadError):
        await call(http, "POST", server.url + "/api/generate", GENERATE)


async def test_non_json_and_huge_lines(server: SimServer, http: aiohttp.ClientSession) -> None:
    server.sim.set_faults(Faults(non_json_line=True, huge_line_bytes=1_000_000, count=1))
    reply = await call(http, "POST", server.url + "/api/generate", GENERATE)
    lines = reply.body.splitlines()
    assert len(lines[0]) > 1_000_000 and json.loads(lines[0])["response"] == "x" * 1_000_000
    assert lines[1] == b"this line is not JSON"
    assert json.loads(lines[-1])["done"] is True


async def test_stall_pauses_mid_stream(start_sim: StartSim, http: aiohttp.ClientSession) -> None:
    server = await start_sim()
    server.sim.set_faults(Faults(stall_s=0.3, stall_after_chunks=1, count=1))
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with http.post(server.url + "/api/generate", json=GENERATE) as response:
        first = await response.content.readline()
        first_at = loop.time()
        await response.read()
        done_at = loop.time()
    assert b'"done":false' in first
    assert first_at - started < 0.25 and done_at - first_at >= 0.28


async def test_control_api_sets_reports_and_resets(
    server: SimServer, http: aiohttp.ClientSession
) -> None:
    base = server.url + "/_sim/"
    set_reply = await call(http, "POST", base + "faults", {"status": 502, "count": 2})
    assert json.loads(set_reply.body)["status"] == 502
    bad = await call(http, "POST", base + "faults", {"no_such_fault": 1})
    assert bad.status == 400
    for _ in range(3):
        await call(http, "POST", server.url + "/api/generate", GENERATE)
    stats = json.loads((await call(http, "GET", base + "stats")).body)
    assert stats["requests"]["/api/generate"] == 3
    assert stats["generations"]["completed"] == 1, "two failed on the fault, one ran"
    assert stats["loads"] == 1
    await call(http, "POST", base + "faults", {"status": 500})
    await call(http, "DELETE", base + "faults")
    assert (await call(http, "POST", server.url + "/api/generate", GENERATE)).status == 200
    await call(http, "POST", base + "reset")
    stats = json.loads((await call(http, "GET", base + "stats")).body)
    assert stats["generations"]["completed"] == 0 and stats["loads"] == 0


async def test_client_leaving_stops_generation_and_is_timestamped(start_sim: StartSim) -> None:
    server = await start_sim(tokens_per_s=50)
    reader, writer = await asyncio.open_connection("127.0.0.1", URL(server.url).port)
    body = b'{"model":"llama3.2","prompt":"go on","options":{"num_predict":100000}}'
    writer.write(
        b"POST /api/generate HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s"
        % (len(body), body)
    )
    await writer.drain()
    await reader.readuntil(b'"done":false}\n')
    await reader.readuntil(b'"done":false}\n')
    loop = asyncio.get_running_loop()
    writer.transport.abort()
    left_at = loop.time()
    [cancel] = await server.sim.stats.wait_for_cancellations(1, timeout=5)
    assert cancel.path == "/api/generate" and cancel.chunks >= 2
    assert cancel.at_monotonic - left_at < 0.1
    assert server.sim.stats.active == 0
    assert server.sim.scheduler.resident()[0].refcount == 0, "the runner slot was released"


async def test_zero_delay_disconnect_is_noticed_too(start_sim: StartSim) -> None:
    server = await start_sim()
    reader, writer = await asyncio.open_connection("127.0.0.1", URL(server.url).port)
    body = b'{"model":"llama3.2","prompt":"go","options":{"num_predict":100000000}}'
    writer.write(
        b"POST /api/generate HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s"
        % (len(body), body)
    )
    await writer.drain()
    await reader.readuntil(b'"done":false}\n')
    writer.transport.abort()
    [cancel] = await server.sim.stats.wait_for_cancellations(1, timeout=5)
    assert cancel.chunks < 100_000_000
