"""The whole path: client -> proxy -> simulator, record -> recorder -> SQLite -> stats API."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import ollama

from ollama_proxy import appkeys
from ollama_proxy.app import create_app
from ollama_proxy.config import Settings
from ollama_proxy.simulator import SimulatorConfig, create_simulator_app
from tests.servers import start_app


async def test_requests_land_in_the_store_and_the_stats_api(tmp_path: Path) -> None:
    sim_runner, sim_url = await start_app(create_simulator_app(SimulatorConfig.zero_delay()))
    settings = Settings(
        upstream=sim_url,
        listen="127.0.0.1:0",
        store_urls=[f"sqlite:///{tmp_path}/p.db"],
        journal_dir=str(tmp_path / "journal"),
        metrics_export_interval=3600,
        instance_name="box-1",
    )
    app = create_app(settings)
    runner, url = await start_app(app)
    try:
        client = ollama.AsyncClient(host=url, headers={"X-Client-Name": "notebook"})
        for _ in range(3):
            await client.generate(model="llama3.2", prompt="hi", options={"num_predict": 5})
        await client.chat(model="qwen3:0.6b", messages=[{"role": "user", "content": "x"}])
        await client.list()
        await client.close()
        await app[appkeys.RECORDER].flush()

        async with aiohttp.ClientSession() as http:
            async with http.get(f"{url}/api/stats/logs", params={"limit": "50"}) as response:
                assert response.status == 200
                logs = await response.json()
            async with http.get(f"{url}/api/stats/current") as response:
                current = await response.json()
            async with http.get(f"{url}/metrics") as response:
                metrics = await response.text()
        assert logs["total"] == 5
        generated = [log for log in logs["logs"] if log["operation"] == "generate"]
        assert len(generated) == 3
        assert {log["client_name"] for log in logs["logs"]} == {"notebook"}
        assert all(log["instance"] == "box-1" for log in logs["logs"])
        assert current["tokens_total"] >= 15
        assert "gen_ai_client_token_usage" in metrics
    finally:
        await runner.cleanup()
        await sim_runner.cleanup()
