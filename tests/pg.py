"""PostgreSQL for the tests: the server at 127.0.0.1:5432, a fresh database per use, and the one
rule for its absence: the test fails when CI=true (CI must run it) and skips with the reason
elsewhere.

    @pytest.fixture
    async def database() -> AsyncIterator[str]:
        name = await pg_database_or_skip()
        yield pg_url(name)
        await drop_pg_database(name)
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NoReturn, TypeVar

import pytest

from tests.ci import missing

T = TypeVar("T")

PG_SERVER = "127.0.0.1:5432"
PG_ADMIN_DSN = f"postgresql://postgres@{PG_SERVER}/test"


def pg_url(database: str, port: int = 5432) -> str:
    """The URL of `database` on the test server (`port`: a forwarder in front of it)."""
    return f"postgresql://postgres@127.0.0.1:{port}/{database}"


def pg_unavailable(error: object) -> NoReturn:
    missing(
        f"PostgreSQL at {PG_SERVER} unreachable: {error}",
        in_ci=f"PostgreSQL at {PG_SERVER} is required in CI: {error}",
    )


async def _admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_DSN, timeout=3)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def create_named_pg_database(name: str) -> None:
    """A database of a fixed name (a benchmark's cached build is found again by it)."""
    await _admin(f'CREATE DATABASE "{name}"')


async def create_pg_database(prefix: str = "api_test") -> str:
    """A fresh database; its name."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    await create_named_pg_database(name)
    return name


async def drop_pg_database(name: str) -> None:
    await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def pg_database_or_skip(prefix: str = "api_test") -> str:
    """A fresh database, or the test fails (CI) / skips (elsewhere) with the reason."""
    try:
        return await create_pg_database(prefix)
    except Exception as error:  # refused, timed out, no asyncpg: all say "not here"
        pg_unavailable(error)


def in_thread(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` to completion from sync code that may sit inside a running loop (fixtures)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def pg_database_or_skip_sync(prefix: str = "api_test") -> str:
    """`pg_database_or_skip` for sync fixtures."""
    try:
        return in_thread(create_pg_database(prefix))
    except Exception as error:
        pg_unavailable(error)


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """One database for the session (the shared store suites truncate between tests)."""
    name = pg_database_or_skip_sync()
    yield name
    in_thread(drop_pg_database(name))
