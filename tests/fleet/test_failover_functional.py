"""Failover before the first response byte, never after it."""

from __future__ import annotations

import aiohttp
import ollama
import pytest

from ollama_proxy.simulator.faults import Faults
from tests.fleet.harness import fleet_proxy, start_node, three_nodes
from tests.waiting import until

HI = [{"role": "user", "content": "hi"}]


async def test_queue_full_503_is_served_by_another_node() -> None:
    async with three_nodes() as nodes, fleet_proxy(nodes) as proxy:
        nodes[0].sim.set_faults(Faults(queue_full=True, count=1))
        client = proxy.client()
        reply = await client.chat(model="llama3.2", messages=HI)
        assert reply.message.content
        record = (await proxy.records.await_for(1))[0]
        assert (record.node, record.route_reason, record.attempts) == ("c", "loaded", 2)
        assert record.status == "success" and nodes[0].sim.stats.queue_full == 1
        assert proxy.fleet.by_name["a"].healthy  # a full queue is not a sick node


async def test_a_refusing_node_is_skipped_ejected_and_readmitted() -> None:
    # No scheduled probe in the test's time: the request finds out, a kick readmits.
    async with (
        three_nodes() as nodes,
        fleet_proxy(nodes, fleet_ps_interval_s=600, route_eject_failures=1) as proxy,
    ):
        host, port = nodes[0].url.removeprefix("http://").split(":")
        await nodes[0].stop()
        client = proxy.client()
        await client.chat(model="llama3.2", messages=HI)
        record = (await proxy.records.await_for(1))[0]
        assert (record.node, record.attempts, record.status) == ("c", 2, "success")
        assert not proxy.fleet.by_name["a"].healthy
        await client.chat(model="llama3.2", messages=HI)
        assert proxy.records.wait_for(2)[1].attempts == 1  # a is not tried while ejected
        back = await start_node("a", host, ["llama3.2", "qwen3:0.6b"], port=int(port))
        try:
            proxy.kick("a")
            await until(lambda: proxy.fleet.by_name["a"].healthy)
            await client.generate(model="qwen3:0.6b", prompt="x", options={"num_predict": 1})
            assert proxy.records.wait_for(3)[2].node in ("a", "b")
        finally:
            await back.stop()


async def test_every_candidate_refusing_is_a_502_in_ollamas_shape() -> None:
    async with three_nodes() as nodes, fleet_proxy(nodes, route_max_attempts=2) as proxy:
        for node in nodes:
            await node.stop()
        client = proxy.client()
        with pytest.raises(ollama.ResponseError) as caught:
            await client.chat(model="llama3.2", messages=HI)
        assert caught.value.status_code == 502
        assert caught.value.error.startswith("no Ollama node could take the request")
        record = (await proxy.records.await_for(1))[0]
        assert (record.node, record.route_reason, record.attempts) == ("a,c", "failed", 2)
        assert record.error_type == "upstream_unreachable"


async def test_a_failure_after_the_first_byte_is_not_retried() -> None:
    async with three_nodes() as nodes, fleet_proxy(nodes) as proxy:
        nodes[0].sim.set_faults(Faults(reset_after_chunks=2, count=1))
        body = {"model": "llama3.2", "messages": HI, "options": {"num_predict": 8}}
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{proxy.url}/api/chat", json=body) as response:
                assert response.status == 200
                text = await response.read()
        assert b'"error"' in text
        record = (await proxy.records.await_for(1))[0]
        assert (record.node, record.attempts, record.status) == ("a", 1, "error")
        assert nodes[2].sim.stats.requests.get("/api/chat", 0) == 0


async def test_held_request_bytes_share_one_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    # Regression: every request held up to 8 MB for a retry, so memory grew with the number
    # of clients uploading at once. Past the budget a request holds only its head: a large
    # body then goes to one node without a retry; a small one is still held whole.
    from ollama_proxy.app import PROXY_HANDLER
    from ollama_proxy.proxy import fleet_forward

    monkeypatch.setattr(fleet_forward, "HELD_BUDGET", fleet_forward.MAX_HELD - 1)
    async with three_nodes() as nodes, fleet_proxy(nodes) as proxy:
        forwarder = proxy.app[PROXY_HANDLER].fleet_forward
        large = [{"role": "user", "content": "x" * (2 * fleet_forward.HEAD_BYTES)}]
        nodes[0].sim.set_faults(Faults(queue_full=True, count=1))
        with pytest.raises(ollama.ResponseError):
            await proxy.client().chat(model="llama3.2", messages=large)
        record = (await proxy.records.await_for(1))[0]
        assert (record.node, record.attempts, record.http_status) == ("a", 1, 503)

        nodes[0].sim.set_faults(Faults(queue_full=True, count=1))
        await proxy.client().chat(model="llama3.2", messages=HI)
        assert proxy.records.wait_for(2)[1].attempts == 2  # small: held, retried on c
        assert forwarder.held == 0  # every reservation given back
