"""Fixtures: the simulator as upstream, a recording relay, the proxy in front."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import pytest
from ollama_proxy.simulator import SimulatorConfig, create_simulator_app
from yarl import URL

from ollama_proxy.app import create_app
from ollama_proxy.config import Settings
from ollama_proxy.records import RequestRecord
from tests.proxy.tap import TapRelay
from tests.servers import ThreadedServer, serve_in_thread, start_app


def fast_simulator() -> SimulatorConfig:
    return SimulatorConfig(tokens_per_s=0, ttft_s=0, load_s=0)


@dataclass
class Stack:
    proxy_url: str
    upstream_url: str
    relay: TapRelay
    records: list[RequestRecord] = field(default_factory=list)

    @property
    def proxy_port(self) -> int:
        return URL(self.proxy_url).port or 0


def proxy_settings(upstream: str, **overrides: object) -> Settings:
    return Settings(upstream=upstream, listen="127.0.0.1:0", instance_name="test", **overrides)


@pytest.fixture
async def stack() -> AsyncIterator[Stack]:
    sim_runner, sim_url = await start_app(create_simulator_app(fast_simulator()))
    relay = TapRelay("127.0.0.1", URL(sim_url).port or 0)
    relay_url = await relay.start()
    records: list[RequestRecord] = []
    app = create_app(proxy_settings(relay_url), submit=records.append)
    runner, url = await start_app(app)
    yield Stack(url, sim_url, relay, records)
    await runner.cleanup()
    await relay.close()
    await sim_runner.cleanup()


@dataclass
class ThreadedStack:
    proxy: ThreadedServer
    simulator: ThreadedServer
    records: list[RequestRecord]

    @property
    def host(self) -> str:
        return self.proxy.url


@pytest.fixture
def threaded_stack() -> Iterator[ThreadedStack]:
    """Simulator and proxy in their own threads, for blocking clients."""
    simulator = serve_in_thread(lambda: create_simulator_app(fast_simulator()))
    records: list[RequestRecord] = []
    proxy = serve_in_thread(
        lambda: create_app(proxy_settings(simulator.url), submit=records.append)
    )
    yield ThreadedStack(proxy, simulator, records)
    proxy.stop()
    simulator.stop()
