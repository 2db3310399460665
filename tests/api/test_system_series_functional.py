"""GET /api/stats/system answers at most MAX_POINTS per series, averaged in the store.

Regression: every raw sample of the range was read and encoded, on the event loop: a week at
the 5 s sample rate was over a million rows for one chart, growing with the data's age.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from ollama_proxy import appkeys
from ollama_proxy.api import add_api_fallback, add_api_routes
from ollama_proxy.api.system_routes import MAX_POINTS, add_system_routes
from ollama_proxy.config import Settings
from ollama_proxy.records import MetricPoint
from tests.api.conftest import STORE_KINDS, _store_url
from tests.api.stores import open_test_store

SAMPLE_S = 30  # a day of samples: 2,880 per series (over MAX_POINTS), four per 120 s bucket


@pytest.fixture(params=STORE_KINDS)
async def client(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[TestClient]:  # type: ignore[type-arg]
    store = await open_test_store(await _store_url(request.param, tmp_path, request))
    if store.kind == "postgres":  # the session's database: other tests sample too
        async with store.engine.begin() as conn:
            await conn.exec_driver_sql("TRUNCATE ollama_metrics")
    app = web.Application()
    app[appkeys.SETTINGS] = Settings(instance_name="test-box")
    app[appkeys.STARTED_AT] = time.time()
    app[appkeys.STORES] = [store]
    add_api_routes(app)
    add_system_routes(app)
    add_api_fallback(app)
    await store.write_metrics(day_of_samples(datetime.now(UTC)))
    async with TestClient(TestServer(app)) as client:
        yield client
    await store.close()


def day_of_samples(now: datetime) -> list[MetricPoint]:
    points = []
    for i in range(86_400 // SAMPLE_S - 10):  # inside the 24h window
        at = now - timedelta(seconds=i * SAMPLE_S + 5)
        points.append(MetricPoint("system.cpu.percent", 10.0 if i % 2 else 30.0, timestamp=at))
        points.append(MetricPoint("gpu.temperature.c", 60.0, timestamp=at, metadata={"gpu": 0}))
    return points


async def test_a_day_of_samples_comes_back_averaged(client: TestClient) -> None:  # type: ignore[type-arg]
    response = await client.get("/api/stats/system", params={"time_range": "24h"})
    body: dict[str, Any] = await response.json()
    assert response.status == 200, body
    cpu, gpu = body["series"]["system.cpu.percent"], body["series"]["gpu.temperature.c[0]"]
    assert 0 < len(cpu) <= MAX_POINTS and 0 < len(gpu) <= MAX_POINTS
    stamps = [p["timestamp"] for p in cpu]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    # Four samples per bucket alternating 10 and 30: every full bucket averages 20.
    assert sorted(p["value"] for p in cpu)[len(cpu) // 2] == pytest.approx(20.0)
    assert {p["value"] for p in gpu} == {60.0}
