"""Per-store health through the app: /api/health and the same figures on /metrics."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from ollama_proxy import appkeys
from ollama_proxy.app import create_app
from ollama_proxy.config import Settings
from tests.servers import start_app


async def test_store_health_and_gauges(tmp_path: Path) -> None:
    settings = Settings(
        upstream="http://127.0.0.1:9",
        listen="127.0.0.1:0",
        store_urls=[f"sqlite:///{tmp_path}/h.db"],
        journal_dir=str(tmp_path / "journal"),
        instance_name="health",
    )
    app = create_app(settings)
    runner, url = await start_app(app)
    try:
        await app[appkeys.RECORDER].flush()
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{url}/api/health") as response:
                body = await response.json()
            async with http.get(f"{url}/metrics") as response:
                text = await response.text()
        [store] = body["stores"]
        assert store["state"] == "ok" and store["healthy"]
        assert store["backlog_records"] == 0 and store["backlog_age_s"] == 0
        assert store["backlog_bytes"] == 0 and store["last_error"] is None
        lines = [line for line in text.splitlines() if line.startswith("ollama_proxy_store_")]
        names = {line.split("{")[0] for line in lines}
        assert any(name.startswith("ollama_proxy_store_state") for name in names), names
        assert any("backlog_age" in name for name in names), names
        assert all('store="sqlite:///' in line for line in lines)
    finally:
        await runner.cleanup()
