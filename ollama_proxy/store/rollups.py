"""Rollups for the SQL stores: per minute, 5 minutes, hour and all-time, kept with raw rows.

Every batch that `SqlStore.write_requests` inserts is also added, in the same transaction, to
four tables of the same shape (`schemas/migrations/*/0010_rollups.sql`, `0012_*.sql`):
`request_rollup_minute`, `request_rollup_5m`, `request_rollup_hour` (bucket = start, Unix
seconds) and `request_rollup_total` (bucket 0), one row per (bucket, model, instance, client,
node) with counts, sums and two latency sketches (`store/sketch.py`). Only the records the insert
actually added are counted, so a replayed journal segment changes nothing (exactly once by
request_id, as the raw rows).

A row is read, merged in Python and written back (sketches merge by adding bin counts). The
read-modify-write is serialised: by the store's asyncio lock on SQLite (one process writes
the file) and by a transaction-level advisory lock on PostgreSQL (several proxies may share
it). The stats API reads these tables (`stats/rollup_queries.py`), never raw rows, for totals,
series and breakdowns.

Databases that held raw rows before the rollups existed are filled by `backfill_step`, in
batches, while the proxy runs: the migration records the pending span [next_ts, until_ts) in
`rollup_backfill`; writes skip the records of that span not yet reached (the backfill will
count them) and the backfill moves `next_ts` forward one batch per transaction.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import numpy as np

from ollama_proxy.records import REQUEST_FIELDS, RequestRecord
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
# The raw columns a backfill reads; `node` only once records carry it.
_HAS_NODE = "node" in REQUEST_FIELDS
RAW_COLUMNS = (
    "timestamp",
    "model",
    "instance",
    "client",
    "client_name",
    "node" if _HAS_NODE else "''",
    "status",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "latency_ms",
    "ttft_ms",
    "eval_duration_ms",
    "load_duration_ms",
    "gpu_ms",
    "load_charged_ms",
    "energy_j",
    "queue_wait_ms",
    "thinking_tokens",
    "thinking_ms",
)
ADVISORY_LOCK = 0x6F6C6C616D61  # PostgreSQL pg_advisory_xact_lock key of rollup writers


@dataclass(slots=True)
class Cell:
    """One rollup row being built: sums, the newest timestamp, sketch bin counts."""

    sums: list[float] = field(default_factory=lambda: [0] * len(SUM_COLUMNS))
    last_ts: datetime | None = None
    lat: dict[int, int] = field(default_factory=dict)
    ttft: dict[int, int] = field(default_factory=dict)

    def merge(self, other: Cell) -> None:
        self.sums = [a + b for a, b in zip(self.sums, other.sums, strict=True)]
        if other.last_ts is not None and (self.last_ts is None or other.last_ts > self.last_ts):
            self.last_ts = other.last_ts
        sketch.add_counts(self.lat, other.lat)
        sketch.add_counts(self.ttft, other.ttft)


Key = tuple[int, str, str, str, str]  # bucket, model, instance, client, node
# A record reduced to what rollups count (from a RequestRecord or a raw row).
# (timestamp, model, instance, client, node, is_error, prompt, completion, cached, latency,
#  ttft, eval_ms, load_ms, gpu_ms, load_charged_ms, energy_j, queue_wait_ms,
#  thinking_tokens, thinking_ms)
Fact = tuple[
    datetime, str, str, str, str, bool, int, int, int, float, float | None, float | None,
    float | None, float | None, float | None, float | None, float | None, int, float | None,
]  # fmt: skip


def as_utc(value: datetime | str) -> datetime:
    if isinstance(value, str):  # SQLite text 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC)
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def fact_of_record(r: RequestRecord) -> Fact:
    return (
        as_utc(r.timestamp),
        r.model,
        r.instance,
        r.client_name or r.client,
        str(getattr(r, "node", "") or ""),
        r.status == "error",
        r.prompt_tokens or 0,  # usage is null on non-inference routes
        r.completion_tokens or 0,
        r.cached_tokens or 0,
        r.latency_ms or 0.0,
        r.ttft_ms,
        r.eval_duration_ms,
        r.load_duration_ms,
        r.gpu_ms,
        r.load_charged_ms,
        r.energy_j,
        r.queue_wait_ms,
        r.thinking_tokens or 0,
        r.thinking_ms,
    )


def fact_of_row(row: Sequence[Any]) -> Fact:
    """A raw row selected as RAW_COLUMNS -> Fact."""
    ts, model, instance, client, name, node, status = row[:7]
    prompt, completion, cached, latency, ttft, eval_ms, load_ms, gpu, charged, energy = row[7:17]
    wait, thinking_tokens, thinking_ms = row[17:]
    return (
        as_utc(ts),
        model or "",
        instance or "",
        name or client or "",
        node or "",
        status == "error",
        int(prompt or 0),
        int(completion or 0),
        int(cached or 0),
        float(latency or 0.0),
        None if ttft is None else float(ttft),
        None if eval_ms is None else float(eval_ms),
        None if load_ms is None else float(load_ms),
        None if gpu is None else float(gpu),
        None if charged is None else float(charged),
        None if energy is None else float(energy),
        None if wait is None else float(wait),
        int(thinking_tokens or 0),
        None if thinking_ms is None else float(thinking_ms),
    )


def _add_fact(cell: Cell, fact: Fact, lat_key: int, ttft_key: int | None) -> None:
    sums = cell.sums
    completion, eval_ms, load_ms = fact[7], fact[11], fact[12]
    sums[0] += 1
    sums[1] += fact[5]
    sums[2] += fact[6]
    sums[3] += completion
    sums[4] += fact[8]
    if eval_ms is not None and eval_ms > 0:
        sums[5] += completion
        sums[6] += eval_ms
    sums[7] += fact[9]
    if load_ms is not None and load_ms >= COLD_LOAD_MS:
        sums[8] += 1
        sums[9] += load_ms
    sums[10] += fact[13] or 0.0
    sums[11] += fact[14] or 0.0
    if fact[15] is not None:
        sums[12] += fact[15]
        sums[13] += 1
        sums[14] += completion
    if fact[16] is not None:
        sums[16] += 1
        if fact[16] > 0:
            sums[15] += fact[16]
    sums[17] += fact[17]
    if fact[18] is not None:
        sums[18] += fact[18]
        sums[19] += 1
    if cell.last_ts is None or fact[0] > cell.last_ts:
        cell.last_ts = fact[0]
    cell.lat[lat_key] = cell.lat.get(lat_key, 0) + 1
    if ttft_key is not None:
        cell.ttft[ttft_key] = cell.ttft.get(ttft_key, 0) + 1


def _sketch_keys(values: Iterable[float | None]) -> list[int | None]:
    array = np.fromiter((math.nan if v is None else v for v in values), dtype=np.float64)
    keys = sketch.keys_of(array).tolist()
    valid = np.isfinite(array) & (array >= 0)
    return [k if ok else None for k, ok in zip(keys, valid.tolist(), strict=True)]


def minute_cells(facts: Sequence[Fact]) -> dict[Key, Cell]:
    """Facts -> one Cell per (minute, model, instance, client, node)."""
    lat_keys = _sketch_keys(f[9] for f in facts)
    ttft_keys = _sketch_keys(f[10] for f in facts)
    cells: dict[Key, Cell] = {}
    for fact, lat_key, ttft_key in zip(facts, lat_keys, ttft_keys, strict=True):
        minute = int(fact[0].timestamp()) // 60 * 60
        key = (minute, fact[1], fact[2], fact[3], fact[4])
        cell = cells.get(key)
        if cell is None:
            cell = cells[key] = Cell()
        _add_fact(cell, fact, sketch.ZERO_KEY if lat_key is None else lat_key, ttft_key)
    return cells


def coarsen(cells: dict[Key, Cell], step: int) -> dict[Key, Cell]:
    """Cells of a finer grain -> cells of `step` seconds (0: one all-time bucket)."""
    out: dict[Key, Cell] = {}
    for (bucket, *dims), cell in cells.items():
        start = bucket // step * step if step else 0
        key: Key = (start, dims[0], dims[1], dims[2], dims[3])
        target = out.get(key)
        if target is None:
            target = out[key] = Cell()
        target.merge(cell)
    return out


def all_grains(facts: Sequence[Fact]) -> dict[str, dict[Key, Cell]]:
    minute = minute_cells(facts)
    return {
        TABLES["minute"]: minute,
        TABLES["5m"]: coarsen(minute, STEPS["5m"]),
        TABLES["hour"]: coarsen(minute, STEPS["hour"]),
        TOTAL_TABLE: coarsen(minute, 0),
    }


# --- database side -------------------------------------------------------------------------


class Session(Protocol):
    """The two calls rollups make, on a connection inside the caller's transaction."""

    kind: str

    def ph(self, n: int) -> str: ...  # the n-th (0-based) placeholder
    async def select(self, sql: str, args: Sequence[Any]) -> list[Sequence[Any]]: ...
    async def execute_many(self, sql: str, rows: list[tuple[Any, ...]]) -> None: ...


class SqliteSession:
    """Session over an SQLAlchemy connection to SQLite (qmark parameters)."""

    kind = "sqlite"

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def ph(self, n: int) -> str:
        return "?"

    async def select(self, sql: str, args: Sequence[Any]) -> list[Sequence[Any]]:
        result = await self.conn.exec_driver_sql(sql, tuple(args))
        return list(result.fetchall())

    async def execute_many(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        if rows:
            await self.conn.exec_driver_sql(sql, rows)


class PgSession:
    """Session over an asyncpg connection ($n parameters)."""

    kind = "postgres"

    def __init__(self, driver: Any) -> None:
        self.driver = driver

    def ph(self, n: int) -> str:
        return f"${n + 1}"

    async def select(self, sql: str, args: Sequence[Any]) -> list[Sequence[Any]]:
        return list(await self.driver.fetch(sql, *args))

    async def execute_many(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        if rows:
            await self.driver.executemany(sql, rows)


def sqlite_time(value: datetime) -> str:
    """SQLAlchemy's SQLite DateTime text (UTC), the raw rows' format."""
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def upsert_sql(session: Session, table: str) -> str:
    values = ", ".join(session.ph(i) for i in range(len(COLUMNS)))
    updates = ", ".join(f"{c} = excluded.{c}" for c in COLUMNS if c not in KEY_COLUMNS)
    return (
        f"INSERT INTO {table} ({', '.join(COLUMNS)}) VALUES ({values}) "
        f"ON CONFLICT ({', '.join(KEY_COLUMNS)}) DO UPDATE SET {updates}"
    )


def _row_of(session: Session, key: Key, cell: Cell) -> tuple[Any, ...]:
    stamp: Any = cell.last_ts
    if session.kind == "sqlite" and stamp is not None:
        stamp = sqlite_time(stamp)
    lat, ttft = sketch.encode_counts(cell.lat), sketch.encode_counts(cell.ttft)
    sums = [
        float(v) if float_column else int(v)
        for v, float_column in zip(cell.sums, _FLOATS, strict=True)
    ]
    return (*key, *sums, stamp, lat, ttft)


def _cell_of(row: Sequence[Any]) -> tuple[Key, Cell]:
    n_keys, n_sums = len(KEY_COLUMNS), len(SUM_COLUMNS)
    key: Key = (int(row[0]), row[1], row[2], row[3], row[4])
    sums = [v if isinstance(v, int | float) else float(v) for v in row[n_keys : n_keys + n_sums]]
    stamp, lat, ttft = row[n_keys + n_sums :]
    cell = Cell(sums, None if stamp is None else as_utc(stamp))
    cell.lat, cell.ttft = sketch.decode_counts(lat), sketch.decode_counts(ttft)
    return key, cell


async def _existing(session: Session, table: str, keys: list[Key]) -> dict[Key, Cell]:
    """The stored rows of these keys (row-value IN, 500 keys a statement)."""
    found: dict[Key, Cell] = {}
    # PostgreSQL types a VALUES list of parameters as text unless told.
    casts = ("::bigint", *["::text"] * 4) if session.kind == "postgres" else ("",) * 5
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        tuples = ", ".join(
            "(" + ", ".join(session.ph(i * 5 + j) + casts[j] for j in range(5)) + ")"
            for i in range(len(chunk))
        )
        sql = (
            f"SELECT {', '.join(COLUMNS)} FROM {table} "
            f"WHERE ({', '.join(KEY_COLUMNS)}) IN (VALUES {tuples})"
        )
        args = [value for key in chunk for value in key]
        for row in await session.select(sql, args):
            key, cell = _cell_of(row)
            found[key] = cell
    return found


async def add_facts(session: Session, facts: Sequence[Fact]) -> None:
    """Add facts to the three tables (caller holds the rollup lock and the transaction)."""
    if not facts:
        return
    await lock(session)
    for table, cells in all_grains(facts).items():
        stored = await _existing(session, table, list(cells))
        for key, cell in stored.items():
            cell.merge(cells[key])
            cells[key] = cell
        rows = [_row_of(session, key, cell) for key, cell in cells.items()]
        await session.execute_many(upsert_sql(session, table), rows)


# --- backfill and retention ----------------------------------------------------------------

BACKFILL_TABLE = "rollup_backfill"


@dataclass(frozen=True, slots=True)
class Pending:
    """Raw rows in [next_ts, until_ts) are not in the rollups yet; None: nothing pending."""

    next_ts: datetime
    until_ts: datetime

    def covers(self, stamp: datetime) -> bool:
        return self.next_ts <= stamp < self.until_ts


async def pending(session: Session) -> Pending | None:
    rows = await session.select(f"SELECT next_ts, until_ts FROM {BACKFILL_TABLE} WHERE id = 1", [])
    if not rows or rows[0][0] is None or rows[0][1] is None:
        return None
    span = Pending(as_utc(rows[0][0]), as_utc(rows[0][1]))
    return span if span.next_ts < span.until_ts else None


async def lock(session: Session) -> None:
    """PostgreSQL: serialise rollup writers of every process until the transaction ends.

    Taken before the backfill state is read: a write that read it unlocked could skip a
    record the backfill, already past it, will never see (its insert not yet committed).
    """
    if session.kind == "postgres":
        await session.select(f"SELECT pg_advisory_xact_lock({ADVISORY_LOCK})", [])


async def add_records(session: Session, records: Sequence[RequestRecord]) -> None:
    """Roll up newly inserted records, except those the backfill has still to reach."""
    if not records:
        return
    await lock(session)
    span = await pending(session)
    facts = [fact_of_record(r) for r in records]
    if span is not None:
        facts = [f for f in facts if not span.covers(f[0])]
    await add_facts(session, facts)


def _time_arg(session: Session, value: datetime) -> Any:
    return sqlite_time(value) if session.kind == "sqlite" else value


async def backfill_step(session: Session, batch: int = 20_000) -> bool:
    """Roll up the next `batch` raw rows of the pending span; False when nothing is left.

    Rows are taken in timestamp order, from next_ts to the timestamp of the batch+1-th row
    (so rows sharing a timestamp are never split between two steps). One statement groups
    them into minute cells (sums in SQL, the latencies of each cell as one value list), numpy
    bins the latencies and builds the hour and all-time cells, the stored rows those cells
    land on are merged in, and one upsert per table writes them.
    """
    await lock(session)
    span = await pending(session)
    if span is None:
        return False
    lo, hi = _time_arg(session, span.next_ts), _time_arg(session, span.until_ts)
    p0, p1, p2 = session.ph(0), session.ph(1), session.ph(2)
    found = await session.select(
        f"SELECT timestamp FROM request_logs WHERE timestamp >= {p0} AND timestamp < {p1} "
        f"ORDER BY timestamp LIMIT 1 OFFSET {p2}",
        [lo, hi, int(batch)],
    )
    end = as_utc(found[0][0]) if found else span.until_ts
    rows = await session.select(_backfill_sql(session), [lo, _time_arg(session, end)])
    if rows:
        minute = _backfill_cells(session, rows)
        # Every grain from this batch alone, before stored rows are merged into any of them.
        grains = {
            TABLES["minute"]: minute,
            TABLES["5m"]: minute.coarsen(STEPS["5m"]),
            TABLES["hour"]: minute.coarsen(STEPS["hour"]),
            TOTAL_TABLE: minute.coarsen(0),
        }
        for table, cells in grains.items():
            await _merge_stored(session, table, cells)
            await session.execute_many(upsert_sql(session, table), cells.rows(session))
    await session.execute_many(
        f"UPDATE {BACKFILL_TABLE} SET next_ts = {p0} WHERE id = 1",
        [(_time_arg(session, end),)],
    )
    return end < span.until_ts


def _backfill_sql(session: Session) -> str:
    """Minute cells of the raw rows in [p0, p1): keys, sums, newest timestamp, and the
    latencies (0 for a missing one, as records count them) and TTFTs of each cell.

    The sums are the stats API's own raw-row measures (stats/aggregate.py), so a backfilled
    rollup answers as the raw rows do. PostgreSQL sends the values as binary float8
    (`float8send`), SQLite as text with 17 significant digits.
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
        columns = [
            self.sums[:, i].tolist() if is_float else self.sums[:, i].astype(np.int64).tolist()
            for i, is_float in enumerate(_FLOATS)
        ]
        sqlite = session.kind == "sqlite"
        out = []
        for i, key in enumerate(self.keys):
            stamp: Any = sqlite_time(self.last_ts[i]) if sqlite else self.last_ts[i]
            out.append((*key, *(column[i] for column in columns), stamp, lat[i], ttft[i]))
        return out


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


async def _merge_stored(session: Session, table: str, cells: Cells) -> None:
    """Add to `cells` the stored rows of the same keys (a minute or hour the previous step,
    or the proxy's own writes, already filled; the all-time rows). One range read."""
    buckets = [key[0] for key in cells.keys]
    p0, p1 = session.ph(0), session.ph(1)
    stored = await session.select(
        f"SELECT {', '.join(COLUMNS)} FROM {table} WHERE bucket >= {p0} AND bucket <= {p1}",
        [min(buckets), max(buckets)],
    )
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
    for which, column in ((0, -2), (1, -1)):
        owner, keys, counts = sketch.split_pairs([row[column] for _, row in hits])
        old = (cells.lat, cells.ttft)[which]
        merged = tuple(
            np.concatenate([a, b]) for a, b in zip(old, (at[owner], keys, counts), strict=True)
        )
        if which == 0:
            cells.lat = merged  # type: ignore[assignment]
        else:
            cells.ttft = merged  # type: ignore[assignment]


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
