"""One API suite over SQLite, PostgreSQL and chDB: the same records in, the same answers out."""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from ollama_proxy import appkeys
from ollama_proxy.alerts.engine import AlertEngine
from ollama_proxy.alerts.rulesfile import load_rules
from ollama_proxy.api import add_api_fallback, add_api_routes
from ollama_proxy.config import Settings
from ollama_proxy.records import RequestRecord
from tests.api.stores import open_test_store
from tests.pg import pg_database, pg_url  # noqa: F401  (pg_database: a fixture)

STORE_KINDS = ("sqlite", "postgres", "chdb")


def make_records(anchor: datetime, count: int = 240, seed: int = 7) -> list[RequestRecord]:
    """Deterministic traffic in the 50 minutes before `anchor`, silent 20-29 minutes before it.

    Timestamps are whole milliseconds and floats have 3 decimals, so every store keeps them
    exactly.
    """
    rnd = random.Random(seed)
    records = []
    for i in range(count):
        minute = rnd.choice([m for m in range(1, 50) if not 20 <= m < 30])
        ts = anchor - timedelta(minutes=minute) + timedelta(milliseconds=rnd.randint(0, 59_999))
        model = rnd.choice(["llama3.2:3b", "qwen2.5:7b", ""])
        status = rnd.choice(["success"] * 6 + ["error", "cancelled"])
        records.append(
            RequestRecord(
                request_id=f"req-{i:05d}",
                timestamp=ts,
                instance=rnd.choice(["box-1", "box-2"]),
                method="POST" if model else "GET",
                endpoint="/api/chat" if model else "/api/tags",
                operation="chat" if model else "list",
                api_flavor="native",
                inference=bool(model),
                model=model,
                client=rnd.choice(["10.0.0.1", "10.0.0.2", "10.0.0.3"]),
                client_name=rnd.choice(["", "", "open-webui"]),
                http_status=200 if status != "error" else 500,
                status=status,  # type: ignore[arg-type]
                error_message="boom" if status == "error" else "",
                stream=rnd.random() < 0.5,
                prompt_tokens=rnd.randint(0, 400) if model else 0,
                cached_tokens=rnd.randint(0, 50) if model else 0,
                completion_tokens=rnd.randint(0, 300) if model else 0,
                latency_ms=round(rnd.uniform(5, 5000), 3),
                ttft_ms=round(rnd.uniform(1, 400), 3) if model and rnd.random() < 0.8 else None,
                eval_duration_ms=round(rnd.uniform(100, 3000), 3)
                if model and rnd.random() < 0.7
                else None,
                load_duration_ms=rnd.choice([2.5, 3.0, 1500.0]) if model else None,
                trace_id=f"{i:032x}",
            )
        )
    return records


@dataclass
class Api:
    client: TestClient[Any, Any]
    store: Any
    records: list[RequestRecord]
    anchor: datetime
    kind: str
    settings: Settings

    async def get_json(self, path: str, expect: int = 200, **params: Any) -> Any:
        response = await self.client.get(path, params=params, headers={"Cache-Control": "no-cache"})
        body = await response.json()
        assert response.status == expect, body
        return body


def build_app(settings: Settings, store: Any) -> web.Application:
    app = web.Application()
    app[appkeys.SETTINGS] = settings
    app[appkeys.STARTED_AT] = time.time() - 7200
    app[appkeys.STORES] = [store]
    app[appkeys.ALERTS] = AlertEngine(load_rules(""), eval_interval_s=15)
    add_api_routes(app)
    add_api_fallback(app)
    return app


async def _store_url(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'api.db'}"
    if kind == "chdb":
        return f"chdb://{tmp_path / 'chdb'}"
    name = request.getfixturevalue("pg_database")
    return pg_url(name)


async def _empty(store: Any) -> None:
    if store.kind.startswith("postg"):
        import sqlalchemy as sa

        from ollama_proxy.store import rollups

        tables = ["request_logs", *rollups.TABLES.values(), rollups.TOTAL_TABLE]
        async with store.engine.begin() as conn:
            await conn.execute(sa.text(f"TRUNCATE {', '.join(tables)}"))


@pytest.fixture
def anchor() -> datetime:
    now = datetime.now(UTC)
    return now.replace(second=0, microsecond=0)


async def make_api(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest, anchor: datetime, **settings: Any
) -> AsyncIterator[Api]:
    url = await _store_url(kind, tmp_path, request)
    store = await open_test_store(url)
    await _empty(store)
    records = make_records(anchor)
    await store.write_requests(records)
    config = Settings(instance_name="test-box", **settings)
    async with TestClient(TestServer(build_app(config, store))) as client:
        yield Api(client, store, records, anchor, kind, config)
    await store.close()


@pytest.fixture(params=STORE_KINDS)
async def api(
    request: pytest.FixtureRequest, tmp_path: Path, anchor: datetime
) -> AsyncIterator[Api]:
    async for value in make_api(request.param, tmp_path, request, anchor):
        yield value


@pytest.fixture
async def sqlite_api(
    request: pytest.FixtureRequest, tmp_path: Path, anchor: datetime
) -> AsyncIterator[Api]:
    async for value in make_api("sqlite", tmp_path, request, anchor):
        yield value


@pytest.fixture
async def secured_api(
    request: pytest.FixtureRequest, tmp_path: Path, anchor: datetime
) -> AsyncIterator[Api]:
    settings = {"admin_token": "s3cret-token", "cors_origins": ["https://dash.example"]}
    async for value in make_api("sqlite", tmp_path, request, anchor, **settings):
        yield value
