"""The record pipeline: a bounded in-process queue, a write-ahead journal, batched store writes.

`submit` is what the request path calls: O(1), never blocks, never raises. A full queue drops
the oldest record and counts it. Every second the queue is moved into each store's journal
(fsynced), and every METRICS_EXPORT_INTERVAL seconds (or at BATCH_MAX_RECORDS) the journals
are written to their stores in order; a store that fails is retried with exponential backoff
and jitter while its journal grows on disk, and catches up in order when it returns.

>>> # tests: recorder = Recorder(stores, settings); await recorder.start(); ...
>>> # recorder.submit(record); await recorder.flush()   # instead of sleeping
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import structlog

from ollama_proxy.config import Settings
from ollama_proxy.records import ContentRecord, MetricPoint, RequestRecord
from ollama_proxy.store.base import Store
from ollama_proxy.store.journal import Batch, Journal, encode, store_dir

log = structlog.get_logger("ollama_proxy.store")

JOURNAL_TICK_S = 1.0  # bound on what a SIGKILL can lose
BACKOFF_BASE_S = 0.5
BACKOFF_MAX_S = 30.0


@dataclass
class _Lane:
    """One store and its journal, with its retry state."""

    store: Store
    journal: Journal
    failures: int = 0
    next_try: float = 0.0
    written: int = 0
    replayed: int = 0
    pending: dict[Path, Batch] = field(default_factory=dict)  # segments still in memory
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def backoff(self) -> None:
        self.failures += 1
        delay = min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2 ** (self.failures - 1))
        self.next_try = time.monotonic() + delay * random.uniform(0.5, 1.0)


class Recorder:
    def __init__(self, stores: list[Store], settings: Settings) -> None:
        self._settings = settings
        self._requests: deque[RequestRecord] = deque(maxlen=settings.queue_max_records)
        self._metrics: deque[MetricPoint] = deque(maxlen=settings.queue_max_records)
        self._contents: deque[ContentRecord] = deque(maxlen=settings.queue_max_records)
        self._lanes = [
            _Lane(store, Journal(store_dir(settings.journal_dir, store.url))) for store in stores
        ]
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._journaling: asyncio.Future[None] | None = None
        self._io = asyncio.Lock()
        self.dropped = 0
        self.submitted = 0
        self._batch_ready = False
        self._last_drop_warning = 0.0

    # --- the request path -------------------------------------------------------------------
    def submit(self, record: RequestRecord) -> None:
        if len(self._requests) == self._requests.maxlen:
            self._dropped()
        self._requests.append(record)  # a full deque drops its oldest item
        self.submitted += 1
        if len(self._requests) >= self._settings.batch_max_records:
            self._batch_ready = True
            self._wake.set()

    def submit_metric(self, point: MetricPoint) -> None:
        if len(self._metrics) == self._metrics.maxlen:
            self._dropped()
        self._metrics.append(point)

    def submit_content(self, item: ContentRecord) -> None:
        """CAPTURE_CONTENT only: redacted prompt and response text of one request."""
        if len(self._contents) == self._contents.maxlen:
            self._dropped()
        self._contents.append(item)

    def _dropped(self) -> None:
        self.dropped += 1
        now = time.monotonic()
        if now - self._last_drop_warning > self._settings.metrics_export_interval:
            self._last_drop_warning = now
            log.warning("record_queue_full_dropping_oldest", dropped_total=self.dropped)

    # --- lifecycle -----------------------------------------------------------------------
    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="recorder")

    async def close(self) -> None:
        """Journal everything queued, then give the stores a last bounded chance."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._journaling is not None and not self._journaling.done():
            try:
                await self._journaling  # the batch the cancel interrupted
            except Exception:
                log.exception("journal_write_failed")
        await self._journal_queue()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._push_all(force=True), timeout=10)

    async def flush(self) -> None:
        """Journal the queue and write every journal to its store now."""
        await self._journal_queue()
        await self._push_all(force=True)

    # --- the loop ----------------------------------------------------------------------------
    async def _run(self) -> None:
        last_push = time.monotonic()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), JOURNAL_TICK_S)
            self._wake.clear()
            try:
                await self._journal_queue()
                due = time.monotonic() - last_push >= self._settings.metrics_export_interval
                if due or self._batch_ready:
                    self._batch_ready = False
                    last_push = time.monotonic()
                    await self._push_all(force=False)
            except Exception:  # the loop must survive anything a store or the disk does
                log.exception("recorder_loop_error")

    async def _journal_queue(self) -> None:
        async with self._io:
            if not self._requests and not self._metrics and not self._contents:
                return
            batch = Batch(_drain(self._requests), _drain(self._metrics), _drain(self._contents))
            # Encoding is CPU work: done here, on the loop, in one go. Only the write and the
            # fsync (which release the GIL) go to a thread, so the proxy's loop is not kept
            # waiting on a CPU-bound thread for the GIL.
            data = encode(batch)
            # Shielded: close() cancels the loop, maybe in the middle of this write (an fsync
            # on a busy disk takes a while); the batch must still be journaled and then pushed.
            self._journaling = asyncio.ensure_future(self._append(batch, data))
            await asyncio.shield(self._journaling)

    async def _append(self, batch: Batch, data: bytes) -> None:
        for lane in self._lanes:
            path = lane.journal.new_segment()
            await asyncio.to_thread(lane.journal.append, batch, path, data)
            lane.pending[path] = batch

    async def _push_all(self, *, force: bool) -> None:
        await asyncio.gather(*(self._push(lane, force) for lane in self._lanes))

    async def _push(self, lane: _Lane, force: bool) -> None:
        if not force and time.monotonic() < lane.next_try:
            return
        async with lane.lock:
            for segment in lane.journal.segments():
                batch = lane.pending.get(segment) or lane.journal.read(segment)
                try:
                    await self._write(lane.store, batch)
                except Exception as exc:
                    lane.backoff()
                    log.warning(
                        "store_write_failed",
                        store=lane.store.url,
                        error=f"{type(exc).__name__}: {exc}",
                        journal_segments=lane.journal.backlog(),
                        retry_in_s=round(lane.next_try - time.monotonic(), 2),
                    )
                    return
                if lane.failures:
                    lane.replayed += len(batch)
                lane.written += len(batch.requests)
                lane.journal.remove([segment])
                lane.pending.pop(segment, None)
            if lane.failures:
                log.info("store_recovered", store=lane.store.url, replayed=lane.replayed)
            lane.failures = 0
            await self._purge_content(lane)

    async def _purge_content(self, lane: _Lane) -> None:
        if not self._settings.capture_content:
            return
        cutoff = datetime.now(UTC) - timedelta(days=self._settings.capture_retention_days)
        try:
            await lane.store.purge_content(cutoff)
        except Exception as exc:  # retried at the next push
            log.warning("content_purge_failed", store=lane.store.url, error=str(exc))

    async def _write(self, store: Store, batch: Batch) -> None:
        size = self._settings.batch_max_records
        for start in range(0, len(batch.requests), size):
            await store.write_requests(batch.requests[start : start + size])
        for start in range(0, len(batch.metrics), size):
            await store.write_metrics(batch.metrics[start : start + size])
        for start in range(0, len(batch.contents), size):
            await store.write_content(batch.contents[start : start + size])

    # --- reporting -----------------------------------------------------------------------
    def health(self) -> list[dict[str, Any]]:
        report = []
        for lane in self._lanes:
            entry = dict(lane.store.health())
            entry["journal_segments"] = lane.journal.backlog()
            # The journal is also the write-ahead log, so segments exist in normal operation;
            # only a backlog behind a failing store is a health fact.
            entry["journal_records"] = entry["journal_segments"] if lane.failures else 0
            entry["written"] = lane.written
            entry["failures"] = lane.failures
            report.append(entry)
        return report

    def stats(self) -> dict[str, int]:
        return {
            "queued": len(self._requests) + len(self._metrics),
            "submitted": self.submitted,
            "dropped": self.dropped,
            "written": sum(lane.written for lane in self._lanes),
        }


def _drain(queue: deque[Any]) -> list[Any]:
    items = list(queue)
    queue.clear()
    return items
