"""Rollups for the SQL stores: per minute, 5 minutes, hour and all-time, kept with raw rows.

Every batch that `SqlStore.write_requests` inserts is also added, in the same transaction, to
four tables of the same shape (`schemas/migrations/*/0010_rollups.sql`, `0012_*.sql`):
`request_rollup_minute`, `request_rollup_5m`, `request_rollup_hour` (bucket = start, Unix
seconds) and `request_rollup_total` (bucket 0), one row per (bucket, model, instance, client,
node) with counts, sums and two latency sketches (`store/sketch.py`). Only the records the insert
actually added are counted, so a replayed journal segment changes nothing (exactly once by
request_id, as the raw rows).

A batch is rolled up as columns (numpy: one grouping pass per table, in a worker thread
while the raw insert runs). Sums are added to the stored row by the upsert itself; sketches
are merged with the stored ones (bin counts added), read in one query per table. The
read-modify-write of the sketches is serialised: by the store's asyncio lock on SQLite (one
process writes the file) and by a transaction-level advisory lock on PostgreSQL (several
proxies may share it). The stats API reads these tables (`stats/rollup_queries.py`), never
raw rows, for totals, series and breakdowns.

Databases that held raw rows before the rollups existed are filled by `backfill_step`, in
batches, while the proxy runs: the migration records the pending span [next_ts, until_ts) in
`rollup_backfill`; writes skip the records of that span not yet reached (the backfill will
count them) and the backfill moves `next_ts` forward one batch per transaction.
"""

from __future__ import annotations

import asyncio
import functools
import math
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any, Protocol

import numpy as np

from ollama_proxy.records import REQUEST_FIELDS, RequestRecord, is_constant, request_column
from ollama_proxy.store import sketch

# A model load that took this long was a cold load; a resident model reports a few ms
# (Ollama always sends load_duration, also when the model was already in memory).
COLD_LOAD_MS = 250.0

TABLES = {
    "minute": "request_rollup_minute",
    "5m": "request_rollup_5m",  # migration 0012: the 24-hour charts' grain
    "hour": "request_rollup_hour",
}
TOTAL_TABLE = "request_rollup_total"
ROLLUP_TABLES = (*TABLES.values(), TOTAL_TABLE)
STEPS = {"minute": 60, "5m": 300, "hour": 3600}
KEY_COLUMNS = ("bucket", "model", "instance", "client", "node")
# Sums per row, named as the stats measures they answer (stats/aggregate.py). A new summed
# record field is one name here, one column in a migration, and one line in `_add_fact`.
SUM_COLUMNS = (
    "requests",
    "errors",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "eval_tokens",  # completion tokens of requests that reported an eval duration
    "eval_ms",  # sum of those eval durations
    "latency_sum",
    "load_count",  # cold loads (load_duration_ms >= COLD_LOAD_MS)
    "load_ms_sum",
    "gpu_ms_sum",  # GPU time: records without one count 0
    "load_charged_sum",
    "energy_j_sum",
    "energy_n",  # records with an energy reading
    "energy_tokens",  # completion tokens of those records
    "queue_wait_sum",  # positive queue waits, ms
    "queue_wait_n",  # records with a queue wait estimate
    "thinking_tokens",  # migration 0011
    "thinking_ms_sum",
    "thinking_count",  # records with a thinking time
)
SKETCH_COLUMNS = ("lat_sketch", "ttft_sketch")  # latency_ms, ttft_ms (non-null only)
COLUMNS = (*KEY_COLUMNS, *SUM_COLUMNS, "last_ts", *SKETCH_COLUMNS)
_FLOAT_SUMS = (
    "eval_ms",
    "latency_sum",
    "load_ms_sum",
    "gpu_ms_sum",
    "load_charged_sum",
    "energy_j_sum",
    "queue_wait_sum",
    "thinking_ms_sum",
)
_FLOATS = tuple(name in _FLOAT_SUMS for name in SUM_COLUMNS)
# `node` is a raw column only once records carry it.
_HAS_NODE = "node" in REQUEST_FIELDS
ADVISORY_LOCK = 0x6F6C6C616D61  # PostgreSQL pg_advisory_xact_lock key of rollup writers


Key = tuple[int, str, str, str, str]  # bucket, model, instance, client, node


def as_utc(value: datetime | str) -> datetime:
    if isinstance(value, str):  # SQLite text 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC)
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


# --- a batch as columns, its cells per grain (pure, numpy) ---------------------------------


@dataclass(slots=True)
class Batch:
    """Facts as columns: one numpy pass per grain instead of Python work per record."""

    stamps: Sequence[datetime]  # UTC
    epoch: np.ndarray  # float64 seconds
    dims: list[tuple[str, str, str, str]]  # distinct (model, instance, client, node)
    dim_of: np.ndarray  # each record's index in dims
    addends: np.ndarray  # (len(SUM_COLUMNS), n): what each record adds to each sum
    lat_keys: np.ndarray  # sketch key of every record's latency (ZERO_KEY if unusable)
    ttft_rows: np.ndarray  # records with a usable ttft ...
    ttft_keys: np.ndarray  # ... and its sketch key

    def __len__(self) -> int:
        return len(self.stamps)


_TZINFO = attrgetter("tzinfo")
_MICROSECOND = attrgetter("microsecond")


class Columns:
    """A batch of records read a field at a time (each column once, when first asked for),
    shared by the raw insert and the rollups; `stamps` as UTC and their Unix seconds.

    A column is `request_column`'s one list, not a tuple per record: in batches of 20,000 the
    per-record tuples kept the garbage collector busy for longer than the rollups took.
    """

    __slots__ = ("records", "stamps", "epoch", "recorders_own", "_columns")

    def __init__(self, records: Sequence[RequestRecord]) -> None:
        self.records = records
        self._columns: dict[str, list[Any]] = {}
        stamps: list[Any] = self["timestamp"]
        try:
            # the recorder's own: UTC-aware (and the numpy paths below need no conversion)
            self.recorders_own = set(map(_TZINFO, stamps)) <= {UTC}
        except AttributeError:  # text
            self.recorders_own = False
        if not self.recorders_own:  # other zones, naive values (as UTC), text from SQLite
            stamps = [as_utc(s) for s in stamps]
        self.stamps: list[datetime] = stamps
        self.epoch: np.ndarray = np.fromiter(
            map(datetime.timestamp, stamps), np.float64, len(stamps)
        )

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, name: str) -> list[Any]:
        column = self._columns.get(name)
        if column is None:
            column = self._columns[name] = request_column(self.records, name)
        return column

    def microseconds(self) -> np.ndarray:
        """Each stamp as integer microseconds since the epoch (exact: the float seconds'
        error is far below a microsecond, so their floor is the whole second)."""
        whole: np.ndarray = np.floor(self.epoch).astype(np.int64) * 1_000_000
        whole += np.fromiter(map(_MICROSECOND, self.stamps), np.int64, len(self))
        return whole


def _floats(values: Sequence[float | None]) -> np.ndarray:
    """A nullable column -> float64 with NaN for None (records carry no NaN: JSON has none).
    Columns that are all None (fields a deployment never fills) cost one C-level count."""
    if values and values[0] is None and is_constant(values):
        return np.full(len(values), math.nan)
    return np.array(values, dtype=np.float64)  # numpy reads None as NaN


def _numbers(values: Sequence[float | None]) -> np.ndarray:
    """A column whose None means 0 (usage is null on routes that ran no model)."""
    out = _floats(values)
    out[np.isnan(out)] = 0.0
    return out


def _present(values: np.ndarray) -> np.ndarray:
    present: np.ndarray = ~np.isnan(values)
    return present


def _or_zero(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return np.where(mask, values, 0.0)


def _clients(columns: Columns) -> Sequence[str]:
    """The client a rollup counts: the X-Client-Name when sent, else the address."""
    names, addresses = columns["client_name"], columns["client"]
    if not any(names):
        return addresses
    return [name or address for name, address in zip(names, addresses, strict=True)]


def _nodes(columns: Columns) -> Sequence[str]:
    nodes = columns["node"]
    return nodes if None not in nodes else [node or "" for node in nodes]


Dims = tuple[str, str, str, str]  # model, instance, client, node


def _dimensions(columns: tuple[Sequence[str], ...]) -> tuple[list[Dims], np.ndarray]:
    """The distinct (model, instance, client, node) of a batch and each record's index in
    them. A column of one value is checked in C (the same string object, mostly), and a
    batch of one dimension, the usual one, needs no Python work per record."""
    n = len(columns[0])
    if all(map(is_constant, columns)):
        one: Dims = (columns[0][0], columns[1][0], columns[2][0], columns[3][0])
        return [one], np.zeros(n, dtype=np.int64)
    index: dict[Dims, int] = {}
    dim_of = [index.setdefault(d, len(index)) for d in zip(*columns, strict=True)]
    return list(index), np.array(dim_of, dtype=np.int64)


def batch_of_columns(columns: Columns) -> Batch:
    """Columns -> Batch: numpy over whole columns, no Python work per record beyond the
    grouping key (what rollups count of each record: one line each below)."""
    n = len(columns)
    dims, dim_of = _dimensions(
        (columns["model"], columns["instance"], _clients(columns), _nodes(columns))
    )
    done = _numbers(columns["completion_tokens"])
    evals, loads = _floats(columns["eval_duration_ms"]), _floats(columns["load_duration_ms"])
    energies, waits = _floats(columns["energy_j"]), _floats(columns["queue_wait_ms"])
    thinks = _floats(columns["thinking_ms"])
    has_eval, cold = evals > 0, loads >= COLD_LOAD_MS
    has_energy, has_wait, has_think = _present(energies), _present(waits), _present(thinks)
    gpus, charges = _floats(columns["gpu_ms"]), _floats(columns["load_charged_ms"])
    lat = _numbers(columns["latency_ms"])
    errors = np.fromiter(map("error".__eq__, columns["status"]), np.float64, n)
    addends = (
        np.stack(
            [
                np.ones(n),  # requests
                errors,
                _numbers(columns["prompt_tokens"]),
                done,  # completion_tokens
                _numbers(columns["cached_tokens"]),
                _or_zero(done, has_eval),  # eval_tokens
                _or_zero(evals, has_eval),  # eval_ms
                lat,  # latency_sum
                cold.astype(np.float64),  # load_count
                _or_zero(loads, cold),  # load_ms_sum
                _or_zero(gpus, _present(gpus)),
                _or_zero(charges, _present(charges)),
                _or_zero(energies, has_energy),  # energy_j_sum
                has_energy.astype(np.float64),  # energy_n
                _or_zero(done, has_energy),  # energy_tokens
                _or_zero(waits, has_wait & (waits > 0)),  # queue_wait_sum
                has_wait.astype(np.float64),  # queue_wait_n
                _numbers(columns["thinking_tokens"]),
                _or_zero(thinks, has_think),  # thinking_ms_sum
                has_think.astype(np.float64),  # thinking_count
            ]
        )
        if n
        else np.zeros((len(SUM_COLUMNS), 0))
    )
    ttfts = _floats(columns["ttft_ms"])
    ttft_rows = np.flatnonzero(np.isfinite(ttfts) & (ttfts >= 0))
    usable = np.isfinite(lat) & (lat >= 0)
    return Batch(
        stamps=columns.stamps,
        epoch=columns.epoch,
        dims=dims,
        dim_of=dim_of,
        addends=addends,
        lat_keys=np.where(usable, sketch.keys_of(lat), sketch.ZERO_KEY),
        ttft_rows=ttft_rows,
        ttft_keys=sketch.keys_of(ttfts[ttft_rows]),
    )


def batch_of_records(records: Sequence[RequestRecord]) -> Batch:
    """Records -> Batch (what rollups count of each record)."""
    return batch_of_columns(Columns(records))


@dataclass(slots=True)
class Grain:
    """The rows one batch adds to one table: keys, sums, newest timestamp, sketch pairs."""

    keys: list[Key]
    sums: np.ndarray  # (len(SUM_COLUMNS), len(keys))
    last_ts: list[datetime]
    lat: tuple[np.ndarray, np.ndarray]  # (cell, sketch key) of each latency counted
    ttft: tuple[np.ndarray, np.ndarray]


def grain_cells(batch: Batch, step: int) -> Grain:
    """The batch's cells of `step` seconds (0: one all-time bucket)."""
    n_dims = max(1, len(batch.dims))
    if step:
        buckets = np.floor(batch.epoch).astype(np.int64) // step * step
    else:
        buckets = np.zeros(len(batch), dtype=np.int64)
    codes = buckets * n_dims + batch.dim_of
    if len(codes) and codes.min() == codes.max():
        return _one_cell(batch, int(codes[0]), n_dims)
    codes, cell_of = np.unique(codes, return_inverse=True)
    cell_of = cell_of.reshape(-1)
    count = len(codes)
    # Records sorted by (cell, time): each cell's sums in one reduceat over its run (one call
    # for every sum column, not one bincount each), and its newest record is its run's last.
    order = np.lexsort((batch.epoch, cell_of))
    grouped = cell_of[order]
    starts = np.flatnonzero(np.r_[True, grouped[1:] != grouped[:-1]]) if count else order
    sums = (
        np.add.reduceat(batch.addends[:, order], starts, axis=1)
        if count
        else np.zeros((len(SUM_COLUMNS), 0))
    )
    ends = order[np.r_[starts[1:] - 1, len(order) - 1]] if count else order
    keys: list[Key] = [
        (bucket, *batch.dims[dim])
        for bucket, dim in zip((codes // n_dims).tolist(), (codes % n_dims).tolist(), strict=True)
    ]
    return Grain(
        keys=keys,
        sums=sums.reshape(len(SUM_COLUMNS), count),
        last_ts=[batch.stamps[i] for i in ends.tolist()],
        lat=(cell_of, batch.lat_keys),
        ttft=(cell_of[batch.ttft_rows], batch.ttft_keys),
    )


def _one_cell(batch: Batch, code: int, n_dims: int) -> Grain:
    """`grain_cells` of a batch that lands in one cell (a box whose traffic in the batch is
    one model and client, within one bucket: most batches, in most grains), without a sort."""
    cell_of = np.zeros(len(batch), dtype=np.int64)
    return Grain(
        keys=[(code // n_dims, *batch.dims[code % n_dims])],
        sums=batch.addends.sum(axis=1).reshape(len(SUM_COLUMNS), 1),
        last_ts=[batch.stamps[int(np.argmax(batch.epoch))]],
        lat=(cell_of, batch.lat_keys),
        ttft=(cell_of[batch.ttft_rows], batch.ttft_keys),
    )


Stored = dict[Key, tuple[bytes | None, bytes | None]]  # a table's sketches (lat, ttft) by key


Row = tuple[Any, ...]


def _sketches(
    count: int, owners: np.ndarray, keys: np.ndarray, stored: list[tuple[int, bytes]]
) -> list[bytes | None]:
    """Each cell's sketch: its values' keys plus its stored sketch, one pair per key."""
    counts = np.ones(keys.size, dtype=np.int64)
    if stored:
        owner, old_keys, old_counts = sketch.split_pairs([blob for _, blob in stored])
        cell = np.array([i for i, _ in stored], dtype=np.int64)[owner]
        owners, keys = np.concatenate([owners, cell]), np.concatenate([keys, old_keys])
        counts = np.concatenate([counts, old_counts])
    return sketch.encode_groups(*sketch.grouped_counts(owners, keys, counts), count)


def rows_of(found: Grain, stored: Stored, stamp: Callable[[datetime], Any]) -> list[Row]:
    """Upsert rows: the batch's sums (added to the stored ones in SQL), its newest timestamp,
    and sketches merged with the stored ones (one numpy pass over every cell's pairs)."""
    lat_old: list[tuple[int, bytes]] = []
    ttft_old: list[tuple[int, bytes]] = []
    for i, key in enumerate(found.keys):
        old = stored.get(key)
        if old is not None:
            if old[0]:
                lat_old.append((i, bytes(old[0])))
            if old[1]:
                ttft_old.append((i, bytes(old[1])))
    count = len(found.keys)
    lat = _sketches(count, *found.lat, lat_old)
    ttft = _sketches(count, *found.ttft, ttft_old)
    return _upsert_rows(found.keys, found.sums, [stamp(s) for s in found.last_ts], lat, ttft)


def _upsert_rows(
    keys: list[Key],
    sums: np.ndarray,
    stamps: list[Any],
    lat: list[bytes | None],
    ttft: list[bytes | None],
) -> list[Row]:
    """Rows in COLUMNS order; `sums` one array per SUM_COLUMNS (integer columns as int)."""
    columns = [
        column.tolist() if is_float else column.astype(np.int64).tolist()
        for column, is_float in zip(sums, _FLOATS, strict=True)
    ]
    return [(*key, *rest) for key, *rest in zip(keys, *columns, stamps, lat, ttft, strict=True)]


def upsert_sql(session: Session, table: str) -> str:
    values = ", ".join(session.ph(i) for i in range(len(COLUMNS)))
    updates = ", ".join(f"{c} = excluded.{c}" for c in COLUMNS if c not in KEY_COLUMNS)
    return (
        f"INSERT INTO {table} ({', '.join(COLUMNS)}) VALUES ({values}) "
        f"ON CONFLICT ({', '.join(KEY_COLUMNS)}) DO UPDATE SET {updates}"
    )


# --- database side -------------------------------------------------------------------------


def add_sql(session: Session, table: str, source: str = "") -> str:
    """Sums add up in SQL; the newest timestamp wins; sketches are the merged ones.
    `source`: a SELECT of COLUMNS (default: one row of parameters)."""
    return _add_sql(session.kind, table, source)


def sqlite_add_sql(table: str) -> str:
    return _add_sql("sqlite", table, "")


@functools.cache
def _add_sql(kind: str, table: str, source: str) -> str:
    marks = ["?" if kind == "sqlite" else f"${i + 1}" for i in range(len(COLUMNS))]
    values = source or "VALUES (" + ", ".join(marks) + ")"
    adds = [f"{c} = {table}.{c} + excluded.{c}" for c in SUM_COLUMNS]
    newest = (
        f"last_ts = CASE WHEN {table}.last_ts IS NULL OR excluded.last_ts > {table}.last_ts "
        f"THEN excluded.last_ts ELSE {table}.last_ts END"
    )
    sketches = [f"{c} = excluded.{c}" for c in SKETCH_COLUMNS]
    return (
        f"INSERT INTO {table} ({', '.join(COLUMNS)}) {values} "
        f"ON CONFLICT ({', '.join(KEY_COLUMNS)}) DO UPDATE SET "
        + ", ".join([*adds, newest, *sketches])
    )


class Session(Protocol):
    """What rollups do on a connection inside the caller's transaction."""

    kind: str

    def ph(self, n: int) -> str: ...  # the n-th (0-based) placeholder
    async def select(self, sql: str, args: Sequence[Any]) -> list[Sequence[Any]]: ...
    async def execute_many(self, sql: str, rows: list[tuple[Any, ...]]) -> None: ...
    async def sketches(self, table: str, keys: list[Key]) -> Stored: ...
    async def upsert(self, table: str, rows: list[Row]) -> None: ...
    def stamp(self, value: datetime) -> Any: ...


def stored_pairs(rows: Iterable[Sequence[Any]]) -> Stored:
    return {(int(r[0]), r[1], r[2], r[3], r[4]): (r[5], r[6]) for r in rows}


_COLUMN_LIST = ", ".join(COLUMNS)
_SKETCH_SELECT = f"SELECT {', '.join(KEY_COLUMNS)}, {', '.join(SKETCH_COLUMNS)} FROM "


def sqlite_sketch_queries(table: str, keys: list[Key]) -> list[tuple[str, list[Any]]]:
    """The reads of the stored sketches of these keys: by bucket over the primary key (a
    batch spans a few minutes), the all-time rows by their dimensions (SQLite cannot seek a
    row-value IN over all five columns: it would scan the table)."""
    queries: list[tuple[str, list[Any]]] = []
    if table == TOTAL_TABLE:
        dims = sorted({key[1:] for key in keys})
        for start in range(0, len(dims), 200):
            chunk = dims[start : start + 200]
            tuples = ", ".join("(?, ?, ?, ?)" for _ in chunk)
            sql = (
                f"{_SKETCH_SELECT}{table} WHERE bucket = 0 AND "
                f"(model, instance, client, node) IN (VALUES {tuples})"
            )
            queries.append((sql, [v for dim in chunk for v in dim]))
    else:
        buckets = sorted({key[0] for key in keys})
        for start in range(0, len(buckets), 500):
            part = buckets[start : start + 500]
            marks = ", ".join("?" for _ in part)
            queries.append((f"{_SKETCH_SELECT}{table} WHERE bucket IN ({marks})", part))
    return queries


class SqliteSession:
    """Session over an SQLAlchemy connection to SQLite (qmark parameters)."""

    kind = "sqlite"

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def ph(self, n: int) -> str:
        return "?"

    def stamp(self, value: datetime) -> Any:
        return sqlite_time(value)

    async def select(self, sql: str, args: Sequence[Any]) -> list[Sequence[Any]]:
        result = await self.conn.exec_driver_sql(sql, tuple(args))
        return list(result.fetchall())

    async def execute_many(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        if rows:
            await self.conn.exec_driver_sql(sql, rows)

    async def upsert(self, table: str, rows: list[Row]) -> None:
        await self.execute_many(add_sql(self, table), rows)

    async def sketches(self, table: str, keys: list[Key]) -> Stored:
        rows: list[Sequence[Any]] = []
        for sql, args in sqlite_sketch_queries(table, keys):
            rows += await self.select(sql, args)
        return stored_pairs(rows)


class PgSession:
    """Session over an asyncpg connection ($n parameters)."""

    kind = "postgres"

    def __init__(self, driver: Any) -> None:
        self.driver = driver

    def ph(self, n: int) -> str:
        return f"${n + 1}"

    def stamp(self, value: datetime) -> Any:
        return value

    async def select(self, sql: str, args: Sequence[Any]) -> list[Sequence[Any]]:
        return list(await self.driver.fetch(sql, *args))

    async def execute_many(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        if rows:
            await self.driver.executemany(sql, rows)

    async def upsert(self, table: str, rows: list[Row]) -> None:
        """COPY into a session temp table, then one INSERT .. SELECT .. ON CONFLICT: several
        times faster than a statement per row."""
        if not rows:
            return
        stage = f"{table}_stage"
        await self.driver.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE {table} INCLUDING DEFAULTS) "
            "ON COMMIT DELETE ROWS"
        )
        await self.driver.copy_records_to_table(stage, records=rows, columns=list(COLUMNS))
        await self.driver.execute(add_sql(self, table, f"SELECT {_COLUMN_LIST} FROM {stage}"))

    async def sketches(self, table: str, keys: list[Key]) -> Stored:
        """The stored sketches of these keys, in one statement (arrays of the key columns)."""
        columns: list[Sequence[Any]] = list(zip(*keys, strict=True)) if keys else [()] * 5
        rows = await self.select(
            f"{_SKETCH_SELECT}{table} WHERE ({', '.join(KEY_COLUMNS)}) IN "
            "(SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[]))",
            [list(c) for c in columns],
        )
        return stored_pairs(rows)


def sqlite_time(value: datetime) -> str:
    """SQLAlchemy's SQLite DateTime text ('YYYY-MM-DD HH:MM:SS.ffffff', UTC, naive), the raw
    rows' format, which sorts and compares as time. A naive value is taken as UTC."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(" ", "microseconds")


GRAINS = (
    (TABLES["minute"], STEPS["minute"]),
    (TABLES["5m"], STEPS["5m"]),
    (TABLES["hour"], STEPS["hour"]),
    (TOTAL_TABLE, 0),
)
Prepared = list[tuple[str, Grain]]  # a batch's cells in each table


def prepare(batch: Batch) -> Prepared:
    """Pure CPU (numpy, and no event loop needed): callers run it in a thread."""
    return [(table, grain_cells(batch, step)) for table, step in GRAINS] if len(batch) else []


def prepare_records(records: Sequence[RequestRecord]) -> Prepared:
    return prepare(batch_of_records(records))


async def add_prepared(session: Session, prepared: Prepared) -> None:
    """Write prepared cells to their tables (caller holds the rollup lock and the
    transaction): each table's stored sketches in one read, its rows in one upsert."""
    if not prepared:
        return
    await lock(session)
    for table, found in prepared:
        stored = await session.sketches(table, found.keys)
        rows = await asyncio.to_thread(rows_of, found, stored, session.stamp)
        await session.upsert(table, rows)


# --- backfill and retention ----------------------------------------------------------------

BACKFILL_TABLE = "rollup_backfill"


@dataclass(frozen=True, slots=True)
class Pending:
    """Raw rows in [next_ts, until_ts) are not in the rollups yet; None: nothing pending."""

    next_ts: datetime
    until_ts: datetime

    def covers(self, stamp: datetime) -> bool:
        return self.next_ts <= stamp < self.until_ts


def pending_span(next_ts: datetime | str | None, until_ts: datetime | str | None) -> Pending | None:
    """The backfill state row's columns -> the span still to roll up (None: nothing)."""
    if next_ts is None or until_ts is None:
        return None
    span = Pending(as_utc(next_ts), as_utc(until_ts))
    return span if span.next_ts < span.until_ts else None


BACKFILL_STATE_SQL = f"SELECT next_ts, until_ts FROM {BACKFILL_TABLE} WHERE id = 1"


async def pending(session: Session) -> Pending | None:
    rows = await session.select(BACKFILL_STATE_SQL, [])
    return pending_span(rows[0][0], rows[0][1]) if rows else None


async def lock(session: Session) -> None:
    """PostgreSQL: serialise rollup writers of every process until the transaction ends.

    Taken before the backfill state is read: a write that read it unlocked could skip a
    record the backfill, already past it, will never see (its insert not yet committed).
    """
    if session.kind == "postgres":
        await session.select(f"SELECT pg_advisory_xact_lock({ADVISORY_LOCK})", [])


def outside(span: Pending | None, records: Sequence[RequestRecord]) -> list[RequestRecord]:
    """The records the backfill will not count (those of its pending span it will)."""
    if span is None:
        return list(records)
    return [r for r in records if not span.covers(as_utc(r.timestamp))]


async def add_inserted(
    session: Session, records: Sequence[RequestRecord], insert: Awaitable[set[str] | None]
) -> None:
    """Run `insert` (the raw rows of `records`, distinct ids) and roll up what it added.

    The cells are prepared in a thread while the insert runs, for all of `records`: `insert`
    returns None when it added every one (the usual case), else the ids it added, and only
    those are then counted (a replay adds nothing). The lock is taken first, so the backfill
    state read here holds until the transaction ends.
    """
    await lock(session)
    wanted = outside(await pending(session), records)
    preparing = asyncio.ensure_future(asyncio.to_thread(prepare_records, wanted))
    try:
        added = await insert
    finally:
        prepared = await preparing
    kept_records = kept(wanted, added)
    if kept_records is not wanted:
        prepared = await asyncio.to_thread(prepare_records, kept_records)
    await add_prepared(session, prepared)


def kept(wanted: list[RequestRecord], added: set[str] | None) -> list[RequestRecord]:
    """The records of `wanted` the insert added (`added` None: all of them, `wanted` itself)."""
    if added is None:
        return wanted
    out = [r for r in wanted if r.request_id in added]
    return wanted if len(out) == len(wanted) else out


async def backfill_step(session: Session, batch: int = 20_000) -> bool:
    """Roll up the next `batch` raw rows of the pending span; False when nothing is left.

    Rows are taken in timestamp order, from next_ts to the timestamp of the batch+1-th row
    (so rows sharing a timestamp are never split between two steps). One statement groups
    them into minute cells (sums in SQL, the latencies of each cell as one value list), numpy
    bins the latencies and builds the five-minute, hour and all-time cells, the stored rows
    those cells land on are merged in, and one upsert per table writes them.
    """
    await lock(session)
    span = await pending(session)
    if span is None:
        return False
    lo, hi = session.stamp(span.next_ts), session.stamp(span.until_ts)
    p0, p1, p2 = session.ph(0), session.ph(1), session.ph(2)
    found = await session.select(
        f"SELECT timestamp FROM request_logs WHERE timestamp >= {p0} AND timestamp < {p1} "
        f"ORDER BY timestamp LIMIT 1 OFFSET {p2}",
        [lo, hi, int(batch)],
    )
    end = as_utc(found[0][0]) if found else span.until_ts
    rows = await session.select(_backfill_sql(session), [lo, session.stamp(end)])
    if rows:
        # Pure CPU (value lists parsed, binned, coarsened; sketches encoded) goes to a worker
        # thread: on the loop, 20,000-row batches stalled every stream up to 44 ms at a time.
        grains = await asyncio.to_thread(_backfill_grains, session, rows)
        for table, cells in grains.items():
            stored = await _stored_rows(session, table, cells)
            encoded = await asyncio.to_thread(_merged_rows, session, cells, stored)
            await session.execute_many(upsert_sql(session, table), encoded)
    await session.execute_many(
        f"UPDATE {BACKFILL_TABLE} SET next_ts = {p0} WHERE id = 1",
        [(session.stamp(end),)],
    )
    return end < span.until_ts


def _backfill_grains(session: Session, rows: list[Sequence[Any]]) -> dict[str, Cells]:
    """Every grain from this batch alone, before stored rows are merged into any of them."""
    minute = _backfill_cells(session, rows)
    return {
        TABLES["minute"]: minute,
        TABLES["5m"]: minute.coarsen(STEPS["5m"]),
        TABLES["hour"]: minute.coarsen(STEPS["hour"]),
        TOTAL_TABLE: minute.coarsen(0),
    }


def _backfill_sql(session: Session) -> str:
    """Minute cells of the raw rows in [p0, p1): keys, sums, newest timestamp, and the
    latencies (0 for a missing one, as records count them) and TTFTs of each cell.

    The sums are the stats API's own raw-row measures (stats/aggregate.py), so a backfilled
    rollup answers as the raw rows do. PostgreSQL sends the values as binary float8
    (`float8send`), SQLite as text (`%.17g`; SQLite renders about 16 exact digits, far finer
    than a bin).
    """
    from ollama_proxy.stats.aggregate import CLIENT_KEY, SIMPLE_MEASURES

    if session.kind == "sqlite":
        bucket = "(CAST(strftime('%s', timestamp) AS INTEGER) / 60) * 60"
        lat = "group_concat(printf('%.17g', coalesce(latency_ms, 0)))"
        # printf would render NULL as 0: a missing TTFT must stay out of the list
        ttft = "group_concat(CASE WHEN ttft_ms IS NOT NULL THEN printf('%.17g', ttft_ms) END)"
    else:
        bucket = "(floor(extract(epoch from timestamp) / 60) * 60)::bigint"
        lat = "string_agg(float8send(coalesce(latency_ms, 0)), ''::bytea)"
        ttft = "string_agg(float8send(ttft_ms), ''::bytea)"
    node = "coalesce(node, '')" if _HAS_NODE else "''"
    keys = [bucket, "coalesce(model, '')", "coalesce(instance, '')", CLIENT_KEY, node]
    sums = [f"coalesce({SIMPLE_MEASURES[name]}, 0)" for name in SUM_COLUMNS]
    select = ", ".join([*keys, *sums, "max(timestamp)", lat, ttft])
    return (
        f"SELECT {select} FROM request_logs "
        f"WHERE timestamp >= {session.ph(0)} AND timestamp < {session.ph(1)} "
        "GROUP BY 1, 2, 3, 4, 5"
    )


@dataclass(slots=True)
class Cells:
    """Rollup rows of one grain as arrays: keys, sums (float64, one column per SUM_COLUMNS),
    newest timestamps, and the sketch pairs of both sketches as (cell, key, count)."""

    keys: list[Key]
    sums: np.ndarray
    last_ts: list[datetime]
    lat: tuple[np.ndarray, np.ndarray, np.ndarray]
    ttft: tuple[np.ndarray, np.ndarray, np.ndarray]

    def coarsen(self, step: int) -> Cells:
        """These cells merged into buckets of `step` seconds (0: one all-time bucket)."""
        index: dict[Key, int] = {}
        owner = np.empty(len(self.keys), dtype=np.int64)
        for i, (bucket, *dims) in enumerate(self.keys):
            key: Key = (bucket // step * step if step else 0, dims[0], dims[1], dims[2], dims[3])
            owner[i] = index.setdefault(key, len(index))
        return self._regroup(list(index), owner)

    def _regroup(self, keys: list[Key], owner: np.ndarray) -> Cells:
        sums = np.zeros((len(keys), len(SUM_COLUMNS)))
        np.add.at(sums, owner, self.sums)
        last: list[datetime | None] = [None] * len(keys)
        for target, stamp in zip(owner.tolist(), self.last_ts, strict=True):
            current = last[target]
            if current is None or stamp > current:
                last[target] = stamp
        moved = [(owner[cell], key, count) for cell, key, count in (self.lat, self.ttft)]
        return Cells(keys, sums, [s for s in last if s is not None], *moved)  # none is None

    def rows(self, session: Session) -> list[tuple[Any, ...]]:
        lat = sketch.encode_groups(*sketch.grouped_counts(*self.lat), len(self.keys))
        ttft = sketch.encode_groups(*sketch.grouped_counts(*self.ttft), len(self.keys))
        stamps = [session.stamp(s) for s in self.last_ts]
        return _upsert_rows(self.keys, self.sums.T, stamps, lat, ttft)


def _values(session: Session, raw: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Per-cell value lists as the backfill query returns them -> (cell index, values)."""
    if session.kind == "sqlite":
        texts = [t.split(",") if t else [] for t in raw]
        sizes = [len(t) for t in texts]
        values = np.array([v for t in texts for v in t], dtype=np.float64)
    else:
        sizes = [len(b) // 8 if b else 0 for b in raw]
        values = np.frombuffer(b"".join(bytes(b) for b in raw if b), dtype=">f8")
    cell = np.repeat(np.arange(len(raw), dtype=np.int64), sizes)
    return cell, values.astype(np.float64)


def _sketch_pairs(
    cell: np.ndarray, values: np.ndarray, *, keep_invalid: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(cell, key, count 1) per value; invalid values (negative, NaN, infinite) go to the zero
    bin when kept (latency: every record counts) and are dropped otherwise (TTFT)."""
    valid = np.isfinite(values) & (values >= 0)
    keys = np.where(valid, sketch.keys_of(np.where(valid, values, 0.0)), sketch.ZERO_KEY)
    if not keep_invalid:
        cell, keys = cell[valid], keys[valid]
    return cell, keys, np.ones(keys.size, dtype=np.int64)


def _backfill_cells(session: Session, rows: list[Sequence[Any]]) -> Cells:
    n_keys, n_sums = len(KEY_COLUMNS), len(SUM_COLUMNS)
    keys: list[Key] = [(int(r[0]), r[1], r[2], r[3] or "", r[4]) for r in rows]
    sums = np.array([r[n_keys : n_keys + n_sums] for r in rows], dtype=np.float64)
    last_ts = [as_utc(r[n_keys + n_sums]) for r in rows]
    lat = _sketch_pairs(*_values(session, [r[-2] for r in rows]), keep_invalid=True)
    ttft = _sketch_pairs(*_values(session, [r[-1] for r in rows]), keep_invalid=False)
    return Cells(keys, sums, last_ts, lat, ttft)


async def _stored_rows(session: Session, table: str, cells: Cells) -> list[Sequence[Any]]:
    """The stored rows in the buckets `cells` spans (a minute or hour the previous step, or
    the proxy's own writes, already filled; the all-time rows). One range read."""
    buckets = [key[0] for key in cells.keys]
    p0, p1 = session.ph(0), session.ph(1)
    return await session.select(
        f"SELECT {', '.join(COLUMNS)} FROM {table} WHERE bucket >= {p0} AND bucket <= {p1}",
        [min(buckets), max(buckets)],
    )


def _merged_rows(session: Session, cells: Cells, stored: list[Sequence[Any]]) -> list[Row]:
    """Pure CPU, run in a worker thread: `cells` with the stored rows of the same keys
    added, as upsert rows."""
    _merge_stored(cells, stored)
    return cells.rows(session)


def _merge_stored(cells: Cells, stored: list[Sequence[Any]]) -> None:
    """Add to `cells` the stored rows of the same keys (a Python pass over every row read)."""
    index = {key: i for i, key in enumerate(cells.keys)}
    hits = [(index[k], row) for row in stored if (k := _key_of(row)) in index]
    if not hits:
        return
    n_keys, n_sums = len(KEY_COLUMNS), len(SUM_COLUMNS)
    at = np.array([i for i, _ in hits], dtype=np.int64)
    cells.sums[at] += np.array([row[n_keys : n_keys + n_sums] for _, row in hits], dtype=float)
    for i, row in hits:
        stamp = row[n_keys + n_sums]
        if stamp is not None and as_utc(stamp) > cells.last_ts[i]:
            cells.last_ts[i] = as_utc(stamp)
    cells.lat = _with_stored(cells.lat, at, [row[-2] for _, row in hits])
    cells.ttft = _with_stored(cells.ttft, at, [row[-1] for _, row in hits])


Pairs = tuple[np.ndarray, np.ndarray, np.ndarray]  # (cell, key, count)


def _with_stored(pairs: Pairs, cells: np.ndarray, blobs: list[bytes | None]) -> Pairs:
    """`pairs` plus the pairs of stored sketches, the i-th blob's going to cell cells[i]."""
    owner, keys, counts = sketch.split_pairs(blobs)
    cell, key, count = pairs
    return (
        np.concatenate([cell, cells[owner]]),
        np.concatenate([key, keys]),
        np.concatenate([count, counts]),
    )


def _key_of(row: Sequence[Any]) -> Key:
    return (int(row[0]), row[1], row[2], row[3], row[4])


def rollup_rules(minute_days: Callable[[], int], hour_days: Callable[[], int]) -> list[Any]:
    """Retention of the rollups (store/retention.py): minute and five-minute rows as long as
    the raw rows (RETENTION_DAYS), hour rows ROLLUP_RETENTION_DAYS; all-time totals kept."""
    from ollama_proxy.store.retention import RetentionRule

    return [
        RetentionRule(TABLES["minute"], "bucket", minute_days, epoch=True),
        RetentionRule(TABLES["5m"], "bucket", minute_days, epoch=True),
        RetentionRule(TABLES["hour"], "bucket", hour_days, epoch=True),
    ]
