"""Stores for the API suite and bench: the real `ollama_proxy.store` backends (PostgreSQL
databases come from `tests.pg`)."""

from __future__ import annotations

from typing import Any

from ollama_proxy.store import open_store


async def open_test_store(url: str) -> Any:
    """The store for `url`, opened (schema applied), as the proxy opens it."""
    store = open_store(url)
    await store.open()
    return store
