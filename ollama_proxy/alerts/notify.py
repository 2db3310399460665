"""Notifiers: one bounded queue and one sender task per target, retries with backoff.

`Dispatcher.send` is synchronous and never waits: it puts the event on each target's queue
(a full queue drops the event and counts it). Each target's task posts with a total timeout,
retries with exponential backoff and jitter, and gives up after MAX_ATTEMPTS, so a notifier
that hangs or fails holds only its own task and its own connection pool, never the proxy's.

In use: `dispatcher = Dispatcher([parse_target(url)], instance="gpu1", link=...)`, then
`await dispatcher.start()`, `dispatcher.send("firing", alert)`, `await dispatcher.drain(5)`.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from dataclasses import dataclass, field, replace

import aiohttp
import structlog

from ollama_proxy.alerts.lifecycle import Alert
from ollama_proxy.alerts.payloads import Target, build_request

log = structlog.get_logger("ollama_proxy.alerts")

QUEUE_MAX = 256
MAX_ATTEMPTS = 5


@dataclass
class TargetStats:
    sent: int = 0
    failed: int = 0  # events given up on after every attempt
    dropped: int = 0  # events that found the queue full
    last_error: str | None = None


@dataclass
class _Lane:
    target: Target
    queue: asyncio.Queue[tuple[str, Alert]] = field(
        default_factory=lambda: asyncio.Queue(QUEUE_MAX)
    )
    stats: TargetStats = field(default_factory=TargetStats)
    task: asyncio.Task[None] | None = None


class Dispatcher:
    def __init__(
        self,
        targets: list[Target],
        *,
        instance: str,
        link: str,
        timeout_s: float = 10.0,
        backoff_s: float = 1.0,
    ) -> None:
        self._lanes = [_Lane(t) for t in targets]
        self._instance = instance
        self._link = link
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._backoff_s = backoff_s
        self._session: aiohttp.ClientSession | None = None

    @property
    def targets(self) -> list[Target]:
        return [lane.target for lane in self._lanes]

    async def start(self) -> None:
        if not self._lanes:
            return
        # Its own pool: a hanging receiver must not hold connections the proxy needs.
        self._session = aiohttp.ClientSession(timeout=self._timeout)
        for lane in self._lanes:
            lane.task = asyncio.create_task(self._run(lane), name=f"alerts-{lane.target.kind}")

    async def stop(self) -> None:
        for lane in self._lanes:
            if lane.task is not None:
                lane.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await lane.task
        if self._session is not None:
            await self._session.close()

    def send(self, state: str, alert: Alert, *, only: str | None = None) -> None:
        """Queue the event for every target (or only the targets of kind `only`)."""
        snapshot = replace(alert)  # the sender must see the alert as it was now
        for lane in self._lanes:
            if only is not None and lane.target.kind != only:
                continue
            try:
                lane.queue.put_nowait((state, snapshot))
            except asyncio.QueueFull:
                lane.stats.dropped += 1
                log.warning("alert_queue_full", target=lane.target.display)

    async def drain(self, timeout_s: float) -> None:
        """Wait (bounded) until every queued event was sent or given up on: tests, shutdown."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await asyncio.gather(*(lane.queue.join() for lane in self._lanes))

    def stats(self) -> list[dict[str, object]]:
        return [
            {"target": lane.target.display, "queued": lane.queue.qsize(), **vars(lane.stats)}
            for lane in self._lanes
        ]

    async def _run(self, lane: _Lane) -> None:
        while True:
            state, alert = await lane.queue.get()
            try:
                await self._deliver(lane, state, alert)
            finally:
                lane.queue.task_done()

    async def _deliver(self, lane: _Lane, state: str, alert: Alert) -> None:
        request = build_request(lane.target, state, alert, self._instance, self._link)
        for attempt in range(1, MAX_ATTEMPTS + 1):
            error = await self._post(lane.target, request.body, request.headers)
            if error is None:
                lane.stats.sent += 1
                return
            lane.stats.last_error = error
            if attempt < MAX_ATTEMPTS:
                delay = self._backoff_s * 2 ** (attempt - 1) * random.uniform(0.5, 1.0)
                await asyncio.sleep(delay)
        lane.stats.failed += 1
        log.warning(
            "alert_notify_failed",
            target=lane.target.display,
            rule=alert.rule,
            state=state,
            error=lane.stats.last_error,
        )

    async def _post(self, target: Target, body: bytes, headers: dict[str, str]) -> str | None:
        assert self._session is not None
        try:
            # The status is the answer; the body is never read (a receiver could send any
            # size), so aiohttp closes the connection instead of reusing it: rare posts.
            async with self._session.post(target.url, data=body, headers=headers) as response:
                if response.status >= 300:
                    return f"HTTP {response.status}"
                return None
        except Exception as exc:  # timeouts, refused connections, TLS: all retried
            return f"{type(exc).__name__}: {exc}"[:300]
