"""The proxy (with a SQLite store and the system monitor) in front of the simulator, a local
webhook receiver, and alert rules with short windows; tests step the engine explicitly."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from ollama_proxy import appkeys
from ollama_proxy.alerts.engine import AlertEngine
from ollama_proxy.app import create_app
from ollama_proxy.config import Settings
from ollama_proxy.simulator import SIMULATOR, SimulatorConfig, create_simulator_app
from tests.alerts.receiver import Receiver
from tests.servers import start_app
from tests.waiting import until

RULES = """\
rules:
  error_rate: {window: 60s, min_count: 4, resolve_after: 0s}
  queue_full: {window: 60s, resolve_after: 0s}
  cold_load_thrash: {threshold: 3, window: 60s, min_load_ms: 20, resolve_after: 0s}
  ttft_p95: {threshold: 0.001, window: 60s, min_count: 3, resolve_after: 0s}
  upstream_down: {for: 0s, resolve_after: 0s}
  decode_regression: {window: 60s, min_count: 3, resolve_after: 0s}
  vram_high: {for: 20s, resolve_after: 0s}
  store_backlog: {resolve_after: 0s}
"""
MODEL = "llama3.2:latest"
SIM_URL = "{sim}"  # in `upstreams` overrides: the simulator's URL


@dataclass
class AlertStack:
    proxy_url: str
    sim_url: str
    app: web.Application
    sim_app: web.Application
    receivers: list[Receiver]
    http: aiohttp.ClientSession
    sim_runner: web.AppRunner

    @property
    def engine(self) -> AlertEngine:
        return self.app[appkeys.ALERTS]

    @property
    def receiver(self) -> Receiver:
        return self.receivers[0]

    def step(self, at: float) -> list[str]:
        """Evaluate at `at` seconds from now (virtual time): `rule:state` per event."""
        events = self.engine.evaluate_once(time.time() + at)
        return [f"{e.alert.rule}:{e.state}" for e in events]

    async def chat(self, n: int = 1, stream: bool = False, **extra: Any) -> list[int]:
        statuses = []
        before = self.engine.queued
        for _ in range(n):
            body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
            body |= {"stream": stream, **extra}
            async with self.http.post(f"{self.proxy_url}/api/chat", json=body) as response:
                await response.read()
                statuses.append(response.status)
        await until(lambda: self.engine.queued >= before + n)
        return statuses

    async def fault(self, **faults: Any) -> None:
        async with self.http.post(f"{self.sim_url}/_sim/faults", json=faults) as response:
            assert response.status == 200, await response.text()

    async def notified(self, rule: str, count: int, index: int = 0) -> list[dict[str, Any]]:
        receiver = self.receivers[index]
        await until(lambda: len(_bodies(receiver, rule)) >= count)
        return _bodies(receiver, rule)


def _bodies(receiver: Receiver, rule: str) -> list[dict[str, Any]]:
    bodies = [orjson.loads(r.body) for r in receiver.received]
    return [b for b in bodies if b.get("rule") == rule]


async def make_stack(
    tmp_path: Path, receivers: list[Receiver], **overrides: Any
) -> tuple[AlertStack, list[web.AppRunner]]:
    sim_app = create_simulator_app(SimulatorConfig(tokens_per_s=2000, ttft_s=0, load_s=0.03))
    sim_runner, sim_url = await start_app(sim_app)
    for receiver in receivers:
        await receiver.start()
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    values: dict[str, Any] = {
        "upstream": sim_url,
        "listen": "127.0.0.1:0",
        "instance_name": "alerts-test",
        "store_urls": [f"sqlite:///{tmp_path}/alerts.db"],
        "journal_dir": str(tmp_path / "journal"),
        "alert_rules": str(rules),
        "alert_eval_interval_s": 3600,  # the tests step the engine themselves
        "alert_webhooks": [r.url for r in receivers],
        "alert_notify_timeout_s": 0.5,
        "metrics_export_interval": 3600,
        "ps_poll_interval_s": 3600,
    }
    upstreams = overrides.get("upstreams")
    if upstreams:  # SIM_URL stands for the simulator started here
        overrides["upstreams"] = [u.replace(SIM_URL, sim_url) for u in upstreams]
    app = create_app(Settings(**(values | overrides)))
    runner, url = await start_app(app)
    stack = AlertStack(url, sim_url, app, sim_app, receivers, aiohttp.ClientSession(), sim_runner)
    return stack, [runner]


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[AlertStack]:
    result, runners = await make_stack(tmp_path, [Receiver()])
    yield result
    await close(result, runners)


async def close(stack: AlertStack, runners: list[web.AppRunner]) -> None:
    await stack.http.close()
    for runner in runners:
        await runner.cleanup()
    await stack.sim_runner.cleanup()
    for receiver in stack.receivers:
        await receiver.close()


__all__ = ["SIMULATOR", "MODEL", "SIM_URL", "AlertStack", "make_stack", "close", "until"]
