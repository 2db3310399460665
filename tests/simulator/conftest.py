"""Fixtures: a zero-delay simulator in the test's loop, and a client session."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from ollama_proxy.simulator import SIMULATOR, Simulator, SimulatorConfig, create_simulator_app
from tests.servers import start_app


@dataclass
class SimServer:
    url: str
    app: web.Application

    @property
    def sim(self) -> Simulator:
        return self.app[SIMULATOR]


@dataclass
class Reply:
    status: int
    headers: Any
    body: bytes
    chunks: list[bytes]


StartSim = Callable[..., Awaitable[SimServer]]


@pytest.fixture
async def start_sim() -> AsyncIterator[StartSim]:
    """Start simulators with any config (zero delay unless overridden)."""
    runners: list[web.AppRunner] = []

    async def start(**overrides: Any) -> SimServer:
        app = create_simulator_app(SimulatorConfig.zero_delay(**overrides))
        runner, url = await start_app(app)
        runners.append(runner)
        return SimServer(url, app)

    yield start
    for runner in runners:
        await runner.cleanup()


@pytest.fixture
async def server(start_sim: StartSim) -> SimServer:
    return await start_sim()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        yield session


async def call(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    payload: Any = None,
    data: bytes | None = None,
) -> Reply:
    """One request; the body as received, and its HTTP chunks."""
    kwargs: dict[str, Any] = {}
    if payload is not None:
        kwargs["json"] = payload
    if data is not None:
        kwargs["data"] = data
    async with session.request(method, url, **kwargs) as response:
        if method == "HEAD":  # aiohttp's client can wait forever on a HEAD 200 body
            return Reply(response.status, response.headers, b"", [])
        chunks: list[bytes] = []
        current = b""
        async for piece, end_of_chunk in response.content.iter_chunks():
            current += piece
            if end_of_chunk:
                chunks.append(current)
                current = b""
        if current:
            chunks.append(current)
        return Reply(response.status, response.headers, b"".join(chunks), chunks)
