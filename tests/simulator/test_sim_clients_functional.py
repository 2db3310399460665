"""The real `ollama` (sync and async) and `openai` clients against the simulator directly."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import ollama
import openai
import pytest

from ollama_proxy.simulator import SIMULATOR, Faults, SimulatorConfig, create_simulator_app
from tests.servers import ThreadedServer, serve_in_thread
from tests.simulator.conftest import SimServer


@pytest.fixture
def threaded() -> Iterator[ThreadedServer]:
    server = serve_in_thread(lambda: create_simulator_app(SimulatorConfig.zero_delay()))
    yield server
    server.stop()


@pytest.fixture
def sync_client(threaded: ThreadedServer) -> Iterator[ollama.Client]:
    client = ollama.Client(host=threaded.url)
    yield client
    client._client.close()  # httpx keeps pooled sockets open otherwise


@pytest.fixture
def openai_client(threaded: ThreadedServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{threaded.url}/v1", api_key="ollama") as client:
        yield client


def test_sync_ollama_client_generate_chat_and_management(sync_client: ollama.Client) -> None:
    client = sync_client
    parts = list(
        client.generate(
            model="llama3.2",
            prompt="Why is the sky blue?",
            stream=True,
            options={"num_predict": 12},
        )
    )
    assert parts[-1].done and parts[-1].eval_count == 12 and parts[-1].done_reason == "length"
    assert "".join(p.response for p in parts[:-1])

    reply = client.chat(model="llama3.2", messages=[{"role": "user", "content": "hi"}])
    assert reply.done and reply.message.role == "assistant" and reply.message.content
    assert reply.prompt_eval_count and reply.eval_count == 20

    assert {m.model for m in client.list().models} >= {"llama3.2:latest", "all-minilm:latest"}
    assert [m.model for m in client.ps().models] == ["llama3.2:latest"]
    assert client.show("llama3.2").details.family == "llama"
    assert len(client.embed(model="all-minilm", input=["a", "b"]).embeddings) == 2
    assert len(client.embeddings(model="all-minilm", prompt="a").embedding) == 384
    progress = list(client.pull("gemma3:1b", stream=True))
    assert progress[-1].status == "success"
    client.copy("gemma3:1b", "copied")
    client.delete("copied")
    with pytest.raises(ollama.ResponseError) as info:
        client.chat(model="no-such-model", messages=[{"role": "user", "content": "x"}])
    assert info.value.status_code == 404 and "not found" in info.value.error


def test_sync_ollama_client_raises_on_a_mid_stream_error(
    threaded: ThreadedServer, sync_client: ollama.Client
) -> None:
    threaded.app[SIMULATOR].set_faults(Faults(mid_stream_error_after=2, count=1))
    with pytest.raises(ollama.ResponseError, match="an error was encountered"):
        list(sync_client.generate(model="llama3.2", prompt="x", stream=True))


async def test_async_ollama_client_streaming_and_not(server: SimServer) -> None:
    client = ollama.AsyncClient(host=server.url)
    try:
        await _async_calls(client)
    finally:
        await client._client.aclose()


async def _async_calls(client: ollama.AsyncClient) -> None:
    parts = [
        p
        async for p in await client.chat(
            model="llama3.2",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            options={"num_predict": 5},
        )
    ]
    assert parts[-1].done and parts[-1].eval_count == 5 and len(parts) == 6
    single = await client.generate(model="llama3.2", prompt="hello", options={"num_predict": 4})
    assert single.eval_count == 4 and single.context
    embedded = await client.embed(model="all-minilm", input="one")
    assert embedded.prompt_eval_count and len(embedded.embeddings[0]) == 384


def test_openai_sdk_chat_with_and_without_usage(openai_client: openai.OpenAI) -> None:
    client = openai_client
    chunks = list(
        client.chat.completions.create(
            model="llama3.2",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
            max_tokens=10,
        )
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-2].choices[0].finish_reason == "length"
    usage = chunks[-1].usage
    assert usage is not None and usage.completion_tokens == 10 and chunks[-1].choices == []

    plain = list(
        client.chat.completions.create(
            model="llama3.2",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            max_tokens=6,
        )
    )
    assert all(c.usage is None for c in plain)

    reply = client.chat.completions.create(
        model="llama3.2", messages=[{"role": "user", "content": "hi"}], max_tokens=5
    )
    assert reply.usage is not None and reply.usage.completion_tokens == 5
    assert reply.choices[0].message.content


def test_openai_sdk_completions_embeddings_models_responses(openai_client: openai.OpenAI) -> None:
    client = openai_client
    stream = list(
        client.completions.create(
            model="llama3.2",
            prompt="hi",
            stream=True,
            stream_options={"include_usage": True},
            max_tokens=3,
        )
    )
    assert stream[-1].choices == [] and stream[-1].usage is not None
    assert stream[-1].usage.completion_tokens == 3
    assert stream[0].usage is not None and stream[0].usage.total_tokens == 0, "the quirk"

    vectors = client.embeddings.create(model="all-minilm", input=["a", "b"])
    assert len(vectors.data) == 2 and vectors.usage.prompt_tokens > 0
    b64 = client.embeddings.create(model="all-minilm", input="a", encoding_format="base64")
    assert len(base64.b64decode(b64.data[0].embedding)) == 384 * 4  # type: ignore[arg-type]

    assert "llama3.2:latest" in {m.id for m in client.models.list()}
    assert client.models.retrieve("llama3.2").owned_by == "library"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("no-such-model")

    response = client.responses.create(model="llama3.2", input="hi", max_output_tokens=4)
    assert response.usage is not None and response.usage.output_tokens == 4
    events = list(
        client.responses.create(model="llama3.2", input="hi", stream=True, max_output_tokens=3)
    )
    assert events[-1].type == "response.completed"
    assert events[-1].response.usage is not None
    assert events[-1].response.usage.output_tokens == 3
