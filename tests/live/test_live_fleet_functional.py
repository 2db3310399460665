"""The live view in front of a fleet: each request's node from dispatch on, and residency read
on that node's own /api/ps."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import aiohttp

from ollama_proxy import appkeys
from ollama_proxy.app import create_app
from ollama_proxy.config import Settings
from ollama_proxy.simulator.faults import Faults
from tests.fleet.harness import FleetProxy, fleet_proxy, load, start_node
from tests.live.sse import snapshots
from tests.servers import start_app

T = TypeVar("T")
SLOW = {"tokens_per_s": 20, "ttft_s": 0.05, "load_s": 1.0}


async def _generate(http: aiohttp.ClientSession, url: str, node: str) -> None:
    body = {"model": "llama3.2", "prompt": "hi", "options": {"num_predict": 20}}
    async with http.post(
        f"{url}/api/generate", json=body, headers={"X-Ollama-Node": node}
    ) as response:
        assert response.status == 200
        await response.read()


async def _snapshots_while(
    proxy: FleetProxy, http: aiohttp.ClientSession, start: Callable[[], Awaitable[T]]
) -> tuple[list[dict[str, Any]], T]:
    """Every live snapshot from just before `start()` until it is done and nothing is in flight
    any more, and what it returned."""
    live = await http.get(f"{proxy.url}/api/stats/live")
    stream = snapshots(live)
    await anext(stream)
    running = asyncio.ensure_future(start())
    seen: list[dict[str, Any]] = []
    async with asyncio.timeout(30):
        async for snap in stream:
            seen.append(snap)
            if running.done() and snap["in_flight"] == 0:
                break
    result = await running
    live.close()
    return seen, result


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
            seen, _ = await _snapshots_while(
                proxy,
                http,
                lambda: asyncio.gather(
                    _generate(http, proxy.url, "a"), _generate(http, proxy.url, "b")
                ),
            )
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
            body = {"model": "llama3.2", "prompt": "hi", "options": {"num_predict": 20}}
            seen, response = await _snapshots_while(
                proxy, http, lambda: http.post(f"{proxy.url}/api/generate", json=body)
            )
            assert response.status == 200
            await response.read()
            [record] = await proxy.records.await_for(1)
            assert (record.node, record.attempts) == ("b", 2)
    finally:
        await a.stop()
        await b.stop()
    rows = [r for snap in seen for r in snap["requests"]]
    assert rows and rows[-1]["node"] == "b"
    assert {r["phase"] for r in rows if r.get("node") == "b"} >= {"loading", "generating"}
    assert all(r["phase"] != "generating" for r in rows if r.get("node") != "b")


async def test_loaded_models_of_every_node_each_with_its_node(tmp_path: Path) -> None:
    # Regression: the snapshot's `loaded` came from the first node's /api/ps only, unlabelled;
    # /api/stats/current's `loaded_models` dropped the node.
    a = await start_node("a", "127.0.19.2", ["llama3.2"], keep_alive="5m")
    b = await start_node("b", "127.0.19.3", ["llama3.2", "qwen3:0.6b"], keep_alive="5m")
    settings = Settings(
        upstreams=f"a={a.url},b={b.url}",
        listen="127.0.0.1:0",
        otel_sdk_disabled=True,
        store_urls=f"sqlite:///{tmp_path / 'live.db'}",  # a store: the system monitor runs
        journal_dir=str(tmp_path / "journal"),
        metrics_export_interval=3600,
        ps_poll_interval_s=3600,  # polled below
    )
    runner, url = await start_app(create_app(settings))
    try:
        await load(a, "llama3.2")
        await load(b, "llama3.2")
        await load(b, "qwen3:0.6b")
        await runner.app[appkeys.SYSTEM].poll_ps()
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{url}/api/stats/live") as live:
                snap = await anext(snapshots(live))
            async with http.get(f"{url}/api/stats/current") as response:
                current = await response.json()
    finally:
        await runner.cleanup()
        await a.stop()
        await b.stop()
    # the overview's loaded models name their node too (they came without it)
    assert sorted((m.get("node"), m["name"]) for m in current["loaded_models"]) == [
        ("a", "llama3.2:latest"),
        ("b", "llama3.2:latest"),
        ("b", "qwen3:0.6b"),
    ]
    loaded = snap["loaded"]
    assert [(m.get("node"), m["name"]) for m in loaded] == [
        ("a", "llama3.2:latest"),
        ("b", "llama3.2:latest"),
        ("b", "qwen3:0.6b"),
    ]
    assert all(m["size_vram"] > 0 and 0 < m["expires_in_ms"] <= 300_000 for m in loaded)
