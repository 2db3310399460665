"""schemathesis against /api/openapi.json: every endpoint fuzzed, no 5xx, answers match the
document (status codes, content types, response schemas)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, settings
from schemathesis import checks

from ollama_proxy.api.openapi import openapi_document
from ollama_proxy.config import Settings
from tests.api.conftest import build_app, make_records
from tests.api.stores import open_test_store

# The live view is an endless event stream of the proxy app (tests/live covers it).
# The fuzzed server has no ADMIN_TOKEN: its document declares no security.
schema = schemathesis.openapi.from_dict(openapi_document(secured=False)).exclude(
    path="/api/stats/live"
)


class ServerThread:
    """The API on a real socket, in its own thread and loop (schemathesis calls are sync)."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.base_url = ""
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    async def _start(self) -> None:
        self.store = await open_test_store(f"sqlite:///{self.db_path}")
        await self.store.write_requests(make_records(datetime.now(UTC).replace(second=0)))
        app = build_app(Settings(instance_name="fuzz", dashboard_refresh_s=0.001), self.store)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = self.runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}"

    async def _stop(self) -> None:
        await self.runner.cleanup()
        await self.store.close()

    def __enter__(self) -> ServerThread:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(30)
        return self

    def __exit__(self, *exc: Any) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    with ServerThread(tmp_path_factory.mktemp("fuzz") / "api.db") as running:
        yield running


CHECKS = (
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
)


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_endpoint_conforms_and_never_5xx(case: Any, server: ServerThread) -> None:
    response = case.call(base_url=server.base_url, timeout=30)
    case.validate_response(response, checks=CHECKS)
