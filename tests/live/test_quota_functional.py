"""Daily quotas with two API keys: one runs out (429, Retry-After, Ollama's error shape), the
other does not; the usage survives a restart of the proxy (rebuilt from the store)."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from ollama_proxy import appkeys
from ollama_proxy.app import create_app
from ollama_proxy.config import Settings
from ollama_proxy.simulator import SimulatorConfig, create_simulator_app
from tests.servers import proxy_settings, start_app

KEYS = {"alice": "k-alice", "bob": "k-bob"}


def _settings(tmp_path: Path, upstream: str) -> Settings:
    return proxy_settings(
        tmp_path,
        upstream,
        proxy_api_keys=[f"{label}:{key}" for label, key in KEYS.items()],
        proxy_quotas=["alice:tokens=40", "bob:gpu_s=3600:tokens=100000"],
    )


async def _generate(http: aiohttp.ClientSession, url: str, who: str) -> aiohttp.ClientResponse:
    body = {"model": "llama3.2", "prompt": "hi", "stream": False, "options": {"num_predict": 25}}
    headers = {"Authorization": f"Bearer {KEYS[who]}"}
    response = await http.post(f"{url}/api/generate", json=body, headers=headers)
    await response.read()
    return response


async def test_quota_refuses_one_key_and_survives_a_restart(tmp_path: Path) -> None:
    sim_runner, sim_url = await start_app(create_simulator_app(SimulatorConfig.zero_delay()))
    try:
        runner, url = await start_app(create_app(_settings(tmp_path, sim_url)))
        async with aiohttp.ClientSession() as http:
            # alice: 25 output tokens + the prompt's per answer; the second passes 40.
            assert (await _generate(http, url, "alice")).status == 200
            assert (await _generate(http, url, "alice")).status == 200
            refused = await _generate(http, url, "alice")
            assert refused.status == 429
            assert 1 <= int(refused.headers["Retry-After"]) <= 86_400
            error = (await refused.json())["error"]
            assert "daily token (40) quota of alice used up" in error
            assert (await _generate(http, url, "bob")).status == 200
            # Tags are no inference: a label over its quota still lists models.
            tags = await http.get(f"{url}/api/tags", headers={"Authorization": "Bearer k-alice"})
            assert tags.status == 200
        await runner.cleanup()  # the recorder's last flush writes every record

        app = create_app(_settings(tmp_path, sim_url))
        runner, url = await start_app(app)
        async with aiohttp.ClientSession() as http:
            assert (await _generate(http, url, "alice")).status == 429  # remembered
            assert (await _generate(http, url, "bob")).status == 200
            await app[appkeys.RECORDER].flush()
            clients = await (await http.get(f"{url}/api/stats/clients")).json()
        await runner.cleanup()
    finally:
        await sim_runner.cleanup()
    quota = {c["client"]: c["quota"] for c in clients}
    assert quota["alice"]["exceeded"] is True and quota["alice"]["tokens_limit"] == 40
    assert quota["alice"]["tokens_used"] >= 40
    assert quota["bob"]["exceeded"] is False and quota["bob"]["gpu_s_limit"] == 3600
    assert quota["bob"]["tokens_used"] >= 50 and quota["bob"]["gpu_s_used"] >= 0
