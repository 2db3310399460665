"""Zero-delay mode must not be a benchmark's bottleneck: it never paces its output.

(Its speed, thousands of chunks per second, is a benchmark's to measure: as a timed test it
failed on a busy machine.)"""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from tests.simulator.conftest import SimServer


async def test_zero_delay_streams_without_pacing(
    server: SimServer, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    sleep = asyncio.sleep
    delays: list[float] = []

    async def counted_sleep(delay: float, result: object = None) -> object:
        delays.append(delay)
        return await sleep(delay, result)

    monkeypatch.setattr(asyncio, "sleep", counted_sleep)
    payload = {"model": "llama3.2", "prompt": "x", "options": {"num_predict": 20_000}}
    lines = 0
    async with http.post(server.url + "/api/generate", json=payload) as response:
        async for _line in response.content:
            lines += 1
    assert lines == 20_001
    assert delays and not [d for d in delays if d > 0]  # yields to the loop, never waits
