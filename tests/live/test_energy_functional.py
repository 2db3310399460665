"""Energy per request from an emulated power reading (the fake nvidia-smi): two requests
share the GPU, each is charged about its share; without a reading energy stays null."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from ollama_proxy import appkeys
from ollama_proxy.app import create_app
from ollama_proxy.config import Settings
from ollama_proxy.simulator import SimulatorConfig, create_simulator_app
from tests.servers import hung_driver, proxy_settings, start_app

FAKE_BIN = Path(__file__).resolve().parents[1] / "simulator" / "bin"
WATTS = 200.0


def _settings(tmp_path: Path, upstream: str, **extra: object) -> Settings:
    return proxy_settings(tmp_path, upstream, power_sample_ms=100, **extra)


async def _generate(http: aiohttp.ClientSession, url: str, client: str) -> None:
    body = {"model": "llama3.2", "prompt": "hi", "options": {"num_predict": 60}}
    async with http.post(
        f"{url}/api/generate", json=body, headers={"X-Client-Name": client}
    ) as response:
        assert response.status == 200
        await response.read()


async def test_energy_from_emulated_power(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", f"{FAKE_BIN}:/usr/bin:/bin")
    monkeypatch.setenv("FAKE_GPU_POWER_W", str(WATTS))
    sim = SimulatorConfig(tokens_per_s=30, ttft_s=0.05, load_s=0, num_parallel=2)
    sim_runner, sim_url = await start_app(create_simulator_app(sim))
    app = create_app(_settings(tmp_path, sim_url))
    runner, url = await start_app(app)
    try:
        async with aiohttp.ClientSession() as http:
            await asyncio.gather(_generate(http, url, "a"), _generate(http, url, "b"))
            await app[appkeys.RECORDER].flush()
            logs = (await (await http.get(f"{url}/api/stats/logs")).json())["logs"]
            models = await (await http.get(f"{url}/api/models")).json()
            clients = await (await http.get(f"{url}/api/stats/clients")).json()
    finally:
        await runner.cleanup()
        await sim_runner.cleanup()
    assert len(logs) == 2
    for log in logs:
        # Two requests side by side on one GPU at a steady 200 W: each about half of
        # 200 W x its GPU time (sampling and the ends of the window blur it a little).
        expected = WATTS * log["gpu_ms"] / 1000 / 2
        assert log["energy_j"] is not None
        assert 0.5 * expected <= log["energy_j"] <= 1.5 * expected, (log["energy_j"], expected)
    [model] = [m for m in models if m["model_name"] in ("llama3.2", "llama3.2:latest")]
    total = sum(log["energy_j"] for log in logs)
    assert abs(model["energy_j"] - total) < 0.01
    tokens = sum(log["completion_tokens"] for log in logs)
    assert model["j_per_1k_tokens"] == pytest.approx(total * 1000 / tokens, rel=1e-3)
    assert {c["client"] for c in clients if c["energy_j"]} == {"a", "b"}


async def test_a_gpu_driver_that_hangs_at_start_does_not_hold_the_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Regression: the power reader was opened (nvmlInit, or which nvidia-smi) in a thread the
    # start awaited without a timeout: a hung driver kept the proxy from ever serving.
    from ollama_proxy.system.power import PowerReader

    async with hung_driver(monkeypatch, PowerReader, "_open") as sim_url:
        async with asyncio.timeout(10):  # a hang, not a speed: the start used to never end
            runner, url = await start_app(
                create_app(_settings(tmp_path, sim_url, sampler_timeout_s=0.2))
            )
        try:
            async with aiohttp.ClientSession() as http:
                body = {"model": "llama3.2", "prompt": "hi", "stream": False}
                async with http.post(f"{url}/api/generate", json=body) as response:
                    assert response.status == 200
        finally:
            await runner.cleanup()
