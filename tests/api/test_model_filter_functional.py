"""`?model=` names a model as Ollama does: `llama3.2` is `llama3.2:latest`.

Records keep canonical names (`llama3.2:latest`), and rows written before names were
canonical kept the client's text (`llama3.2`); a filter in either spelling finds both.
Regression: `?model=llama3.2` matched nothing once names were canonical.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from ollama_proxy.config import Settings
from ollama_proxy.stats.series import iso
from tests.api.conftest import Api, build_app, make_records
from tests.api.stores import open_test_store

LATEST = "llama3.2:latest"  # what the meter records for `llama3.2`
LEGACY = "llama3.2"  # what older rows hold


@pytest.fixture
async def api(tmp_path: Path, anchor: datetime) -> AsyncIterator[Api]:
    from aiohttp.test_utils import TestClient, TestServer

    store = await open_test_store(f"sqlite:///{tmp_path / 'm.db'}")
    base = make_records(anchor)
    renamed = {"llama3.2:3b": LATEST, "qwen2.5:7b": LEGACY}  # two spellings, one model
    records = [
        replace(r, model=renamed[r.model], request_id=f"m-{i}") if r.model in renamed else r
        for i, r in enumerate(base)
    ]
    records.append(replace(base[0], model="qwen3:0.6b", request_id="other"))
    await store.write_requests(records)
    settings = Settings(instance_name="test-box")
    async with TestClient(TestServer(build_app(settings, store))) as client:
        yield Api(client, store, records, anchor, "sqlite", settings)
    await store.close()


def llama(api: Api) -> list[str]:
    return sorted(r.request_id for r in api.records if r.model in (LATEST, LEGACY))


@pytest.mark.parametrize("spelling", [LEGACY, LATEST, " llama3.2 "])
async def test_logs_and_history_find_every_spelling(api: Api, spelling: str) -> None:
    expected = llama(api)
    assert expected and any(r.model == LEGACY for r in api.records)
    page = await api.get_json("/api/stats/logs", limit=1000, model=spelling)
    assert sorted(log["id"] for log in page["logs"]) == expected
    points = await api.get_json(
        "/api/stats/history",
        time_range="1h",
        granularity="5m",
        until=iso(api.anchor + timedelta(minutes=5)),
        model=spelling,
    )
    assert sum(p["requests"] for p in points) == len(expected)


async def test_clients_count_the_model_in_either_spelling(api: Api) -> None:
    rows = await api.get_json(
        "/api/stats/clients", time_range="1h", until=iso(api.anchor), model=LEGACY
    )
    in_window = [
        r
        for r in api.records
        if r.model in (LATEST, LEGACY) and r.timestamp >= api.anchor - timedelta(hours=1)
    ]
    assert sum(row["requests_count"] for row in rows) == len(in_window) > 0


async def test_a_tagged_model_is_not_widened(api: Api) -> None:
    page = await api.get_json("/api/stats/logs", limit=1000, model="qwen3:0.6b")
    assert [log["id"] for log in page["logs"]] == ["other"]
    page = await api.get_json("/api/stats/logs", limit=1000, model="qwen3")
    assert page["total"] == 0  # qwen3:latest was never asked for
