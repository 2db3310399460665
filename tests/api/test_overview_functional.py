"""GET /api/stats and /api/stats/: the overview a person asks curl for; own paths stay ours."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from ollama_proxy.app import create_app
from tests.api.conftest import Api
from tests.api.test_api_wiring_functional import settings


@pytest.mark.parametrize("path", ["/api/stats", "/api/stats/"])
async def test_overview_has_totals_last_hour_health_and_links(sqlite_api: Api, path: str) -> None:
    # Bug: /api/stats/ answered 404 and /api/stats went to Ollama (plain-text 404).
    body = await sqlite_api.get_json(path)
    assert body["totals"]["requests"] == len(sqlite_api.records)
    assert body["last_hour"]["requests"] <= body["totals"]["requests"]
    assert body["health"]["status"] in ("healthy", "degraded", "unhealthy")
    assert body["error"] is None
    for endpoint in ("/api/stats/current", "/api/stats/logs", "/api/health", "/api/models"):
        assert endpoint in body["endpoints"]


async def test_overview_in_the_proxy_app_and_unknown_own_paths(tmp_path: Path) -> None:
    async with TestClient(TestServer(create_app(settings(tmp_path)))) as client:
        overview = await client.get("/api/stats")
        body = await overview.json()
        assert overview.status == 200 and body["mode"] == "proxy"
        assert body["totals"]["requests"] == 0 and body["pipeline"]["dropped"] == 0
        assert "/api/stats/live" in body["endpoints"]
        for unknown in ("/api/health/extra", "/api/models.json", "/api/config/x", "/metrics/x"):
            answer = await client.get(unknown)
            assert answer.status == 404, unknown  # ours: answered here, not forwarded
            assert "error" in await answer.json()
        proxied = await client.get("/api/unknown-ollama-path")  # Ollama's: forwarded
        assert proxied.status == 502
