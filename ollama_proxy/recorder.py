"""The record pipeline: journal first, then one shipper per store.

    submit() -> bounded queue -> journal writer (frames, fsync every JOURNAL_TICK_S)
             -> shared journal on disk (store/segments.py)
             -> one shipper per store: reads its next batch back from its acknowledged
                position, writes it with a timeout, backs off with jitter on failure,
                acknowledges (cursor file), and the journal drops segments every store is past

`submit` is what the request path calls: O(1), never blocks, never raises. A full queue drops
the oldest record and counts it. A store that hangs or is down only holds back its own cursor:
the journal keeps being written and the other stores stay current; its backlog lives on disk,
and memory holds at most one batch per shipper. If the journal itself cannot be written (disk
full, read-only, EIO), batches go straight to the stores from a bounded overflow in memory,
and what the overflow has to drop is counted exactly.

In use: `recorder = Recorder(stores, settings)`, `await recorder.start()`,
`recorder.submit(record)`; tests `await recorder.flush()` instead of sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import random
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from ollama_proxy.config import Settings
from ollama_proxy.records import ContentRecord, MetricPoint, RequestRecord
from ollama_proxy.store.base import Store
from ollama_proxy.store.journal import Batch, Journal, encode, store_dir
from ollama_proxy.store.retention import RetentionLoop, run_pass
from ollama_proxy.store.segments import (
    Position,
    SegmentLog,
    frame,
    load_cursor,
    save_cursor,
)

log = structlog.get_logger("ollama_proxy.store")

JOURNAL_TICK_S = 0.25  # fsync at least this often: the bound on what a SIGKILL can lose
SHIP_INTERVAL_S = 0.5  # a store current within this (plus its write time) under light load
JOURNAL_RETRY_S = 1.0  # an unwritable journal is tried again this often
# A journal write (append and fsync) still running after this is given up (a hung disk or
# network volume): its batches go to the stores from the overflow, and no other write starts
# until it returns. Far above a healthy fsync, far below QUEUE_MAX_RECORDS' worth of traffic.
JOURNAL_APPEND_TIMEOUT_S = 10.0
BACKOFF_BASE_S = 0.5
BACKOFF_MAX_S = 10.0  # a down store costs one connection attempt per 10 s at most
MAX_ABANDONED = 2  # hung writes still running before a shipper stops starting new ones
LAG_DEGRADED_S = 10.0  # a store this far behind is reported degraded while it catches up
DROP_DEGRADED_S = 300.0  # health stays degraded this long after records were dropped
_STATE_VALUE = {"ok": 0, "degraded": 1, "down": 2}
HOT_FRAMES = 64  # frames just journaled, kept so a current shipper need not re-read them
CATCH_UP_RECORDS = 5000  # at most this many records (a few MB) in memory per shipper


@dataclass
class _Overflow:
    """A batch the journal could not take, waiting for the stores that still need it."""

    batch: Batch
    stores: set[int]


@dataclass
class _Pending:
    """What a shipper has read and not yet acknowledged."""

    batch: Batch
    end: Position | None  # the journal position after it (None: from the overflow)
    consumed: int  # records of `end`'s segment before `end`
    first_ms: int | None
    overflow: _Overflow | None = None


@dataclass
class Drops:
    """Records lost on purpose, counted exactly, and when it last happened."""

    queue_full: int = 0  # the in-process queue was full (the journal writer fell behind)
    queue_full_requests: int = 0  # of which request records
    overflow: int = 0  # the journal was unwritable and the overflow full (per store missed)
    last: float = 0.0
    episode: int = 0  # dropped since the last "dropping" log line


class Shipper:
    """One store's lane: its acknowledged position, retries and state."""

    def __init__(self, index: int, store: Store, recorder: Recorder) -> None:
        self.index = index
        self.store = store
        self.recorder = recorder
        slug = hashlib.sha256(store.url.encode()).hexdigest()[:12]
        root = Path(recorder.settings.journal_dir)
        self.cursor_path = root / "cursors" / f"{slug}.json"
        self.legacy = store_dir(root, store.url)  # a previous release's per-store segments
        self.position: Position = ("", 0)
        self.consumed = 0
        self.pending: _Pending | None = None
        self.failures = 0
        self.failed_attempts = 0
        self.next_try = 0.0
        self.last_error = ""
        self.last_success: float | None = None
        self.written = 0
        self.replayed = 0
        self.last_ship = 0.0
        self.dropped = 0  # records this store will never get (the overflow was full)
        self.dropped_requests = 0  # of which request records (the rest: metric points, text)
        self.abandoned: set[asyncio.Task[None]] = set()
        self.wake = asyncio.Event()
        self.kick = asyncio.Event()
        self.progress = asyncio.Condition()
        self.task: asyncio.Task[None] | None = None

    # --- the loop ---------------------------------------------------------------------------
    async def run(self) -> None:
        await self._replay_legacy()
        while True:
            try:
                if self.pending is None:
                    await self._pace()
                    self.pending = await self._next()
                if self.pending is None:
                    await self._notify()
                    await self.wake.wait()
                    self.wake.clear()
                    continue
                if await self._attempt(self.pending.batch):
                    await self._ack(self.pending)
                    self.pending = None
                else:
                    await self._notify()
                    await self._sleep_backoff()
            except asyncio.CancelledError:
                raise
            except Exception:  # the lane must survive anything a store or the disk does
                log.exception("shipper_error", store=self.store.url)
                await asyncio.sleep(1.0)

    async def _next(self) -> _Pending | None:
        """The next batch: from the journal (hot frames first), else from the overflow."""
        rec = self.recorder
        max_records = rec.ship_batch()
        position = rec.log.normalise(self.position)
        consumed = self.consumed if position[0] == self.position[0] else 0
        batch = Batch([], [], [])
        end, first_ms = position, None
        while len(batch) < max_records and (hot := rec.hot.get(end)) is not None:
            part, after, ms = hot
            _extend(batch, part)
            first_ms = ms if first_ms is None else first_ms
            end = after
        if not batch:
            result = await asyncio.to_thread(rec.log.read, position, max_records)
            batch, end, first_ms = result.batch, result.end, result.first_ms
            if result.start[0] != position[0]:
                position, consumed = result.start, 0
            if result.corrupt:  # the rest of that segment is in quarantine/: go on past it
                end = rec.log.normalise(end)
        if end != position or batch:
            consumed = 0 if end[0] != position[0] else consumed + len(batch)
            return _Pending(batch, end, consumed, first_ms)
        for entry in rec.overflow:
            if self.index in entry.stores:
                return _Pending(entry.batch, None, 0, None, overflow=entry)
        return None

    async def _pace(self) -> None:
        """At most one small write per SHIP_INTERVAL_S: a store write costs the proxy about
        the same CPU for 10 records as for 1,000, so a trickle is gathered for a moment (a
        full batch, a flush or close go at once)."""
        if self.kick.is_set():
            self.kick.clear()
            return
        wait = SHIP_INTERVAL_S - (time.monotonic() - self.last_ship)
        if wait <= 0 or self.backlog()[0] >= self.recorder.settings.batch_max_records:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait):
                await self.kick.wait()
        self.kick.clear()

    async def _attempt(self, batch: Batch) -> bool:
        """One bounded try; a write still hanging at the timeout is abandoned, not awaited."""
        if not batch:
            return True
        self.abandoned = {t for t in self.abandoned if not t.done()}
        if len(self.abandoned) >= MAX_ABANDONED:
            self._failed("earlier writes still hang: waiting before another try")
            return False
        task = asyncio.create_task(self.recorder.write(self.store, batch))
        try:
            done, _ = await asyncio.wait(
                {task}, timeout=self.recorder.settings.store_write_timeout_s
            )
        except asyncio.CancelledError:
            task.cancel()
            raise
        if not done:
            task.cancel()
            task.add_done_callback(_consume)
            self.abandoned.add(task)
            self._failed(
                f"TimeoutError: no answer in {self.recorder.settings.store_write_timeout_s} s"
            )
            return False
        error = task.exception()
        if error is not None:
            self._failed(f"{type(error).__name__}: {error}")
            return False
        if self.failures:
            self.replayed += len(batch)
            log.info("store_recovered", store=self.store.url, after_failures=self.failures)
        self.failures = 0
        self.last_error = ""
        self.last_success = time.time()
        self.written += len(batch.requests)
        self.last_ship = time.monotonic()
        return True

    def _failed(self, error: str) -> None:
        self.failures += 1
        self.failed_attempts += 1
        self.last_error = error
        delay = min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2 ** (self.failures - 1))
        self.next_try = time.monotonic() + delay * random.uniform(0.5, 1.0)
        records, _size = self.backlog()
        log.warning(
            "store_write_failed",
            store=self.store.url,
            error=error,
            backlog_records=records,
            retry_in_s=round(self.next_try - time.monotonic(), 2),
        )

    async def _sleep_backoff(self) -> None:
        self.kick.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(0.0, self.next_try - time.monotonic())):
                await self.kick.wait()

    async def _ack(self, pending: _Pending) -> None:
        rec = self.recorder
        if pending.overflow is not None:
            pending.overflow.stores.discard(self.index)
            rec.prune_overflow()
        else:
            assert pending.end is not None
            self.position, self.consumed = pending.end, pending.consumed
            await asyncio.to_thread(
                save_cursor, self.cursor_path, self.position, self.consumed, self.store.url
            )
            await rec.collect()
        await self._notify()

    async def _notify(self) -> None:
        async with self.progress:
            self.progress.notify_all()

    # --- waiting for it (flush, close) ------------------------------------------------------
    def caught_up(self, target: Position) -> bool:
        if self.pending is not None:
            return False
        if any(self.index in entry.stores for entry in self.recorder.overflow):
            return False
        return self.recorder.log.normalise(self.position) >= target or self.position >= target

    async def settle(self, target: Position) -> None:
        """Until this store has everything up to `target`, or one more attempt failed."""
        failed = self.failed_attempts
        self.wake.set()
        self.kick.set()
        async with self.progress:
            await self.progress.wait_for(
                lambda: self.caught_up(target) or self.failed_attempts > failed
            )

    # --- a previous release's journal -------------------------------------------------------
    async def _replay_legacy(self) -> None:
        """Segments the per-store journal of the previous release left: shipped, then gone."""
        if not self.legacy.is_dir():
            return
        journal = Journal(self.legacy)
        for segment in journal.segments():
            try:
                batch = await asyncio.to_thread(journal.read, segment)
                if not batch and segment.stat().st_size:
                    raise ValueError("no record could be decoded")
            except Exception as exc:
                self.recorder.quarantine_legacy(segment, exc)
                continue
            while not await self._attempt(batch):
                await self._sleep_backoff()
            journal.remove([segment])

    # --- reporting ----------------------------------------------------------------------------
    def backlog(self) -> tuple[int, int]:
        records, size = self.recorder.log.backlog(self.position, self.consumed)
        records += sum(len(e.batch) for e in self.recorder.overflow if self.index in e.stores)
        return records, size

    def backlog_age_s(self) -> float:
        if self.pending is not None:
            stamp = self.pending.first_ms
        elif self.recorder.log.backlog(self.position, self.consumed)[0]:
            stamp = self.recorder.log.first_ms(self.position)
        else:
            return 0.0
        return max(0.0, time.time() - stamp / 1000) if stamp is not None else 0.0

    def state(self, age_s: float) -> str:
        if self.failures:
            return "down"
        if age_s > LAG_DEGRADED_S or self.recorder.degraded_reason():
            return "degraded"
        return "ok"


def _hung_append_ended(append: asyncio.Future[Position]) -> None:
    error = None if append.cancelled() else append.exception()
    log.warning("journal_hung_write_returned", error=str(error) if error else None)


class Recorder:
    def __init__(self, stores: list[Store], settings: Settings) -> None:
        self.settings = settings
        self._requests: deque[RequestRecord] = deque(maxlen=settings.queue_max_records)
        self._metrics: deque[MetricPoint] = deque(maxlen=settings.queue_max_records)
        self._contents: deque[ContentRecord] = deque(maxlen=settings.queue_max_records)
        self.log = SegmentLog(Path(settings.journal_dir))
        self.shippers = [Shipper(i, store, self) for i, store in enumerate(stores)]
        self.retention = RetentionLoop(stores)  # RETENTION_DAYS etc. on the stores that delete
        self.overflow: deque[_Overflow] = deque()
        self.hot: OrderedDict[Position, tuple[Batch, Position, int]] = OrderedDict()
        self.drops = Drops()
        self.journal_error = ""
        self._journal_tried = 0.0
        self.submitted = 0
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._journaling: asyncio.Future[None] | None = None
        self._hung_append: asyncio.Future[Position] | None = None
        self._io = asyncio.Lock()
        self._collecting = asyncio.Lock()
        self._last_drop_warning = 0.0
        self._batch_ready = False
        self._idle = False  # the writer waits for a record, not for its tick

    @property
    def dropped(self) -> int:
        return self.drops.queue_full + self.drops.overflow

    # --- the request path -------------------------------------------------------------------
    def submit(self, record: RequestRecord) -> None:
        if len(self._requests) == self._requests.maxlen:
            self._dropped()
            self.drops.queue_full_requests += 1
        self._requests.append(record)  # a full deque drops its oldest item
        self.submitted += 1
        if self._idle:
            self._end_idle()
        if len(self._requests) >= self.settings.batch_max_records and not self._batch_ready:
            self._batch_ready = True
            self._wake.set()

    def submit_metric(self, point: MetricPoint) -> None:
        if len(self._metrics) == self._metrics.maxlen:
            self._dropped()
        self._metrics.append(point)
        if self._idle:
            self._end_idle()

    def submit_content(self, item: ContentRecord) -> None:
        """CAPTURE_CONTENT only: redacted prompt and response text of one request."""
        if len(self._contents) == self._contents.maxlen:
            self._dropped()
        self._contents.append(item)
        if self._idle:
            self._end_idle()

    def _end_idle(self) -> None:
        self._idle = False
        self._wake.set()

    def _dropped(self) -> None:
        self.drops.queue_full += 1
        self.drops.last = time.monotonic()
        now = time.monotonic()
        if now - self._last_drop_warning > 60:
            self._last_drop_warning = now
            log.warning("record_queue_full_dropping_oldest", dropped_total=self.dropped)

    # --- lifecycle -----------------------------------------------------------------------
    async def start(self) -> None:
        floor = []
        for shipper in self.shippers:
            cursor = await asyncio.to_thread(load_cursor, shipper.cursor_path)
            if cursor is not None:
                (shipper.position, shipper.consumed) = cursor
                floor.append(shipper.position[0])
        try:
            await asyncio.to_thread(self.log.load, floor)
        except OSError as exc:  # an unwritable journal must not stop the proxy: overflow
            self.journal_error = f"{type(exc).__name__}: {exc}"
            log.error("journal_unwritable", error=str(exc), overflow_max=self._overflow_max())
        start = self.log.start()
        for shipper in self.shippers:
            if shipper.position == ("", 0) or shipper.position < start:
                shipper.position, shipper.consumed = start, 0
            shipper.task = asyncio.create_task(shipper.run(), name=f"shipper {shipper.store.url}")
        self._writer = asyncio.create_task(self._write_loop(), name="journal writer")
        self.retention.start()

    async def close(self) -> None:
        """Journal everything queued, give the stores a last bounded chance, then stop."""
        await self.retention.close()
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
        if self._journaling is not None and not self._journaling.done():
            with contextlib.suppress(Exception):
                await self._journaling  # the batch the cancel interrupted
        await self._journal_queue()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(10):
                await self._settle_all()
        for shipper in self.shippers:
            if shipper.task is not None:
                shipper.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await shipper.task
            for task in shipper.abandoned:
                task.cancel()
        try:
            async with asyncio.timeout(JOURNAL_APPEND_TIMEOUT_S):
                await asyncio.to_thread(self.log.close)
        except TimeoutError:  # the disk still hangs: the open segment is sealed at next start
            log.warning("journal_close_timed_out", timeout_s=JOURNAL_APPEND_TIMEOUT_S)

    async def flush(self) -> None:
        """Journal the queue and let every store take it now (one try each, no backoff).
        Starts the recorder first if it was not."""
        if self._writer is None:
            await self.start()
        await self._journal_queue()
        await self._settle_all()
        if self.settings.capture_content:  # captured text is purged at the next flush
            await run_pass([s.store for s in self.shippers], ["request_content"])

    async def _settle_all(self) -> None:
        target = self.log.end()
        await asyncio.gather(*(s.settle(target) for s in self.shippers if s.task is not None))

    # --- the journal writer ------------------------------------------------------------------
    async def _write_loop(self) -> None:
        while True:
            if not self._requests and not self._metrics and not self._contents:
                # Nothing to journal: sleep until a record comes (an idle proxy's wake-ups
                # were mostly this tick), then gather for a tick from that first record.
                self._idle = True
                await self._wake.wait()
                self._wake.clear()
            if not self._batch_ready:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(JOURNAL_TICK_S):
                        await self._wake.wait()
            self._wake.clear()
            self._batch_ready = False
            try:
                await self._journal_queue()
            except Exception:  # the writer must survive anything the disk does
                log.exception("journal_writer_error")

    async def _journal_queue(self) -> None:
        async with self._io:
            if not self._requests and not self._metrics and not self._contents:
                return
            batches = _frames(
                _drain(self._requests),
                _drain(self._metrics),
                _drain(self._contents),
                self.settings.batch_max_records,
            )
            # Encoding is CPU work: done here, on the loop, in one go. Only the write and the
            # fsync (which release the GIL) go to a thread.
            now_ms = int(time.time() * 1000)
            frames = [frame(encode(b), len(b), now_ms) for b in batches]
            # Shielded: close() cancels the writer, maybe in the middle of this write; the
            # batch must still be journaled and then shipped.
            self._journaling = asyncio.ensure_future(self._append(batches, frames, now_ms))
            await asyncio.shield(self._journaling)

    async def _append(self, batches: list[Batch], frames: list[bytes], now_ms: int) -> None:
        counts = [len(b) for b in batches]
        now = time.monotonic()
        try:
            if self._hung_append is not None and not self._hung_append.done():
                raise OSError("the journal's last write still hangs")
            if self.journal_error and now - self._journal_tried < JOURNAL_RETRY_S:
                raise OSError(self.journal_error)  # a failing disk is tried once a second
            self._journal_tried = now
            start = await self._bounded_append(frames, counts, now_ms)
        except OSError as exc:
            self._journal_failed(batches, exc)
        else:
            if self.journal_error:
                log.warning("journal_writable_again", after=self.journal_error)
                self.journal_error = ""
            name, offset = start
            for batch, chunk in zip(batches, frames, strict=True):
                self.hot[(name, offset)] = (batch, (name, offset + len(chunk)), now_ms)
                offset += len(chunk)
            while len(self.hot) > HOT_FRAMES:
                self.hot.popitem(last=False)
        for shipper in self.shippers:
            shipper.wake.set()

    async def _bounded_append(
        self, frames: list[bytes], counts: list[int], now_ms: int
    ) -> Position:
        """`log.append` in a thread, given up after JOURNAL_APPEND_TIMEOUT_S. The thread
        cannot be stopped: it is kept, and no write starts until it returns. Its frames, if it
        ever writes them, are shipped again from the journal: the stores take a record once."""
        append = asyncio.ensure_future(asyncio.to_thread(self.log.append, frames, counts, now_ms))
        try:
            async with asyncio.timeout(JOURNAL_APPEND_TIMEOUT_S):
                return await asyncio.shield(append)
        except TimeoutError:
            self._hung_append = append
            append.add_done_callback(_hung_append_ended)
            raise OSError(f"journal write hung for {JOURNAL_APPEND_TIMEOUT_S:g} s") from None

    def _journal_failed(self, batches: list[Batch], exc: OSError) -> None:
        """Straight to the stores, through a bounded overflow; what it drops is counted."""
        if not self.journal_error:
            log.error("journal_unwritable", error=str(exc), overflow_max=self._overflow_max())
            self.journal_error = f"{type(exc).__name__}: {exc}"
        everyone = {s.index for s in self.shippers}
        for batch in batches:
            self.overflow.append(_Overflow(batch, set(everyone)))
        self.prune_overflow()

    def _overflow_max(self) -> int:
        return self.settings.queue_max_records

    def prune_overflow(self) -> None:
        """Forget delivered entries, then drop the oldest until the overflow fits its bound.

        An entry a shipper is writing right now is kept (at most one per store beyond the
        bound). Each drop is counted for every store that still needed it.
        """
        self.overflow = deque(e for e in self.overflow if e.stores)
        size = sum(len(e.batch) for e in self.overflow)
        busy = [s.pending.overflow for s in self.shippers if s.pending is not None]
        kept: deque[_Overflow] = deque()
        while self.overflow:
            entry = self.overflow.popleft()
            if size <= self._overflow_max() or any(entry is b for b in busy):
                kept.append(entry)
                continue
            size -= len(entry.batch)
            for shipper in self.shippers:
                if shipper.index in entry.stores:
                    shipper.dropped += len(entry.batch)
                    shipper.dropped_requests += len(entry.batch.requests)
            self.drops.overflow += len(entry.batch)
            self.drops.episode += len(entry.batch)
            self.drops.last = time.monotonic()
        self.overflow = kept
        if self.drops.episode and (not self.journal_error or not self.overflow):
            log.error("journal_overflow_dropped", records=self.drops.episode)
            self.drops.episode = 0

    async def collect(self) -> None:
        """Delete the segments every store has acknowledged."""
        if self._collecting.locked():
            return  # one pass at a time; the next ack collects what this one misses
        async with self._collecting:
            positions = [s.position for s in self.shippers]
            await asyncio.to_thread(self.log.collect, positions)
            for key in [k for k in self.hot if k < min(positions, default=("", 0))]:
                del self.hot[key]

    def quarantine_legacy(self, segment: Path, exc: BaseException) -> None:
        target = self.log.quarantine_dir / f"{segment.parent.name}-{segment.name}"
        target.parent.mkdir(parents=True, exist_ok=True)
        segment.replace(target)
        self.log.quarantined += 1
        log.error("journal_segment_quarantined", segment=str(segment.name), reason=str(exc))

    # --- writing one batch to one store (what a shipper calls) -------------------------------
    def ship_batch(self) -> int:
        """Records a shipper reads and writes at once. Catching up after an outage, a store
        takes much more per second in large inserts (one transaction, one fsync each)."""
        return max(self.settings.batch_max_records, CATCH_UP_RECORDS)

    async def write(self, store: Store, batch: Batch) -> None:
        size = self.ship_batch()
        for start in range(0, len(batch.requests), size):
            await store.write_requests(batch.requests[start : start + size])
        for start in range(0, len(batch.metrics), size):
            await store.write_metrics(batch.metrics[start : start + size])
        for start in range(0, len(batch.contents), size):
            await store.write_content(batch.contents[start : start + size])

    # --- reporting -----------------------------------------------------------------------
    def degraded_reason(self) -> str:
        if self.journal_error:
            return f"journal unwritable: {self.journal_error}"
        if self.drops.last and time.monotonic() - self.drops.last < DROP_DEGRADED_S:
            return f"{self.dropped} records dropped"
        return ""

    def health(self) -> list[dict[str, Any]]:
        report = []
        reason = self.degraded_reason()
        for shipper in self.shippers:
            entry = dict(shipper.store.health())
            records, size = shipper.backlog()
            age = shipper.backlog_age_s()
            state = shipper.state(age)
            entry.update(
                {
                    "healthy": state != "down",
                    "state": state,
                    "error": shipper.last_error or (reason if state == "degraded" else None),
                    "last_error": shipper.last_error or None,
                    "backlog_records": records,
                    "backlog_bytes": size,
                    "backlog_age_s": round(age, 3),
                    # the previous keys: a backlog behind a failing store is a health fact
                    "journal_records": records if state != "ok" else 0,
                    "journal_segments": self.log.segment_count(),
                    "written": shipper.written,
                    "failures": shipper.failures,
                    "dropped": self.drops.queue_full + shipper.dropped,
                    "dropped_requests": self.drops.queue_full_requests + shipper.dropped_requests,
                    "quarantined": self.log.quarantined,
                }
            )
            if shipper.last_success is not None:
                entry["last_success"] = shipper.last_success
            report.append(entry)
        return report

    def register_gauges(self, telemetry: Any) -> None:
        """The health of each store as metrics (Prometheus /metrics, OTLP, JSON snapshot)."""
        from ollama_proxy.telemetry import names as n

        def per_store(key: str, scale: float = 1.0) -> Callable[[], list[Any]]:
            def read() -> list[Any]:
                return [
                    (float(_STATE_VALUE.get(h[key], h[key]) if key == "state" else h[key]) * scale,
                     {"store": h["url"], "store.kind": h["kind"]})
                    for h in self.health()
                ]  # fmt: skip

            return read

        telemetry.register_gauge(
            n.STORE_STATE, "1", "Store state: 0 ok, 1 degraded, 2 down", per_store("state")
        )
        telemetry.register_gauge(
            n.STORE_BACKLOG_RECORDS,
            "{record}",
            "Records journaled and not yet in the store",
            per_store("backlog_records"),
        )
        telemetry.register_gauge(
            n.STORE_BACKLOG_BYTES, "By", "Journal bytes the store still needs",
            per_store("backlog_bytes"),
        )  # fmt: skip
        telemetry.register_gauge(
            n.STORE_BACKLOG_AGE,
            "s",
            "Age of the oldest record not yet in the store",
            per_store("backlog_age_s"),
        )
        telemetry.register_counter(
            n.RECORDS_DROPPED, "{record}", "Records a store will never get (queue or overflow "
            "full)", per_store("dropped"),
        )  # fmt: skip
        telemetry.register_counter(
            n.JOURNAL_QUARANTINED,
            "{segment}",
            "Journal segments moved to quarantine/ (undecodable)",
            lambda: float(self.log.quarantined),
        )

    def stats(self) -> dict[str, int]:
        return {
            "queued": len(self._requests) + len(self._metrics) + len(self._contents),
            "submitted": self.submitted,
            "dropped": self.dropped,
            "written": sum(s.written for s in self.shippers),
        }


def _frames(
    requests: list[RequestRecord],
    metrics: list[MetricPoint],
    contents: list[ContentRecord],
    size: int,
) -> list[Batch]:
    """The drained queue as batches of at most `size` records (one frame each).

    >>> [len(b) for b in _frames([RequestRecord()] * 5, [], [], 2)]
    [2, 2, 1]
    """
    batches = [Batch(requests[i : i + size], [], []) for i in range(0, len(requests), size)]
    if batches and len(batches[-1]) + len(metrics) + len(contents) <= size:
        batches[-1].metrics, batches[-1].contents = metrics, contents
        return batches
    batches += [Batch([], metrics[i : i + size], []) for i in range(0, len(metrics), size)]
    batches += [Batch([], [], contents[i : i + size]) for i in range(0, len(contents), size)]
    return batches


def _extend(batch: Batch, part: Batch) -> None:
    batch.requests.extend(part.requests)
    batch.metrics.extend(part.metrics)
    batch.contents.extend(part.contents)


def _consume(task: asyncio.Task[None]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved: an abandoned write's error is already reported


def _drain(queue: deque[Any]) -> list[Any]:
    items = list(queue)
    queue.clear()
    return items
