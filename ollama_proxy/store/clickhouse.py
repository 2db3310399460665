"""ClickHouse: a server over HTTP (aiochclient), or chDB embedded in the process. Same SQL.

DDL from schemas/clickhouse.sql and its numbered migrations (store/migrations.py). Tables
are ReplacingMergeTree keyed by the row's own id and inserts of identical retried blocks are
deduplicated, so a replay lands each record once; queries read with FINAL. With
CLICKHOUSE_CLUSTER the DDL runs ON CLUSTER, engines become Replicated and `*_all`
Distributed tables are added.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import aiohttp
import orjson
import structlog

from ollama_proxy.records import (
    ContentRecord,
    MetricPoint,
    RequestRecord,
)
from ollama_proxy.store import migrations
from ollama_proxy.store.base import (
    StoreState,
    mask_password,
    render_schema,
    split_statements,
)

log = structlog.get_logger("ollama_proxy.store")

REPLICATED = re.compile(r"ENGINE = (ReplacingMergeTree|AggregatingMergeTree)\b")
# On a cluster each of these has a Distributed companion `<table>_all` over every shard.
DISTRIBUTED = ("request_logs", "ollama_metrics", "request_rollup_1m")
# A change of a table's columns: the ALTERs a Distributed table takes too (not mutations,
# TTLs or partitions, which concern the stored data).
_COLUMN_CHANGE = re.compile(
    r"ALTER\s+TABLE\s+(\w+)\s+(?:ON\s+CLUSTER\s+\S+\s+)?"
    r"(?:ADD|DROP|MODIFY|RENAME|COMMENT)\s+COLUMN\b",
    re.IGNORECASE,
)


def clickhouse_ddl(retention_days: int, cluster: str = "") -> list[str]:
    """The baseline schema's statements, rendered for one server or for a cluster."""
    sql = render_schema("clickhouse.sql", _values(retention_days, cluster))
    statements = split_statements(sql)
    if not cluster:
        return statements
    on_cluster = f"ON CLUSTER {cluster}"
    replicated = [replicated_engine(s) for s in statements]
    distributed = [
        f"CREATE TABLE IF NOT EXISTS {table}_all {on_cluster} AS {table} "
        f"ENGINE = Distributed({cluster}, currentDatabase(), {table}, rand())"
        for table in DISTRIBUTED
    ]
    return replicated + distributed


def migration_statements(
    migration: migrations.Migration, retention_days: int, cluster: str = ""
) -> list[str]:
    """One schema version's statements for one server, or for a cluster (see for_cluster)."""
    if migration.version == migrations.BASELINE_VERSION:
        return clickhouse_ddl(retention_days, cluster)
    rendered = migration.statements(_values(retention_days, cluster))
    return for_cluster(rendered) if cluster else rendered


def for_cluster(statements: list[str]) -> list[str]:
    """A migration on a cluster: Replicated engines, and each column change of a table with a
    `*_all` Distributed companion repeated on the companion. `CREATE ... AS` copied the
    columns once; without this, a column added later could be neither inserted nor read
    through `*_all`.

    >>> for_cluster(["ALTER TABLE request_logs ON CLUSTER c ADD COLUMN IF NOT EXISTS x Int64",
    ...              "ALTER TABLE request_logs ON CLUSTER c UPDATE x = 0 WHERE x = 1"])[1]
    'ALTER TABLE request_logs_all ON CLUSTER c ADD COLUMN IF NOT EXISTS x Int64'
    """
    out = []
    for statement in statements:
        statement = replicated_engine(statement)
        out.append(statement)
        change = _COLUMN_CHANGE.match(statement.strip())
        if change is not None and change.group(1) in DISTRIBUTED:
            text = statement.strip()
            out.append(f"{text[: change.end(1)]}_all{text[change.end(1) :]}")
    return out


def _values(retention_days: int, cluster: str) -> dict[str, str]:
    on_cluster = f"ON CLUSTER {cluster}" if cluster else ""
    return {"RETENTION_DAYS": str(int(retention_days)), "ON_CLUSTER": on_cluster}


def replicated_engine(statement: str) -> str:
    """A cluster's engines are the Replicated forms of the single-server ones."""
    return REPLICATED.sub(
        r"ENGINE = Replicated\1('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')",
        statement,
    )


# optimize_on_insert = 0: a block is stored as sent, not first collapsed by the replacing key
# as a merge would (a row-by-row copy of every column: half of chDB's insert time). Nothing is
# lost by it: every read is FINAL, retried blocks are still deduplicated whole, and the rollup
# view is fed the block as sent either way.
INSERT_SETTINGS = "optimize_on_insert = 0"


def json_insert(table: str) -> str:
    """The INSERT of JSONEachRow lines (ISO timestamps read with best_effort)."""
    return (
        f"INSERT INTO {table} SETTINGS date_time_input_format = 'best_effort', "
        f"{INSERT_SETTINGS} FORMAT JSONEachRow"
    )


def ch_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def request_json(record: RequestRecord) -> bytes:
    """One JSONEachRow line, straight from the dataclass (orjson, ~1.5 us).

    The ISO timestamp is read with date_time_input_format=best_effort and tokens_generated
    takes its DEFAULT (completion_tokens), which keeps the insert path at 200k+ rows/s.
    """
    return orjson.dumps(record)


def metric_json(point: MetricPoint) -> bytes:
    return orjson.dumps(
        {
            "point_id": point.point_id,
            "timestamp": ch_time(point.timestamp),
            "service_name": point.instance,
            "metric_type": point.metric_type,
            "metric_name": point.metric_name,
            "metric_value": point.metric_value,
            "metadata": orjson.dumps(point.metadata).decode(),
        }
    )


class _Backend:
    async def execute(self, sql: str, data: bytes | None = None) -> None:
        raise NotImplementedError

    async def insert_requests(self, records: Sequence[RequestRecord]) -> None:
        await self.execute(
            json_insert("request_logs"), b"\n".join(request_json(r) for r in records)
        )

    async def fetch(self, sql: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        raise NotImplementedError

    async def close(self) -> None:
        pass


# chDB keeps one engine per process: sessions are shared by path and used under a lock.
_CHDB_LOCK = threading.Lock()
_CHDB_SESSIONS: dict[str, Any] = {}


class _ChdbBackend(_Backend):
    def __init__(self, path: str) -> None:
        self.path = path

    def _session(self) -> Any:
        session = _CHDB_SESSIONS.get(self.path)
        if session is None:
            from chdb import session as chdb_session

            session = chdb_session.Session(self.path)  # type: ignore[no-untyped-call]
            _CHDB_SESSIONS[self.path] = session
        return session

    def _query(self, sql: str, fmt: str, params: Mapping[str, Any] | None) -> str:
        with _CHDB_LOCK:
            result = self._session().query(sql, fmt, params=dict(params or {}))
        return str(result)

    async def execute(self, sql: str, data: bytes | None = None) -> None:
        text = sql if data is None else f"{sql}\n{data.decode()}"
        await asyncio.to_thread(self._query, text, "CSV", None)

    async def insert_requests(self, records: Sequence[RequestRecord]) -> None:
        await asyncio.to_thread(self._insert_arrow, records)

    def _insert_arrow(self, records: Sequence[RequestRecord]) -> None:
        """Columns through Arrow (store/arrow_batch.py): chDB reads them without parsing text."""
        from ollama_proxy.store.arrow_batch import arrow_batch  # pyarrow comes with chdb

        batch = arrow_batch(records)
        table = batch.table  # noqa: F841 (read by name by chDB's Python() table function)
        names = ", ".join(batch.names)
        with _CHDB_LOCK:
            self._session().query(
                f"INSERT INTO request_logs ({names}) SETTINGS {INSERT_SETTINGS} "
                f"SELECT {names} FROM Python(table)"
            )

    async def fetch(self, sql: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        out = await asyncio.to_thread(self._query, sql, "JSONEachRow", params)
        return [orjson.loads(line) for line in out.splitlines() if line.strip()]

    async def close(self) -> None:
        def _close() -> None:
            with _CHDB_LOCK:
                session = _CHDB_SESSIONS.pop(self.path, None)
                if session is not None:
                    session.close()

        await asyncio.to_thread(_close)


class _HttpBackend(_Backend):
    """A ClickHouse server: aiochclient for statements, its HTTP interface for bound reads."""

    def __init__(
        self, url: str, database: str, user: str, password: str, timeout_s: float = 30.0
    ) -> None:
        from aiochclient import ChClient

        self.url, self.database, self.user, self.password = url, database, user, password
        # total bounds a silent server too: a read that never gets a byte ends at timeout_s
        timeout = aiohttp.ClientTimeout(total=timeout_s, connect=5, sock_read=timeout_s)
        self.session = aiohttp.ClientSession(timeout=timeout)
        self.client = ChClient(
            self.session, url=url, user=user or None, password=password or None, database=database
        )

    async def execute(self, sql: str, data: bytes | None = None) -> None:
        if data is None:
            await self.client.execute(sql)
            return
        params = {"database": self.database, "query": sql}
        await self._post(params, data)

    async def fetch(self, sql: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        query = {"database": self.database}
        query.update({f"param_{k}": _param_text(v) for k, v in params.items()})
        body = await self._post(query, f"{sql}\nFORMAT JSONEachRow".encode())
        return [orjson.loads(line) for line in body.splitlines() if line.strip()]

    async def _post(self, params: dict[str, str], data: bytes) -> bytes:
        headers = {}
        if self.user:
            headers["X-ClickHouse-User"] = self.user
        if self.password:
            headers["X-ClickHouse-Key"] = self.password
        async with self.session.post(self.url, params=params, data=data, headers=headers) as r:
            body = await r.read()
            if r.status != 200:
                raise RuntimeError(f"ClickHouse answered {r.status}: {body[:300].decode()}")
            return body

    async def close(self) -> None:
        await self.session.close()


def _param_text(value: Any) -> str:
    """A query parameter in ClickHouse's escaped text form."""
    if isinstance(value, datetime):
        return ch_time(value)
    text = str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


class ClickHouseStore:
    """ClickHouse over HTTP (`clickhouse://HOST:8123/DB`) or chDB (`chdb:///PATH`)."""

    def __init__(
        self,
        url: str,
        *,
        user: str = "default",
        password: str = "",
        retention_days: int = 30,
        cluster: str = "",
        content_retention_days: int = 7,
        migrations_dir: Path | None = None,
        timeout_s: float = 30.0,
    ) -> None:
        self.url = mask_password(url)
        self._migrations_dir = migrations_dir
        self.schema_versions: list[int] = []  # versions applied by the last migration run
        self.state = StoreState()
        self._retention_days = retention_days
        self._content_days = content_retention_days
        # The days the retention pass compares with what the TTLs say (open_store binds it to
        # the live settings, so a POST /api/config change reaches the TTLs).
        self.live_retention: Callable[[], tuple[int, int]] = lambda: (
            self._retention_days,
            self._content_days,
        )
        self._cluster = cluster
        parts = urlsplit(url)
        if parts.scheme == "chdb":
            self.kind = "chdb"
            self._backend: _Backend = _ChdbBackend(unquote(parts.path) or ":memory:")
        else:
            self.kind = "clickhouse"
            database = parts.path.strip("/") or "default"
            scheme = "https" if parts.scheme.endswith("s") else "http"
            http_url = f"{scheme}://{parts.hostname}:{parts.port or 8123}/"
            self._backend = _HttpBackend(
                http_url,
                database,
                unquote(parts.username or "") or user,
                unquote(parts.password or "") or password,
                timeout_s,
            )

    async def open(self) -> None:
        try:
            await self._apply_schema()
            self.state.ok()
        except Exception as exc:  # down at start: serve anyway, the recorder retries
            self.state.failed(exc)
            log.warning("store_down_at_start", store=self.url, error=self.state.last_error)

    async def _apply_schema(self) -> None:
        """Every schema version the database lacks (store/migrations.py), then the TTLs."""
        values = _values(self._retention_days, self._cluster)

        def statements(migration: migrations.Migration) -> list[str]:
            return migration_statements(migration, self._retention_days, self._cluster)

        async def fetch(sql: str) -> list[dict[str, Any]]:
            return await self._backend.fetch(sql, {})

        self.schema_versions = await migrations.migrate_clickhouse(
            self._backend.execute,
            fetch,
            migrations.available(self.kind, self._migrations_dir),
            statements,
            values["ON_CLUSTER"],
        )
        if self.schema_versions:
            log.info("store_schema_migrated", store=self.url, versions=self.schema_versions)
        await self._backend.execute(
            "ALTER TABLE request_content MODIFY TTL toDateTime(timestamp) + "
            f"INTERVAL {int(self._content_days)} DAY"
        )
        self.state.schema_applied = True

    async def _write(self, table: str, lines: list[bytes]) -> None:
        try:
            if not self.state.schema_applied:
                await self._apply_schema()
            await self._backend.execute(
                json_insert(table),
                b"\n".join(lines),
            )
        except Exception as exc:
            self.state.failed(exc)
            raise
        self.state.ok()

    async def write_requests(self, records: Sequence[RequestRecord]) -> None:
        if not records:
            return
        try:
            if not self.state.schema_applied:
                await self._apply_schema()
            await self._backend.insert_requests(records)
        except Exception as exc:
            self.state.failed(exc)
            raise
        self.state.ok()

    async def write_content(self, items: Sequence[ContentRecord]) -> None:
        if items:
            await self._write("request_content", [orjson.dumps(item) for item in items])

    async def apply_retention(self, tables: Sequence[str] | None = None) -> dict[str, int]:
        """ClickHouse deletes old rows itself (TTL): when the retention days changed (POST
        /api/config), the TTLs are modified to the new days; nothing is deleted here."""
        logs_days, content_days = self.live_retention()
        on_cluster = f" ON CLUSTER {self._cluster}" if self._cluster else ""
        changes = []
        if logs_days != self._retention_days and logs_days > 0:
            changes += [
                f"ALTER TABLE request_logs{on_cluster} MODIFY TTL toDateTime(timestamp) + "
                f"INTERVAL {int(logs_days)} DAY",
                f"ALTER TABLE ollama_metrics{on_cluster} MODIFY TTL toDateTime(timestamp) + "
                f"INTERVAL {int(logs_days)} DAY",
                f"ALTER TABLE request_rollup_1m{on_cluster} MODIFY TTL minute + "
                f"INTERVAL {int(logs_days)} DAY",
            ]
        if content_days != self._content_days and content_days > 0:
            changes.append(
                f"ALTER TABLE request_content{on_cluster} MODIFY TTL toDateTime(timestamp) + "
                f"INTERVAL {int(content_days)} DAY"
            )
        for statement in changes:
            await self._backend.execute(statement)
        self._retention_days, self._content_days = logs_days, content_days
        return {}

    async def purge_content(self, older_than: datetime) -> None:
        """ClickHouse drops old content itself: the TTL is set once at open."""

    async def write_metrics(self, points: Sequence[MetricPoint]) -> None:
        if points:
            await self._write("ollama_metrics", [metric_json(p) for p in points])

    async def fetch(
        self, sql: str, params: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        return await self._backend.fetch(sql, params or {})

    async def execute(self, sql: str) -> None:
        """A statement without a result (DDL, TRUNCATE, OPTIMIZE)."""
        await self._backend.execute(sql)

    async def ping(self) -> bool:
        try:
            await self._backend.fetch("SELECT 1 AS ok", {})
        except Exception as exc:
            self.state.failed(exc)
            return False
        self.state.ok()
        return True

    def health(self) -> dict[str, Any]:
        return self.state.report(self.url, self.kind)

    async def close(self) -> None:
        await self._backend.close()
