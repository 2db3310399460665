"""Raw-socket checks: what the client receives through the proxy is byte for byte what the
upstream sent, for every route of ollama-api.md §1; the upstream gets the client's request
with only Host rewritten and X-Forwarded-For added."""

from __future__ import annotations

import asyncio
import hashlib
import json

import aiohttp
import pytest

from ollama_proxy.app import create_app
from ollama_proxy.simulator import SimulatorConfig, create_simulator_app
from tests.proxy.conftest import Stack, proxy_settings
from tests.proxy.tap import (
    Exchange,
    http_request,
    parse_request_bodies,
    parse_responses,
    raw_request,
)
from tests.servers import start_app

# Headers that a proxy legitimately sets per hop (framing, date of its own answer, its server).
PER_HOP = {b"date", b"server", b"connection", b"keep-alive", b"transfer-encoding"}

BLOB = b"GGUF" + bytes(range(256)) * 64
BLOB_DIGEST = "sha256:" + hashlib.sha256(BLOB).hexdigest()

ROUTES: list[tuple[str, str, dict[str, object] | bytes | None]] = [
    ("GET", "/", None),
    ("HEAD", "/", None),
    ("GET", "/api/version", None),
    ("GET", "/api/status", None),
    ("POST", "/api/generate", {"model": "llama3.2", "prompt": "Why is the sky blue?"}),
    (
        "POST",
        "/api/generate",
        {"model": "llama3.2", "prompt": "Say <hi> & bye", "stream": False},
    ),
    ("POST", "/api/generate", {"model": "llama3.2", "prompt": ""}),
    ("POST", "/api/chat", {"model": "llama3.2", "messages": [{"role": "user", "content": "hi"}]}),
    (
        "POST",
        "/api/chat",
        {"model": "llama3.2", "messages": [{"role": "user", "content": "hi"}], "stream": False},
    ),
    ("POST", "/api/chat", {"model": "no-such-model", "messages": []}),
    ("POST", "/api/embed", {"model": "all-minilm", "input": ["a", "b"]}),
    ("POST", "/api/embeddings", {"model": "all-minilm", "prompt": "a"}),
    ("GET", "/api/tags", None),
    ("HEAD", "/api/tags", None),
    ("POST", "/api/show", {"model": "llama3.2"}),
    ("GET", "/api/ps", None),
    ("POST", "/api/pull", {"model": "llama3.2"}),
    ("POST", "/api/copy", {"source": "llama3.2", "destination": "llama3.2-copy"}),
    ("DELETE", "/api/delete", {"model": "does-not-exist"}),
    ("HEAD", f"/api/blobs/{BLOB_DIGEST}", None),
    ("POST", f"/api/blobs/{BLOB_DIGEST}", BLOB),
    ("POST", "/api/blobs/sha256:" + "0" * 64, BLOB),
    (
        "POST",
        "/v1/chat/completions",
        {
            "model": "llama3.2",
            "messages": [{"role": "user", "content": "hi"}],
            "stream": True,
            "stream_options": {"include_usage": True},
        },
    ),
    (
        "POST",
        "/v1/chat/completions",
        {"model": "llama3.2", "messages": [{"role": "user", "content": "hi"}]},
    ),
    (
        "POST",
        "/v1/completions",
        {
            "model": "llama3.2",
            "prompt": "hi",
            "stream": True,
            "stream_options": {"include_usage": True},
        },
    ),
    ("POST", "/v1/embeddings", {"model": "all-minilm", "input": "hello"}),
    ("GET", "/v1/models", None),
    ("GET", "/v1/models/llama3.2", None),
    ("POST", "/v1/responses", {"model": "llama3.2", "input": "hi", "stream": True}),
    (
        "POST",
        "/v1/messages",
        {
            "model": "llama3.2",
            "max_tokens": 64,
            "messages": [{"role": "user", "content": "hi"}],
            "stream": True,
        },
    ),
    ("GET", "/no/such/path", None),
    ("GET", "/api/generate", None),
]


def _body(payload: dict[str, object] | bytes | None) -> bytes:
    if payload is None:
        return b""
    if isinstance(payload, bytes):
        return payload
    return json.dumps(payload).encode()


def _end_to_end(exchange: Exchange) -> list[tuple[bytes, bytes]]:
    return sorted((k.lower(), v) for k, v in exchange.headers if k.lower() not in PER_HOP)


@pytest.mark.parametrize(("method", "path", "payload"), ROUTES, ids=lambda v: str(v)[:40])
async def test_bytes_through_proxy_equal_upstream_bytes(
    stack: Stack, method: str, path: str, payload: dict[str, object] | bytes | None
) -> None:
    body = _body(payload)
    headers = {
        "User-Agent": "ollama-python/0.6.3 (x86_64 linux) Python/3.11.7",
        "Origin": "http://localhost:3000",
        "Authorization": "Bearer secret-key",
        "X-Client-Name": "transparency-test",
    }
    if payload is not None and not isinstance(payload, bytes):
        headers["Content-Type"] = "application/json"
    raw = await raw_request(
        "127.0.0.1", stack.proxy_port, http_request(method, path, body, headers)
    )

    [client] = parse_responses(raw, [method.encode()])
    upstream = [
        ex
        for conn in stack.relay.upstream_bytes
        for ex in parse_responses(bytes(conn), [method.encode()])
    ]
    assert len(upstream) == 1, "the proxy made exactly one upstream request"
    [origin] = upstream
    assert (client.status, client.reason) == (origin.status, origin.reason)
    assert client.body == origin.body
    assert _end_to_end(client) == _end_to_end(origin)

    # The request reached the upstream untouched but for Host and X-Forwarded-For.
    [(forwarded, forwarded_body)] = parse_request_bodies(bytes(stack.relay.request_bytes[0]))
    assert forwarded.method == method.encode()
    assert forwarded.target == path.encode()
    assert forwarded_body == body
    sent = {k.lower(): v for k, v in forwarded.headers}
    assert sent[b"host"] == f"127.0.0.1:{stack.relay.port}".encode()
    assert sent[b"x-forwarded-for"] == b"127.0.0.1"
    assert sent[b"authorization"] == b"Bearer secret-key"
    assert sent[b"origin"] == b"http://localhost:3000"
    assert sent[b"user-agent"].startswith(b"ollama-python/")
    if "Content-Type" not in headers:
        assert b"content-type" not in sent, "no Content-Type invented for the upstream"
    assert b"accept-encoding" not in sent, "no Accept-Encoding invented for the upstream"


async def test_stream_is_relayed_as_it_is_generated_not_buffered() -> None:
    # A buffering proxy would deliver all lines at once, after the last token.
    sim_runner, sim_url = await start_app(
        create_simulator_app(SimulatorConfig(tokens_per_s=200, ttft_s=0, load_s=0))
    )
    runner, url = await start_app(create_app(proxy_settings(sim_url), submit=lambda r: None))
    try:
        arrivals: list[float] = []
        loop = asyncio.get_running_loop()
        async with aiohttp.ClientSession() as session:
            payload = {"model": "llama3.2", "prompt": "x", "options": {"num_predict": 40}}
            async with session.post(f"{url}/api/generate", json=payload) as response:
                async for line in response.content:
                    arrivals.append(loop.time())
                    assert line.endswith(b"\n") and line.strip(), "no blank lines"
        assert len(arrivals) == 41
        span = arrivals[-1] - arrivals[0]
        assert span > 0.1, "lines arrived spread over the generation time"
        assert arrivals[20] - arrivals[0] > span / 4
    finally:
        await runner.cleanup()
        await sim_runner.cleanup()
