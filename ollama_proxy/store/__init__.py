"""Stores: `open_store(url)` picks the backend by URL scheme.

sqlite:///PATH            SQLite (the embedded default)
postgresql://U:P@H:5432/DB PostgreSQL, TimescaleDB when available
clickhouse://H:8123/DB     ClickHouse server over HTTP
chdb:///PATH               embedded ClickHouse (the clickhouse-embedded extra)
"""

from __future__ import annotations

from urllib.parse import urlsplit

from ollama_proxy.config import Settings
from ollama_proxy.store import preflight
from ollama_proxy.store.base import Store

__all__ = ["Store", "open_store", "open_stores"]


def open_store(url: str, settings: Settings | None = None) -> Store:
    """The backend for `url` (not connected yet: call `await store.open()`)."""
    settings = settings or Settings()
    scheme = urlsplit(url).scheme.split("+")[0]
    if scheme in ("sqlite", "postgresql", "postgres"):
        return _sql_store(url, settings)
    if scheme in ("clickhouse", "chdb"):
        from ollama_proxy.store.clickhouse import ClickHouseStore

        clickhouse = ClickHouseStore(
            url,
            user=settings.clickhouse_user,
            password=settings.clickhouse_password,
            retention_days=settings.retention_days,
            cluster=settings.clickhouse_cluster,
            content_retention_days=settings.capture_retention_days,
            timeout_s=settings.store_write_timeout_s,
        )
        clickhouse.live_retention = lambda: (
            settings.retention_days,
            settings.capture_retention_days,
        )
        return clickhouse
    raise ValueError(f"unknown store URL {url!r}")


def _sql_store(url: str, settings: Settings) -> Store:
    from ollama_proxy.store.sql import SqlStore, retention_rules

    store = SqlStore(
        url.replace("postgres://", "postgresql://", 1),
        password=settings.postgres_password if not url.startswith("sqlite") else "",
        retention_days=settings.retention_days,
        timeout_s=settings.store_write_timeout_s,
    )
    # The live settings: a retention change through POST /api/config applies at the next pass.
    store.retention_rules = retention_rules(
        lambda: settings.retention_days,
        lambda: settings.capture_retention_days,
        lambda: settings.rollup_retention_days,
    )
    return store


async def open_stores(settings: Settings) -> list[Store]:
    """Every configured store, opened; one that is down is returned too (marked down)."""
    urls = settings.effective_store_urls()
    for url in urls:
        problem = preflight.sqlite_problem(url)
        if problem:
            raise preflight.refuse(url, problem)
    stores = [open_store(url, settings) for url in urls]
    for store in stores:
        await store.open()
        report = store.health()
        error = str(report.get("error") or "")
        if not report.get("healthy") and preflight.fatal_cause(error):
            for opened in stores:
                await opened.close()
            raise preflight.refuse(store.url, error)
    return stores
