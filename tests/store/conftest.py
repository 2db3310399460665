"""Every store backend, opened fresh: SQLite, PostgreSQL (a new database per session), chDB,
and ClickHouse over HTTP (aiochclient) against a chDB shim in its own process."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from ollama_proxy.config import Settings
from ollama_proxy.store import open_store
from ollama_proxy.store.base import Store
from tests.pg import pg_database, pg_url  # noqa: F401  (pg_database: a fixture)

ROOT = Path(__file__).resolve().parents[2]
BACKENDS = ["sqlite", "postgres", "chdb", "clickhouse"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def clickhouse_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    path = tmp_path_factory.mktemp("chdb-shim")
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.store.chdb_http", str(path), str(port)], cwd=ROOT
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/?query=SELECT%201", timeout=1)
            break
        except Exception:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail("the chDB HTTP shim did not start")
            time.sleep(0.2)
    yield f"clickhouse://127.0.0.1:{port}/default"
    proc.terminate()
    proc.wait(10)


def settings_for(tmp_path: Path, **overrides: object) -> Settings:
    return Settings(journal_dir=str(tmp_path / "journal"), instance_name="t", **overrides)


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    kind = request.param
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path}/s.db"
    elif kind == "postgres":
        url = pg_url(request.getfixturevalue("pg_database"))
    elif kind == "chdb":
        url = f"chdb://{tmp_path}/chdb"
    else:
        url = request.getfixturevalue("clickhouse_url")
    backend = open_store(url, settings_for(tmp_path))
    await backend.open()
    assert backend.health()["healthy"], backend.health()
    await _truncate(backend)
    yield backend
    await backend.close()


async def _truncate(backend: Store) -> None:
    from ollama_proxy.store import rollups

    sql_rollups = () if backend.kind in ("chdb", "clickhouse") else rollups.ROLLUP_TABLES
    for table in ("request_logs", "ollama_metrics", "request_content", *sql_rollups):
        if backend.kind in ("chdb", "clickhouse"):
            await backend.execute(f"TRUNCATE TABLE {table}")  # type: ignore[attr-defined]
        else:
            import sqlalchemy as sa

            async with backend.engine.begin() as conn:  # type: ignore[attr-defined]
                await conn.execute(sa.text(f"DELETE FROM {table}"))
    if backend.kind in ("chdb", "clickhouse"):
        await backend.execute("TRUNCATE TABLE request_rollup_1m")  # type: ignore[attr-defined]
