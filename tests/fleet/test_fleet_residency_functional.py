"""Model residency over a fleet: the system monitor polls every node's /api/ps, each resident
labelled by its node. Regression: only the first node was polled, so models loaded on the
others never showed in /api/stats/models/loaded, the timeline or model.vram.bytes."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from ollama_proxy import appkeys
from ollama_proxy.app import create_app
from ollama_proxy.config import Settings
from tests.fleet.harness import load, start_node
from tests.servers import start_app


async def test_every_node_residency_is_polled_and_labelled(tmp_path: Path) -> None:
    a = await start_node("a", "127.0.19.2", ["llama3.2"], keep_alive="5m")
    b = await start_node("b", "127.0.19.3", ["llama3.2", "qwen3:0.6b"], keep_alive="5m")
    settings = Settings(
        upstreams=f"a={a.url},b={b.url}",
        listen="127.0.0.1:0",
        instance_name="fleet",
        otel_sdk_disabled=True,
        store_urls=f"sqlite:///{tmp_path / 'fleet.db'}",
        journal_dir=str(tmp_path / "journal"),
        metrics_export_interval=3600,
        ps_poll_interval_s=3600,  # the test polls explicitly
    )
    runner, url = await start_app(create_app(settings))
    monitor = runner.app[appkeys.SYSTEM]
    try:
        await monitor.poll_ps()  # whatever the proxy's start saw
        await load(a, "llama3.2")
        await load(b, "llama3.2")
        await load(b, "qwen3:0.6b")
        events = await monitor.poll_ps()
        assert sorted((e.node, e.model, e.event) for e in events) == [
            ("a", "llama3.2:latest", "load"),
            ("b", "llama3.2:latest", "load"),
            ("b", "qwen3:0.6b", "load"),
        ]
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{url}/api/stats/models/loaded") as response:
                loaded = (await response.json())["models"]
            assert sorted((m["node"], m["name"]) for m in loaded) == [
                ("a", "llama3.2:latest"),
                ("b", "llama3.2:latest"),
                ("b", "qwen3:0.6b"),
            ]
            assert all(m["size_vram"] > 0 and m["loaded_at"] for m in loaded)

            # One node unloads a model the other keeps: one unload, on that node.
            unload = {"model": "llama3.2", "prompt": "", "keep_alive": 0}
            async with http.post(f"{b.url}/api/generate", json=unload) as response:
                assert response.status == 200
            events = await monitor.poll_ps()
            assert [(e.node, e.model, e.event) for e in events] == [
                ("b", "llama3.2:latest", "unload")
            ]
            assert events[0].resident_s is not None

            # A node that stops answering keeps its residents (no unloads invented).
            await a.stop()
            assert await monitor.poll_ps() == []
            assert {r.key for r in monitor.timeline.residents.values()} == {
                ("a", "llama3.2:latest"),
                ("b", "qwen3:0.6b"),
            }

            async with http.get(
                f"{url}/api/stats/models/timeline", params={"time_range": "1h"}
            ) as response:
                timeline = (await response.json())["events"]
            assert {(e["node"], e["model"], e["event"]) for e in timeline} >= {
                ("a", "llama3.2:latest", "load"),
                ("b", "llama3.2:latest", "unload"),
            }

            await monitor.sample()  # model.vram.bytes per resident, into the store
            await runner.app[appkeys.RECORDER].flush()
            async with http.get(f"{url}/api/stats/system") as response:
                series = (await response.json())["series"]
            assert {k for k in series if k.startswith("model.vram.bytes")} == {
                "model.vram.bytes[llama3.2:latest@a]",
                "model.vram.bytes[qwen3:0.6b@b]",
            }
    finally:
        await runner.cleanup()
        for node in (a, b):
            await node.stop()
