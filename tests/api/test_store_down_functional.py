"""Stores fail fast or say why: bad configuration stops the start, a down store is a 503."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from ollama_proxy.config import Settings
from ollama_proxy.store import open_store, open_stores
from ollama_proxy.store.preflight import StoreOpenError, fatal_cause, sqlite_problem
from tests.api.conftest import build_app
from tests.pg import PG_ADMIN_DSN, pg_unavailable, pg_url


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_missing_sqlite_folder_explains_relative_and_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Bug: sqlite:///data/metrics.db (relative) with no ./data started a proxy that could never
    # store anything, warning every few seconds.
    monkeypatch.chdir(tmp_path)
    problem = sqlite_problem("sqlite:///data/metrics.db")
    assert problem is not None and "sqlite:////absolute/path" in problem and "'data'" in problem
    (tmp_path / "data").mkdir()
    assert sqlite_problem("sqlite:///data/metrics.db") is None
    assert sqlite_problem("sqlite:///metrics.db") is None  # the working folder itself
    assert sqlite_problem("postgresql://u@h/db") is None


async def test_open_stores_refuses_with_one_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/missing/metrics.db"
    with pytest.raises(StoreOpenError) as info:
        await open_stores(Settings(store_urls=[url], journal_dir=str(tmp_path / "j")))
    assert str(info.value).startswith(f"store {url} cannot be opened: folder")


def test_causes_that_retrying_cannot_fix() -> None:
    assert fatal_cause('DBAPIError: (asyncpg.Error) database "x" does not exist')
    assert fatal_cause('password authentication failed for user "postgres"')
    assert fatal_cause("Code: 516. DB::Exception: AUTHENTICATION_FAILED")
    assert not fatal_cause("ConnectionRefusedError: [Errno 111] Connect call failed")


async def test_unknown_postgres_database_stops_the_start(tmp_path: Path) -> None:
    if not await _postgres_up():
        pg_unavailable("no answer to a ping")
    url = pg_url("no_such_database_for_this_test")
    with pytest.raises(StoreOpenError, match="does not exist"):
        await open_stores(Settings(store_urls=[url], journal_dir=str(tmp_path / "j")))


async def test_down_network_store_starts_and_stats_answer_503(tmp_path: Path) -> None:
    # Down but configured correctly: fine at start (the journal covers it); the stats
    # endpoints then answered a bare 500 "internal error".
    url = pg_url("metrics", closed_port())
    [store] = await open_stores(Settings(store_urls=[url], journal_dir=str(tmp_path / "j")))
    try:
        app = build_app(Settings(instance_name="down"), store)
        async with TestClient(TestServer(app)) as client:
            for path in ("/api/stats/logs", "/api/stats/current", "/api/models"):
                response = await client.get(path, headers={"Cache-Control": "no-cache"})
                body = await response.json()
                assert response.status == 503, (path, body)
                assert body["error"].startswith("store unavailable: "), body
            overview = await (await client.get("/api/stats/")).json()
            assert overview["totals"] is None and overview["error"].startswith("store unavailable")
    finally:
        await store.close()


async def _postgres_up() -> bool:
    store = open_store(PG_ADMIN_DSN)
    try:
        return await store.ping()
    except Exception:
        return False
    finally:
        await store.close()
