"""gpu_ms and load_charged_ms against the simulator's own durations, and GPU-seconds per
client and model in the stats API."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp

from ollama_proxy import appkeys
from ollama_proxy.app import create_app
from ollama_proxy.simulator import SimulatorConfig, create_simulator_app
from tests.servers import proxy_settings, start_app


async def _generate(http: aiohttp.ClientSession, url: str, client: str, n: int) -> None:
    body = {"model": "qwen3:0.6b", "prompt": "hi", "stream": True, "options": {"num_predict": n}}
    async with http.post(
        f"{url}/api/generate", json=body, headers={"X-Client-Name": client}
    ) as response:
        assert response.status == 200
        await response.read()


async def test_gpu_time_and_load_charge_per_request_client_and_model(tmp_path: Path) -> None:
    sim = SimulatorConfig(tokens_per_s=200, ttft_s=0.02, load_s=0.4, num_parallel=2)
    sim_runner, sim_url = await start_app(create_simulator_app(sim))
    app = create_app(proxy_settings(tmp_path, sim_url))
    runner, url = await start_app(app)
    try:
        async with aiohttp.ClientSession() as http:
            # Two requests wait for the same cold load; a third finds the model resident.
            await asyncio.gather(_generate(http, url, "a", 20), _generate(http, url, "b", 20))
            await _generate(http, url, "b", 60)
            await app[appkeys.RECORDER].flush()
            logs = (await (await http.get(f"{url}/api/stats/logs")).json())["logs"]
            clients = await (await http.get(f"{url}/api/stats/clients")).json()
            models = await (await http.get(f"{url}/api/models")).json()
    finally:
        await runner.cleanup()
        await sim_runner.cleanup()
    assert len(logs) == 3
    for log in logs:
        # The simulator's own durations, as it reported them in the final chunk.
        assert log["gpu_ms"] == log["prompt_eval_duration_ms"] + log["eval_duration_ms"]
        assert log["gpu_ms"] > 0 and log["energy_j"] is None  # no power reading here
    cold = [log for log in logs if log["load_duration_ms"] >= 300]
    assert len(cold) == 2  # both waited ~0.4 s for the load...
    charged = [log["load_charged_ms"] for log in cold]
    assert sorted(charged)[0] == 0.0  # ...but only one of them caused it
    assert abs(max(charged) - 400) < 150
    [warm] = [log for log in logs if log["load_duration_ms"] < 300]
    assert warm["load_charged_ms"] == 0.0
    by_client = {c["client"]: c for c in clients}
    gpu = {name: sum(log["gpu_ms"] for log in logs if log["client_name"] == name) for name in "ab"}
    for name in "ab":
        assert abs(by_client[name]["gpu_s"] - gpu[name] / 1000) < 0.002
    assert abs(sum(c["gpu_share"] for c in clients) - 1) < 1e-3
    assert by_client["b"]["gpu_share"] > by_client["a"]["gpu_share"]  # 80 tokens against 20
    assert sum(c["load_charged_s"] for c in clients) == round(max(charged) / 1000, 3)
    [model] = [m for m in models if m["model_name"] == "qwen3:0.6b"]
    assert abs(model["gpu_s"] - sum(gpu.values()) / 1000) < 0.002
    assert model["energy_j"] is None and model["j_per_1k_tokens"] is None
