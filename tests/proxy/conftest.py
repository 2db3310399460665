"""Fixtures: the simulator as upstream, a recording relay, the proxy in front."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field

import pytest
from yarl import URL

from ollama_proxy.app import create_app
from ollama_proxy.config import Settings
from ollama_proxy.records import RequestRecord
from ollama_proxy.simulator import SimulatorConfig, create_simulator_app
from tests.proxy.tap import TapRelay
from tests.servers import ThreadedServer, serve_in_thread, start_app


class RecordSink(list[RequestRecord]):
    """Collects records from the proxy (any thread); tests wait for them, never sleep."""

    def __init__(self) -> None:
        super().__init__()
        self._cond = threading.Condition()

    def append(self, record: RequestRecord) -> None:
        with self._cond:
            super().append(record)
            self._cond.notify_all()

    def wait_for(self, count: int = 1, timeout: float = 5) -> list[RequestRecord]:
        with self._cond:
            self._cond.wait_for(lambda: len(self) >= count, timeout)
        return list(self)

    async def await_for(self, count: int = 1, timeout: float = 5) -> list[RequestRecord]:
        return await asyncio.to_thread(self.wait_for, count, timeout)


def fast_simulator() -> SimulatorConfig:
    return SimulatorConfig(tokens_per_s=0, ttft_s=0, load_s=0)


@dataclass
class Stack:
    proxy_url: str
    upstream_url: str
    relay: TapRelay
    records: RecordSink = field(default_factory=RecordSink)
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

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
    records = RecordSink()
    app = create_app(proxy_settings(relay_url), submit=records.append)
    runner, url = await start_app(app)
    result = Stack(url, sim_url, relay, records)
    yield result
    for close in result.closers:
        await close()
    await runner.cleanup()
    await relay.close()
    await sim_runner.cleanup()


@dataclass
class ThreadedStack:
    proxy: ThreadedServer
    simulator: ThreadedServer
    records: RecordSink

    @property
    def host(self) -> str:
        return self.proxy.url


@pytest.fixture
def threaded_stack() -> Iterator[ThreadedStack]:
    """Simulator and proxy in their own threads, for blocking clients."""
    simulator = serve_in_thread(lambda: create_simulator_app(fast_simulator()))
    records = RecordSink()
    proxy = serve_in_thread(
        lambda: create_app(proxy_settings(simulator.url), submit=records.append)
    )
    yield ThreadedStack(proxy, simulator, records)
    proxy.stop()
    simulator.stop()
