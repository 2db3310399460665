"""The live view in front of a fleet: each request's node from dispatch on, and residency read
on that node's own /api/ps."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from ollama_proxy.simulator.faults import Faults
from tests.fleet.harness import fleet_proxy, load, start_node
from tests.live.sse import snapshots

SLOW = {"tokens_per_s": 20, "ttft_s": 0.05, "load_s": 1.0}


async def _generate(http: aiohttp.ClientSession, url: str, node: str) -> None:
    body = {"model": "llama3.2", "prompt": "hi", "options": {"num_predict": 20}}
    async with http.post(
        f"{url}/api/generate", json=body, headers={"X-Ollama-Node": node}
    ) as response:
        assert response.status == 200
        await response.read()


async def test_node_is_known_in_flight_and_loading_is_read_on_that_node() -> None:
    # llama3.2 is resident on a only; b has it on disk and loads it (1 s) when asked.
    a = await start_node("a", "127.0.19.2", ["llama3.2"], **SLOW)
    b = await start_node("b", "127.0.19.3", ["llama3.2"], **SLOW)
    seen: list[dict[str, Any]] = []
    try:
        await load(a, "llama3.2")
        async with (
            fleet_proxy([a, b], live_interval_ms=100) as proxy,
            aiohttp.ClientSession() as http,
        ):
            live = await http.get(f"{proxy.url}/api/stats/live")
            stream = snapshots(live)
            await anext(stream)
            calls = asyncio.gather(_generate(http, proxy.url, "a"), _generate(http, proxy.url, "b"))
            running = asyncio.ensure_future(calls)
            async with asyncio.timeout(30):
                async for snap in stream:
                    seen.append(snap)
                    if running.done() and snap["in_flight"] == 0:
                        break
            await running
            live.close()
    finally:
        await a.stop()
        await b.stop()
    rows = [r for snap in seen for r in snap["requests"]]
    by_node: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_node.setdefault(r.get("node", ""), []).append(r)
    # Every row seen in flight names its node (set at dispatch, not when the request ends).
    assert set(by_node) == {"a", "b"}, by_node.keys()
    assert {r["phase"] for r in by_node["b"]} >= {"loading", "generating"}
    assert "loading" not in {r["phase"] for r in by_node["a"]}  # resident there
    assert {r["phase"] for r in by_node["a"]} >= {"generating"}


async def test_a_failover_moves_the_request_to_its_new_node() -> None:
    a = await start_node("a", "127.0.19.2", ["llama3.2"], **SLOW)
    b = await start_node("b", "127.0.19.3", ["llama3.2"], **SLOW)
    seen: list[dict[str, Any]] = []
    try:
        await load(a, "llama3.2")
        a.sim.set_faults(Faults(queue_full=True, count=1))  # a answers 503 once: b takes it
        async with (
            fleet_proxy([a, b], live_interval_ms=100) as proxy,
            aiohttp.ClientSession() as http,
        ):
            live = await http.get(f"{proxy.url}/api/stats/live")
            stream = snapshots(live)
            await anext(stream)
            body = {"model": "llama3.2", "prompt": "hi", "options": {"num_predict": 20}}
            running = asyncio.ensure_future(http.post(f"{proxy.url}/api/generate", json=body))
            async with asyncio.timeout(30):
                async for snap in stream:
                    seen.append(snap)
                    if running.done() and snap["in_flight"] == 0:
                        break
            response = await running
            assert response.status == 200
            await response.read()
            live.close()
            [record] = await proxy.records.await_for(1)
            assert (record.node, record.attempts) == ("b", 2)
    finally:
        await a.stop()
        await b.stop()
    rows = [r for snap in seen for r in snap["requests"]]
    assert rows and rows[-1]["node"] == "b"
    assert {r["phase"] for r in rows if r.get("node") == "b"} >= {"loading", "generating"}
    assert all(r["phase"] != "generating" for r in rows if r.get("node") != "b")
