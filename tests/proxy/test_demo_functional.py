"""The demo's traffic generator makes the mix the dashboard needs: models, clients, errors."""

from __future__ import annotations

from ollama_proxy.app import create_app
from ollama_proxy.demo import generate_traffic
from ollama_proxy.simulator import SimulatorConfig, create_simulator_app
from tests.proxy.conftest import RecordSink, proxy_settings
from tests.servers import start_app


async def test_demo_traffic_covers_models_clients_and_errors() -> None:
    sim_runner, sim_url = await start_app(create_simulator_app(SimulatorConfig.zero_delay()))
    records = RecordSink()
    runner, url = await start_app(create_app(proxy_settings(sim_url), submit=records.append))
    try:
        assert await generate_traffic(url, requests=40, seed=3) == 40
        got = await records.await_for(40)
        assert {r.client_name for r in got} >= {"notebook", "open-webui", "batch-job"}
        assert {r.model for r in got} >= {"llama3.2:latest", "qwen3:0.6b"}
        assert any(r.http_status == 404 for r in got)
        assert {r.api_flavor for r in got} >= {"native", "openai"}
    finally:
        await runner.cleanup()
        await sim_runner.cleanup()
