"""Routing through the proxy to three simulated nodes, driven by the real clients."""

from __future__ import annotations

import aiohttp
import ollama
import orjson
import pytest

from tests.fleet.harness import fleet_proxy, three_nodes

HI = [{"role": "user", "content": "hi"}]


def last(proxy: object, count: int) -> tuple[str, str, int]:
    record = proxy.records.wait_for(count)[count - 1]  # type: ignore[attr-defined]
    return record.node, record.route_reason, record.attempts


async def test_warm_node_cold_model_and_every_api_flavour() -> None:
    async with three_nodes() as nodes, fleet_proxy(nodes) as proxy:
        client = proxy.client()
        await client.chat(model="llama3.2", messages=HI)
        # a and c hold llama3.2 with a free slot: the tie goes to the first.
        assert await proxy.records.await_for(1) and last(proxy, 1) == ("a", "loaded", 1)
        await client.generate(model="qwen3:0.6b", prompt="hello")
        # a would evict llama3.2 to load it, b is idle, c does not have it.
        assert last(proxy, 2) == ("b", "on_disk", 1)
        await client.embed(model="all-minilm", input="x")
        assert last(proxy, 3) == ("c", "loaded", 1)
        oai = proxy.openai()
        await oai.chat.completions.create(model="qwen3:0.6b", messages=HI)  # type: ignore[arg-type]
        assert last(proxy, 4) == ("b", "loaded", 1)  # now warm there
        async with aiohttp.ClientSession() as session:
            body = {"model": "llama3.2", "max_tokens": 5, "messages": HI}
            async with session.post(f"{proxy.url}/v1/messages", json=body) as response:
                assert response.status == 200
        assert last(proxy, 5)[0] in ("a", "c")
        assert [r.status for r in proxy.records] == ["success"] * 5


async def test_affinity_keeps_a_conversation_on_its_node() -> None:
    async with three_nodes() as nodes, fleet_proxy(nodes) as proxy:
        fleet = proxy.fleet
        client = proxy.client()
        busy = fleet.dispatch(fleet.by_name["a"], "llama3.2:latest")  # a's one slot taken
        first = await client.chat(model="llama3.2", messages=HI)
        assert last(proxy, 1) == ("c", "loaded", 1)
        fleet.release(busy, 0.0, False)
        turn = [*HI, {"role": "assistant", "content": first.message.content}]
        turn.append({"role": "user", "content": "and then?"})
        await client.chat(model="llama3.2", messages=turn)
        assert last(proxy, 2) == ("c", "affinity", 1)  # a is free again and first in a tie
        await client.chat(model="llama3.2", messages=[{"role": "user", "content": "new"}])
        assert last(proxy, 3) == ("a", "loaded", 1)


async def test_pinning_rules() -> None:
    async with three_nodes() as nodes, fleet_proxy(nodes, route_rules="llama3*=c") as proxy:
        client = proxy.client()
        await client.generate(model="llama3.2", prompt="x")
        assert last(proxy, 1) == ("c", "pinned", 1)


async def test_x_ollama_node_forces_a_node_and_unknown_names_are_404() -> None:
    async with three_nodes() as nodes, fleet_proxy(nodes) as proxy:
        client = proxy.client(**{"X-Ollama-Node": "b"})
        await client.chat(model="llama3.2", messages=HI)
        assert last(proxy, 1) == ("b", "forced", 1)
        stray = proxy.client(**{"X-Ollama-Node": "zz"})
        with pytest.raises(ollama.ResponseError) as caught:
            await stray.chat(model="llama3.2", messages=HI)
        assert caught.value.status_code == 404 and caught.value.error == 'unknown node "zz"'
        record = proxy.records.wait_for(2)[1]
        assert record.http_status == 404 and record.status == "error"


async def test_unions_parse_with_the_official_client() -> None:
    async with three_nodes() as nodes:
        nodes[2].sim.config.version = "0.12.1"
        async with fleet_proxy(nodes) as proxy:
            client = proxy.client()
            listed = await client.list()
            assert sorted(m.model or "" for m in listed.models) == [
                "all-minilm:latest",
                "llama3.2:latest",
                "qwen3:0.6b",
            ]
            running = await client.ps()
            assert sorted(m.model or "" for m in running.models) == [
                "all-minilm:latest",
                "llama3.2:latest",
            ]
            async with aiohttp.ClientSession() as session:
                async with session.get(f"{proxy.url}/api/version") as response:
                    assert orjson.loads(await response.read()) == {"version": "0.12.1"}
                async with session.get(f"{nodes[0].url}/api/tags") as direct:
                    one = orjson.loads(await direct.read())["models"]
                async with session.get(f"{proxy.url}/api/tags") as response:
                    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
                    union = orjson.loads(await response.read())["models"]
            # Entries are the nodes' own, key for key.
            assert union[: len(one)] == one
            record = proxy.records.wait_for(1)[0]
            assert (record.node, record.route_reason, record.attempts) == ("a,b,c", "union", 3)


async def test_management_goes_to_every_node_in_turn_and_show_to_a_holder() -> None:
    async with three_nodes() as nodes, fleet_proxy(nodes) as proxy:
        client = proxy.client()
        statuses = [p.status async for p in await client.pull("gemma3:1b", stream=True)]
        assert statuses.count("success") == 3  # one progress after the other
        for node in nodes:
            async with aiohttp.ClientSession() as http:
                async with http.get(f"{node.url}/api/tags") as response:
                    names = [m["name"] for m in (await response.json())["models"]]
            assert "gemma3:1b" in names
        record = (await proxy.records.await_for(1))[0]
        assert (record.node, record.route_reason, record.attempts) == ("a,b,c", "each", 3)
        await client.delete("gemma3:1b")  # 200 when any node deleted it
        only_b = proxy.client(**{"X-Ollama-Node": "b"})
        await only_b.pull("gemma3:1b")
        assert proxy.records.wait_for(3)[2].node == "b"
        shown = await client.show("all-minilm")  # only c has it
        assert shown.modelfile is not None
        assert proxy.records.wait_for(4)[3].node == "c"


async def test_a_model_pulled_through_the_proxy_is_routable_at_once() -> None:
    async with three_nodes() as nodes, fleet_proxy(nodes) as proxy:
        client = proxy.client(**{"X-Ollama-Node": "c"})
        await client.pull("gemma3:1b")
        await until_on_disk(proxy, "c", "gemma3:1b")
        await proxy.client().generate(model="gemma3:1b", prompt="x")
        assert proxy.records.wait_for(2)[1].node == "c"  # not "absent" to the least busy


async def until_on_disk(proxy: object, node: str, model: str) -> None:
    import asyncio

    fleet = proxy.fleet  # type: ignore[attr-defined]
    for _ in range(200):  # the poller retags the node right after the pull
        if model in fleet.by_name[node].on_disk:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{model} never listed on {node}")


async def test_a_blob_counts_as_present_only_when_every_node_has_it() -> None:
    # `ollama create` asks HEAD /api/blobs/<digest> and uploads only on a 404: a 200 from one
    # node would leave the others without the blob.
    import hashlib

    blob = b"a tiny model file"
    path = f"/api/blobs/sha256:{hashlib.sha256(blob).hexdigest()}"
    async with three_nodes() as nodes, fleet_proxy(nodes) as proxy:
        fleet = proxy.fleet  # type: ignore[attr-defined]
        retagged: list[str] = []
        retag = fleet.on_changed
        fleet.on_changed = lambda node: (retagged.append(node.name), retag(node))
        async with aiohttp.ClientSession() as http:
            async with http.post(nodes[2].url + path, data=blob) as response:
                assert response.status == 201
            async with http.head(proxy.url + path) as response:
                assert response.status == 404  # only c has it
            async with http.post(proxy.url + path, data=blob) as response:
                assert response.status == 201  # uploaded to every node in turn
            async with http.head(proxy.url + path) as response:
                assert response.status == 200
        assert retagged == []  # a blob changes no node's models: no /api/tags poll
        await proxy.client().pull("gemma3:1b")
        assert sorted(retagged) == ["a", "b", "c"]  # a pull does, on every node
