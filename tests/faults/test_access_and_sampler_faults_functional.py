"""Hostile load on the access checks and a stuck GPU sampler.

Figures (printed with `-s`, copied into docs/reliability.md): refused floods and address
sprays against the records they leave, a 5 s nvidia-smi against the gaps between streamed
chunks.
"""

from __future__ import annotations

import asyncio
import os
import resource
import statistics
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from ollama_proxy.app import PROXY_HANDLER, create_app
from ollama_proxy.simulator import SimulatorConfig, create_simulator_app
from ollama_proxy.system import samplers
from ollama_proxy.system.monitor import SystemMonitor
from tests.proxy.conftest import RecordSink, proxy_settings
from tests.servers import start_app

SCALE = float(os.environ.get("FAULTS_SCALE", "1"))


async def _send_all(url: str, count: int, headers_for: object, concurrency: int = 20) -> list[int]:
    statuses: list[int] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)

    async def worker(http: aiohttp.ClientSession) -> None:
        while not queue.empty():
            i = queue.get_nowait()
            headers = headers_for(i)  # type: ignore[operator]
            async with http.get(f"{url}/api/version", headers=headers) as response:
                await response.read()
                statuses.append(response.status)

    async with aiohttp.ClientSession() as http:
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))
    return statuses


async def test_a_refused_flood_is_counted_not_recorded() -> None:
    # Reproduces: every 401 became a record, so a client without a key (or a scanner) could
    # fill the recorder's bounded queue and push real records out of it.
    sim_runner, sim_url = await start_app(create_simulator_app(SimulatorConfig.zero_delay()))
    records = RecordSink()
    settings = proxy_settings(sim_url, proxy_api_keys=["app:k-app"])
    app = create_app(settings, submit=records.append)
    runner, url = await start_app(app)
    flood = int(2000 * SCALE)
    try:
        real = await _send_all(url, 20, lambda _: {"Authorization": "Bearer k-app"})
        started = time.monotonic()
        refused = await _send_all(url, flood, lambda _: {})
        elapsed = time.monotonic() - started
    finally:
        await runner.cleanup()
        await sim_runner.cleanup()
    assert real == [200] * 20 and refused == [401] * flood
    stored_refusals = [r for r in records if r.http_status == 401]
    assert len([r for r in records if r.http_status == 200]) == 20
    # one record per client every 5 s: the flood leaves a handful, saying how many it stands for
    assert 1 <= len(stored_refusals) <= 1 + elapsed / 5
    assert app[PROXY_HANDLER].refusals.counts() == {("unauthorized", "127.0.0.1"): flood}
    print(f"\nrefused flood: {flood} x 401 in {elapsed:.1f} s -> {len(stored_refusals)} records")


async def test_an_address_spray_keeps_rate_limit_state_and_records_bounded() -> None:
    # Reproduces: a spray of addresses (here through a trusted balancer) that each stay under
    # the limit grew the bucket dict without bound; behind the balancer everyone shared one.
    sim_runner, sim_url = await start_app(create_simulator_app(SimulatorConfig.zero_delay()))
    records = RecordSink()
    settings = proxy_settings(
        sim_url,
        rate_limit_rps=0.01,
        rate_limit_burst=1,
        rate_limit_max_clients=500,
        trusted_proxies=["127.0.0.0/8"],
        proxy_api_keys=[],
    )
    app = create_app(settings, submit=records.append)
    runner, url = await start_app(app)
    spray = int(1500 * SCALE)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:

        def address(i: int) -> dict[str, str]:
            # every 4th request comes from one heavy user behind the same balancer
            sprayed = f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"
            return {"X-Forwarded-For": "192.0.2.1" if i % 4 == 0 else sprayed}

        started = time.monotonic()
        statuses = await _send_all(url, spray, address)
        elapsed = time.monotonic() - started
        limiter = app[PROXY_HANDLER]._access._limiter
        assert limiter is not None and len(limiter) <= 500
    finally:
        await runner.cleanup()
        await sim_runner.cleanup()
    heavy = spray // 4 + (spray % 4 > 0)
    assert statuses.count(429) == heavy - 1, "only the heavy user is limited, and kept limited"
    refused_records = [r for r in records if r.http_status == 429]
    assert 1 <= len(refused_records) <= 1 + elapsed / 5
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    print(
        f"\naddress spray: {spray} requests, {spray - heavy + 1} addresses in "
        f"{elapsed:.1f} s -> {len(limiter)} buckets kept, {statuses.count(429)} x 429, "
        f"{len(refused_records)} records of them, max RSS +{grown_mb:.0f} MB"
    )


def _fake_nvidia_smi(directory: Path, sleep_s: float) -> None:
    script = directory / "nvidia-smi"
    script.write_text(
        f"#!{sys.executable}\n"
        "import time\n"
        f"time.sleep({sleep_s})\n"
        'print("0, Fake GPU, 50, 1000, 8000, 60")\n'
    )
    script.chmod(0o755)


async def _chunk_gaps(url: str, tokens: int) -> list[float]:
    body = {"model": "llama3.2", "prompt": "hi", "options": {"num_predict": tokens}}
    gaps: list[float] = []
    async with aiohttp.ClientSession() as http, http.post(f"{url}/api/generate", json=body) as r:
        last = time.perf_counter()
        async for _ in r.content.iter_any():
            now = time.perf_counter()
            gaps.append(now - last)
            last = now
    return gaps[1:]  # the first one includes the model load


def _p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98]


async def test_a_stuck_nvidia_smi_does_not_stall_streams(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Reproduces: without NVML's binding, nvidia-smi ran on the event loop (timeout 5 s), and
    # every stream stalled while it ran.
    _fake_nvidia_smi(tmp_path, 5.0)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(samplers._Nvml, "open", classmethod(lambda cls: None))
    config = SimulatorConfig(tokens_per_s=50, ttft_s=0, load_s=0)
    sim_runner, sim_url = await start_app(create_simulator_app(config))
    settings = proxy_settings(sim_url, metrics_export_interval=0.2, sampler_timeout_s=1.0)
    runner, url = await start_app(create_app(settings, submit=RecordSink().append))
    session = aiohttp.ClientSession()
    monitor = SystemMonitor(settings, lambda: session)
    try:
        baseline = await _chunk_gaps(url, 100)  # 2 s of tokens, no sampler
        await monitor.start()
        slow = await _chunk_gaps(url, 150)  # 3 s with the sampler stuck in nvidia-smi
    finally:
        await monitor.stop()
        await session.close()
        await runner.cleanup()
        await sim_runner.cleanup()
    assert max(slow) < 2.5, f"a stream stalled for {max(slow):.2f} s"  # before: a 5 s stall
    assert monitor.gpu_sampler.timeouts >= 1, "the fake nvidia-smi was sampled and overran"
    assert monitor.last is not None, "host samples went on while the GPU sampler was stuck"
    print(
        f"\nstuck nvidia-smi (5 s): chunk gap p99 {_p99(baseline) * 1000:.0f} ms without the "
        f"sampler, {_p99(slow) * 1000:.0f} ms with it; max {max(slow) * 1000:.0f} ms; "
        f"{monitor.gpu_sampler.timeouts} GPU samples timed out, "
        f"{monitor.gpu_sampler.skipped} skipped"
    )
