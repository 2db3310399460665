"""Stores: `open_store(url)` picks the backend by URL scheme.

sqlite:///PATH            SQLite (the embedded default)
postgresql://U:P@H:5432/DB PostgreSQL, TimescaleDB when available
clickhouse://H:8123/DB     ClickHouse server over HTTP
chdb:///PATH               embedded ClickHouse (the clickhouse-embedded extra)
"""

from __future__ import annotations

from urllib.parse import urlsplit

from ollama_proxy.config import Settings
from ollama_proxy.store.base import Store

__all__ = ["Store", "open_store", "open_stores"]


def open_store(url: str, settings: Settings | None = None) -> Store:
    """The backend for `url` (not connected yet: call `await store.open()`)."""
    settings = settings or Settings()
    scheme = urlsplit(url).scheme.split("+")[0]
    if scheme == "sqlite":
        from ollama_proxy.store.sql import SqlStore

        return SqlStore(url, retention_days=settings.retention_days)
    if scheme in ("postgresql", "postgres"):
        from ollama_proxy.store.sql import SqlStore

        return SqlStore(
            url.replace("postgres://", "postgresql://", 1),
            password=settings.postgres_password,
            retention_days=settings.retention_days,
        )
    if scheme in ("clickhouse", "chdb"):
        from ollama_proxy.store.clickhouse import ClickHouseStore

        return ClickHouseStore(
            url,
            user=settings.clickhouse_user,
            password=settings.clickhouse_password,
            retention_days=settings.retention_days,
            cluster=settings.clickhouse_cluster,
            content_retention_days=settings.capture_retention_days,
        )
    raise ValueError(f"unknown store URL {url!r}")


async def open_stores(settings: Settings) -> list[Store]:
    """Every configured store, opened; one that is down is returned too (marked down)."""
    stores = [open_store(url, settings) for url in settings.effective_store_urls()]
    for store in stores:
        await store.open()
    return stores
