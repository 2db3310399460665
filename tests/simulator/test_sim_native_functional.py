"""The native API over HTTP: formats on the wire, residency, scheduling, errors, blobs."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from yarl import URL

from tests.simulator.conftest import SimServer, StartSim, call

JSON_UTF8 = "application/json; charset=utf-8"


async def test_root_version_status(server: SimServer, http: aiohttp.ClientSession) -> None:
    root = await call(http, "GET", server.url + "/")
    assert (root.status, root.body) == (200, b"Ollama is running")
    assert root.headers["Content-Type"] == "text/plain; charset=utf-8"
    head = await call(http, "HEAD", server.url + "/")
    assert head.status == 200 and head.body == b""
    version = await call(http, "GET", server.url + "/api/version")
    assert version.body == b'{"version":"0.33.0"}' and version.headers["Content-Type"] == JSON_UTF8
    status = await call(http, "GET", server.url + "/api/status")
    assert json.loads(status.body)["cloud"]["disabled"] is False


@pytest.mark.parametrize(
    ("method", "path", "status", "body"),
    [
        ("GET", "/no/such/path", 404, b"404 page not found"),
        ("POST", "/api/tagz", 404, b"404 page not found"),
        ("GET", "/api/generate", 405, b"405 method not allowed"),
        ("POST", "/api/ps", 405, b"405 method not allowed"),
        ("GET", "/api/blobs/sha256:abc", 405, b"405 method not allowed"),
    ],
)
async def test_unknown_paths_and_wrong_methods_answer_like_gin(
    server: SimServer,
    http: aiohttp.ClientSession,
    method: str,
    path: str,
    status: int,
    body: bytes,
) -> None:
    reply = await call(http, method, server.url + path)
    assert (reply.status, reply.body) == (status, body)
    assert reply.headers["Content-Type"] == "text/plain"


async def test_streamed_generate_is_ndjson_chunks_then_metrics(
    server: SimServer, http: aiohttp.ClientSession
) -> None:
    payload = {"model": "llama3.2", "prompt": "Why is the sky blue?", "options": {"num_predict": 7}}
    reply = await call(http, "POST", server.url + "/api/generate", payload)
    assert reply.status == 200
    assert reply.headers["Content-Type"] == "application/x-ndjson"
    assert reply.headers["Transfer-Encoding"] == "chunked"
    lines = reply.body.split(b"\n")
    assert lines[-1] == b"" and all(lines[:-1]), "NDJSON: \\n after every line, no blank line"
    parsed = [json.loads(line) for line in lines[:-1]]
    assert len(parsed) == 8 and not any(p["done"] for p in parsed[:-1])
    assert list(parsed[0]) == ["model", "created_at", "response", "done"]
    final = parsed[-1]
    assert list(final) == [
        "model",
        "created_at",
        "response",
        "done",
        "done_reason",
        "context",
        "total_duration",
        "load_duration",
        "prompt_eval_count",
        "prompt_eval_duration",
        "eval_count",
        "eval_duration",
    ]
    assert final["response"] == "" and final["done_reason"] == "length"
    assert final["eval_count"] == 7 and final["model"] == "llama3.2"
    assert final["total_duration"] >= final["load_duration"] + final["eval_duration"]
    assert len(reply.chunks) >= 8, "every line is flushed on its own"


async def test_generate_without_num_predict_stops_by_itself(
    server: SimServer, http: aiohttp.ClientSession
) -> None:
    payload = {"model": "llama3.2", "prompt": "hello", "stream": False}
    reply = await call(http, "POST", server.url + "/api/generate", payload)
    assert reply.headers["Content-Type"] == JSON_UTF8
    assert not reply.body.endswith(b"\n"), "gin's c.JSON: no trailing newline"
    body = json.loads(reply.body)
    assert body["done_reason"] == "stop" and body["eval_count"] == 20
    assert body["response"] and "context" in body


async def test_streamed_chat_and_unknown_model(
    server: SimServer, http: aiohttp.ClientSession
) -> None:
    payload = {
        "model": "llama3.2",
        "messages": [{"role": "user", "content": "hi"}],
        "options": {"num_predict": 3},
    }
    reply = await call(http, "POST", server.url + "/api/chat", payload)
    parsed = [json.loads(line) for line in reply.body.splitlines()]
    assert [p["message"]["role"] for p in parsed] == ["assistant"] * 4
    assert parsed[-1]["message"] == {"role": "assistant", "content": ""}
    assert "context" not in parsed[-1]

    missing = await call(
        http, "POST", server.url + "/api/chat", {"model": "no-such-model", "messages": []}
    )
    assert missing.status == 404 and missing.headers["Content-Type"] == JSON_UTF8
    assert missing.body == b'{"error":"model \'no-such-model\' not found"}'


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (None, "missing request body"),
        ({"prompt": "x"}, "model is required"),
        (
            {"model": "llama3.2", "prompt": "x", "keep_alive": "300"},
            'time: missing unit in duration "300"',
        ),
        (
            {"model": "llama3.2", "prompt": "x", "think": True},
            '"llama3.2" does not support thinking',
        ),
        ({"model": "all-minilm", "prompt": "x"}, '"all-minilm" does not support generate'),
    ],
)
async def test_bad_requests_get_400_with_ollamas_message(
    server: SimServer, http: aiohttp.ClientSession, payload: object, message: str
) -> None:
    reply = await call(http, "POST", server.url + "/api/generate", payload)
    assert reply.status == 400
    assert json.loads(reply.body) == {"error": message}


async def _ps(http: aiohttp.ClientSession, server: SimServer) -> list[dict[str, object]]:
    reply = await call(http, "GET", server.url + "/api/ps")
    models: list[dict[str, object]] = json.loads(reply.body)["models"]
    return models


async def test_first_use_loads_then_ps_shows_residency_until_unload(
    start_sim: StartSim, http: aiohttp.ClientSession
) -> None:
    server = await start_sim(load_s=0.2)
    assert await _ps(http, server) == []
    payload = {"model": "llama3.2", "prompt": "hi", "stream": False}
    cold = json.loads((await call(http, "POST", server.url + "/api/generate", payload)).body)
    warm = json.loads((await call(http, "POST", server.url + "/api/generate", payload)).body)
    assert cold["load_duration"] >= 200_000_000 > warm["load_duration"]

    [entry] = await _ps(http, server)
    assert list(entry) == [
        "name",
        "model",
        "size",
        "digest",
        "details",
        "expires_at",
        "size_vram",
        "context_length",
    ]
    assert entry["name"] == "llama3.2:latest"
    expires = str(entry["expires_at"])
    assert expires.startswith(time.strftime("%Y-", time.gmtime(time.time() + 300)))

    unload = await call(
        http, "POST", server.url + "/api/generate", {"model": "llama3.2", "keep_alive": 0}
    )
    assert json.loads(unload.body)["done_reason"] == "unload"
    assert unload.headers["Content-Type"] == JSON_UTF8
    assert await _ps(http, server) == []
    assert server.sim.scheduler.loads == 1 and server.sim.scheduler.unloads == 1


async def test_empty_prompt_and_empty_messages_load_the_model(
    server: SimServer, http: aiohttp.ClientSession
) -> None:
    reply = await call(
        http, "POST", server.url + "/api/chat", {"model": "llama3.2", "messages": []}
    )
    assert reply.headers["Content-Type"] == JSON_UTF8, "a single object even without stream"
    body = json.loads(reply.body)
    assert body["done_reason"] == "load" and body["message"] == {"role": "assistant", "content": ""}
    assert [m["name"] for m in await _ps(http, server)] == ["llama3.2:latest"]


async def test_keep_alive_expiry_removes_the_model(
    server: SimServer, http: aiohttp.ClientSession
) -> None:
    await call(
        http,
        "POST",
        server.url + "/api/generate",
        {"model": "llama3.2", "prompt": "hi", "keep_alive": "150ms", "stream": False},
    )
    assert len(await _ps(http, server)) == 1
    deadline = time.monotonic() + 5
    while await _ps(http, server) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)  # the expiry timer fires on its own schedule
    assert await _ps(http, server) == []


async def test_negative_keep_alive_keeps_the_model_forever(
    server: SimServer, http: aiohttp.ClientSession
) -> None:
    await call(
        http,
        "POST",
        server.url + "/api/generate",
        {"model": "qwen3:0.6b", "prompt": "hi", "keep_alive": -1, "stream": False},
    )
    [entry] = await _ps(http, server)
    assert int(str(entry["expires_at"])[:4]) > 2200


async def test_queue_full_gives_503_with_two_spaces(
    start_sim: StartSim, http: aiohttp.ClientSession
) -> None:
    server = await start_sim(load_s=0.3, max_queue=1)
    payload = {"model": "llama3.2", "prompt": "hi", "stream": False}
    replies = await asyncio.gather(
        *(call(http, "POST", server.url + "/api/generate", payload) for _ in range(3))
    )
    statuses = sorted(r.status for r in replies)
    assert statuses == [200, 200, 503]
    [busy] = [r for r in replies if r.status == 503]
    assert busy.body == (
        b'{"error":"server busy, please try again.  maximum pending requests exceeded"}'
    )
    assert server.sim.stats.queue_full == 1


async def test_runner_slots_wait_counts_in_total_not_load(
    start_sim: StartSim, http: aiohttp.ClientSession
) -> None:
    server = await start_sim(tokens_per_s=100, num_parallel=1)
    await call(http, "POST", server.url + "/api/generate", {"model": "llama3.2", "prompt": ""})
    payload = {"model": "llama3.2", "prompt": "hi", "stream": False, "options": {"num_predict": 10}}
    first, second = await asyncio.gather(
        call(http, "POST", server.url + "/api/generate", payload),
        call(http, "POST", server.url + "/api/generate", payload),
    )
    durations = sorted(
        (json.loads(r.body) for r in (first, second)), key=lambda b: b["total_duration"]
    )
    waited = durations[1]
    assert waited["load_duration"] < 20_000_000
    assert waited["total_duration"] - waited["eval_duration"] >= 80_000_000


async def test_nothing_is_sent_while_the_model_loads(start_sim: StartSim) -> None:
    server = await start_sim(load_s=0.4)
    port = URL(server.url).port
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    body = b'{"model":"llama3.2","prompt":"hi","options":{"num_predict":2}}'
    writer.write(
        b"POST /api/generate HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s"
        % (len(body), body)
    )
    await writer.drain()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(reader.read(1), 0.2)
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 200") and b"application/x-ndjson" in head
    writer.close()
    await writer.wait_closed()


async def test_repeated_prompt_reports_cached_tokens(
    server: SimServer, http: aiohttp.ClientSession
) -> None:
    payload = {
        "model": "llama3.2",
        "messages": [{"role": "user", "content": "a b c d e f"}],
        "stream": False,
    }
    first = json.loads((await call(http, "POST", server.url + "/api/chat", payload)).body)
    second = json.loads((await call(http, "POST", server.url + "/api/chat", payload)).body)
    assert "prompt_eval_cached_count" not in first
    assert second["prompt_eval_count"] == first["prompt_eval_count"]
    assert 0 < second["prompt_eval_cached_count"] < second["prompt_eval_count"]


async def test_embed_and_legacy_embeddings(server: SimServer, http: aiohttp.ClientSession) -> None:
    reply = await call(
        http, "POST", server.url + "/api/embed", {"model": "all-minilm", "input": ["one", "two"]}
    )
    body = json.loads(reply.body)
    assert list(body) == [
        "model",
        "embeddings",
        "total_duration",
        "load_duration",
        "prompt_eval_count",
    ]
    assert len(body["embeddings"]) == 2 and len(body["embeddings"][0]) == 384
    legacy = await call(
        http, "POST", server.url + "/api/embeddings", {"model": "all-minilm", "prompt": "one"}
    )
    assert list(json.loads(legacy.body)) == ["embedding"], "no metrics at all"
    empty = await call(
        http, "POST", server.url + "/api/embed", {"model": "all-minilm", "input": ""}
    )
    assert empty.body == b'{"model":"all-minilm","embeddings":[]}'


async def test_model_management_round_trip(server: SimServer, http: aiohttp.ClientSession) -> None:
    base = server.url
    show = json.loads((await call(http, "POST", base + "/api/show", {"model": "llama3.2"})).body)
    assert show["details"]["family"] == "llama" and "completion" in show["capabilities"]

    pull = await call(http, "POST", base + "/api/pull", {"model": "gemma3:1b"})
    statuses = [json.loads(line)["status"] for line in pull.body.splitlines()]
    assert statuses[0] == "pulling manifest" and statuses[-1] == "success"
    assert pull.headers["Content-Type"] == "application/x-ndjson"
    quiet = await call(http, "POST", base + "/api/pull", {"model": "gemma3:1b", "stream": False})
    assert quiet.body == b'{"status":"success"}'
    missing = await call(http, "POST", base + "/api/pull", {"model": "nope:7b"})
    assert missing.status == 200 and json.loads(missing.body.splitlines()[-1])["error"]

    copy = await call(
        http, "POST", base + "/api/copy", {"source": "gemma3:1b", "destination": "mine"}
    )
    assert (copy.status, copy.body) == (200, b"") and "Content-Type" not in copy.headers
    create = await call(http, "POST", base + "/api/create", {"model": "made", "from": "mine"})
    assert json.loads(create.body.splitlines()[-1]) == {"status": "success"}
    push = await call(http, "POST", base + "/api/push", {"model": "made"})
    assert json.loads(push.body.splitlines()[-1]) == {"status": "success"}

    tags = json.loads((await call(http, "GET", base + "/api/tags")).body)
    names = {m["name"] for m in tags["models"]}
    assert {"gemma3:1b", "mine:latest", "made:latest"} <= names

    deleted = await call(http, "DELETE", base + "/api/delete", {"model": "mine"})
    assert (deleted.status, deleted.body) == (200, b"")
    again = await call(http, "DELETE", base + "/api/delete", {"model": "mine"})
    assert again.status == 404 and again.body == b'{"error":"model \'mine\' not found"}'


async def _chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


async def test_blob_upload_is_verified_while_streaming(
    server: SimServer, http: aiohttp.ClientSession
) -> None:
    blob = bytes(range(256)) * 20_000  # 5 MB, sent in pieces
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    url = f"{server.url}/api/blobs/{digest}"
    assert (await call(http, "HEAD", url)).status == 404
    async with http.post(url, data=_chunks(blob, 65_536)) as response:
        assert response.status == 201 and await response.read() == b""
    assert (await call(http, "HEAD", url)).status == 200
    assert server.sim.registry.blobs[digest] == len(blob)

    wrong = f"{server.url}/api/blobs/sha256:{'0' * 64}"
    mismatch = await call(http, "POST", wrong, data=blob[:1000])
    assert mismatch.status == 400 and b"digest mismatch" in mismatch.body
    invalid = await call(http, "POST", f"{server.url}/api/blobs/sha256:xyz", data=b"a")
    assert invalid.status == 400
