"""The stats API inside the proxy app (`create_app`) and in `ollama-proxy api` mode."""

from __future__ import annotations

import socket
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

from ollama_proxy.api import create_api_app
from ollama_proxy.app import create_app
from ollama_proxy.config import Settings


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def settings(tmp_path: Path, **extra: object) -> Settings:
    return Settings(
        store_urls=[f"sqlite:///{tmp_path / 'proxy.db'}"],
        journal_dir=str(tmp_path / "journal"),
        upstream=f"http://127.0.0.1:{closed_port()}",
        otel_sdk_disabled=True,
        instance_name="wired",
        **extra,
    )


async def test_proxy_app_serves_the_api_and_reports_the_upstream_down(tmp_path: Path) -> None:
    async with TestClient(TestServer(create_app(settings(tmp_path)))) as client:
        health = await client.get("/api/health")
        body = await health.json()
        assert health.status == 503 and body["status"] == "unhealthy"
        assert body["mode"] == "proxy" and body["upstream"]["reachable"] is False
        assert body["stores"][0]["kind"] == "sqlite"
        current = await client.get("/api/stats/current")
        assert current.status == 200 and (await current.json())["requests_total"] == 0
        wrong = await client.post("/api/stats/history")
        assert wrong.status == 405  # answered here, not forwarded to Ollama
        unknown = await client.get("/api/stats/nothing-here")
        assert unknown.status == 404 and "error" in await unknown.json()
        proxied = await client.get("/api/tags")  # Ollama's route: forwarded, upstream down
        assert proxied.status == 502


async def test_api_mode_without_upstream(tmp_path: Path) -> None:
    app = create_api_app(settings(tmp_path, admin_token="t0ken"))
    async with TestClient(TestServer(app)) as client:
        health = await (await client.get("/api/health")).json()
        assert health["mode"] == "api" and health["upstream"] is None
        assert health["status"] == "healthy"
        assert (await client.get("/api/models")).status == 401
        auth = {"Authorization": "Bearer t0ken"}
        assert await (await client.get("/api/models", headers=auth)).json() == []
