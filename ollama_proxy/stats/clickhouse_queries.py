"""Stats queries for ClickHouse and chDB, through the store's `fetch(sql, params)`.

User values are ClickHouse query parameters (`{p0:String}`), substituted by the server, never
text in the SQL. Percentiles are `quantileExactInclusive` (the `percentile_cont` definition, so
ClickHouse, PostgreSQL and SQLite agree on the same records). The table is a
ReplacingMergeTree keyed by request_id: `FINAL` makes a retried batch count once even before
the background merge; a day partition holds every copy of a record (the partition is a
function of the sorting key), so FINAL need not merge across partitions (`FINAL_SETTINGS`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol

from ollama_proxy.records import REQUEST_FIELDS
from ollama_proxy.stats.aggregate import (
    GROUP_EXPRS,
    SIMPLE_MEASURES,
    Aggregate,
    Params,
    where_clause,
)
from ollama_proxy.stats.query import Filters
from ollama_proxy.stats.service import Cursor

TABLE = "request_logs"
FINAL_SETTINGS = " SETTINGS do_not_merge_across_partitions_select_final = 1"
# Aliases get a prefix: a ClickHouse alias equal to a column name (sum(x) AS x) replaces the
# column everywhere in the query and breaks the other aggregates over it.
PREFIX = "m_"
CH_TYPES = {"str": "String", "time": "DateTime64(6, 'UTC')", "int": "Int64"}
# The timestamp goes out as text under another name (an alias `timestamp` would replace the
# column in WHERE and ORDER BY); `_log_row` renames it back.
LOG_SELECT = ", ".join(
    "toString(timestamp, 'UTC') AS ts_text" if name == "timestamp" else name
    for name in REQUEST_FIELDS
)


class Fetcher(Protocol):
    async def fetch(
        self, sql: str, params: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]: ...


def ch_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def ch_params() -> Params:
    return Params(lambda name, kind: f"{{{name}:{CH_TYPES.get(kind, 'String')}}}", ch_time)


def _group_expr(name: str, step_s: int) -> str:
    if name == "bucket":
        step = int(step_s)
        return f"intDiv(toUnixTimestamp(toDateTime(timestamp, 'UTC')), {step}) * {step}"
    return GROUP_EXPRS[name]


def _measure(name: str) -> str:
    if name == "models":
        return "groupUniqArray(model)"
    if name == "last_ts":
        return "toString(max(timestamp), 'UTC')"
    return SIMPLE_MEASURES[name]


def aggregate_sql(agg: Aggregate) -> tuple[str, dict[str, Any]]:
    params = ch_params()
    where = where_clause(agg.filters, params, require_model=agg.require_model)
    cols = [f"{_group_expr(g, agg.step_s)} AS g_{g}" for g in agg.groups]
    for name in agg.measures:
        if name in SIMPLE_MEASURES or name == "models":
            cols.append(f"{_measure(name)} AS {PREFIX}{name}")
    for column, pcts in agg.pct_columns().items():
        levels = ", ".join(repr(p) for _, p in pcts)
        array = f"quantilesExactInclusive({levels})({column})"
        alias = f"q_{column}"
        cols.append(f"{array} AS {alias}")
        cols += [f"{alias}[{i + 1}] AS {PREFIX}{name}" for i, (name, _) in enumerate(pcts)]
    group_by = f"GROUP BY {', '.join(f'g_{g}' for g in agg.groups)}" if agg.groups else ""
    sql = f"SELECT {', '.join(cols)} FROM {TABLE} FINAL {where} {group_by}{FINAL_SETTINGS}"
    return sql, params.values


def _clean(row: dict[str, Any], agg: Aggregate) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        if key.startswith("g_"):
            out[key[2:]] = value
        elif key.startswith(PREFIX):
            out[key[len(PREFIX) :]] = value
    return out


def _log_row(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    out["timestamp"] = out.pop("ts_text", None)
    return out


def logs_sql(
    filters: Filters, limit: int, offset: int, after: Cursor | None
) -> tuple[str, dict[str, Any]]:
    params = ch_params()
    where = where_clause(filters, params)
    if after is not None:
        ts = params.add(after.timestamp, "time")
        rid = params.add(after.request_id)
        keyset = f"(timestamp < {ts} OR (timestamp = {ts} AND request_id < {rid}))"
        where = f"{where} AND {keyset}" if where else f"WHERE {keyset}"
    lim = params.add(int(limit), "int")
    off = params.add(int(offset), "int")
    sql = (
        f"SELECT {LOG_SELECT} FROM {TABLE} FINAL {where} "
        f"ORDER BY timestamp DESC, request_id DESC LIMIT {lim} OFFSET {off}{FINAL_SETTINGS}"
    )
    return sql, params.values


class ClickHouseStatsBackend:
    """`StatsBackend` over a ClickHouse/chDB store's `fetch(sql, params)`."""

    def __init__(self, store: Fetcher) -> None:
        self.store = store

    async def aggregate(self, agg: Aggregate) -> list[dict[str, Any]]:
        sql, params = aggregate_sql(agg)
        rows = await self.store.fetch(sql, params)
        return [_clean(row, agg) for row in rows]

    async def count_logs(self, filters: Filters) -> int:
        params = ch_params()
        where = where_clause(filters, params)
        rows = await self.store.fetch(
            f"SELECT count() AS n FROM {TABLE} FINAL {where}{FINAL_SETTINGS}", params.values
        )
        return int(rows[0]["n"]) if rows else 0

    async def page_logs(
        self, filters: Filters, limit: int, offset: int, after: Cursor | None = None
    ) -> list[dict[str, Any]]:
        sql, params = logs_sql(filters, limit, offset, after)
        return [_log_row(row) for row in await self.store.fetch(sql, params)]

    async def get_log(self, request_id: str) -> dict[str, Any] | None:
        params = ch_params()
        ph = params.add(request_id)
        sql = f"SELECT {LOG_SELECT} FROM {TABLE} FINAL WHERE request_id = {ph} LIMIT 1"
        sql += FINAL_SETTINGS
        rows = await self.store.fetch(sql, params.values)
        return _log_row(rows[0]) if rows else None
