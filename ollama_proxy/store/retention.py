"""Retention: which rows each store deletes, and the background pass that deletes them.

A store that deletes rows itself (SQLite, plain PostgreSQL) lists `RetentionRule`s: a table,
its indexed timestamp column and a getter of the number of days to keep. The getter is read at
every pass, so a change through POST /api/config applies at the next pass, which the change
triggers at once. Other modules add their own tables to the same pass:

    store.retention_rules.append(
        RetentionRule("request_rollup_hour", "bucket", lambda: settings.rollup_retention_days,
                      epoch=True)
    )

Deletes go in batches of `BATCH_ROWS` rows, each its own short transaction, with a pause
between them, so the store's writers (the shipper's inserts) are never held up for long.
Stores with their own mechanism (ClickHouse TTL, TimescaleDB retention policies) implement
`apply_retention` by updating that mechanism instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import structlog

log = structlog.get_logger("ollama_proxy.store")

BATCH_ROWS = 500
PAUSE_S = 0.05  # between two delete batches: the writers get the database in between
INTERVAL_S = 3600.0  # one pass an hour (and one at once after a retention change)
FIRST_PASS_S = 30.0  # after start: not while the proxy is still opening everything
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")


@dataclass(frozen=True)
class RetentionRule:
    """Rows of `table` whose `column` is older than `days()` days are deleted (0: keep all)."""

    table: str
    column: str
    days: Callable[[], int]
    epoch: bool = False  # the column holds Unix seconds (rollup buckets), not a timestamp

    def __post_init__(self) -> None:
        for name in (self.table, self.column):
            if not _IDENTIFIER.match(name):  # both are spliced into SQL: code constants only
                raise ValueError(f"not a plain SQL identifier: {name!r}")


class RetainingStore(Protocol):
    url: str

    async def apply_retention(self, tables: Sequence[str] | None = None) -> dict[str, int]: ...


async def run_pass(stores: Sequence[Any], tables: Sequence[str] | None = None) -> dict[str, Any]:
    """One pass over every store that has retention; rows deleted per store and table."""
    report: dict[str, Any] = {}
    for store in stores:
        apply = getattr(store, "apply_retention", None)
        if apply is None:
            continue
        started = time.monotonic()
        try:
            deleted = await apply(tables)
        except Exception as exc:  # retried at the next pass
            log.warning("retention_pass_failed", store=store.url, error=str(exc))
            report[store.url] = {"error": str(exc)}
            continue
        report[store.url] = deleted
        if any(deleted.values()):
            log.info(
                "retention_pass",
                store=store.url,
                deleted=deleted,
                seconds=round(time.monotonic() - started, 3),
            )
    return report


class RetentionLoop:
    """The background pass: hourly, and at once when `trigger()` is called."""

    def __init__(self, stores: Sequence[Any]) -> None:
        self.stores = stores
        self._now = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.passes = 0
        self.last: dict[str, Any] = {}

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="retention")

    def trigger(self) -> None:
        self._now.set()

    async def _run(self) -> None:
        wait = FIRST_PASS_S
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._now.wait()
            self._now.clear()
            self.last = await run_pass(self.stores)
            self.passes += 1
            wait = INTERVAL_S

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
