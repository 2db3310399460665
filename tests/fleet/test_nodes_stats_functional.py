"""Seen per node: GET /api/stats/nodes and group_by=node over a fleet's stored records."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from ollama_proxy import appkeys
from ollama_proxy.app import create_app
from ollama_proxy.config import Settings
from ollama_proxy.stats.nodes import node_rows
from tests.fleet.harness import three_nodes
from tests.servers import start_app

HI = [{"role": "user", "content": "hi"}]


async def test_nodes_endpoint_and_group_by_node(tmp_path: Path) -> None:
    async with three_nodes() as nodes:
        settings = Settings(
            upstreams=",".join(f"{n.name}={n.url}" for n in nodes),
            listen="127.0.0.1:0",
            instance_name="fleet",
            otel_sdk_disabled=True,
            store_urls=f"sqlite:///{tmp_path / 'fleet.db'}",
            journal_dir=str(tmp_path / "journal"),
        )
        runner, url = await start_app(create_app(settings))
        try:
            async with aiohttp.ClientSession() as http:
                for model in ("llama3.2", "llama3.2", "qwen3:0.6b"):
                    body = {"model": model, "messages": HI, "stream": False}
                    async with http.post(f"{url}/api/chat", json=body) as response:
                        assert response.status == 200
                async with http.get(f"{url}/api/tags") as response:
                    assert response.status == 200
                await runner.app[appkeys.RECORDER].flush()
                async with http.get(f"{url}/api/stats/nodes") as response:
                    assert response.status == 200
                    rows = {row["node"]: row for row in await response.json()}
                async with http.get(f"{url}/api/stats/history?group_by=node") as response:
                    points = await response.json()
                async with http.get(f"{url}/api/models?group_by=node") as response:
                    models = await response.json()
        finally:
            await runner.cleanup()
    assert list(rows) == ["a", "b", "c"]  # the union's record ("a,b,c") is no node's own
    assert rows["a"]["requests_count"] == 2 and rows["b"]["requests_count"] == 1
    assert rows["c"]["requests_count"] == 0 and rows["c"]["healthy"] is True
    assert [m["name"] for m in rows["c"]["loaded_models"]] == [
        "all-minilm:latest",
        "llama3.2:latest",
    ]
    assert rows["b"]["cold_loads"] == 0  # zero-delay loads are not cold by the 250 ms rule
    assert {p["node"] for p in points if p["requests"]} == {"a", "b", "a,b,c"}
    assert all(p["instance"] is None for p in points)
    assert {(m["model_name"], m["node"]) for m in models} == {
        ("llama3.2:latest", "a"),  # canonical: a name without a tag is :latest
        ("qwen3:0.6b", "b"),
    }


def test_node_rows_merge_live_and_stored() -> None:
    live = [{"node": "a", "url": "http://a", "healthy": False, "loaded_models": []}]
    stored = [
        {"node": "z", "requests": 4, "errors": 1, "queue_wait_sum": 30.0, "queue_wait_n": 3},
        {"node": "a", "requests": 2, "load_count": 1},
        {"node": "a,z", "requests": 9},
        {"node": "", "requests": 9},
    ]
    rows = node_rows(stored, live)
    assert [r["node"] for r in rows] == ["a", "z"]
    assert rows[0]["healthy"] is False and rows[0]["requests_count"] == 2
    assert rows[0]["cold_loads"] == 1
    assert rows[1]["healthy"] is None and rows[1]["error_rate"] == 0.25
    assert rows[1]["avg_queue_wait_ms"] == 10.0
