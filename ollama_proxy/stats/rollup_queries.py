"""Stats aggregates for SQLite and PostgreSQL from the rollup tables (store/rollups.py).

Totals, series and the models / clients / instances tables read rollup rows, never raw rows:
all-time totals one row per (model, instance, client, node), a window its whole hours from
`request_rollup_hour`, the five-minute stretches at its edges from `request_rollup_5m` and the
minutes left from `request_rollup_minute`; a series the coarsest table whose step divides its
own (hour, five minutes, minute). Windows are whole minutes (the start rounded down, the end
up). Percentiles come from the rows' DDSketch bins, concatenated per group in SQL and read here
for all groups in one numpy pass (within 1% of the exact value, `store/sketch.py`).

Raw rows answer what rollups cannot: logs, a log's detail, CSV, and aggregates filtered by
client, status, endpoint or operation; also every aggregate while the backfill of an older
database is still running (`SqlStatsBackend`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ollama_proxy.stats.aggregate import PCT_MEASURES, Aggregate, Params, model_condition
from ollama_proxy.stats.sql_queries import SqlDialect, SqlStatsBackend
from ollama_proxy.store import rollups, sketch

MINUTE, FIVE, HOUR = (rollups.TABLES[grain] for grain in ("minute", "5m", "hour"))
# (step, table), coarsest first: a window or a series reads the coarsest rows that fit it.
GRAINS = ((3600, HOUR), (300, FIVE), (60, MINUTE))
GRAIN_STEP = {table: step for step, table in GRAINS}
INLINE_SKETCH_BYTES = 256 * 1024  # below this, percentiles cost less than a thread hop
SUMMED = set(rollups.SUM_COLUMNS)
SKETCH_OF = {"latency_ms": "lat_sketch", "ttft_ms": "ttft_sketch"}
ANSWERED = SUMMED | {"last_ts", "models"} | set(PCT_MEASURES)


@dataclass(frozen=True, slots=True)
class Piece:
    """Rows of one rollup table with bucket in [start, end); None = unbounded."""

    table: str
    start: int | None = None
    end: int | None = None


def _floor(value: int, step: int) -> int:
    return value // step * step


def _ceil(value: int, step: int) -> int:
    return -(-value // step) * step


def window_pieces(since: int | None, until: int | None) -> list[Piece]:
    """The coarsest rows that tile the window: whole hours from the hour table, the
    five-minute stretches at either edge from the five-minute table, the rest from minutes."""
    if since is None and until is None:
        return [Piece(rollups.TOTAL_TABLE)]
    return _tile(since, until, 0)


def _tile(since: int | None, until: int | None, level: int) -> list[Piece]:
    step, table = GRAINS[level]
    if level == len(GRAINS) - 1:
        return [Piece(table, since, until)]
    first = None if since is None else _ceil(since, step)
    last = None if until is None else _floor(until, step)
    if first is not None and last is not None and first >= last:
        return _tile(since, until, level + 1)  # no whole step of this grain inside
    pieces = []
    if since is not None and first is not None and since < first:
        pieces += _tile(since, first, level + 1)
    pieces.append(Piece(table, first, last))  # open end: the current row holds the rest
    if until is not None and last is not None and last < until:
        pieces += _tile(last, until, level + 1)
    return pieces


def _epoch(value: datetime | None, *, up: bool) -> int | None:
    if value is None:
        return None
    seconds = value.timestamp()
    return _ceil(int(-(-seconds // 1)), 60) if up else _floor(int(seconds // 1), 60)


def plan(agg: Aggregate) -> list[Piece] | None:
    """The rollup rows that answer `agg`, or None when only raw rows can."""
    f = agg.filters
    if not set(agg.measures) <= ANSWERED:
        return None  # a measure the rollups do not keep
    if any(v is not None for v in (f.client, f.status, f.endpoint, f.operation)):
        return None  # not rollup dimensions (client is: but filters match address OR name)
    since, until = _epoch(f.since, up=False), _epoch(f.until, up=True)
    if "bucket" in agg.groups:
        table = next((table for step, table in GRAINS if agg.step_s % step == 0), None)
        return None if table is None else [Piece(table, since, until)]
    return window_pieces(since, until)


def _measure(dialect: SqlDialect, name: str) -> str | None:
    if name in SUMMED:
        return f"sum({name})" if name != "requests" else "coalesce(sum(requests), 0)"
    if name == "last_ts":
        return "max(last_ts)"
    if name == "models":
        return dialect.models_list()
    return None


def _sketch_agg(dialect: SqlDialect, column: str) -> str:
    if dialect.sqlite:
        return f"CAST(group_concat({column}, '') AS BLOB)"
    return f"string_agg({column}, ''::bytea)"


def _piece_sql(piece: Piece, agg: Aggregate, params: Params, columns: str) -> str:
    parts = []
    if piece.start is not None:
        parts.append(f"bucket >= {params.add(piece.start)}")
    if piece.end is not None:
        parts.append(f"bucket < {params.add(piece.end)}")
    if agg.filters.model is not None:
        parts.append(model_condition(agg.filters.model, params))
    for name in ("instance", "node"):
        value = getattr(agg.filters, name)
        if value is not None:
            parts.append(f"{name} = {params.add(value)}")
    if agg.require_model:
        parts.append("model <> ''")
    where = f" WHERE {' AND '.join(parts)}" if parts else ""
    return f"SELECT {columns} FROM {piece.table}{where}"


def rollup_sql(
    dialect: SqlDialect, agg: Aggregate, pieces: list[Piece]
) -> tuple[str, dict[str, Any]]:
    params = dialect.params()
    step = int(agg.step_s)
    bucket = "bucket" if _own_grain(agg, pieces) else f"(bucket / {step}) * {step}"
    names = sql_groups(agg, pieces)
    groups = [(bucket if name == "bucket" else name, f"g_{name}") for name in names]
    measures = [(m, sql) for m in agg.measures if (sql := _measure(dialect, m)) is not None]
    sketches = [SKETCH_OF[column] for column in agg.pct_columns()]
    needed = set(rollups.KEY_COLUMNS) | {m for m in agg.measures if m in SUMMED}
    needed |= {"last_ts"} if "last_ts" in agg.measures else set()
    columns = ", ".join(sorted(needed | set(sketches)))
    union = " UNION ALL ".join(_piece_sql(p, agg, params, columns) for p in pieces)
    select = [f"{expr} AS {alias}" for expr, alias in groups]
    select += [f"{sql} AS {name}" for name, sql in measures]
    select += [f"{_sketch_agg(dialect, s)} AS {s}" for s in sketches]
    group_by = f" GROUP BY {', '.join(alias for _, alias in groups)}" if groups else ""
    return f"SELECT {', '.join(select)} FROM ({union}) r{group_by}", params.values


def _own_grain(agg: Aggregate, pieces: list[Piece]) -> bool:
    """A series read from the table of its own step (its buckets are the stored ones)."""
    step = int(agg.step_s)
    return "bucket" in agg.groups and all(GRAIN_STEP.get(p.table) == step for p in pieces)


def sql_groups(agg: Aggregate, pieces: list[Piece]) -> tuple[str, ...]:
    """The keys SQL groups by.

    A series from its own grain's table groups by the stored bucket, and by the prefix of the
    primary key (bucket, model, instance, client, node) that holds its other keys: the key's
    scan is in that order, so neither database sorts the rows with their sketches (SQLite's
    temporary B-tree for `GROUP BY bucket, instance` cost more than the rest of the query);
    `regroup` then merges the few rows per asked group. Only sums and sketches merge so.
    """
    mergeable = set(agg.measures) <= SUMMED | set(PCT_MEASURES)
    if not _own_grain(agg, pieces) or agg.groups == ("bucket",) or not mergeable:
        return agg.groups
    if not set(agg.groups) <= set(rollups.KEY_COLUMNS):
        return agg.groups
    depth = max(rollups.KEY_COLUMNS.index(name) for name in agg.groups)
    return rollups.KEY_COLUMNS[: depth + 1]


def regroup(rows: list[dict[str, Any]], agg: Aggregate) -> list[dict[str, Any]]:
    """Rows grouped by more keys than asked -> one row per asked group: sums added, the
    sketches of a group kept as a list of parts (`sketch.quantiles_many` joins them once)."""
    keys = [f"g_{name}" for name in agg.groups]
    sums = [m for m in agg.measures if m in SUMMED]
    blobs = [SKETCH_OF[column] for column in agg.pct_columns()]
    merged: dict[tuple[Any, ...], dict[str, Any]] = {}
    parts: dict[tuple[Any, ...], list[list[bytes]]] = {}
    for row in rows:
        key = tuple(row[k] for k in keys)
        target = merged.get(key)
        if target is None:
            merged[key] = {k: row[k] for k in (*keys, *sums)}
            parts[key] = [[row[b]] if row[b] else [] for b in blobs]
            continue
        for m in sums:
            target[m] = (target[m] or 0) + (row[m] or 0)
        for held, b in zip(parts[key], blobs, strict=True):
            if row[b]:
                held.append(row[b])
    for key, target in merged.items():
        for held, b in zip(parts[key], blobs, strict=True):
            target[b] = held
    return list(merged.values())


async def finish_rows(rows: list[dict[str, Any]], agg: Aggregate) -> list[dict[str, Any]]:
    """Group keys renamed, sketches turned into the asked percentiles: every row's sketch of
    a column in one numpy pass (`sketch.quantiles_many`), no Python per bin."""
    out = [{(k[2:] if k.startswith("g_") else k): v for k, v in row.items()} for row in rows]
    columns = list(agg.pct_columns().items())
    blobs = [[row.pop(SKETCH_OF[column], None) for row in out] for column, _ in columns]
    answers = await asyncio.gather(
        *(_quantiles(b, [p for _, p in pcts]) for b, (_, pcts) in zip(blobs, columns, strict=True))
    )
    for (_, pcts), column_answers in zip(columns, answers, strict=True):
        for row, values in zip(out, column_answers, strict=True):
            row.update({name: value for (name, _), value in zip(pcts, values, strict=True)})
    return out


async def _quantiles(blobs: list[Any], levels: list[float]) -> list[list[float | None]]:
    """Small inputs inline; megabytes of sketches in a worker thread, each column in its own
    (numpy leaves the event loop free and uses the second core: 24h by instance at 10M
    records, 28 -> 16 ms)."""
    if sketch.byte_size(blobs) < INLINE_SKETCH_BYTES:
        return sketch.quantiles_many(blobs, levels)
    return await asyncio.to_thread(sketch.quantiles_many, blobs, levels)


class RollupStatsBackend(SqlStatsBackend):
    """`StatsBackend` that answers aggregates from rollups, everything else from raw rows."""

    def __init__(self, engine: Any) -> None:
        super().__init__(engine)
        self._complete = False  # the backfill is over: stays so

    async def _rollups_complete(self) -> bool:
        if not self._complete:
            try:
                rows = await self._fetch(rollups.BACKFILL_STATE_SQL, {})
            except Exception:  # no rollup tables (not migrated yet): raw rows answer
                return False
            first, until = (rows[0]["next_ts"], rows[0]["until_ts"]) if rows else (None, None)
            self._complete = rollups.pending_span(first, until) is None
        return self._complete

    async def aggregate(self, agg: Aggregate) -> list[dict[str, Any]]:
        pieces = plan(agg)
        if pieces is None or not await self._rollups_complete():
            return await super().aggregate(agg)
        sql, params = rollup_sql(self.dialect, agg, pieces)
        rows = await self._fetch(sql, params)
        if sql_groups(agg, pieces) != agg.groups:
            rows = regroup(rows, agg)
        return await finish_rows(rows, agg)
