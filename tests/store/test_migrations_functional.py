"""Upgrades lose nothing: a store created and filled by the first release's schema, opened by
this code with extra migrations, keeps every row and field; a second open changes nothing; two
openers at once both succeed and apply each version once (SQL stores).

The old schema comes from git history when the checkout has it (and must then equal the
baseline file, which is never edited); otherwise from the baseline itself.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from ollama_proxy.records import RequestRecord
from ollama_proxy.store import migrations
from ollama_proxy.store.base import Store, render_schema, schema_dir, split_statements
from ollama_proxy.store.clickhouse import ClickHouseStore, clickhouse_ddl
from ollama_proxy.store.journal import decode
from ollama_proxy.store.sql import SqlStore

ROOT = Path(__file__).resolve().parents[2]
FIRST_RELEASE = "ffd8ffb"  # the release whose databases have schema_version = 1 only
ROWS = 300
TEST_VERSIONS = (9990, 9991)  # far above every real range

# The column a test migration adds, for each kind; 9991 is added before 9990 is (a gap).
ADDED_COLUMN = {
    "sqlite": "ALTER TABLE request_logs ADD COLUMN upgrade_note TEXT NOT NULL DEFAULT 'kept';",
    "postgres": "ALTER TABLE request_logs ADD COLUMN IF NOT EXISTS upgrade_note TEXT "
    "NOT NULL DEFAULT 'kept';",
    "clickhouse": "ALTER TABLE request_logs {{ ON_CLUSTER }} ADD COLUMN IF NOT EXISTS "
    "upgrade_note String DEFAULT 'kept';",
}
ADDED_TABLE = {
    "sqlite": "CREATE TABLE IF NOT EXISTS upgrade_extra (k TEXT PRIMARY KEY);",
    "postgres": "CREATE TABLE IF NOT EXISTS upgrade_extra (k TEXT PRIMARY KEY);",
    "clickhouse": "CREATE TABLE IF NOT EXISTS upgrade_extra {{ ON_CLUSTER }} (k String) "
    "ENGINE = ReplacingMergeTree ORDER BY k;",
}


def old_schema(folder: str) -> str:
    name = f"schemas/{folder}.sql"
    baseline = (schema_dir() / f"{folder}.sql").read_text()
    try:
        old = subprocess.run(
            ["git", "show", f"{FIRST_RELEASE}:{name}"],
            cwd=ROOT,
            capture_output=True,
            check=True,
            text=True,
            timeout=20,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return baseline  # a shallow checkout: the baseline is that schema by convention
    assert old == baseline, f"{name} was edited: add a migration instead"
    return old


def migration_dir(tmp_path: Path, folder: str, *, second: bool) -> Path:
    """The shipped migrations plus test ones; `second` adds the lower-numbered one later."""
    root = tmp_path / "migrations"
    if root.exists():
        shutil.rmtree(root)
    shutil.copytree(schema_dir() / "migrations", root)
    (root / folder / f"{TEST_VERSIONS[1]:04d}_added_column.sql").write_text(ADDED_COLUMN[folder])
    if second:
        (root / folder / f"{TEST_VERSIONS[0]:04d}_added_table.sql").write_text(ADDED_TABLE[folder])
    return root


def old_records() -> list[RequestRecord]:
    start = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
    return [
        RequestRecord(
            request_id=f"old-{i:05d}",
            timestamp=start + timedelta(seconds=i),
            instance="old",
            endpoint="/api/chat",
            operation="chat",
            model=f"m{i % 3}",
            status="error" if i % 7 == 0 else "success",
            http_status=500 if i % 7 == 0 else 200,
            prompt_tokens=i,
            completion_tokens=2 * i,
            latency_ms=float(i) + 0.5,
            ttft_ms=None if i % 2 else float(i),
            inference=True,
            stream=bool(i % 2),
        )
        for i in range(ROWS)
    ]


def old_row(record: RequestRecord, columns: list[str]) -> list[Any]:
    """The row the first release wrote: its columns are the table's, filled from the record."""
    values = record.to_dict()
    values["tokens_generated"] = record.completion_tokens
    return [values[c] for c in columns]


@dataclass
class Kind:
    folder: str
    url: str
    create_old: Callable[[], Any]  # coroutine: old schema + rows
    open_new: Callable[[Path], Store]


# --- creating a first-release store, per kind ----------------------------------------------------
async def _old_sqlite(path: Path) -> None:
    import sqlite3

    conn = sqlite3.connect(path, isolation_level=None)
    for statement in split_statements(old_schema("sqlite")):
        conn.execute(statement)
    columns = [row[1] for row in conn.execute("PRAGMA table_info(request_logs)")]
    rows = []
    for record in old_records():
        row = old_row(record, columns)
        stamp = record.timestamp.replace(tzinfo=None)
        row[columns.index("timestamp")] = stamp.isoformat(" ", "microseconds")
        rows.append(row)
    marks = ", ".join("?" for _ in columns)
    conn.execute("BEGIN")
    conn.executemany(f"INSERT INTO request_logs ({', '.join(columns)}) VALUES ({marks})", rows)
    conn.execute("COMMIT")
    conn.close()


async def _old_postgres(dsn: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        sql = old_schema("postgres").replace("{{ RETENTION_DAYS }}", "30")
        for statement in split_statements(sql):
            await conn.execute(statement)
        columns = [
            r["column_name"]
            for r in await conn.fetch(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_name = 'request_logs' ORDER BY ordinal_position"
            )
        ]
        await conn.copy_records_to_table(
            "request_logs",
            records=[tuple(old_row(r, columns)) for r in old_records()],
            columns=columns,
        )
    finally:
        await conn.close()


async def _old_clickhouse(store: ClickHouseStore) -> None:
    backend = store._backend
    sql = old_schema("clickhouse")
    assert sql == (schema_dir() / "clickhouse.sql").read_text()
    for statement in clickhouse_ddl(30):  # the first release's DDL path, same file
        await backend.execute(statement)
    columns = [
        r["name"]
        for r in await backend.fetch(
            "SELECT name FROM system.columns WHERE database = currentDatabase() "
            "AND table = 'request_logs' ORDER BY position",
            {},
        )
    ]
    lines = []
    for record in old_records():
        row = dict(zip(columns, old_row(record, columns), strict=True))
        row["timestamp"] = record.timestamp.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        lines.append(orjson.dumps(row))
    await backend.execute("INSERT INTO request_logs FORMAT JSONEachRow", b"\n".join(lines))


@pytest.fixture(params=["sqlite", "postgres", "chdb", "clickhouse"])
async def kind(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Kind]:
    name = request.param
    if name == "sqlite":
        path = tmp_path / "old.db"
        url = f"sqlite:///{path}"
        yield Kind(
            "sqlite", url, lambda: _old_sqlite(path), lambda d: SqlStore(url, migrations_dir=d)
        )
        return
    if name == "postgres":
        from tests.pg import drop_pg_database, pg_database_or_skip, pg_url

        database = await pg_database_or_skip()
        url = pg_url(database)
        yield Kind(
            "postgres",
            url,
            lambda: _old_postgres(url),
            lambda d: SqlStore(url, migrations_dir=d),
        )
        await drop_pg_database(database)
        return
    if name == "chdb":
        url = f"chdb://{tmp_path}/chdb"
    else:
        base = request.getfixturevalue("clickhouse_url").rsplit("/", 1)[0]
        database = f"upgrade_{tmp_path.name[-12:].replace('-', '_')}"
        admin = ClickHouseStore(f"{base}/default")
        await admin.execute(f"DROP DATABASE IF EXISTS {database}")
        await admin.execute(f"CREATE DATABASE {database}")
        await admin.close()
        url = f"{base}/{database}"
    seed = ClickHouseStore(url)

    async def create() -> None:
        await _old_clickhouse(seed)
        if name == "clickhouse":
            await seed.close()

    yield Kind("clickhouse", url, create, lambda d: ClickHouseStore(url, migrations_dir=d))
    if name == "chdb":
        await seed.close()


def final(store: Store) -> str:
    return " FINAL" if store.kind in ("chdb", "clickhouse") else ""


async def applied_versions(store: Store) -> set[int]:
    rows = await store.fetch("SELECT DISTINCT version FROM schema_migrations")
    return {int(r["version"]) for r in rows}


async def check_rows(store: Store) -> None:
    rows = await store.fetch(
        "SELECT request_id, model, status, prompt_tokens, completion_tokens, tokens_generated, "
        f"latency_ms, ttft_ms, upgrade_note FROM request_logs{final(store)} "
        "WHERE instance = 'old' ORDER BY request_id"
    )
    expected = old_records()
    assert len(rows) == len(expected)
    for row, record in zip(rows, expected, strict=True):
        assert row["request_id"] == record.request_id
        assert row["model"] == record.model and row["status"] == record.status
        assert int(row["prompt_tokens"]) == record.prompt_tokens
        tokens = 2 * record.prompt_tokens
        assert int(row["completion_tokens"]) == int(row["tokens_generated"]) == tokens
        assert float(row["latency_ms"]) == record.latency_ms
        assert (None if row["ttft_ms"] is None else float(row["ttft_ms"])) == record.ttft_ms
        assert row["upgrade_note"] == "kept"


async def test_first_release_store_upgrades_without_loss(kind: Kind, tmp_path: Path) -> None:
    await kind.create_old()
    shipped = {m.version for m in migrations.available(kind.folder)}

    # Two proxies start at once on the first release's database.
    first = migration_dir(tmp_path, kind.folder, second=False)
    stores = [kind.open_new(first), kind.open_new(first)]
    await asyncio.gather(*(s.open() for s in stores))
    for store in stores:
        assert store.health()["healthy"], store.health()
    runs = [set(s.schema_versions) for s in stores]  # type: ignore[attr-defined]
    # Version 1 is recorded as present (the first release's schema), the rest applied.
    assert runs[0] | runs[1] == shipped | {TEST_VERSIONS[1]}
    if kind.folder != "clickhouse":  # under a lock: each version applied exactly once
        assert not runs[0] & runs[1]
    assert await applied_versions(stores[0]) == shipped | {TEST_VERSIONS[1]}
    await check_rows(stores[0])

    # New records land next to the old ones through the store's normal write path.
    await stores[0].write_requests([RequestRecord(instance="new", model="m9")])
    for store in stores:
        await store.close()

    # Idempotent: the same migrations again change nothing; a gap filled later still applies.
    again = kind.open_new(first)
    await again.open()
    assert again.schema_versions == []  # type: ignore[attr-defined]
    await again.close()
    later = kind.open_new(migration_dir(tmp_path, kind.folder, second=True))
    await later.open()
    assert later.schema_versions == [TEST_VERSIONS[0]]  # type: ignore[attr-defined]
    assert await applied_versions(later) == shipped | set(TEST_VERSIONS)
    await check_rows(later)
    rows = await later.fetch(f"SELECT count(*) AS n FROM request_logs{final(later)}")
    assert int(rows[0]["n"]) == ROWS + 1
    await later.close()


def test_journal_segments_of_the_first_release_still_decode() -> None:
    """A segment holds its own field list; fields added since take their defaults, fields
    removed (or unknown) are ignored, and old metric/content items decode too."""
    fields = ["request_id", "timestamp", "model", "completion_tokens", "retired_field"]
    stamp = "2026-11-28T09:00:00+00:00"
    segment = orjson.dumps(
        {
            "request_fields": fields,
            "request_rows": [["a", stamp, "m", 5, "x"]],
            "metrics": [{"metric_name": "n", "metric_value": 1.0, "timestamp": stamp, "gone": 1}],
            "contents": [{"request_id": "a", "timestamp": stamp, "extra": "y"}],
        }
    )
    batch = decode(segment)
    assert batch.requests[0].request_id == "a" and batch.requests[0].completion_tokens == 5
    assert batch.requests[0].timestamp == datetime(2026, 11, 28, 9, tzinfo=UTC)
    assert batch.metrics[0].metric_value == 1.0
    assert batch.contents[0].request_id == "a"


def test_migration_files_are_well_formed(tmp_path: Path) -> None:
    for folder in ("sqlite", "postgres", "clickhouse"):
        found = migrations.available(folder)
        assert found[0].version == migrations.BASELINE_VERSION
        values = {"RETENTION_DAYS": "30", "ON_CLUSTER": ""}
        for migration in found[1:]:
            statements = migration.statements(values)
            assert statements, migration.path.name
            if folder == "clickhouse":  # no lock there: every statement must be re-runnable
                for statement in statements:
                    head = " ".join(statement.split()).upper()
                    if head.startswith("CREATE") or " ADD " in head:
                        assert "IF NOT EXISTS" in head, f"{migration.path.name}: {statement}"
    bad = tmp_path / "sqlite"
    bad.mkdir()
    (bad / "0003_x.sql").write_text("SELECT 1;")
    (bad / "0003_y.sql").write_text("SELECT 1;")
    with pytest.raises(ValueError, match="version 3 also"):
        migrations.available("sqlite", tmp_path)
    (bad / "0003_y.sql").unlink()
    (bad / "3_z.sql").write_text("SELECT 1;")
    with pytest.raises(ValueError, match="NNNN_slug"):
        migrations.available("sqlite", tmp_path)
    with pytest.raises(ValueError, match="unknown placeholder"):
        migrations.render("{{ NOPE }}", {}, "x.sql")
    assert render_schema("sqlite.sql", {}) == (schema_dir() / "sqlite.sql").read_text()
