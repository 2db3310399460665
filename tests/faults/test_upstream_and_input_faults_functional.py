"""Upstream faults (stall, queue full, mid-stream error, non-JSON lines), slow readers, bad
input and privacy: what the client gets and what is recorded."""

from __future__ import annotations

import asyncio
import json
import secrets
from pathlib import Path

import aiohttp
import ollama
import pytest
from aiohttp import web
from yarl import URL

from ollama_proxy import appkeys
from ollama_proxy.app import create_app
from ollama_proxy.config import Settings
from ollama_proxy.simulator import SIMULATOR, SimulatorConfig, create_simulator_app
from ollama_proxy.simulator.faults import Faults
from tests.proxy.conftest import RecordSink, proxy_settings
from tests.proxy.tap import http_request, raw_request
from tests.servers import start_app


@pytest.fixture
async def sim() -> tuple[web.Application, str]:
    app = create_simulator_app(SimulatorConfig.zero_delay(num_parallel=8))
    runner, url = await start_app(app)
    yield app, url
    await runner.cleanup()


async def _proxy(upstream: str, records: RecordSink) -> tuple[web.AppRunner, str]:
    return await start_app(create_app(proxy_settings(upstream), submit=records.append))


async def test_a_stalled_upstream_is_waited_for_not_cut(sim: tuple[web.Application, str]) -> None:
    # As during a model load: no bytes for a while. The default has no read timeout.
    app, url = sim
    app[SIMULATOR].set_faults(Faults(stall_s=1.5, stall_after_chunks=2, count=1))
    records = RecordSink()
    runner, proxy_url = await _proxy(url, records)
    try:
        client = ollama.AsyncClient(host=proxy_url)
        parts = [p async for p in await client.generate(model="llama3.2", prompt="x", stream=True)]
        await client.close()
        assert parts[-1].done
        [record] = await records.await_for(1)
        assert record.status == "success" and record.latency_ms >= 1500
    finally:
        await runner.cleanup()


async def test_queue_full_503_reaches_the_client_as_ollama_sent_it(
    sim: tuple[web.Application, str],
) -> None:
    app, url = sim
    app[SIMULATOR].set_faults(Faults(queue_full=True, count=1))
    records = RecordSink()
    runner, proxy_url = await _proxy(url, records)
    try:
        client = ollama.AsyncClient(host=proxy_url)
        with pytest.raises(ollama.ResponseError) as info:
            await client.chat(model="llama3.2", messages=[{"role": "user", "content": "x"}])
        await client.close()
        assert info.value.status_code == 503
        assert "maximum pending requests exceeded" in info.value.error
        [record] = await records.await_for(1)
        assert (record.status, record.http_status) == ("error", 503)
        # and it recovers as soon as the upstream does
        client = ollama.AsyncClient(host=proxy_url)
        assert (await client.chat(model="llama3.2", messages=[])).done
        await client.close()
    finally:
        await runner.cleanup()


async def test_mid_stream_error_and_non_json_lines_are_recorded_not_raised(
    sim: tuple[web.Application, str],
) -> None:
    app, url = sim
    app[SIMULATOR].set_faults(Faults(mid_stream_error_after=3, non_json_line=True, count=1))
    records = RecordSink()
    runner, proxy_url = await _proxy(url, records)
    try:
        body = json.dumps({"model": "llama3.2", "prompt": "x"}).encode()
        raw = await raw_request(
            "127.0.0.1", URL(proxy_url).port or 0, http_request("POST", "/api/generate", body)
        )
        assert b'{"error"' in raw
        [record] = await records.await_for(1)
        assert record.status == "error" and record.error_type == "stream_error"
        assert record.estimated
    finally:
        await runner.cleanup()


async def test_a_slow_reader_gets_backpressure_not_a_buffered_response() -> None:
    written = 0

    async def big(request: web.Request) -> web.StreamResponse:
        nonlocal written
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        line = b'{"response":"' + b"x" * 65_000 + b'","done":false}\n'
        for _ in range(3000):  # about 200 MB if nobody pushed back
            await response.write(line)
            written += len(line)
        return response

    upstream = web.Application()
    upstream.router.add_post("/api/generate", big)
    up_runner, up_url = await start_app(upstream)
    runner, proxy_url = await _proxy(up_url, RecordSink())
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", URL(proxy_url).port)
        writer.write(http_request("POST", "/api/generate", b"{}"))
        await writer.drain()
        await reader.read(1000)  # the client reads a little, then stops reading
        await asyncio.sleep(1.0)
        # Socket buffers and the proxy's bounded write buffer hold a few MB at most.
        assert written < 32 * 1024 * 1024, f"the upstream could write {written} bytes"
        writer.close()
    finally:
        await runner.cleanup()
        await up_runner.cleanup()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # Request smuggling: both framings at once is refused, never forwarded.
        (
            b"POST /api/chat HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
            b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n",
            400,
        ),
        (b"GET /api/tags HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n", 400),
        # A header flood (more headers than aiohttp's parser accepts) is refused too.
        (b"GET /api/tags HTTP/1.1\r\n" + b"X-Flood: 1\r\n" * 200 + b"\r\n", 400),
    ],
    ids=["cl-and-te", "oversized-header", "header-flood"],
)
async def test_malformed_http_gets_a_clear_4xx(
    sim: tuple[web.Application, str], raw: bytes, expected: int
) -> None:
    _, url = sim
    records = RecordSink()
    runner, proxy_url = await _proxy(url, records)
    try:
        answer = await raw_request("127.0.0.1", URL(proxy_url).port or 0, raw)
        assert int(answer.split(b" ", 2)[1]) == expected
    finally:
        await runner.cleanup()


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"\xff\xfe invalid utf-8", b"plain text", b'{"model": 5}'],
    ids=["malformed", "invalid-utf8", "text", "wrong-type"],
)
async def test_bad_bodies_are_passed_to_ollama_to_judge(
    sim: tuple[web.Application, str], body: bytes
) -> None:
    _, url = sim
    records = RecordSink()
    runner, proxy_url = await _proxy(url, records)
    try:
        raw = await raw_request(
            "127.0.0.1",
            URL(proxy_url).port or 0,
            http_request("POST", "/api/chat", body, {"Content-Type": "text/plain"}),
        )
        assert int(raw.split(b" ", 2)[1]) == 400  # Ollama's answer, relayed
        [record] = await records.await_for(1)
        assert record.http_status == 400 and record.bytes_in == len(body)
    finally:
        await runner.cleanup()


async def test_no_prompt_or_response_text_is_stored_anywhere(
    tmp_path: Path, sim: tuple[web.Application, str], capsys: pytest.CaptureFixture[str]
) -> None:
    _, url = sim
    marker = "secret-" + secrets.token_hex(8)
    settings = Settings(
        upstream=url,
        listen="127.0.0.1:0",
        store_urls=[f"sqlite:///{tmp_path}/p.db"],
        journal_dir=str(tmp_path / "journal"),
        metrics_export_interval=3600,
    )
    app = create_app(settings)
    runner, proxy_url = await start_app(app)
    try:
        client = ollama.AsyncClient(host=proxy_url)
        await client.chat(model="llama3.2", messages=[{"role": "user", "content": marker}])
        await client.generate(model="llama3.2", prompt=marker, stream=False)
        await client.close()
        await app[appkeys.RECORDER].flush()
        async with aiohttp.ClientSession() as http:
            csv = await (await http.get(f"{proxy_url}/api/stats/logs.csv")).text()
            metrics = await (await http.get(f"{proxy_url}/metrics")).text()
    finally:
        await runner.cleanup()
    assert csv.count("\n") >= 3
    stored = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    assert marker.encode() not in stored, "the prompt reached the store or the journal"
    assert marker not in csv and marker not in metrics
    out = capsys.readouterr()
    assert marker not in out.out + out.err, "the prompt reached the logs"


async def test_opt_in_capture_stores_redacted_text_with_its_own_retention(
    tmp_path: Path, sim: tuple[web.Application, str]
) -> None:
    _, url = sim
    marker = "note-" + secrets.token_hex(6)
    settings = Settings(
        upstream=url,
        listen="127.0.0.1:0",
        store_urls=[f"sqlite:///{tmp_path}/c.db"],
        journal_dir=str(tmp_path / "journal"),
        metrics_export_interval=3600,
        capture_content=True,
        capture_retention_days=3,
    )
    app = create_app(settings)
    runner, proxy_url = await start_app(app)
    try:
        client = ollama.AsyncClient(host=proxy_url)
        text = f"{marker} my key is sk-0123456789abcdefXYZ, mail me at a.b@example.org"
        reply = await client.chat(
            model="llama3.2", messages=[{"role": "user", "content": text}], stream=False
        )
        await client.close()
        await app[appkeys.RECORDER].flush()
        store = app[appkeys.STORES][0]
        [row] = await store.fetch("SELECT request_id, prompt, response FROM request_content")
        assert marker in row["prompt"]
        assert "sk-0123456789abcdef" not in row["prompt"] and "a.b@example.org" not in row["prompt"]
        assert row["prompt"].count("[REDACTED]") == 2
        assert row["response"] == reply.message.content
        # Older than CAPTURE_RETENTION_DAYS: purged at the next flush, the request log stays.
        async with store.engine.begin() as conn:  # type: ignore[attr-defined]
            await conn.exec_driver_sql(
                "UPDATE request_content SET timestamp = '2000-01-01 00:00:00.000000'"
            )
        await app[appkeys.RECORDER].flush()
        assert await store.fetch("SELECT request_id FROM request_content") == []
        assert len(await store.fetch("SELECT request_id FROM request_logs")) == 1
    finally:
        await runner.cleanup()
