"""The SQLite request-log writer: one sqlite3 connection on a thread of its own.

A batch is one job on that thread: its rows converted, inserted and rolled up in one
transaction, with no event-loop round trip per statement. Through SQLAlchemy's async layer each
of the dozen statements of a batch (the insert, the backfill state, a sketch read and an upsert
per rollup table) was a trip through a greenlet, aiosqlite's queue and a thread switch; those
trips cost more CPU than the rollup work itself (5.6 of 17 µs per record in batches of 1,000).

The rollup cells are prepared (numpy) on the same thread, after the insert: on a second thread
beside the insert they cost more CPU (the two threads handing the GIL back and forth) and were
no faster (batches of 1,000: 14.2-15.0 against 12.5-12.8 µs of CPU per record). Reads (stats
API, backfill) keep the SQLAlchemy engine: WAL lets them run beside this connection.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import chain
from operator import add, attrgetter
from typing import Any, cast

import numpy as np
import structlog

from ollama_proxy.records import REQUEST_FIELDS, RequestRecord
from ollama_proxy.store import rollups

WAL_CHECKPOINT_PAGES = 16_384  # 64 MiB of 4 KiB pages
WRITER_CACHE_KIB = 32_768  # this connection's page cache
CLOSE_TIMEOUT_S = 30.0  # a batch in flight at close is let to commit
log = structlog.get_logger("ollama_proxy.store")

# The timestamp goes last: a row is the record's other values (one C-level getter) plus its
# timestamp text, which is made for the whole batch at once.
_ROW_FIELDS = [name for name in REQUEST_FIELDS if name != "timestamp"]
_COLUMNS = [*_ROW_FIELDS, "tokens_generated", "timestamp"]
_ROW_VALUES = attrgetter(*_ROW_FIELDS, "completion_tokens")
_ROW_MARKS = f"({', '.join('?' for _ in _COLUMNS)})"
INSERT = f"INSERT OR IGNORE INTO request_logs ({', '.join(_COLUMNS)}) VALUES {_ROW_MARKS}"
# Rows per INSERT statement: `executemany` steps the statement once per row, and each step
# releases and takes back the GIL and resets the statement; a statement of 100 rows (4,900
# parameters, far below SQLite's 32,766) cut the insert's CPU by a quarter (12.9 -> 9.8 us
# a row, batches of 1,000; 300 or 600 rows a statement were slower again).
ROWS_PER_INSERT = 100
INSERT_MANY = INSERT + "".join(f", {_ROW_MARKS}" for _ in range(ROWS_PER_INSERT - 1))

# The sqlite3 module binds int, float, str and bytes directly but sends every other value
# (None, bool) through its adapter protocol: a registry miss and two attribute lookups, about
# 0.3 us each. A raw row holds about 17 of them (nullable fields, flags): some 10% of the
# insert. Registered adapters are one dict hit and a C call, with the same values bound: None
# stays NULL (`{}.get` returns None), a bool its integer, as sqlite3 binds it by default.
# Process-wide, as sqlite3's registry is; no other binding changes.
sqlite3.register_adapter(type(None), cast(Any, {}.get))  # {}.get(None) is None
sqlite3.register_adapter(bool, int)


def sqlite_pragmas(cursor: Any) -> None:
    """Every connection of the logs database (readers and this writer)."""
    cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
    # FULL: a commit is on disk when it returns (the WAL is fsynced at each commit). The
    # journal drops a segment once every store acknowledged it, so an acknowledged commit
    # must survive a power loss; NORMAL only guarantees that at checkpoints.
    cursor.execute("PRAGMA synchronous=FULL")
    # Checkpoint every 64 MiB of WAL instead of SQLite's 4 MiB: a page that several commits
    # change is copied into the database once per checkpoint, not once per commit (random
    # request ids change an index page for nearly every row: 1M rows went in 25% faster).
    # The WAL file is truncated back to that size after a checkpoint that outgrew it.
    cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
    cursor.execute(f"PRAGMA journal_size_limit={WAL_CHECKPOINT_PAGES * 4096}")


def sqlite_rows(columns: rollups.Columns) -> list[tuple[object, ...]]:
    """The insert's parameters, row by row; the timestamp in SQLAlchemy's SQLite text form."""
    stamps = zip(sqlite_times(columns))  # 1-tuples, added to each row's values
    return list(map(add, map(_ROW_VALUES, columns.records), stamps))


def sqlite_times(columns: rollups.Columns) -> Sequence[str]:
    """`rollups.sqlite_time` of every stamp: for the recorder's own (UTC) stamps one numpy
    pass over the whole column, a quarter of the CPU of `isoformat` per value."""
    if not columns.recorders_own or not len(columns):
        return [rollups.sqlite_time(stamp) for stamp in columns.stamps]
    text = np.datetime_as_string(columns.microseconds().astype("datetime64[us]"), unit="us")
    text.view("U1").reshape(len(text), -1)[:, 10] = " "  # ISO's 'T' -> SQLAlchemy's space
    texts: list[str] = text.tolist()
    return texts


def distinct_records(records: Sequence[RequestRecord]) -> Sequence[RequestRecord]:
    """The first record of each id in the batch (the rows the insert may add)."""
    if len({record.request_id for record in records}) == len(records):
        return records  # the usual batch: no id twice
    seen: set[str] = set()
    out = []
    for record in records:
        if record.request_id not in seen:
            seen.add(record.request_id)
            out.append(record)
    return out


class WriterBusy(RuntimeError):
    """The previous batch is still being written (an abandoned write on a hung disk)."""


class SqliteWriter:
    """Writes request records and their rollups to one SQLite file, a batch at a time."""

    def __init__(self, path: str, busy_timeout_s: float) -> None:
        self._path = path
        self._busy_timeout_s = busy_timeout_s
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")
        self._conn: sqlite3.Connection | None = None
        self._running: Future[None] | None = None

    async def write(self, records: Sequence[RequestRecord]) -> None:
        """One batch on the writer's thread. While an earlier batch still runs there (its
        caller gave up on a hung disk), a new one is refused rather than queued: queued
        batches would hold their records for as long as the disk hangs."""
        if self._running is not None and not self._running.done():
            raise WriterBusy(f"{self._path}: the previous write is still running")
        self._running = self._thread.submit(self._write, records)
        await asyncio.wrap_future(self._running)

    async def close(self, timeout_s: float = CLOSE_TIMEOUT_S) -> None:
        """Let a batch in flight commit, then close the connection (on its own thread). A
        thread stuck in a write (a hung disk) is left behind after `timeout_s`."""
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout_s):
                await loop.run_in_executor(self._thread, self._close)
        except TimeoutError:
            log.warning("sqlite_writer_close_timed_out", path=self._path, timeout_s=timeout_s)
        self._thread.shutdown(wait=False)

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(self._path, timeout=self._busy_timeout_s, isolation_level=None)
            cursor = conn.cursor()
            sqlite_pragmas(cursor)
            # A page cache that holds a batch's changed pages. With SQLite's 2 MiB default, a
            # batch of random ids (an index page changed per row) spills changed pages to
            # the WAL before the commit, and reads them back. Only this connection has it.
            cursor.execute(f"PRAGMA cache_size=-{WRITER_CACHE_KIB}")
            cursor.close()
            self._conn = conn
        return self._conn

    def _write(self, records: Sequence[RequestRecord]) -> None:
        conn = self._connection()
        columns = rollups.Columns(records)
        distinct = distinct_records(records)
        conn.execute("BEGIN IMMEDIATE")
        try:
            session = _SyncSession(conn)
            span = rollups.pending_span(*session.backfill_state())
            wanted = rollups.outside(span, distinct)
            added = _insert(conn, sqlite_rows(columns), len(distinct))
            counted = rollups.kept(wanted, added)
            # Usually every record of the batch is counted: its columns are already built.
            if len(counted) == len(records):
                batch = rollups.batch_of_columns(columns)
            else:
                batch = rollups.batch_of_records(counted)
            for table, found in rollups.prepare(batch):
                stored = session.sketches(table, found.keys)
                session.upsert(table, rollups.rows_of(found, stored, session.stamp))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:  # a failed COMMIT may have rolled back already
                conn.execute("ROLLBACK")
            raise


def _insert(
    conn: sqlite3.Connection, rows: list[tuple[object, ...]], distinct: int
) -> set[str] | None:
    """INSERT OR IGNORE the rows: None when it added all `distinct` ids, else those it added.

    New rows get rowids above the largest before the insert, so the added ids are read back
    only when some were already stored (a replay), not looked up one by one every time.
    """
    top = conn.execute("SELECT coalesce(max(rowid), 0) FROM request_logs").fetchone()[0]
    whole = len(rows) - len(rows) % ROWS_PER_INSERT
    inserted = 0
    for start in range(0, whole, ROWS_PER_INSERT):
        values = list(chain.from_iterable(rows[start : start + ROWS_PER_INSERT]))
        inserted += conn.execute(INSERT_MANY, values).rowcount
    if whole < len(rows):
        inserted += conn.executemany(INSERT, rows[whole:]).rowcount
    if inserted == distinct:
        return None
    added = conn.execute("SELECT request_id FROM request_logs WHERE rowid > ?", (top,))
    return {row[0] for row in added.fetchall()}


class _SyncSession:
    """The rollup statements of `rollups.SqliteSession`, on a plain sqlite3 connection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.stamp: Callable[[Any], Any] = rollups.sqlite_time

    def backfill_state(self) -> tuple[Any, Any]:
        row = self.conn.execute(rollups.BACKFILL_STATE_SQL).fetchone()
        return (row[0], row[1]) if row else (None, None)

    def sketches(self, table: str, keys: list[rollups.Key]) -> rollups.Stored:
        rows: list[Sequence[Any]] = []
        for sql, args in rollups.sqlite_sketch_queries(table, keys):
            rows += self.conn.execute(sql, args).fetchall()
        return rollups.stored_pairs(rows)

    def upsert(self, table: str, rows: list[rollups.Row]) -> None:
        if rows:
            self.conn.executemany(rollups.sqlite_add_sql(table), rows)
