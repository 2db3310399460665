"""Work the API starts in the background ends with the app.

Regression: a retention change in `ollama-proxy api` mode (no recorder) started a retention
pass as a task nobody held: shutdown neither cancelled nor awaited it, so it could still be
deleting while the stores closed under it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from ollama_proxy.config import Settings
from tests.api.conftest import build_app
from tests.api.stores import open_test_store


class HangingRetention:
    """A real store whose retention pass hangs until cancelled."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self.started = asyncio.Event()
        self.cancelled = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def apply_retention(self, tables: Sequence[str] | None = None) -> dict[str, int]:
        self.started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        return {}


async def test_a_retention_pass_started_by_a_config_change_ends_at_shutdown(
    tmp_path: Path,
) -> None:
    real = await open_test_store(f"sqlite:///{tmp_path / 'r.db'}")
    store = HangingRetention(real)
    app = build_app(Settings(instance_name="test-box"), store)
    try:
        async with TestClient(TestServer(app)) as client:
            response = await client.post("/api/config", json={"retention_days": 5})
            assert response.status == 200, await response.text()
            async with asyncio.timeout(5):
                await store.started.wait()
        assert store.cancelled  # cancelled and awaited before the app finished closing
    finally:
        await real.close()
