"""Versioned schema migrations for every store kind.

Version 1 is the baseline `schemas/<kind>.sql` (the first release's schema, never edited
again). Later versions are numbered files `schemas/migrations/<kind>/NNNN_<slug>.sql`, with the
baseline's statement separation and placeholders. Each store keeps the *set* of versions it
has applied in a `schema_migrations` table; at open, every available version missing from that
set is applied in ascending order (a gap filled by a later release still applies), under a
lock so two proxies starting together do not race:

- SQLite: one `BEGIN IMMEDIATE` transaction per migration (the database's write lock); the
  applied set is re-read inside it, so a second opener finds the version done and skips it.
- PostgreSQL: a session advisory lock around the run; each migration in its own transaction.
- ClickHouse/chDB: no transactions and no lock primitive. ClickHouse migrations must be
  idempotent statements (`IF NOT EXISTS` / `IF EXISTS`), so two openers applying the same one
  both succeed; a version is recorded after its last statement, and a crash in between re-runs
  the whole file at the next start. `schema_migrations` is a ReplacingMergeTree on version.

A database created before `schema_migrations` existed has `schema_version` = 1: it is
recognised as version 1 (its baseline is not run again).

This module is the pure part (files, ordering, rendering); the stores run the statements.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ollama_proxy.store.base import schema_dir, split_statements

BASELINE_VERSION = 1
# The file name of a migration: four digits, an underscore, a slug.
_NAME = re.compile(r"^(\d{4})_([a-z0-9][a-z0-9_]*)\.sql$")
_PLACEHOLDER = re.compile(r"\{\{ *(\w+) *\}\}")
# The directory name of each store kind's migrations (chDB runs ClickHouse's SQL).
MIGRATION_KIND = {"sqlite": "sqlite", "postgres": "postgres", "clickhouse": "clickhouse",
                  "chdb": "clickhouse"}  # fmt: skip
# A fixed key for pg_advisory_lock: "ollama-local-serve migrations" folded into a bigint.
PG_LOCK_KEY = 0x6F6C6C616D61_0001
MIGRATION_STATEMENT_TIMEOUT_S = 3600.0


@dataclass(frozen=True)
class Migration:
    """One version: the baseline (1) or a numbered file."""

    version: int
    name: str
    path: Path

    def statements(self, values: Mapping[str, str]) -> list[str]:
        return split_statements(render(self.path.read_text(), values, self.path.name))


def render(text: str, values: Mapping[str, str], name: str) -> str:
    """Fill `{{ NAME }}` placeholders; an unknown one is an error, not an empty string."""

    def fill(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise ValueError(f"{name}: unknown placeholder {match.group(0)}")
        return values[key]

    return _PLACEHOLDER.sub(fill, text)


def default_dir() -> Path:
    return schema_dir() / "migrations"


def available(kind: str, directory: Path | None = None) -> list[Migration]:
    """The baseline and every numbered file for `kind`, by version.

    >>> [m.version for m in available("sqlite")][0]
    1
    """
    folder = MIGRATION_KIND[kind]
    baseline = schema_dir() / f"{folder}.sql"
    found = [Migration(BASELINE_VERSION, "baseline", baseline)]
    root = (directory or default_dir()) / folder
    seen: dict[int, Path] = {}
    for path in sorted(root.glob("*.sql")) if root.is_dir() else []:
        match = _NAME.match(path.name)
        if match is None:
            raise ValueError(f"{path.name}: migration files are named NNNN_slug.sql")
        version = int(match.group(1))
        if version <= BASELINE_VERSION:
            raise ValueError(f"{path.name}: version 1 is the baseline schemas/{folder}.sql")
        if version in seen:
            raise ValueError(f"{path.name}: version {version} also in {seen[version].name}")
        seen[version] = path
        found.append(Migration(version, match.group(2), path))
    return sorted(found, key=lambda m: m.version)


def missing(applied: Iterable[int], migrations: Iterable[Migration]) -> list[Migration]:
    """What to run: every migration whose version is not applied yet, ascending.

    >>> ms = [Migration(v, "x", Path("x")) for v in (1, 2, 3, 12)]
    >>> [m.version for m in missing({1, 3}, ms)]
    [2, 12]
    """
    done = set(applied)
    return sorted((m for m in migrations if m.version not in done), key=lambda m: m.version)


# How a store turns a migration into statements (rendered, maybe rewritten for a cluster).
Statements = Callable[[Migration], list[str]]

SQLITE_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
)
POSTGRES_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    "version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
    "applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
)
CLICKHOUSE_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_migrations {{ ON_CLUSTER }} "
    "(version UInt32, name String, applied_at DateTime DEFAULT now()) "
    "ENGINE = ReplacingMergeTree ORDER BY version"
)


# --- SQLite: run in a worker thread with the standard library's driver -------------------------
def migrate_sqlite(
    path: str, migrations: list[Migration], statements: Statements, busy_timeout_s: float
) -> list[int]:
    """Apply what `path` lacks; the versions applied by this call.

    The stdlib driver in autocommit mode (isolation_level=None), so BEGIN IMMEDIATE and COMMIT
    are exactly the statements sent: SQLite's DDL is transactional, a failed migration leaves
    nothing behind. `timeout` is the busy timeout a second opener waits on the write lock.
    """
    conn = sqlite3.connect(path, timeout=busy_timeout_s, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(SQLITE_TABLE)
        if not missing(_sqlite_applied(conn), migrations):
            return []  # the usual start: no write lock taken
        done: list[int] = []
        for migration in migrations:
            conn.execute("BEGIN IMMEDIATE")  # the write lock: other openers wait here
            try:
                applied = _sqlite_applied(conn)
                if migration.version in applied:
                    conn.execute("ROLLBACK")
                    continue
                if not (migration.version == BASELINE_VERSION and _sqlite_has_v1(conn)):
                    for statement in statements(migration):
                        conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) "
                    "VALUES (?, ?, CURRENT_TIMESTAMP)",
                    (migration.version, migration.name),
                )
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            done.append(migration.version)
        return done
    finally:
        conn.close()


def _sqlite_applied(conn: sqlite3.Connection) -> set[int]:
    return {int(row[0]) for row in conn.execute("SELECT version FROM schema_migrations")}


def _sqlite_has_v1(conn: sqlite3.Connection) -> bool:
    """A database of the first release: `schema_version` holds 1, no schema_migrations rows."""
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
    ).fetchone()
    if exists is None:
        return False
    return conn.execute("SELECT 1 FROM schema_version WHERE version = 1").fetchone() is not None


# --- PostgreSQL: on an asyncpg connection ------------------------------------------------------
async def migrate_postgres(
    conn: Any, migrations: list[Migration], statements: Statements, lock_timeout_s: float
) -> list[int]:
    """Apply what the database lacks, under a session advisory lock; each in a transaction."""
    # A migration may rewrite a large table: the store's write timeouts do not apply to it.
    await conn.execute("SET statement_timeout = 0")
    await conn.execute("SELECT pg_advisory_lock($1)", PG_LOCK_KEY, timeout=lock_timeout_s)
    try:
        await conn.execute(POSTGRES_TABLE)
        rows = await conn.fetch("SELECT version FROM schema_migrations")
        applied = {int(row["version"]) for row in rows}
        done: list[int] = []
        for migration in missing(applied, migrations):
            async with conn.transaction():
                legacy = migration.version == BASELINE_VERSION and await _postgres_has_v1(conn)
                if not legacy:
                    for statement in statements(migration):
                        await conn.execute(statement, timeout=MIGRATION_STATEMENT_TIMEOUT_S)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                    migration.version,
                    migration.name,
                )
            done.append(migration.version)
        return done
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", PG_LOCK_KEY)
        await conn.execute("RESET statement_timeout")


async def _postgres_has_v1(conn: Any) -> bool:
    if await conn.fetchval("SELECT to_regclass('schema_version') IS NOT NULL") is not True:
        return False
    found = await conn.fetchval("SELECT EXISTS (SELECT 1 FROM schema_version WHERE version = 1)")
    return bool(found)


# --- ClickHouse / chDB: idempotent statements, no lock (see the module docstring) -------------
async def migrate_clickhouse(
    execute: Callable[[str], Awaitable[None]],
    fetch: Callable[[str], Awaitable[list[dict[str, Any]]]],
    migrations: list[Migration],
    statements: Statements,
    on_cluster: str,
) -> list[int]:
    """Apply what the database lacks; each version recorded after its last statement."""
    await execute(CLICKHOUSE_TABLE.replace("{{ ON_CLUSTER }}", on_cluster))
    rows = await fetch("SELECT DISTINCT version FROM schema_migrations")
    applied = {int(row["version"]) for row in rows}
    done: list[int] = []
    for migration in missing(applied, migrations):
        legacy = migration.version == BASELINE_VERSION and await _clickhouse_has_v1(fetch)
        if not legacy:
            for statement in statements(migration):
                await execute(statement)
        name = migration.name.replace("'", "")
        await execute(
            f"INSERT INTO schema_migrations (version, name) VALUES ({migration.version}, '{name}')"
        )
        done.append(migration.version)
    return done


async def _clickhouse_has_v1(fetch: Callable[[str], Awaitable[list[dict[str, Any]]]]) -> bool:
    rows = await fetch(
        "SELECT count() AS n FROM system.tables "
        "WHERE database = currentDatabase() AND name = 'schema_version'"
    )
    if not rows or int(rows[0]["n"]) == 0:
        return False
    rows = await fetch("SELECT count() AS n FROM schema_version WHERE version = 1")
    return bool(rows) and int(rows[0]["n"]) > 0
