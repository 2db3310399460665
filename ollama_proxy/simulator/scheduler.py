"""Model residency and scheduling, after Ollama's `server/sched.go`.

- A request for a model that is not loaded goes through the pending queue (bounded by
  `max_queue`; one more is a 503) and one load at a time (`load_s`).
- A request for a loaded model skips the queue and waits on the runner's semaphore
  (`num_parallel` slots). That wait counts toward total_duration, not load_duration.
- When the last request on a model finishes, the model stays for `keep_alive` and then
  unloads (0 = right away, infinite = never).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from ollama_proxy.simulator.config import FOREVER, ModelSpec, normalize_name

# Go's time.Now().Add(math.MaxInt64): the `expires_at` of a model kept forever.
_MAX_DURATION_NS = 2**63 - 1

QUEUE_FULL_MESSAGE = "server busy, please try again.  maximum pending requests exceeded"


class QueueFullError(Exception):
    """More requests wait for the scheduler than `max_queue` allows."""

    def __init__(self) -> None:
        super().__init__(QUEUE_FULL_MESSAGE)


@dataclass
class Residency:
    """A loaded model (a runner)."""

    spec: ModelSpec
    semaphore: asyncio.Semaphore
    keep_alive_s: float
    loaded_at_ns: int
    expires_at_ns: int
    refcount: int = 0
    timer: asyncio.TimerHandle | None = None
    last_prompt: Sequence[int] = ()


@dataclass
class Lease:
    """One request's hold on a runner; `load_ns` is Ollama's load_duration."""

    residency: Residency
    load_ns: int
    keep_alive_s: float


@dataclass
class Scheduler:
    load_s: float
    max_queue: int
    num_parallel: int
    loaded: dict[str, Residency] = field(default_factory=dict)
    waiting: int = 0
    loads: int = 0
    unloads: int = 0
    _load_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def acquire(self, spec: ModelSpec, keep_alive_s: float) -> Lease:
        """Wait until `spec` is loaded and a slot is free. Raises QueueFullError."""
        started = time.monotonic_ns()
        key = normalize_name(spec.name)
        residency = self.loaded.get(key)
        if residency is None:
            residency = await self._load(key, spec, keep_alive_s)
        residency.refcount += 1
        self._cancel_timer(residency)
        residency.keep_alive_s = keep_alive_s
        residency.expires_at_ns = _expiry(keep_alive_s)
        load_ns = time.monotonic_ns() - started
        try:
            await residency.semaphore.acquire()
        except BaseException:
            self._finish(key, residency)
            raise
        return Lease(residency, load_ns, keep_alive_s)

    def release(self, lease: Lease) -> None:
        lease.residency.semaphore.release()
        self._finish(normalize_name(lease.residency.spec.name), lease.residency)

    async def load_only(self, spec: ModelSpec, keep_alive_s: float) -> int:
        """The empty-prompt load: load (or refresh) and release at once. Returns load_ns."""
        lease = await self.acquire(spec, keep_alive_s)
        self.release(lease)
        return lease.load_ns

    def unload(self, name: str) -> None:
        """keep_alive 0 on an empty prompt: unload now, or as soon as in-flight requests end."""
        key = normalize_name(name)
        residency = self.loaded.get(key)
        if residency is None:
            return
        residency.keep_alive_s = 0
        if residency.refcount == 0:
            self._drop(key)

    def resident(self) -> list[Residency]:
        """Loaded models, latest expiry first (as `/api/ps` sorts them)."""
        now = time.time_ns()
        for key, residency in list(self.loaded.items()):
            if residency.refcount == 0 and residency.expires_at_ns <= now:
                self._drop(key)
        return sorted(self.loaded.values(), key=lambda r: r.expires_at_ns, reverse=True)

    def clear(self) -> None:
        for key in list(self.loaded):
            self._drop(key)

    async def _load(self, key: str, spec: ModelSpec, keep_alive_s: float) -> Residency:
        if self.waiting >= self.max_queue:
            raise QueueFullError()
        self.waiting += 1
        try:
            await self._load_lock.acquire()
        finally:
            self.waiting -= 1
        try:
            residency = self.loaded.get(key)
            if residency is None:
                if self.load_s > 0:
                    await asyncio.sleep(self.load_s)
                residency = Residency(
                    spec=spec,
                    semaphore=asyncio.Semaphore(self.num_parallel),
                    keep_alive_s=keep_alive_s,
                    loaded_at_ns=time.time_ns(),
                    expires_at_ns=_expiry(keep_alive_s),
                )
                self.loaded[key] = residency
                self.loads += 1
            return residency
        finally:
            self._load_lock.release()

    def _finish(self, key: str, residency: Residency) -> None:
        residency.refcount -= 1
        if residency.refcount > 0:
            return
        residency.expires_at_ns = _expiry(residency.keep_alive_s)
        if residency.keep_alive_s <= 0:
            self._drop(key)
        elif residency.keep_alive_s != FOREVER:
            loop = asyncio.get_running_loop()
            residency.timer = loop.call_later(residency.keep_alive_s, self._expire, key, residency)

    def _expire(self, key: str, residency: Residency) -> None:
        if self.loaded.get(key) is residency and residency.refcount == 0:
            self._drop(key)

    def _drop(self, key: str) -> None:
        residency = self.loaded.pop(key, None)
        if residency is not None:
            self._cancel_timer(residency)
            self.unloads += 1

    @staticmethod
    def _cancel_timer(residency: Residency) -> None:
        if residency.timer is not None:
            residency.timer.cancel()
            residency.timer = None


def _expiry(keep_alive_s: float) -> int:
    now = time.time_ns()
    if keep_alive_s == FOREVER:
        return now + _MAX_DURATION_NS
    return now + int(keep_alive_s * 1e9)
