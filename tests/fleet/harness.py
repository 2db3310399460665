"""Several simulators on their own loopback addresses (127.0.19.2, .3, ...) and the proxy in
front of them as a fleet."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import ollama
import openai
from aiohttp import web

from ollama_proxy import appkeys
from ollama_proxy.app import create_app
from ollama_proxy.config import Settings
from ollama_proxy.fleet.nodes import Fleet
from ollama_proxy.simulator import SimulatorConfig, create_simulator_app
from ollama_proxy.simulator.cli import pick_models
from ollama_proxy.simulator.state import SIMULATOR, Simulator
from tests.proxy.conftest import RecordSink
from tests.servers import start_app


@dataclass
class SimNode:
    name: str
    url: str
    runner: web.AppRunner

    @property
    def sim(self) -> Simulator:
        return self.runner.app[SIMULATOR]

    async def stop(self) -> None:
        await self.runner.cleanup()


async def start_node(
    name: str, host: str, models: list[str], port: int = 0, **config: Any
) -> SimNode:
    settings = SimulatorConfig.zero_delay(models=pick_models(models), **config)
    runner = web.AppRunner(
        create_simulator_app(settings),
        handler_cancellation=True,
        access_log=None,
        shutdown_timeout=1,
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return SimNode(name, f"http://{host}:{port}", runner)


async def load(node: SimNode, model: str, embedding: bool = False) -> None:
    """Make `model` resident on the node (an empty prompt loads, as in Ollama)."""
    path, body = (
        ("/api/embed", {"model": model, "input": "x"})
        if embedding
        else ("/api/generate", {"model": model})
    )
    async with aiohttp.ClientSession() as session:
        async with session.post(node.url + path, json=body) as response:
            assert response.status == 200, await response.text()


@dataclass
class FleetProxy:
    url: str
    app: web.Application
    runner: web.AppRunner
    records: RecordSink = field(default_factory=RecordSink)
    clients: list[Any] = field(default_factory=list)

    @property
    def fleet(self) -> Fleet:
        return self.app[appkeys.FLEET]

    def client(self, **headers: str) -> ollama.AsyncClient:
        """The official client, closed with the proxy."""
        client = ollama.AsyncClient(host=self.url, headers=headers or None)
        self.clients.append(client)
        return client

    def openai(self) -> openai.AsyncOpenAI:
        client = openai.AsyncOpenAI(base_url=f"{self.url}/v1", api_key="unused")
        self.clients.append(client)
        return client

    def kick(self, name: str) -> None:
        """Poll that node's /api/ps now (the poller's hook)."""
        self.fleet.on_loaded(self.fleet.by_name[name])


@asynccontextmanager
async def fleet_proxy(nodes: list[SimNode], **overrides: Any) -> AsyncIterator[FleetProxy]:
    settings = Settings(
        upstreams=",".join(f"{n.name}={n.url}" for n in nodes),
        listen="127.0.0.1:0",
        instance_name="fleet",
        otel_sdk_disabled=True,
        **overrides,
    )
    records = RecordSink()
    runner, url = await start_app(create_app(settings, submit=records.append))
    proxy = FleetProxy(url, runner.app, runner, records)
    try:
        yield proxy
    finally:
        for client in proxy.clients:
            await client.close()
        await runner.cleanup()


@asynccontextmanager
async def three_nodes() -> AsyncIterator[list[SimNode]]:
    """a: llama3.2 loaded (qwen3 on disk); b: idle, both on disk; c: llama3.2 and all-minilm
    loaded, no qwen3."""
    nodes = [
        await start_node("a", "127.0.19.2", ["llama3.2", "qwen3:0.6b"]),
        await start_node("b", "127.0.19.3", ["llama3.2", "qwen3:0.6b"]),
        await start_node("c", "127.0.19.4", ["llama3.2", "all-minilm"], num_parallel=2),
    ]
    try:
        await load(nodes[0], "llama3.2")
        await load(nodes[2], "llama3.2")
        await load(nodes[2], "all-minilm", embedding=True)
        yield nodes
    finally:
        for node in nodes:
            await node.stop()
