"""SQLite and PostgreSQL/TimescaleDB through SQLAlchemy Core on async engines.

One table set (store/tables.py); the schema is schemas/{sqlite,postgres}.sql plus the numbered
migrations, applied at open (store/migrations.py).
Inserts skip rows already present, so retries and journal replays land each record once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from pathlib import Path
from typing import Any

import asyncpg
import sqlalchemy as sa
import structlog
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from ollama_proxy.records import (
    REQUEST_FIELDS,
    ContentRecord,
    MetricPoint,
    RequestRecord,
)
from ollama_proxy.store import migrations, retention, rollups
from ollama_proxy.store.base import StoreState, mask_password
from ollama_proxy.store.retention import RetentionRule
from ollama_proxy.store.sqlite_writer import SqliteWriter, distinct_records, sqlite_pragmas
from ollama_proxy.store.tables import ollama_metrics, request_content

log = structlog.get_logger("ollama_proxy.store")

# How long a second proxy starting at the same time waits for the first one's migrations.
MIGRATION_LOCK_TIMEOUT_S = 120.0
BACKFILL_STOP_TIMEOUT_S = 30.0  # a backfill batch in flight at close is let to commit


def engine_url(url: str, password: str = "") -> str:
    """`sqlite:///PATH` / `postgresql://...` -> the async driver's URL."""
    if url.startswith("sqlite"):
        return "sqlite+aiosqlite:///" + url.split(":///", 1)[1]
    parsed = make_url(url).set(drivername="postgresql+asyncpg")
    if password and not parsed.password:
        parsed = parsed.set(password=password)
    return parsed.render_as_string(hide_password=False)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    sqlite_pragmas(cursor)
    cursor.close()


def retention_rules(
    days: Callable[[], int], content_days: Callable[[], int], rollup_days: Callable[[], int]
) -> list[RetentionRule]:
    """The tables a SQL store trims, each with the getter of its days (read at every pass):
    raw rows and metric points `days`, captured text `content_days`, rollups per
    `rollups.rollup_rules`."""
    return [
        RetentionRule("request_logs", "timestamp", days),
        RetentionRule("ollama_metrics", "timestamp", days),
        RetentionRule("request_content", "timestamp", content_days),
        *rollups.rollup_rules(days, rollup_days),
    ]


class SqlStore:
    """A SQLite or PostgreSQL store.

    >>> SqlStore("sqlite:///./x.db").kind
    'sqlite'
    """

    def __init__(
        self,
        url: str,
        *,
        password: str = "",
        retention_days: int = 30,
        migrations_dir: Path | None = None,
        timeout_s: float = 30.0,
    ) -> None:
        self.kind = "sqlite" if url.startswith("sqlite") else "postgres"
        self.url = mask_password(url)
        self._retention_days = retention_days
        self.content_retention_days = 7
        self.rollup_retention_days = 400
        # What the retention pass deletes here (others may append their tables' rules);
        # open_store replaces the getters by the live settings'.
        self.retention_rules = retention_rules(
            lambda: self._retention_days,
            lambda: self.content_retention_days,
            lambda: self.rollup_retention_days,
        )
        self._hypertables: set[str] | None = None  # TimescaleDB: tables its policies trim
        self._policy_days: dict[str, int] = {}
        self._migrations_dir = migrations_dir
        self._sqlite_path = url.split(":///", 1)[1] if self.kind == "sqlite" else ""
        self.schema_versions: list[int] = []  # versions applied by the last migration run
        self.state = StoreState()
        options: dict[str, Any] = {"pool_timeout": timeout_s}
        if self.kind == "postgres":
            options.update(pool_size=5, max_overflow=5, pool_pre_ping=True)
            # A hung server or a silent network: asyncpg gives up on a command client-side
            # (command_timeout), the server cancels a statement itself (statement_timeout).
            options["connect_args"] = {
                "timeout": 5,
                "command_timeout": timeout_s,
                "server_settings": {"statement_timeout": str(int(timeout_s * 1000))},
            }
        else:
            options["connect_args"] = {"timeout": timeout_s}  # SQLite's busy timeout
        self.engine: AsyncEngine = create_async_engine(engine_url(url, password), **options)
        # SQLite: request logs go through a sqlite3 connection on a thread of its own
        # (store/sqlite_writer.py); reads and other writes through the engine.
        self._writer: SqliteWriter | None = None
        if self.kind == "sqlite":
            sa.event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
            self._writer = SqliteWriter(self._sqlite_path, busy_timeout_s=timeout_s)
        self._insert = sqlite.insert if self.kind == "sqlite" else postgresql.insert
        # Rollup read-modify-writes of this process one at a time (SQLite has one writer;
        # PostgreSQL also takes an advisory lock, for other processes).
        self._rollup_lock = asyncio.Lock()
        self._backfill: asyncio.Task[None] | None = None
        self._closing = False
        self.backfill_batch = 20_000  # raw rows per backfill transaction

    async def open(self) -> None:
        try:
            await self._apply_schema()
            self.state.ok()
        except Exception as exc:  # down at start: serve anyway, the recorder retries
            self.state.failed(exc)
            log.warning("store_down_at_start", store=self.url, error=self.state.last_error)

    async def _apply_schema(self) -> None:
        """Every schema version the database lacks (store/migrations.py), under a lock."""
        found = migrations.available(self.kind, self._migrations_dir)
        values = {"RETENTION_DAYS": str(int(self._retention_days)), "ON_CLUSTER": ""}

        def statements(migration: migrations.Migration) -> list[str]:
            return migration.statements(values)

        if self.kind == "sqlite":
            self.schema_versions = await asyncio.to_thread(
                migrations.migrate_sqlite,
                self._sqlite_path,
                found,
                statements,
                MIGRATION_LOCK_TIMEOUT_S,
            )
        else:
            async with self.engine.connect() as conn:
                raw = await conn.get_raw_connection()
                self.schema_versions = await migrations.migrate_postgres(
                    raw.driver_connection, found, statements, MIGRATION_LOCK_TIMEOUT_S
                )
        if self.schema_versions:
            log.info("store_schema_migrated", store=self.url, versions=self.schema_versions)
        self.state.schema_applied = True
        if self._backfill is None:
            self._backfill = asyncio.create_task(self._backfill_rollups())

    async def _backfill_rollups(self, pause_s: float = 0.05) -> None:
        """Roll up raw rows older than the rollups, a batch at a time, yielding in between."""
        while not self._closing and await self.backfill_step(self.backfill_batch):
            await asyncio.sleep(pause_s)  # leave the store to the proxy's own writes

    async def backfill_step(self, batch: int = 20_000) -> bool:
        """One backfill batch; False once every raw row is in the rollups."""
        try:
            async with self._rollup_lock, self._session() as session:
                return await rollups.backfill_step(session, batch)
        except Exception as exc:  # retried at the next start; reads use raw rows meanwhile
            log.warning("rollup_backfill_failed", store=self.url, error=str(exc))
            return False

    @contextlib.asynccontextmanager
    async def _session(self) -> Any:
        """A rollups.Session inside one transaction."""
        if self.kind == "sqlite":
            async with self.engine.begin() as conn:
                yield rollups.SqliteSession(conn)
            return
        async with self.engine.connect() as conn:
            raw = await conn.get_raw_connection()
            driver = raw.driver_connection
            assert driver is not None
            async with driver.transaction():
                yield rollups.PgSession(driver)

    async def _ready(self) -> None:
        if not self.state.schema_applied:
            await self._apply_schema()

    async def write_requests(self, records: Sequence[RequestRecord]) -> None:
        if not records:
            return
        if self.kind == "postgres":
            await self._copy_requests(records)
        else:
            await self._sqlite_requests(records)

    async def _sqlite_requests(self, records: Sequence[RequestRecord]) -> None:
        """Raw rows and their rollups in one job of the writer's thread."""
        writer = self._writer
        if writer is None:
            raise RuntimeError("not a SQLite store")
        try:
            await self._ready()
            async with self._rollup_lock:
                await writer.write(records)
        except Exception as exc:
            self.state.failed(exc)
            raise
        self.state.ok()

    async def _copy_requests(self, records: Sequence[RequestRecord]) -> None:
        """COPY into a session temp table, then one INSERT .. ON CONFLICT DO NOTHING.

        COPY is several times faster than row inserts but cannot skip duplicates itself;
        the staging table keeps replays idempotent.
        """
        rows = list(map(_COPY_VALUES, records))
        try:
            await self._ready()
            async with self.engine.connect() as conn:
                raw = await conn.get_raw_connection()
                driver = raw.driver_connection
                assert driver is not None
                async with driver.transaction():  # the stage empties at commit
                    distinct = distinct_records(records)
                    insert = _copy_insert(driver, rows, len(distinct))
                    await rollups.add_inserted(rollups.PgSession(driver), distinct, insert)
        except Exception as exc:
            self.state.failed(exc)
            raise
        self.state.ok()

    async def write_content(self, items: Sequence[ContentRecord]) -> None:
        if items:
            await self._write(request_content, [_content_row(c) for c in items])

    async def purge_content(self, older_than: datetime) -> None:
        """CAPTURE_RETENTION_DAYS: content is kept apart from, and shorter than, the logs."""
        stamp = older_than if self.kind == "postgres" else older_than.replace(tzinfo=None)
        async with self.engine.begin() as conn:
            await conn.execute(request_content.delete().where(request_content.c.timestamp < stamp))

    async def apply_retention(self, tables: Sequence[str] | None = None) -> dict[str, int]:
        """Delete rows older than each rule's days, in bounded batches (store/retention.py).

        TimescaleDB hypertables keep their retention policy instead (updated to the current
        days here); the rows of every other table are deleted by this pass.
        """
        await self._ready()
        hypertables = await self._timescale_hypertables()
        deleted: dict[str, int] = {}
        for rule in self.retention_rules:
            days = int(rule.days())
            if (tables is not None and rule.table not in tables) or days <= 0:
                continue
            if rule.table in hypertables:
                await self._timescale_policy(rule.table, days)
                continue
            cutoff = datetime.now(UTC) - timedelta(days=days)
            deleted[rule.table] = await self._delete_older(rule, cutoff)
        return deleted

    async def _delete_older(self, rule: RetentionRule, cutoff: datetime) -> int:
        stamp: object = cutoff
        key = "ctid"  # PostgreSQL's row address: the subquery's LIMIT bounds the batch
        if self.kind == "sqlite":
            key, stamp = "rowid", rollups.sqlite_time(cutoff)
        if rule.epoch:
            stamp = int(cutoff.timestamp())
        statement = sa.text(
            f"DELETE FROM {rule.table} WHERE {key} IN (SELECT {key} FROM {rule.table} "
            f"WHERE {rule.column} < :cutoff LIMIT {retention.BATCH_ROWS})"
        )
        total = 0
        while True:
            async with self.engine.begin() as conn:
                result = await conn.execute(statement, {"cutoff": stamp})
            count = max(0, result.rowcount or 0)
            total += count
            if count < retention.BATCH_ROWS:
                return total
            await asyncio.sleep(retention.PAUSE_S)  # the shipper's inserts go in between

    async def _timescale_hypertables(self) -> set[str]:
        if self.kind != "postgres":
            return set()
        if self._hypertables is None:
            try:
                rows = await self.fetch(
                    "SELECT hypertable_name AS name FROM timescaledb_information.hypertables"
                )
                self._hypertables = {str(r["name"]) for r in rows}
            except Exception:  # plain PostgreSQL: no such view
                self._hypertables = set()
        return self._hypertables

    async def _timescale_policy(self, table: str, days: int) -> None:
        """Replace the table's retention policy when its days changed (or at first pass)."""
        if self._policy_days.get(table) == days:
            return
        async with self.engine.begin() as conn:
            await conn.execute(
                sa.text("SELECT remove_retention_policy(:t, if_exists => true)"), {"t": table}
            )
            await conn.execute(
                sa.text("SELECT add_retention_policy(:t, make_interval(days => :d))"),
                {"t": table, "d": days},
            )
        self._policy_days[table] = days

    async def write_metrics(self, points: Sequence[MetricPoint]) -> None:
        if points:
            await self._write(ollama_metrics, [_metric_row(p) for p in points])

    async def _write(self, table: sa.Table, rows: list[dict[str, Any]]) -> None:
        try:
            await self._ready()
            statement = self._insert(table).on_conflict_do_nothing()
            async with self.engine.begin() as conn:
                await conn.execute(statement, rows)
        except Exception as exc:
            self.state.failed(exc)
            raise
        self.state.ok()

    async def fetch(
        self, sql: str, params: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        async with self.engine.connect() as conn:
            result = await conn.execute(sa.text(sql), dict(params or {}))
            return [dict(row) for row in result.mappings()]

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(sa.text("SELECT 1"))
        except Exception as exc:
            self.state.failed(exc)
            return False
        self.state.ok()
        return True

    def health(self) -> dict[str, Any]:
        return self.state.report(self.url, self.kind)

    async def close(self) -> None:
        if self._backfill is not None:
            # Let a batch in flight commit: a task cancelled inside its transaction could leave
            # an aiosqlite connection holding SQLite's write lock past dispose(), and the next
            # opener of the file waited out its whole busy timeout.
            self._closing = True
            done, _ = await asyncio.wait({self._backfill}, timeout=BACKFILL_STOP_TIMEOUT_S)
            if not done:
                self._backfill.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._backfill
        if self._writer is not None:
            await self._writer.close()
        await self.engine.dispose()


_COPY_COLUMNS = [*REQUEST_FIELDS, "tokens_generated"]
_COPY_VALUES = attrgetter(*REQUEST_FIELDS, "completion_tokens")  # one C call a row
Rows = list[tuple[object, ...]]


async def _copy_insert(driver: Any, rows: Rows, distinct: int) -> set[str] | None:
    """Insert the rows, skipping ids already stored: None when it added all `distinct` ids,
    else those it added.

    A batch of new ids (the usual case) is COPYed straight into request_logs, inside a
    savepoint: COPY cannot skip duplicates, so a stored id (a journal replay, a retry after a
    lost acknowledgement) fails the primary key and the savepoint is rolled back. Those
    batches, and any that repeats an id, go through a session stage and one INSERT .. ON
    CONFLICT DO NOTHING, which costs a second pass over every row.
    """
    if distinct == len(rows):
        try:
            async with driver.transaction():  # nested: a savepoint
                await driver.copy_records_to_table(
                    "request_logs", records=rows, columns=_COPY_COLUMNS
                )
            return None
        except asyncpg.UniqueViolationError:
            pass
    await driver.execute(
        "CREATE TEMP TABLE IF NOT EXISTS request_logs_stage "
        "(LIKE request_logs INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
    )
    await driver.copy_records_to_table("request_logs_stage", records=rows, columns=_COPY_COLUMNS)
    inserted = await driver.fetch(
        f"INSERT INTO request_logs ({', '.join(_COPY_COLUMNS)}) "
        f"SELECT {', '.join(_COPY_COLUMNS)} FROM request_logs_stage "
        "ON CONFLICT DO NOTHING RETURNING request_id"
    )
    return None if len(inserted) == distinct else {row[0] for row in inserted}


def _content_row(item: ContentRecord) -> dict[str, Any]:
    return {
        "request_id": item.request_id,
        "timestamp": item.timestamp,
        "instance": item.instance,
        "prompt": item.prompt,
        "response": item.response,
    }


def _metric_row(point: MetricPoint) -> dict[str, Any]:
    return {
        "point_id": point.point_id,
        "timestamp": point.timestamp,
        "service_name": point.instance,
        "metric_type": point.metric_type,
        "metric_name": point.metric_name,
        "metric_value": point.metric_value,
        "metadata": point.metadata,
    }
