"""The simulator's thinking model: Ollama's shapes on every API that thinks."""

from __future__ import annotations

import json

import aiohttp
import ollama

from tests.simulator.conftest import SimServer, call

THOUGHTS = 8


async def test_native_chat_and_generate_stream_thinking_first(server: SimServer) -> None:
    client = ollama.AsyncClient(host=server.url)
    messages = [{"role": "user", "content": "x"}]
    parts = [
        p
        async for p in await client.chat(
            model="qwen3:0.6b", messages=messages, think=True, stream=True
        )
    ]
    kinds = ["think" if p.message.thinking else "say" for p in parts if not p.done]
    assert kinds == ["think"] * THOUGHTS + ["say"] * (len(kinds) - THOUGHTS)
    assert parts[-1].eval_count == len(kinds)  # thinking tokens count in eval_count
    generated = [
        p
        async for p in await client.generate(
            model="qwen3:0.6b", prompt="x", think="low", stream=True
        )
    ]
    assert sum(1 for p in generated if p.thinking) == THOUGHTS
    whole = await client.chat(model="qwen3:0.6b", messages=messages, think=True)
    assert whole.message.thinking and whole.message.content
    await client.close()


async def test_models_that_cannot_think_refuse_and_qwen_lists_the_capability(
    server: SimServer, http: aiohttp.ClientSession
) -> None:
    reply = await call(
        http, "POST", f"{server.url}/api/chat",
        {"model": "llama3.2", "messages": [{"role": "user", "content": "x"}], "think": True},
    )  # fmt: skip
    assert reply.status == 400 and b"does not support thinking" in reply.body
    shown = await call(http, "POST", f"{server.url}/api/show", {"model": "qwen3:0.6b"})
    assert "thinking" in json.loads(shown.body)["capabilities"]


async def test_v1_and_anthropic_stream_reasoning_then_the_answer(
    server: SimServer, http: aiohttp.ClientSession
) -> None:
    chat = {
        "model": "qwen3:0.6b",
        "stream": True,
        "reasoning_effort": "high",
        "messages": [{"role": "user", "content": "x"}],
    }
    reply = await call(http, "POST", f"{server.url}/v1/chat/completions", chat)
    events = [e for e in reply.body.split(b"\n\n") if e.startswith(b"data: {")]
    deltas = [json.loads(e[6:])["choices"][0]["delta"] for e in events]
    reasoning = [d for d in deltas if d.get("reasoning")]
    assert len(reasoning) == THOUGHTS and all(d["content"] == "" for d in reasoning)
    assert deltas[0]["role"] == "assistant" and "role" not in deltas[THOUGHTS]
    messages = {
        "model": "qwen3:0.6b",
        "max_tokens": 4,
        "stream": True,
        "thinking": {"type": "enabled", "budget_tokens": 100},
        "messages": [{"role": "user", "content": "x"}],
    }
    reply = await call(http, "POST", f"{server.url}/v1/messages", messages)
    names = [line[7:] for line in reply.body.decode().splitlines() if line.startswith("event: ")]
    assert names[:3] == ["message_start", "content_block_start", "content_block_delta"]
    assert reply.body.count(b'"thinking_delta"') == THOUGHTS
    assert reply.body.count(b'"text_delta"') == 4
    assert names.count("content_block_start") == 2 and names.count("content_block_stop") == 2
