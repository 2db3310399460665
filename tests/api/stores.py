"""Stores for the API suite and bench: the real `ollama_proxy.store` backends, and a fresh
PostgreSQL database per session."""

from __future__ import annotations

import uuid
from typing import Any

from ollama_proxy.store import open_store

PG_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/test"


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
    """The store for `url`, opened (schema applied), as the proxy opens it."""
    store = open_store(url)
    await store.open()
    return store
