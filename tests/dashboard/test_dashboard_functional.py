"""/dashboard/: the bundle, cache headers, client-side routes, and no way out of the bundle."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from ollama_proxy.dashboard import add_dashboard_routes
from tests.proxy.tap import http_request, raw_request


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    root = tmp_path / "bundle"
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_text("<!doctype html><div id=root></div>")
    (root / "assets" / "index-abc123.js").write_text("console.log('app')")
    (tmp_path / "secret.txt").write_text("do not serve me")
    return root


async def _client(root: Path) -> TestClient:
    app = web.Application()
    add_dashboard_routes(app, root)
    add_dashboard_routes(app, root)  # a second registration is a no-op
    client = TestClient(TestServer(app))
    await client.start_server()
    return client


async def test_index_assets_and_client_routes(bundle: Path) -> None:
    client = await _client(bundle)
    try:
        index = await client.get("/dashboard/")
        assert index.status == 200 and "id=root" in await index.text()
        assert index.headers["Cache-Control"] == "no-cache"
        asset = await client.get("/dashboard/assets/index-abc123.js")
        assert asset.status == 200 and "immutable" in asset.headers["Cache-Control"]
        route = await client.get("/dashboard/logs/some-id")
        assert route.status == 200 and "id=root" in await route.text()
        missing = await client.get("/dashboard/assets/nope.js")
        assert missing.status == 404
        redirect = await client.get("/dashboard", allow_redirects=False)
        assert redirect.status == 302 and redirect.headers["Location"] == "/dashboard/"
    finally:
        await client.close()


@pytest.mark.parametrize(
    "path",
    [
        "/dashboard/../secret.txt",
        "/dashboard/%2e%2e/secret.txt",
        "/dashboard/assets/..%2f..%2fsecret.txt",
        "/dashboard/..%5csecret.txt",
        "/dashboard/%2e%2e%2f%2e%2e%2fetc/passwd",
    ],
)
async def test_path_traversal_never_leaves_the_bundle(bundle: Path, path: str) -> None:
    client = await _client(bundle)
    try:
        port = client.server.port
        assert port is not None
        raw = await raw_request("127.0.0.1", port, http_request("GET", path))
        assert b"do not serve me" not in raw
        assert b"root:" not in raw
        status = int(raw.split(b" ", 2)[1])
        assert status in (200, 400, 403, 404)  # 200 only as the app's index.html
        if status == 200:
            assert b"id=root" in raw
    finally:
        await client.close()


async def test_without_a_bundle_it_says_how_to_build_one(tmp_path: Path) -> None:
    client = await _client(tmp_path / "none")
    try:
        response = await client.get("/dashboard/")
        assert response.status == 503
        assert "make dashboard" in await response.text()
    finally:
        await client.close()
