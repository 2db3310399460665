"""Usage rules end to end (client -> proxy -> simulator -> SQLite -> stats API): tokens only
where tokens exist, one canonical model name, thinking split out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import ollama
import openai
import pytest
from aiohttp import web

from ollama_proxy import appkeys
from ollama_proxy.app import create_app
from ollama_proxy.config import Settings
from ollama_proxy.simulator import SimulatorConfig, create_simulator_app
from tests.servers import start_app

THOUGHTS = 8  # SimulatorConfig.thinking_tokens


@dataclass
class Proxy:
    url: str
    app: web.Application

    async def get(self, path: str, **params: str) -> Any:
        await self.app[appkeys.RECORDER].flush()
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{self.url}{path}", params=params) as response:
                assert response.status == 200, await response.text()
                return await response.json()

    async def logs(self) -> list[dict[str, Any]]:
        page = await self.get("/api/stats/logs", limit="100")
        logs: list[dict[str, Any]] = page["logs"]
        return logs


@pytest.fixture
async def proxy(tmp_path: Path) -> AsyncIterator[Proxy]:
    sim_runner, sim_url = await start_app(
        create_simulator_app(SimulatorConfig.zero_delay(pull_s=0))
    )
    settings = Settings(
        upstream=sim_url,
        listen="127.0.0.1:0",
        store_urls=[f"sqlite:///{tmp_path}/p.db"],
        journal_dir=str(tmp_path / "journal"),
        metrics_export_interval=3600,
    )
    app = create_app(settings)
    runner, url = await start_app(app)
    yield Proxy(url, app)
    await runner.cleanup()
    await sim_runner.cleanup()


async def test_a_pull_counts_no_tokens_anywhere(proxy: Proxy) -> None:
    # Bug: each progress line of /api/pull was counted as a completion token (24 on one pull,
    # estimated: false) and added to tokens_total.
    client = ollama.AsyncClient(host=proxy.url)
    lines = [line async for line in await client.pull("gemma3:1b", stream=True)]
    await client.generate(model="llama3.2", prompt="hi", options={"num_predict": 5})
    await client.close()
    assert len(lines) > 5
    by_op = {log["operation"]: log for log in await proxy.logs()}
    pull = by_op["pull"]
    assert pull["usage_source"] == "none" and pull["estimated"] is False
    assert pull["completion_tokens"] is None and pull["prompt_tokens"] is None
    assert pull["tokens"] is None and pull["tokens_generated"] is None
    generate = by_op["generate"]
    assert generate["usage_source"] == "reported" and generate["completion_tokens"] == 5
    current = await proxy.get("/api/stats/current")
    assert current["completion_tokens_total"] == 5  # the pull added nothing
    csv_head = await _csv_header(proxy)
    assert {"usage_source", "model_requested", "thinking_tokens"} <= set(csv_head)


async def _csv_header(proxy: Proxy) -> list[str]:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{proxy.url}/api/stats/logs.csv") as response:
            text = await response.text()
    return text.splitlines()[0].split(",")


async def test_one_model_one_name_in_records_and_models(proxy: Proxy) -> None:
    client = ollama.AsyncClient(host=proxy.url)
    await client.generate(model="llama3.2", prompt="hi", options={"num_predict": 2})
    await client.generate(model="llama3.2:latest", prompt="hi", options={"num_predict": 2})
    await client.close()
    logs = await proxy.logs()
    assert {log["model"] for log in logs} == {"llama3.2:latest"}
    assert {log["model_requested"] for log in logs} == {"llama3.2", "llama3.2:latest"}
    await proxy.app[appkeys.SYSTEM].poll_ps()  # residency now, not at the next poll
    models = await proxy.get("/api/models")
    rows = [m for m in models if m["model_name"].startswith("llama3.2")]
    assert [(m["model_name"], m["requests_count"], m["loaded"]) for m in rows] == [
        ("llama3.2:latest", 2, True)
    ]


async def test_thinking_is_split_out_on_every_api(proxy: Proxy) -> None:
    client = ollama.AsyncClient(host=proxy.url)
    parts = [
        p
        async for p in await client.chat(
            model="qwen3:0.6b", messages=[{"role": "user", "content": "x"}], think=True, stream=True
        )
    ]
    assert sum(1 for p in parts if p.message.thinking) == THOUGHTS
    await client.chat(model="qwen3:0.6b", messages=[{"role": "user", "content": "x"}], think=True)
    await client.close()
    sdk = openai.AsyncOpenAI(base_url=f"{proxy.url}/v1", api_key="x", max_retries=0)
    stream = await sdk.chat.completions.create(
        model="qwen3:0.6b",
        messages=[{"role": "user", "content": "x"}],
        stream=True,
        reasoning_effort="low",
    )
    _ = [chunk async for chunk in stream]
    await sdk.close()
    async with aiohttp.ClientSession() as http:
        body = {
            "model": "qwen3:0.6b",
            "max_tokens": 16,
            "stream": True,
            "thinking": {"type": "enabled", "budget_tokens": 64},
            "messages": [{"role": "user", "content": "x"}],
        }
        async with http.post(f"{proxy.url}/v1/messages", json=body) as response:
            assert b"thinking_delta" in await response.read()
    logs = {(log["api_flavor"], log["stream"]): log for log in await proxy.logs()}
    for key in (("native", True), ("openai", True), ("anthropic", True)):
        log = logs[key]
        assert log["thinking_tokens"] == THOUGHTS and log["thinking_estimated"], key
        assert log["thinking_ms"] is not None and log["thinking_ms"] >= 0, key
        assert log["ttft_answer_ms"] >= log["ttft_ms"], key
    body_log = logs[("native", False)]  # stream false: thinking text, tokens estimated
    assert body_log["thinking_tokens"] and body_log["thinking_ms"] is None
    models = {m["model_name"]: m for m in await proxy.get("/api/models")}
    assert models["qwen3:0.6b"]["thinking_tokens"] >= 3 * THOUGHTS
    metrics = await _metrics(proxy)
    assert "gen_ai_usage_reasoning_output_tokens" in metrics


async def _metrics(proxy: Proxy) -> str:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{proxy.url}/metrics") as response:
            return await response.text()
