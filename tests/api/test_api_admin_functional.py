"""Errors, auth, CORS, cache, health and config of the stats API (SQLite store)."""

from __future__ import annotations

from typing import Any

import pytest

from ollama_proxy.api.admin import health_status, mask_url, masked_settings
from ollama_proxy.config import Settings
from tests.api.conftest import Api

TOKEN = "s3cret-token"


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/api/stats/history", {"time_range": "2h"}, "time_range"),
        ("/api/stats/history", {"granularity": "7s"}, "granularity"),
        ("/api/stats/history", {"until": "2025-06-01T12:00:00"}, "until"),  # no offset
        ("/api/stats/history", {"granularity": ""}, "granularity"),
        ("/api/stats/logs", {"limit": ""}, "limit"),
        ("/api/stats/logs", {"offset": "+5"}, "offset"),
        ("/api/stats/logs", {"limit": "-5"}, "limit"),
        ("/api/stats/logs", {"status": "failed"}, "status"),
        ("/api/stats/logs", {"since": "not-a-time"}, "since"),
        ("/api/stats/logs.csv", {"until": "nan"}, "until"),
        ("/api/models", {"group_by": "client"}, "group_by"),
        ("/api/stats/clients", {"time_range": "1y"}, "time_range"),
    ],
)
async def test_invalid_parameters_answer_400_naming_the_field(
    sqlite_api: Api, path: str, params: dict[str, str], field: str
) -> None:
    response = await sqlite_api.client.get(path, params=params)
    body = await response.json()
    assert response.status == 400
    assert body["field"] == field and field in body["error"]


async def test_unknown_paths_and_methods_answer_json(sqlite_api: Api) -> None:
    response = await sqlite_api.client.get("/api/stats/nope")
    assert response.status == 404 and (await response.json())["error"]
    response = await sqlite_api.client.delete("/api/stats/current")
    assert response.status == 405 and response.headers["Allow"] == "GET"
    assert set(await response.json()) == {"error", "field"}


async def test_admin_token_guards_stats_and_config(secured_api: Api) -> None:
    client = secured_api.client
    for path in ("/api/stats/current", "/api/models", "/api/config", "/api/stats/logs.csv"):
        response = await client.get(path)
        assert response.status == 401, path
        assert await response.json() == {"error": "admin token required", "field": "authorization"}
    wrong = await client.get("/api/stats/current", headers={"Authorization": "Bearer nope"})
    assert wrong.status == 401
    right = await client.get("/api/stats/current", headers={"Authorization": f"Bearer {TOKEN}"})
    assert right.status == 200
    for open_path in ("/api/health", "/api/openapi.json"):
        assert (await client.get(open_path)).status in (200, 503)


async def test_login_cookie_opens_the_api(secured_api: Api) -> None:
    client = secured_api.client
    assert (await client.post("/api/stats/login", json={"token": "nope"})).status == 401
    response = await client.post("/api/stats/login", json={"token": TOKEN})
    assert response.status == 204
    assert "HttpOnly" in response.headers["Set-Cookie"]
    assert (await client.get("/api/stats/logs")).status == 200
    await client.post("/api/stats/logout")
    assert (await client.get("/api/stats/logs")).status == 401


async def test_cors_only_for_configured_origins(secured_api: Api) -> None:
    client = secured_api.client
    auth = {"Authorization": f"Bearer {TOKEN}"}
    allowed = await client.get("/api/models", headers={**auth, "Origin": "https://dash.example"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://dash.example"
    other = await client.get("/api/models", headers={**auth, "Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
    preflight = await client.options(
        "/api/stats/history",
        headers={"Origin": "https://dash.example", "Access-Control-Request-Method": "GET"},
    )
    assert preflight.status == 204
    assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]


async def test_identical_queries_within_the_refresh_interval_hit_the_cache(sqlite_api: Api) -> None:
    client = sqlite_api.client
    first = await client.get("/api/stats/history", params={"time_range": "6h"})
    second = await client.get("/api/stats/history", params={"time_range": "6h"})
    assert (first.headers["X-Cache"], second.headers["X-Cache"]) == ("miss", "hit")
    assert await first.read() == await second.read()
    other = await client.get("/api/stats/history", params={"time_range": "24h"})
    assert other.headers["X-Cache"] == "miss"


async def test_health_reports_the_store(sqlite_api: Api) -> None:
    body = await sqlite_api.get_json("/api/health")
    assert body["status"] == "healthy" and body["mode"] == "api"
    assert body["stores"][0]["healthy"] is True and body["stores"][0]["kind"] == "sqlite"
    assert body["instance"] == "test-box"


def test_health_status_rules() -> None:
    up = {"url": "http://o", "reachable": True, "error": None}
    down = {"url": "http://o", "reachable": False, "error": "refused"}
    ok = [{"url": "s", "healthy": True}]
    bad = [{"url": "s", "healthy": False, "error": "x"}]
    assert health_status("proxy", up, ok) == ("healthy", [])
    assert health_status("proxy", down, ok)[0] == "unhealthy"
    assert health_status("proxy", up, bad)[0] == "degraded"
    assert health_status("api", None, bad)[0] == "unhealthy"


async def test_config_masks_secrets_and_applies_safe_changes(secured_api: Api) -> None:
    client = secured_api.client
    auth = {"Authorization": f"Bearer {TOKEN}"}
    view = await (await client.get("/api/config", headers=auth)).json()
    assert view["settings"]["admin_token"] == "***"
    assert "retention_days" in view["mutable"]
    response = await client.post(
        "/api/config", json={"retention_days": 7, "dashboard_refresh_s": 2.5}, headers=auth
    )
    body: dict[str, Any] = await response.json()
    assert response.status == 200 and body["applied"] == {
        "dashboard_refresh_s": 2.5,
        "retention_days": 7,
    }
    assert secured_api.settings.retention_days == 7
    for bad, field in (
        ({"retention_days": 0}, "retention_days"),
        ({"listen": "0.0.0.0:1"}, "listen"),
        ({"api_log_level": "LOUD"}, "api_log_level"),
    ):
        response = await client.post("/api/config", json=bad, headers=auth)
        assert response.status == 400 and (await response.json())["field"] == field
    bad_json = await client.post("/api/config", data=b"[1,", headers=auth)
    assert bad_json.status == 400
    unauthorized = await client.post("/api/config", json={"retention_days": 3})
    assert unauthorized.status == 401 and secured_api.settings.retention_days == 7


def test_masking() -> None:
    assert mask_url("postgresql://u:pw@h:5432/db") == "postgresql://u:***@h:5432/db"
    settings = Settings(
        postgres_password="pw", admin_token="", store_urls=["postgresql://u:pw@h/db"]
    )
    masked = masked_settings(settings)
    assert masked["postgres_password"] == "***" and masked["admin_token"] == ""
    assert "pw" not in str(masked["store_urls"])
