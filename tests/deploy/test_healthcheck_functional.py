"""deploy/docker/healthcheck.py, the container probe, against real HTTP servers."""

from __future__ import annotations

import asyncio
import importlib.util
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType

import pytest
from aiohttp import web

from tests.servers import start_app

PROBE = Path(__file__).resolve().parents[2] / "deploy/docker/healthcheck.py"


def load_probe() -> ModuleType:
    spec = importlib.util.spec_from_file_location("healthcheck", PROBE)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("listen", "url"),
    [
        ("0.0.0.0:11435", "http://127.0.0.1:11435/api/health"),
        ("127.0.0.1:9000", "http://127.0.0.1:9000/api/health"),
        ("[::]:11435", "http://127.0.0.1:11435/api/health"),
        ("[::1]:11435", "http://[::1]:11435/api/health"),
        ("proxy.local:80", "http://proxy.local:80/api/health"),
    ],
)
def test_health_url_follows_proxy_listen(listen: str, url: str) -> None:
    assert load_probe().health_url(listen) == url


class Health:
    def __init__(self) -> None:
        self.status = 200
        self.authorization: list[str | None] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.authorization.append(request.headers.get("Authorization"))
        body = {200: "healthy", 503: "unhealthy"}.get(self.status, "?")
        return web.json_response({"status": body}, status=self.status)


@pytest.fixture
async def health() -> AsyncIterator[tuple[Health, str]]:
    state = Health()
    app = web.Application()
    app.router.add_get("/api/health", state.handle)
    runner, url = await start_app(app)
    yield state, url.rsplit("//", 1)[1]
    await runner.cleanup()


async def run_probe(listen: str, token: str = "") -> tuple[int, str]:
    env = {"PROXY_LISTEN": listen, "ADMIN_TOKEN": token, "PATH": "/usr/bin:/bin"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(PROBE), env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode is not None
    return process.returncode, (out + err).decode()


async def test_healthy_and_degraded_pass(health: tuple[Health, str]) -> None:
    state, listen = health
    code, output = await run_probe(listen)
    assert code == 0 and "healthy" in output
    assert state.authorization == [None]


async def test_unhealthy_fails(health: tuple[Health, str]) -> None:
    state, listen = health
    state.status = 503
    code, output = await run_probe(listen)
    assert code == 1 and "503" in output


async def test_admin_token_is_sent_as_bearer(health: tuple[Health, str]) -> None:
    state, listen = health
    code, _ = await run_probe(listen, token="s3cret")
    assert code == 0 and state.authorization == ["Bearer s3cret"]


async def test_nothing_listening_fails() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code, output = await run_probe(f"127.0.0.1:{port}")
    assert code == 1 and "unhealthy" in output
