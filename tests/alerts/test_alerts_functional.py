"""The simulator's faults drive each rule to firing and back to resolved, through the proxy.

The engine evaluates at virtual times (`stack.step(seconds_from_now)`), so a 60 s window
passes without waiting; the webhook receiver sees one message per firing and per resolve.
"""

from __future__ import annotations

import time
from pathlib import Path

from aiohttp import web

from ollama_proxy import appkeys
from ollama_proxy.alerts.rules import Baseline
from ollama_proxy.system.samplers import GpuSample, SystemSample
from tests.alerts.conftest import (
    MODEL,
    SIM_URL,
    SIMULATOR,
    AlertStack,
    close,
    make_stack,
)
from tests.alerts.receiver import Receiver
from tests.servers import start_app
from tests.waiting import until


async def test_error_rate_fires_once_and_resolves(stack: AlertStack) -> None:
    await stack.fault(status=500, error_message="boom", count=4)
    assert await stack.chat(4) == [500] * 4
    await stack.chat(1)
    assert stack.step(0) == ["error_rate:firing"]
    assert stack.step(10) == []  # still firing: no second message (dedup)
    [firing] = await stack.notified("error_rate", 1)
    assert firing["state"] == "firing" and firing["labels"]["model"] == MODEL
    assert firing["value"] == 0.8 and firing["threshold"] == 0.2
    assert firing["url"].endswith("/dashboard/#/alerts")
    assert stack.step(80) == ["error_rate:resolved"]  # the window moved past the errors
    _, resolved = await stack.notified("error_rate", 2)
    assert resolved["state"] == "resolved" and resolved["ended_at"] is not None
    assert len(stack.receiver.received) == 2


async def test_queue_full(stack: AlertStack) -> None:
    await stack.fault(queue_full=True, count=1)
    assert await stack.chat(1) == [503]
    assert stack.step(0) == ["queue_full:firing"]
    assert stack.step(71) == ["queue_full:resolved"]
    assert [b["state"] for b in await stack.notified("queue_full", 2)] == ["firing", "resolved"]


async def test_cold_load_thrash(stack: AlertStack) -> None:
    assert await stack.chat(3, keep_alive=0) == [200] * 3  # unloaded after each: 3 loads
    async with stack.http.get(f"{stack.sim_url}/_sim/stats") as response:
        assert (await response.json())["loads"] >= 3
    assert "cold_load_thrash:firing" in stack.step(0)
    assert "cold_load_thrash:resolved" in stack.step(70)


async def test_ttft_p95_when_set(stack: AlertStack) -> None:
    assert await stack.chat(3, stream=True) == [200] * 3
    assert stack.step(0) == ["ttft_p95:firing"]
    assert stack.step(70) == ["ttft_p95:resolved"]


async def test_decode_regression_against_store_baseline(stack: AlertStack) -> None:
    await stack.chat(5)  # at 2000 tokens/s: the baseline
    await stack.app[appkeys.RECORDER].flush()
    await stack.engine.refresh_baselines()
    base = stack.engine.baselines[MODEL]
    assert base.requests == 5 and base.decode_tps_median > 500
    stack.engine.baselines[MODEL] = Baseline(base.decode_tps_median, 100)  # past min_count
    assert stack.step(0) == []  # as fast as the baseline
    stack.sim_app[SIMULATOR].config.tokens_per_s = 400  # a slower driver, say
    await stack.chat(3)
    assert stack.step(75) == ["decode_regression:firing"]  # the fast ones left the window
    [firing] = await stack.notified("decode_regression", 1)
    assert firing["value"] > 0.5
    assert stack.step(150) == ["decode_regression:resolved"]


async def test_upstream_down_and_back(stack: AlertStack) -> None:
    monitor = stack.app[appkeys.SYSTEM]
    await monitor.check_upstream()
    assert stack.step(0) == []
    port = int(stack.sim_url.rsplit(":", 1)[1])
    await stack.sim_runner.cleanup()
    await monitor.check_upstream()
    assert stack.step(1) == ["upstream_down:firing"]
    [firing] = await stack.notified("upstream_down", 1)
    assert firing["labels"]["node"] == stack.sim_url
    stack.sim_runner, _ = await start_app(stack.sim_app, port)
    await monitor.check_upstream()
    assert stack.step(2) == ["upstream_down:resolved"]


async def test_vram_high_from_gpu_samples(stack: AlertStack) -> None:
    monitor = stack.app[appkeys.SYSTEM]
    gib = 1 << 30
    gpu = GpuSample(0, "fake", 90.0, int(23.5 * gib), 24 * gib, 60.0)
    monitor.last = SystemSample(1, 1, 1, 1, 1, gpus=[gpu])
    assert stack.step(0) == []  # pending for 20 s
    assert stack.engine.snapshot()["pending"][0]["rule"] == "vram_high"
    assert stack.step(25) == ["vram_high:firing"]
    gpu.memory_used_bytes = 12 * gib
    assert stack.step(30) == ["vram_high:resolved"]


async def test_store_backlog_from_store_health(stack: AlertStack, monkeypatch) -> None:
    recorder = stack.app[appkeys.RECORDER]
    healthy = recorder.health

    def behind() -> list[dict]:
        return [{**entry, "backlog_age_s": 400.0} for entry in healthy()]

    monkeypatch.setattr(recorder, "health", behind)
    assert stack.step(0) == ["store_backlog:firing"]
    monkeypatch.setattr(recorder, "health", healthy)
    assert stack.step(1) == ["store_backlog:resolved"]


async def test_api_lists_alerts_and_metrics_show_them(stack: AlertStack) -> None:
    await stack.fault(queue_full=True, count=1)
    await stack.chat(1)
    stack.step(0)
    async with stack.http.get(f"{stack.proxy_url}/api/alerts") as response:
        body = await response.json()
    assert response.status == 200
    assert [a["rule"] for a in body["firing"]] == ["queue_full"]
    assert {r["name"] for r in body["rules"]} >= {"error_rate", "store_backlog"}
    async with stack.http.get(f"{stack.proxy_url}/metrics") as response:
        text = await response.text()
    assert 'ollama_alerts_firing{rule="queue_full"} 1.0' in text
    assert 'ollama_alerts_firing{rule="error_rate"} 0.0' in text
    stack.step(71)
    async with stack.http.get(f"{stack.proxy_url}/api/alerts?history=5") as response:
        body = await response.json()
    assert body["firing"] == [] and body["history"][0]["state"] == "resolved"
    async with stack.http.get(f"{stack.proxy_url}/api/alerts?history=500") as response:
        assert response.status == 400


async def test_silence_mutes_notifications(stack: AlertStack) -> None:
    url = f"{stack.proxy_url}/api/alerts/silences"
    silence = {"rule": "queue_full", "duration_s": 3600, "comment": "maintenance"}
    async with stack.http.post(url, json=silence) as response:
        assert response.status == 201
        created = await response.json()
    assert created["expires_at"] > time.time() + 3500
    await stack.fault(queue_full=True, count=1)
    await stack.chat(1)
    assert stack.step(0) == []  # firing, but silenced: no message
    async with stack.http.get(f"{stack.proxy_url}/api/alerts") as response:
        [alert] = (await response.json())["firing"]
    assert alert["silenced_by"] == created["id"]
    async with stack.http.get(url) as response:
        assert [s["id"] for s in (await response.json())["silences"]] == [created["id"]]
    async with stack.http.delete(f"{url}/{created['id']}") as response:
        assert response.status == 204
    assert stack.step(1) == ["queue_full:firing"]  # unsilenced while still firing
    async with stack.http.delete(f"{url}/{created['id']}") as response:
        assert response.status == 404
    for bad in ({"duration_s": 60}, {"rule": "nope", "duration_s": 60}, {"rule": "queue_full"}):
        async with stack.http.post(url, json=bad) as response:
            assert response.status == 400, bad


async def test_upstream_down_per_fleet_node(tmp_path: Path) -> None:
    runner, dead_url = await start_app(web.Application())
    await runner.cleanup()  # node b: a port nothing answers on any more
    stack, runners = await make_stack(
        tmp_path,
        [Receiver()],
        upstreams=[f"a={SIM_URL}", f"b={dead_url}"],
        fleet_ps_interval_s=0.05,
    )
    try:
        fleet = stack.app[appkeys.FLEET]
        await until(lambda: not fleet.by_name["b"].healthy)
        assert stack.step(0) == ["upstream_down:firing"]
        [firing] = await stack.notified("upstream_down", 1)
        assert firing["labels"]["node"] == "b"
        fleet.by_name["b"].healthy = True  # what an answered probe of node b does
        assert stack.step(1) == ["upstream_down:resolved"]
    finally:
        await close(stack, runners)


async def test_silences_outlast_a_restart(tmp_path: Path) -> None:
    """Added and deleted silences are kept in JOURNAL_DIR; a new process mutes with them."""
    stack, runners = await make_stack(tmp_path, [Receiver()])
    url = f"{stack.proxy_url}/api/alerts/silences"
    ids = []
    try:
        for rule in ("queue_full", "error_rate"):
            async with stack.http.post(url, json={"rule": rule, "duration_s": 3600}) as response:
                assert response.status == 201
                ids.append((await response.json())["id"])
        async with stack.http.delete(f"{url}/{ids[1]}") as response:
            assert response.status == 204
    finally:
        await close(stack, runners)
    assert (tmp_path / "journal" / "silences.json").exists()

    stack, runners = await make_stack(tmp_path, [Receiver()])  # another port
    url = f"{stack.proxy_url}/api/alerts/silences"
    try:
        async with stack.http.get(url) as response:
            assert [s["id"] for s in (await response.json())["silences"]] == [ids[0]]
        await stack.fault(queue_full=True, count=1)
        await stack.chat(1)
        assert stack.step(0) == []  # firing, silenced by the silence of the last run
        async with stack.http.get(f"{stack.proxy_url}/api/alerts") as response:
            assert (await response.json())["firing"][0]["silenced_by"] == ids[0]
    finally:
        await close(stack, runners)


async def test_a_silence_that_cannot_be_saved_still_holds(tmp_path: Path) -> None:
    (tmp_path / "journal" / "silences.json").mkdir(parents=True)  # the rename onto it fails
    stack, runners = await make_stack(tmp_path, [Receiver()])
    try:
        url = f"{stack.proxy_url}/api/alerts/silences"
        async with stack.http.post(url, json={"rule": "queue_full", "duration_s": 60}) as response:
            assert response.status == 201
        async with stack.http.get(url) as response:
            assert len((await response.json())["silences"]) == 1
        assert await stack.engine.save_silences() is False
    finally:
        await close(stack, runners)
