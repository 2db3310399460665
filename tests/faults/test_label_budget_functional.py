"""Hostile model names: a client sending random names must not grow /metrics or memory.

The figures of docs/reliability.md ("Random model names") come from these tests:
`pytest tests/faults/test_label_budget_functional.py -s` prints them.
"""

from __future__ import annotations

import gc
import secrets

import aiohttp
import psutil
from aiohttp import web
from opentelemetry.sdk.metrics import MeterProvider
from yarl import URL

from ollama_proxy.app import create_app
from ollama_proxy.meter.names import MODEL_NAME_MAX
from ollama_proxy.records import RequestRecord
from ollama_proxy.simulator import SimulatorConfig, create_simulator_app
from ollama_proxy.telemetry import Telemetry
from ollama_proxy.telemetry.scrape import ScrapeReader
from tests.proxy.conftest import RecordSink, proxy_settings
from tests.servers import start_app

NAMES = 50_000
METRICS_MAX_BYTES = 1_000_000
RSS_GROWTH_MAX = 8 * 1024 * 1024  # 50,000 admitted names would hold hundreds of series each


def _record(name: str, status: int) -> RequestRecord:
    return RequestRecord(
        endpoint="/api/chat",
        operation="chat",
        api_flavor="native",
        inference=True,
        model=name,
        http_status=status,
        status="success" if status == 200 else "error",
        error_type="" if status == 200 else f"http_{status}",
        stream=True,
        prompt_tokens=3,
        completion_tokens=5,
        chunks=5,
        latency_ms=12.0,
        ttfb_ms=2.0,
        usage_source="reported" if status == 200 else "none",
    )


def _rss() -> int:
    gc.collect()
    return int(psutil.Process().memory_info().rss)


def _model_labels(text: bytes) -> set[str]:
    return {
        line.split('gen_ai_request_model="', 1)[1].split('"', 1)[0]
        for line in text.decode().splitlines()
        if 'gen_ai_request_model="' in line
    }


def test_50000_random_model_names_keep_metrics_small_and_memory_flat() -> None:
    scrape = ScrapeReader()
    telemetry = Telemetry(
        None, MeterProvider(metric_readers=[scrape]), URL("http://127.0.0.1:11434")
    )
    instruments = telemetry.instruments
    for name in ("llama3.2:latest", "qwen3:0.6b", "gemma3:1b"):  # the models Ollama has
        instruments.record(_record(name, 200), 0.002)
    for i in range(2_000):  # warm-up: allocator and caches settle before RSS is read
        instruments.record(_record(f"warm-{i}:latest", 404), 0.002)
    before = _rss()
    for _ in range(NAMES):  # a client spraying names Ollama does not have: 404 each
        instruments.record(_record(f"{secrets.token_hex(12)}:latest", 404), 0.002)
    text = scrape.prometheus_text()
    after = _rss()
    labels = _model_labels(text)
    print(
        f"\n{NAMES} random names (404): /metrics {len(text)} bytes, {len(labels)} model "
        f"labels, RSS {before / 2**20:.1f} -> {after / 2**20:.1f} MiB"
    )
    assert labels == {"llama3.2:latest", "qwen3:0.6b", "gemma3:1b", "other"}
    assert len(text) < METRICS_MAX_BYTES
    assert after - before < RSS_GROWTH_MAX


def test_names_answered_2xx_are_capped_at_the_budget() -> None:
    # An upstream that answers any name (a misbehaving gateway): labels stop at the budget.
    scrape = ScrapeReader()
    telemetry = Telemetry(
        None, MeterProvider(metric_readers=[scrape]), URL("http://127.0.0.1:11434")
    )
    instruments = telemetry.instruments
    before = _rss()
    for _ in range(NAMES):
        instruments.record(_record(f"{secrets.token_hex(12)}:latest", 200), 0.002)
    text = scrape.prometheus_text()
    after = _rss()
    labels = _model_labels(text)
    print(
        f"\n{NAMES} random names (2xx): /metrics {len(text)} bytes, {len(labels)} model "
        f"labels, RSS {before / 2**20:.1f} -> {after / 2**20:.1f} MiB"
    )
    assert len(labels) == instruments.models.limit + 1 and "other" in labels
    assert after - before < 4 * RSS_GROWTH_MAX


async def test_random_names_through_the_proxy_are_other_in_metrics_and_kept_in_records() -> None:
    sim_runner, sim_url = await start_app(create_simulator_app(SimulatorConfig.zero_delay()))
    records = RecordSink()
    app: web.Application = create_app(proxy_settings(sim_url), submit=records.append)
    runner, url = await start_app(app)
    long_name = "x" * 5_000
    try:
        async with aiohttp.ClientSession() as http:
            for i in range(300):
                body = {"model": f"spray-{i}-{secrets.token_hex(4)}", "prompt": "x"}
                async with http.post(f"{url}/api/generate", json=body) as response:
                    assert response.status == 404
            async with http.post(f"{url}/api/generate", json={"model": long_name}) as response:
                assert response.status == 404
            body = {"model": "llama3.2", "prompt": "x", "options": {"num_predict": 2}}
            async with http.post(f"{url}/api/generate", json=body) as response:
                assert response.status == 200
                await response.read()
            async with http.get(f"{url}/metrics") as response:
                metrics = await response.text()
        got = await records.await_for(302)
        assert 'gen_ai_request_model="llama3.2:latest"' in metrics
        assert 'gen_ai_request_model="other"' in metrics and "spray-" not in metrics
        spray = [r for r in got if r.model_requested.startswith("spray-")]
        assert len(spray) == 300 and all(r.model.endswith(":latest") for r in spray)
        [long] = [r for r in got if r.model_requested.startswith("xxx")]
        assert len(long.model_requested) == MODEL_NAME_MAX and len(long.model) == MODEL_NAME_MAX
    finally:
        await runner.cleanup()
        await sim_runner.cleanup()
