"""GET /api/stats/live: snapshots as Server-Sent Events, built once for every subscriber.

One producer task runs while at least one client subscribes: it builds a snapshot every
`interval_s`, or sooner when a request arrives, answers or leaves (see early_gap), serializes
it once and hands the same bytes to every subscriber. Nobody subscribed: no task, no work.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Collection, Mapping
from datetime import UTC, datetime

import orjson
import structlog
from aiohttp import web

from ollama_proxy.live import snapshot
from ollama_proxy.live.snapshot import LoadedModel
from ollama_proxy.live.tracker import LiveTracker

log = structlog.get_logger("ollama_proxy.api")

MAX_SUBSCRIBERS = 64  # each costs a connection and a copy per snapshot; dashboards need few
KEEPALIVE_S = 15.0  # a comment line through idle proxies when no snapshot came
# A subscriber whose connection takes no bytes for this long is let go: a dashboard that
# vanished without closing (or never reads) would hold its slot and its handler forever.
WRITE_TIMEOUT_S = 2 * KEEPALIVE_S
# The closest two snapshots come: a burst of arrivals and departures becomes one snapshot, and
# steady ones (a busy box) cost at most 4 snapshots a second, not one per change.
MIN_GAP_S = 0.25
# What snapshots brought forward by changes may write, to all subscribers together: writing
# the snapshots costs the proxy more than building them, so large ones (many requests, many
# pages open) come at the regular interval only.
EARLY_BYTES_PER_S = 256 * 1024
CLIENT_GONE = (ConnectionResetError, BrokenPipeError)

LoadedSource = Callable[[], list[LoadedModel] | None]
# A fleet: per node that answered /api/ps, the models it holds (None without a fleet).
NodesSource = Callable[[], Mapping[str, Collection[str]] | None]


class LiveFeed:
    """Broadcasts snapshots of `tracker` to subscribers.

    >>> feed = LiveFeed(LiveTracker(), slots=1, interval_s=0.5)
    >>> feed.tracker.subscribers
    0
    """

    def __init__(
        self,
        tracker: LiveTracker,
        slots: int,
        interval_s: float,
        loaded: LoadedSource | None = None,
        min_gap_s: float = MIN_GAP_S,
        nodes: NodesSource | None = None,
    ) -> None:
        self.tracker = tracker
        self._slots = slots
        self._interval = interval_s
        self._min_gap = min(min_gap_s, interval_s)
        self._loaded = loaded or (lambda: None)
        self._nodes = nodes or (lambda: None)
        self._queues: set[asyncio.Queue[bytes]] = set()
        self._task: asyncio.Task[None] | None = None

    def build(self) -> bytes:
        data = snapshot.build(
            list(self.tracker.entries.values()),
            time.perf_counter(),
            datetime.now(UTC),
            self.tracker.rates,
            self._slots,
            self._loaded(),
            self._nodes(),
        )
        return b"data: " + orjson.dumps(data) + b"\n\n"

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[bytes]]:
        if len(self._queues) >= MAX_SUBSCRIBERS:
            raise web.HTTPServiceUnavailable(reason="too many live subscribers")
        queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=1)
        queue.put_nowait(self.build())  # the first snapshot at once
        self._queues.add(queue)
        self.tracker.subscribers = len(self._queues)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._produce())
        try:
            yield queue
        finally:
            self._queues.discard(queue)
            self.tracker.subscribers = len(self._queues)

    async def _produce(self) -> None:
        """A snapshot `interval` after the last one, or sooner (see early_gap) when a request
        arrived, answered or left since."""
        changed = self.tracker.changed
        loop = asyncio.get_running_loop()
        last, size = loop.time(), 0  # subscribe() sent the first snapshot
        while self._queues:
            left = last + self._interval - loop.time()
            if left > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(left):
                        await changed.wait()
            gap = early_gap(size, len(self._queues), self._min_gap, self._interval)
            wait = last + gap - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)  # the changes of a burst become one snapshot
            if not self._queues:
                break
            changed.clear()  # what changes from here on is in the next snapshot
            last = loop.time()
            try:
                data = self.build()
                size = len(data)
                self._publish(data)
            except Exception:  # a snapshot bug must not end the feed or touch requests
                log.exception("live_snapshot_failed")

    def _publish(self, data: bytes) -> None:
        for queue in self._queues:
            if queue.full():  # a slow reader gets the newest snapshot, not a backlog
                queue.get_nowait()
            queue.put_nowait(data)

    async def close(self) -> None:
        """Ends every subscriber's stream (shutdown must not wait for open dashboards)."""
        for queue in self._queues:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(b"")
        self._queues.clear()
        self.tracker.subscribers = 0
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def early_gap(size: int, subscribers: int, min_gap: float, interval: float) -> float:
    """How soon after a snapshot of `size` bytes a change may bring the next one.

    >>> early_gap(2_000, 1, 0.25, 0.5)  # a few requests, one page open
    0.25
    >>> early_gap(33_000, 10, 0.25, 0.5)  # 128 requests, ten pages: the regular ticks only
    0.5
    """
    return min(interval, max(min_gap, size * subscribers / EARLY_BYTES_PER_S))


LIVE_FEED: web.AppKey[LiveFeed] = web.AppKey("live_feed", LiveFeed)


async def live(request: web.Request) -> web.StreamResponse:
    feed = request.app[LIVE_FEED]
    async with feed.subscribe() as queue:
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",  # nginx: pass events through at once
            }
        )
        await response.prepare(request)
        try:
            while True:
                try:
                    async with asyncio.timeout(KEEPALIVE_S):
                        data = await queue.get()
                except TimeoutError:
                    data = b": keepalive\n\n"
                if not data:  # the feed closed
                    break
                async with asyncio.timeout(WRITE_TIMEOUT_S):
                    await response.write(data)
        except CLIENT_GONE:
            pass
        except TimeoutError:
            log.info("live_subscriber_stalled", timeout_s=WRITE_TIMEOUT_S)
            if request.transport is not None:
                request.transport.abort()  # close() would wait to flush to a reader that never does
    return response


def add_live_routes(app: web.Application, feed: LiveFeed) -> None:
    app[LIVE_FEED] = feed
    app.router.add_get("/api/stats/live", live)

    async def close(app: web.Application) -> None:
        await feed.close()

    app.on_shutdown.append(close)
