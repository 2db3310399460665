"""The real clients through the proxy: the `ollama` package (sync and async, streaming and
not) and the `openai` SDK against /v1, with the records the meter writes for them."""

from __future__ import annotations

import ollama
import openai
import pytest

from tests.proxy.conftest import RecordSink, Stack, ThreadedStack

_open_clients: list = []  # type: ignore[type-arg]


def closing_client(client):  # type: ignore[no-untyped-def]
    """Close sync clients after the test (an unclosed socket is a warning, and warnings fail)."""
    _open_clients.append(client)
    return client


@pytest.fixture(autouse=True)
def _close_clients():  # type: ignore[no-untyped-def]
    yield
    while _open_clients:
        _open_clients.pop().close()


def _only(records: RecordSink, operation: str):  # type: ignore[no-untyped-def]
    found = [r for r in records.wait_for(1) if r.operation == operation]
    assert len(found) == 1, [r.endpoint for r in records]
    return found[0]


def test_sync_ollama_client_streaming_chat(threaded_stack: ThreadedStack) -> None:
    client = closing_client(ollama.Client(host=threaded_stack.host))
    parts = list(
        client.chat(
            model="llama3.2",
            messages=[{"role": "user", "content": "Why is the sky blue?"}],
            stream=True,
            options={"num_predict": 12},
        )
    )
    final = parts[-1]
    assert final.done and final.eval_count == 12
    text = "".join(p.message.content for p in parts)
    assert text

    record = _only(threaded_stack.records, "chat")
    assert record.status == "success" and record.http_status == 200
    assert record.stream and not record.estimated
    assert record.model == "llama3.2:latest"
    assert record.completion_tokens == final.eval_count
    assert record.prompt_tokens == final.prompt_eval_count
    assert record.eval_duration_ms == pytest.approx(final.eval_duration / 1e6)
    assert record.user_agent.startswith("ollama-python/")
    assert record.ttft_ms is not None and record.ttft_ms <= record.latency_ms
    assert "sky" not in repr(record), "no prompt text in the record"


def test_sync_ollama_client_non_streaming_generate(threaded_stack: ThreadedStack) -> None:
    client = closing_client(ollama.Client(host=threaded_stack.host))
    reply = client.generate(model="llama3.2", prompt="hello", options={"num_predict": 7})
    assert reply.done and reply.eval_count == 7
    record = _only(threaded_stack.records, "generate")
    assert not record.stream
    assert (record.prompt_tokens, record.completion_tokens) == (
        reply.prompt_eval_count,
        reply.eval_count,
    )
    assert record.done_reason == reply.done_reason


def test_sync_ollama_client_lists_and_errors(threaded_stack: ThreadedStack) -> None:
    client = closing_client(ollama.Client(host=threaded_stack.host))
    assert any(m.model for m in client.list().models)
    with pytest.raises(ollama.ResponseError) as info:
        client.chat(model="no-such-model", messages=[{"role": "user", "content": "x"}])
    assert info.value.status_code == 404
    failed = [r for r in threaded_stack.records.wait_for(2) if r.model == "no-such-model:latest"]
    assert failed and failed[0].status == "error" and failed[0].http_status == 404


async def test_async_ollama_client_streaming_generate(stack: Stack) -> None:
    client = ollama.AsyncClient(host=stack.proxy_url)
    stack.closers.append(client.close)
    parts = [
        p
        async for p in await client.generate(
            model="llama3.2", prompt="hi", stream=True, options={"num_predict": 9}
        )
    ]
    assert parts[-1].done and parts[-1].eval_count == 9
    await stack.records.await_for(1)
    record = _only(stack.records, "generate")
    assert record.completion_tokens == 9 and record.stream and record.chunks >= 9


async def test_async_ollama_client_embed(stack: Stack) -> None:
    client = ollama.AsyncClient(host=stack.proxy_url)
    stack.closers.append(client.close)
    reply = await client.embed(model="all-minilm", input=["one", "two"])
    assert len(reply.embeddings) == 2
    await stack.records.await_for(1)
    record = _only(stack.records, "embeddings")
    assert record.prompt_tokens == reply.prompt_eval_count and record.completion_tokens == 0


def test_openai_sdk_streaming_with_usage(threaded_stack: ThreadedStack) -> None:
    client = closing_client(openai.OpenAI(base_url=f"{threaded_stack.host}/v1", api_key="ollama"))
    stream = client.chat.completions.create(
        model="llama3.2",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": True},
        max_tokens=10,
    )
    chunks = list(stream)
    usage = chunks[-1].usage
    assert usage is not None and usage.completion_tokens == 10
    record = _only(threaded_stack.records, "chat")
    assert record.api_flavor == "openai" and not record.estimated
    assert (record.prompt_tokens, record.completion_tokens) == (
        usage.prompt_tokens,
        usage.completion_tokens,
    )


def test_openai_sdk_streaming_without_usage_is_estimated(threaded_stack: ThreadedStack) -> None:
    client = closing_client(openai.OpenAI(base_url=f"{threaded_stack.host}/v1", api_key="ollama"))
    chunks = list(
        client.chat.completions.create(
            model="llama3.2",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            max_tokens=6,
        )
    )
    assert all(c.usage is None for c in chunks)
    record = _only(threaded_stack.records, "chat")
    # Ollama sent no usage: the record says so instead of inventing a number.
    assert record.estimated and record.status == "success"
    assert record.prompt_tokens == 0 and record.completion_tokens > 0


def test_openai_sdk_non_streaming(threaded_stack: ThreadedStack) -> None:
    client = closing_client(openai.OpenAI(base_url=f"{threaded_stack.host}/v1", api_key="ollama"))
    reply = client.chat.completions.create(
        model="llama3.2", messages=[{"role": "user", "content": "hi"}], max_tokens=5
    )
    assert reply.usage is not None
    record = _only(threaded_stack.records, "chat")
    assert not record.stream and not record.estimated
    assert record.completion_tokens == reply.usage.completion_tokens
