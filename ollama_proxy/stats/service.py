"""Stats answers from a store: validated queries in, response objects out.

`StatsService` asks a backend (`StatsBackend`: SQL via SQLAlchemy for SQLite/PostgreSQL,
ClickHouse SQL for ClickHouse/chDB) for grouped aggregates and log pages, and shapes them with
the pure `shape`/`series` functions. Nothing here knows a SQL dialect.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from ollama_proxy.stats import shape
from ollama_proxy.stats.aggregate import ALL_PCTS, COUNTS, GPU_MEASURES, Aggregate
from ollama_proxy.stats.nodes import NODE_MEASURES, node_rows
from ollama_proxy.stats.query import BreakdownQuery, Filters, HistoryQuery, LogsQuery
from ollama_proxy.stats.series import fill_series

WINDOW_MEASURES = (*COUNTS, "eval_tokens", "eval_ms", *ALL_PCTS)
TOTAL_MEASURES = (*COUNTS, "last_ts")
HISTORY_MEASURES = (
    "requests",
    "errors",
    "prompt_tokens",
    "completion_tokens",
    "eval_tokens",
    "eval_ms",
    *ALL_PCTS,
)
BREAKDOWN_MEASURES = (
    "requests",
    "errors",
    "prompt_tokens",
    "completion_tokens",
    "latency_sum",
    "lat_p95",
    "last_ts",
)
MODEL_MEASURES = (
    *BREAKDOWN_MEASURES,
    "lat_p50",
    "eval_tokens",
    "eval_ms",
    "ttft_p50",
    "ttft_p95",
    "load_count",
    "load_ms_sum",
    *GPU_MEASURES,
    "thinking_tokens",
    "thinking_ms_sum",
    "thinking_count",
)
CSV_CHUNK = 2000  # rows per keyset page of logs.csv: memory stays bounded by this


@dataclass(frozen=True, slots=True)
class Cursor:
    """Keyset position in newest-first order: strictly after (timestamp, request_id)."""

    timestamp: datetime
    request_id: str


class StatsBackend(Protocol):
    async def aggregate(self, agg: Aggregate) -> list[dict[str, Any]]: ...

    async def count_logs(self, filters: Filters) -> int: ...

    async def page_logs(
        self, filters: Filters, limit: int, offset: int, after: Cursor | None = None
    ) -> list[dict[str, Any]]: ...

    async def get_log(self, request_id: str) -> dict[str, Any] | None: ...


class StatsService:
    def __init__(self, backend: StatsBackend) -> None:
        self.backend = backend

    async def _one(self, agg: Aggregate) -> dict[str, Any]:
        rows = await self.backend.aggregate(agg)
        return rows[0] if rows else {}

    async def current(
        self,
        filters: Filters,
        now: datetime,
        *,
        uptime_s: float,
        in_flight: int,
        loaded: list[dict[str, Any]],
    ) -> dict[str, Any]:
        totals = await self._one(Aggregate(filters, (), TOTAL_MEASURES))
        window_filters = Filters(instance=filters.instance, since=now - timedelta(hours=1))
        window = await self._one(Aggregate(window_filters, (), WINDOW_MEASURES))
        return shape.current(
            totals,
            window,
            uptime_s=uptime_s,
            in_flight=in_flight,
            loaded=loaded,
            instance=filters.instance,
            now=now,
        )

    async def history(self, query: HistoryQuery) -> list[dict[str, Any]]:
        groups = ("bucket", query.group_by) if query.group_by else ("bucket",)
        agg = Aggregate(query.filters, groups, HISTORY_MEASURES, step_s=query.step_s)
        return fill_series(query, await self.backend.aggregate(agg))

    async def logs(self, query: LogsQuery) -> dict[str, Any]:
        total = await self.backend.count_logs(query.filters)
        rows = await self.backend.page_logs(query.filters, query.limit, query.offset)
        return {
            "total": total,
            "limit": query.limit,
            "offset": query.offset,
            "logs": [shape.log_entry(row) for row in rows],
        }

    async def log(self, request_id: str) -> dict[str, Any] | None:
        row = await self.backend.get_log(request_id)
        return shape.log_entry(row) if row is not None else None

    async def log_chunks(self, filters: Filters) -> AsyncIterator[list[dict[str, Any]]]:
        """Every matching log, newest first, CSV_CHUNK at a time (keyset pagination)."""
        after: Cursor | None = None
        while True:
            rows = await self.backend.page_logs(filters, CSV_CHUNK, 0, after)
            if not rows:
                return
            entries = [shape.log_entry(row) for row in rows]
            yield entries
            if len(rows) < CSV_CHUNK:
                return
            last = rows[-1]
            stamp = shape.as_datetime(last["timestamp"])
            assert stamp is not None  # the column is NOT NULL
            after = Cursor(stamp, str(last["request_id"]))

    async def models(self, query: BreakdownQuery, loaded: set[str]) -> list[dict[str, Any]]:
        groups = ("model", query.group_by) if query.group_by else ("model",)
        agg = Aggregate(query.filters, groups, MODEL_MEASURES, require_model=True)
        return shape.model_rows(await self.backend.aggregate(agg), loaded, query.group_by)

    async def clients(self, query: BreakdownQuery) -> list[dict[str, Any]]:
        groups = ("client", query.group_by) if query.group_by else ("client",)
        agg = Aggregate(query.filters, groups, (*BREAKDOWN_MEASURES, *GPU_MEASURES, "models"))
        return shape.client_rows(await self.backend.aggregate(agg), query.group_by)

    async def nodes(
        self, query: BreakdownQuery, live: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        agg = Aggregate(query.filters, ("node",), NODE_MEASURES)
        return node_rows(await self.backend.aggregate(agg), live)

    async def instances(self, query: BreakdownQuery) -> list[dict[str, Any]]:
        agg = Aggregate(query.filters, ("instance",), BREAKDOWN_MEASURES)
        return shape.instance_rows(await self.backend.aggregate(agg))
