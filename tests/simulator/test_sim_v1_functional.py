"""The OpenAI- and Anthropic-compatible routes over HTTP: defaults, framing, errors."""

from __future__ import annotations

import json

import aiohttp
import pytest

from tests.simulator.conftest import SimServer, call

CHAT = {"model": "llama3.2", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}


async def test_v1_is_not_streaming_by_default_and_ends_with_newline(
    server: SimServer, http: aiohttp.ClientSession
) -> None:
    reply = await call(http, "POST", server.url + "/v1/chat/completions", CHAT)
    assert reply.headers["Content-Type"] == "application/json"
    assert reply.body.endswith(b"}\n") and reply.body.count(b"\n") == 1
    body = json.loads(reply.body)
    assert body["object"] == "chat.completion" and body["id"].startswith("chatcmpl-")
    assert body["usage"]["completion_tokens"] == 4


async def test_v1_stream_is_sse_ending_with_done(
    server: SimServer, http: aiohttp.ClientSession
) -> None:
    reply = await call(http, "POST", server.url + "/v1/chat/completions", {**CHAT, "stream": True})
    assert reply.headers["Content-Type"] == "text/event-stream"
    assert "Cache-Control" not in reply.headers
    events = reply.body.split(b"\n\n")
    assert events[-1] == b"" and events[-2] == b"data: [DONE]"
    assert all(e.startswith(b"data: ") for e in events[:-1])
    assert len({json.loads(e[6:])["created"] for e in events[:-2]}) == 1, "one created value"


@pytest.mark.parametrize(
    ("path", "payload", "status", "error_type"),
    [
        (
            "/v1/chat/completions",
            {"model": "llama3.2", "messages": []},
            400,
            "invalid_request_error",
        ),
        ("/v1/chat/completions", {**CHAT, "model": "no-such-model"}, 404, "not_found_error"),
        ("/v1/completions", {"model": "no-such-model", "prompt": "x"}, 404, "not_found_error"),
        ("/v1/embeddings", {"model": "all-minilm", "input": []}, 400, "invalid_request_error"),
        ("/v1/responses", {"model": "no-such-model", "input": "x"}, 404, "not_found_error"),
    ],
)
async def test_v1_errors_are_openai_shaped(
    server: SimServer,
    http: aiohttp.ClientSession,
    path: str,
    payload: dict[str, object],
    status: int,
    error_type: str,
) -> None:
    reply = await call(http, "POST", server.url + path, payload)
    assert reply.status == status and reply.body.endswith(b"}\n")
    error = json.loads(reply.body)["error"]
    assert list(error) == ["message", "type", "param", "code"]
    assert error["type"] == error_type and error["param"] is None


async def test_responses_stream_headers_and_completed_usage(
    server: SimServer, http: aiohttp.ClientSession
) -> None:
    payload = {"model": "llama3.2", "input": "hi", "stream": True, "max_output_tokens": 3}
    reply = await call(http, "POST", server.url + "/v1/responses", payload)
    assert reply.headers["Content-Type"] == "text/event-stream"
    assert reply.headers["Cache-Control"] == "no-cache"
    events = [e for e in reply.body.split(b"\n\n") if e]
    name, data = events[-1].split(b"\n")
    assert name == b"event: response.completed"
    assert json.loads(data[6:])["response"]["usage"]["output_tokens"] == 3
    numbers = [json.loads(e.split(b"\n")[1][6:])["sequence_number"] for e in events]
    assert numbers == list(range(len(events)))


async def test_anthropic_messages_stream_and_single(
    server: SimServer, http: aiohttp.ClientSession
) -> None:
    payload = {
        "model": "llama3.2",
        "max_tokens": 5,
        "system": "be brief",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hello"}]}],
    }
    reply = await call(http, "POST", server.url + "/v1/messages", {**payload, "stream": True})
    events = [e.split(b"\n") for e in reply.body.split(b"\n\n") if e]
    names = [e[0].removeprefix(b"event: ") for e in events]
    assert names[:3] == [b"message_start", b"content_block_start", b"content_block_delta"]
    assert names[-3:] == [b"content_block_stop", b"message_delta", b"message_stop"]
    start = json.loads(events[0][1][6:])
    delta = json.loads(events[-2][1][6:])
    assert start["message"]["usage"]["input_tokens"] == (8 + 4 + 5) // 4, "the estimate"
    assert delta["usage"]["output_tokens"] == 5 and delta["delta"]["stop_reason"] == "max_tokens"
    assert delta["usage"]["input_tokens"] > start["message"]["usage"]["input_tokens"]

    single = await call(http, "POST", server.url + "/v1/messages", payload)
    body = json.loads(single.body)
    assert single.body.endswith(b"}\n") and body["type"] == "message"
    assert body["usage"]["output_tokens"] == 5 and body["content"][0]["type"] == "text"


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}, "model is required"),
        (
            {"model": "llama3.2", "messages": [{"role": "user", "content": "x"}]},
            "max_tokens is required and must be positive",
        ),
        ({"model": "llama3.2", "max_tokens": 5, "messages": []}, "messages is required"),
    ],
)
async def test_anthropic_validation_errors(
    server: SimServer, http: aiohttp.ClientSession, payload: dict[str, object], message: str
) -> None:
    reply = await call(http, "POST", server.url + "/v1/messages", payload)
    body = json.loads(reply.body)
    assert reply.status == 400 and body["type"] == "error"
    assert body["error"] == {"type": "invalid_request_error", "message": message}
    assert body["request_id"].startswith("req_")
