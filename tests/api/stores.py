"""Stores for the API suite: the real `ollama_proxy.store` when it is there, else a stand-in.

The stand-in writes the same `request_logs` columns (RequestRecord field names) through
SQLAlchemy (SQLite/PostgreSQL) or chDB, so the API suite runs before and after the store work
lands; `open_test_store` prefers the real `open_store(url)` and its `write_requests`.
"""

from __future__ import annotations

import json
import os
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from ollama_proxy.records import REQUEST_FIELDS, RequestRecord

PG_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/test"

_TYPES: dict[str, Any] = {"timestamp": sa.DateTime(timezone=True)}


def _column_type(name: str) -> Any:
    sample = getattr(RequestRecord(), name)
    if name in _TYPES:
        return _TYPES[name]
    if isinstance(sample, bool):
        return sa.Boolean
    if isinstance(sample, int):
        return sa.BigInteger
    if name.endswith(("_ms", "_tps")):
        return sa.Float
    return sa.Text


METADATA = sa.MetaData()
TABLE = sa.Table(
    "request_logs", METADATA, *(sa.Column(name, _column_type(name)) for name in REQUEST_FIELDS)
)


class StandInSqlStore:
    def __init__(self, url: str) -> None:
        self.kind = "sqlite" if url.startswith("sqlite") else "postgres"
        self.url = url
        driver = "sqlite+aiosqlite" if self.kind == "sqlite" else "postgresql+asyncpg"
        self.engine = create_async_engine(f"{driver}://{url.split('://', 1)[1]}")

    async def open(self) -> None:
        async with self.engine.begin() as conn:
            await conn.run_sync(METADATA.create_all)

    async def write_requests(self, records: list[RequestRecord]) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(TABLE.insert(), [r.to_dict() for r in records])

    async def close(self) -> None:
        await self.engine.dispose()


def _ch_type(name: str) -> str:
    sample = getattr(RequestRecord(), name)
    if name == "timestamp":
        return "DateTime64(6, 'UTC')"
    if isinstance(sample, bool):
        return "Bool"
    if isinstance(sample, int):
        return "Int64"
    if name == "latency_ms":
        return "Float64"
    if name.endswith(("_ms", "_tps")):
        return "Nullable(Float64)"
    return "String"


class StandInChdbStore:
    kind = "chdb"

    def __init__(self, path: str) -> None:
        from chdb import session

        self.url = f"chdb://{path}"
        self.session = session.Session(path)

    async def open(self) -> None:
        columns = ", ".join(f"{name} {_ch_type(name)}" for name in REQUEST_FIELDS)
        self.session.query(
            f"CREATE TABLE IF NOT EXISTS request_logs ({columns}) "
            "ENGINE = ReplacingMergeTree ORDER BY (timestamp, request_id)"
        )

    async def write_requests(self, records: list[RequestRecord]) -> None:
        lines = []
        for record in records:
            data = record.to_dict()
            data["timestamp"] = record.timestamp.strftime("%Y-%m-%d %H:%M:%S.%f")
            lines.append(json.dumps(data))
        self.session.query("INSERT INTO request_logs FORMAT JSONEachRow\n" + "\n".join(lines))

    async def fetch(self, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        result = self.session.query(sql, "JSONEachRow", params=params or {})
        return [json.loads(line) for line in str(result).splitlines() if line.strip()]

    async def close(self) -> None:
        self.session.close()


async def create_pg_database() -> str:
    """A fresh database for this session; its name."""
    import asyncpg

    name = f"api_test_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(PG_ADMIN_DSN, timeout=3)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return name


async def drop_pg_database(name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_DSN, timeout=3)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def open_test_store(url: str) -> Any:
    """The real store for `url` when `ollama_proxy.store.open_store` exists, else a stand-in."""
    try:
        from ollama_proxy.store import open_store  # type: ignore[attr-defined]
    except ImportError:
        open_store = None
    if open_store is not None and not os.environ.get("API_TESTS_STAND_IN"):
        store = open_store(url)
        store = await store if hasattr(store, "__await__") else store
        opener = getattr(store, "open", None) or getattr(store, "start", None)
        if opener is not None:
            await opener()
        return store
    if url.startswith("chdb://"):
        store: Any = StandInChdbStore(url.removeprefix("chdb://"))
    else:
        store = StandInSqlStore(url)
    await store.open()
    return store
