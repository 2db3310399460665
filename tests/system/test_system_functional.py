"""The system monitor against the simulator: residency, upstream down and up, samples in the
store, the three endpoints; OllamaService with the fake `ollama` binary."""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path

import aiohttp
import pytest

from ollama_proxy import appkeys
from ollama_proxy.app import create_app
from ollama_proxy.config import Settings
from ollama_proxy.service import NetworkConfig, OllamaNotFoundError, OllamaService
from ollama_proxy.simulator import SimulatorConfig, create_simulator_app
from tests.servers import hung_driver, proxy_settings, start_app

FAKE_BIN = Path(__file__).resolve().parents[1] / "simulator" / "bin"


def _settings(tmp_path: Path, upstream: str, **extra: object) -> Settings:
    return proxy_settings(tmp_path, upstream, **extra)


async def test_residency_load_unload_and_expiry_are_seen(tmp_path: Path) -> None:
    sim_runner, sim_url = await start_app(
        create_simulator_app(SimulatorConfig.zero_delay(keep_alive="5m"))
    )
    app = create_app(_settings(tmp_path, sim_url))
    runner, url = await start_app(app)
    try:
        monitor = app[appkeys.SYSTEM]
        async with aiohttp.ClientSession() as http:
            body = {"model": "llama3.2", "prompt": "hi", "stream": False}
            assert (await http.post(f"{url}/api/generate", json=body)).status == 200
            events = await monitor.poll_ps()
            assert [(e.model, e.event) for e in events] == [("llama3.2:latest", "load")]
            loaded = await (await http.get(f"{url}/api/stats/models/loaded")).json()
            assert [m["name"] for m in loaded["models"]] == ["llama3.2:latest"]
            [resident] = loaded["models"]
            assert resident["size_vram"] > 0 and resident["loaded_at"]
            await app[appkeys.RECORDER].flush()  # idle time joins the stored requests
            loaded = await (await http.get(f"{url}/api/stats/models/loaded")).json()
            [resident] = loaded["models"]
            assert 0 <= resident["idle_s"] <= resident["resident_s"]

            # Explicit unload: keep_alive 0 with an empty prompt.
            unload = {"model": "llama3.2", "prompt": "", "keep_alive": 0}
            assert (await http.post(f"{url}/api/generate", json=unload)).status == 200
            events = await monitor.poll_ps()
            assert [(e.model, e.event) for e in events] == [("llama3.2:latest", "unload")]

            # Expiry: a 0.2 s keep_alive lapses on its own.
            short = {"model": "qwen3:0.6b", "prompt": "x", "stream": False, "keep_alive": 0.2}
            assert (await http.post(f"{url}/api/generate", json=short)).status == 200
            assert [e.event for e in await monitor.poll_ps()] == ["load"]
            for _ in range(50):
                events = await monitor.poll_ps()
                if events:
                    break
                await asyncio.sleep(0.05)  # waiting for the simulator's clock, not for us
            assert [(e.model, e.event) for e in events] == [("qwen3:0.6b", "unload")]

            timeline = await (
                await http.get(f"{url}/api/stats/models/timeline", params={"time_range": "1h"})
            ).json()
            assert [e["event"] for e in timeline["events"]] == ["load", "unload", "load", "unload"]
            unloads = [e for e in timeline["events"] if e["event"] == "unload"]
            assert all(e["resident_s"] is not None and e["resident_s"] >= 0 for e in unloads)
            bad = await http.get(f"{url}/api/stats/models/timeline", params={"time_range": "2y"})
            assert bad.status == 400 and (await bad.json())["field"] == "time_range"
    finally:
        await runner.cleanup()
        await sim_runner.cleanup()


async def test_samples_land_in_the_store_and_the_system_endpoint(tmp_path: Path) -> None:
    sim_runner, sim_url = await start_app(create_simulator_app(SimulatorConfig.zero_delay()))
    app = create_app(_settings(tmp_path, sim_url))
    runner, url = await start_app(app)
    try:
        async with aiohttp.ClientSession() as http:
            await http.post(f"{url}/api/chat", json={"model": "nope", "messages": []})
            await http.post(f"{url}/api/generate", json={"model": "llama3.2", "stream": False})
            monitor = app[appkeys.SYSTEM]
            await monitor.poll_once()
            assert monitor.error_rate == pytest.approx(0.5)
            await app[appkeys.RECORDER].flush()
            body = await (await http.get(f"{url}/api/stats/system")).json()
        series = body["series"]
        for name in ("system.cpu.percent", "system.memory.percent", "proxy.rss.bytes"):
            assert series[name], name
        assert series["upstream.up"][-1]["value"] == 1.0
        assert series["proxy.error_rate"][-1]["value"] == pytest.approx(0.5)
        assert 0 <= body["latest"]["memory_percent"] <= 100
        assert body["latest"]["upstream"]["version"] == "0.33.0"
    finally:
        await runner.cleanup()
        await sim_runner.cleanup()


async def test_upstream_down_and_back_flips_health_without_crashing(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    upstream = f"http://127.0.0.1:{port}"
    app = create_app(_settings(tmp_path, upstream))
    runner, url = await start_app(app)
    try:
        monitor = app[appkeys.SYSTEM]
        await monitor.poll_once()
        assert monitor.upstream_health()["reachable"] is False
        async with aiohttp.ClientSession() as http:
            health = await http.get(f"{url}/api/health")
            assert health.status == 503
        sim_runner, _ = await start_app(create_simulator_app(SimulatorConfig.zero_delay()), port)
        try:
            await monitor.poll_once()
            assert monitor.upstream_health()["reachable"] is True
            async with aiohttp.ClientSession() as http:
                health = await http.get(f"{url}/api/health")
                assert health.status == 200
        finally:
            await sim_runner.cleanup()
        await monitor.poll_once()
        assert monitor.upstream_health()["reachable"] is False
    finally:
        await runner.cleanup()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_spawned_ollama_lifecycle_with_the_fake_binary(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", f"{FAKE_BIN}{os.pathsep}{os.environ['PATH']}")
    settings = Settings(upstream=f"http://127.0.0.1:{_free_port()}", spawn_ollama=True)
    service = OllamaService(settings)
    await service.start()
    try:
        assert service.process is not None and service.process.returncode is None
        health = await service.health_check()
        assert health["healthy"] and health["version"]
        names = [m["name"] for m in await service.get_models()]
        assert "llama3.2:latest" in names
    finally:
        await service.stop()
    assert service.process.returncode is not None
    probe = OllamaService(settings)
    assert not (await probe.health_check())["healthy"]  # the child is gone with the service
    await probe.stop()


async def test_missing_binary_is_a_clear_error() -> None:
    settings = Settings(spawn_ollama=True, ollama_binary="/nonexistent/ollama")
    with pytest.raises(OllamaNotFoundError, match="OLLAMA_BINARY"):
        await OllamaService(settings).start()


def test_network_config_maps_onto_settings() -> None:
    settings = NetworkConfig(port=11500, exporter_type="both").to_settings()
    assert settings.upstream == "http://127.0.0.1:11500"
    assert len(settings.effective_store_urls()) == 2
    assert settings.metrics_export_interval == 5


async def test_a_gpu_driver_that_hangs_at_close_does_not_hold_the_stop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Regression: the stop awaited nvmlShutdown in a thread without a timeout.
    from ollama_proxy.system.samplers import Sampler

    async with hung_driver(monkeypatch, Sampler, "close") as sim_url:
        runner, _ = await start_app(create_app(_settings(tmp_path, sim_url, sampler_timeout_s=0.2)))
        async with asyncio.timeout(10):  # a hang, not a speed: the stop used to never end
            await runner.cleanup()


async def test_a_sample_reports_the_residents_at_its_own_time(tmp_path: Path) -> None:
    # Regression: the residents were read after the host and GPU samplers' awaits, so a model
    # loaded while they ran was stored as resident at the sample's (earlier) timestamp.
    import threading

    from ollama_proxy.records import MetricPoint
    from ollama_proxy.system.monitor import SystemMonitor
    from ollama_proxy.system.samplers import OffLoop, SystemSample

    sim_runner, sim_url = await start_app(
        create_simulator_app(SimulatorConfig.zero_delay(keep_alive="5m"))
    )
    points: list[MetricPoint] = []
    monitor = SystemMonitor(_settings(tmp_path, sim_url), submit_metric=points.append)
    release = threading.Event()

    def held_host_sample() -> SystemSample:  # a host sample still running when a model loads
        release.wait(10)
        return monitor.sampler.host()

    monitor.host_sampler.close()
    monitor.host_sampler = OffLoop("host", held_host_sample, 10)
    try:
        sampling = asyncio.create_task(monitor.sample())
        async with aiohttp.ClientSession() as http:
            body = {"model": "llama3.2", "prompt": "", "stream": False}
            assert (await http.post(f"{sim_url}/api/generate", json=body)).status == 200
        assert [e.event for e in await monitor.poll_ps()] == ["load"]
        release.set()
        async with asyncio.timeout(10):
            await sampling
        assert not [p for p in points if p.metric_name == "model.vram.bytes"]

        await monitor.sample()  # the next sample sees it
        [vram] = [p for p in points if p.metric_name == "model.vram.bytes"]
        assert vram.metadata == {"model": "llama3.2:latest"}
    finally:
        release.set()
        await monitor.stop()
        await sim_runner.cleanup()


async def test_a_spawned_ollama_with_a_huge_stderr_line_is_still_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One 200 kB line, then 2 MB more: if the relay stopped at the long line (readline's
    # 64 KiB limit), the pipe would fill and the child would block before it serves.
    wrapper = tmp_path / "ollama"
    wrapper.write_text(
        "#!/bin/sh\n"
        "python3 -c \"import sys; sys.stderr.write('x' * 200000 + '\\\\n');"
        " [sys.stderr.write('line %d\\\\n' % i) for i in range(200000)]\"\n"
        f'exec "{FAKE_BIN / "ollama"}" "$@"\n'
    )
    wrapper.chmod(0o755)
    settings = Settings(
        upstream=f"http://127.0.0.1:{_free_port()}",
        spawn_ollama=True,
        ollama_binary=str(wrapper),
    )
    service = OllamaService(settings)
    try:
        await service.start(wait_s=60)
        assert (await service.health_check())["healthy"]
    finally:
        await service.stop()
