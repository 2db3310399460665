"""A short cache of identical stats queries.

Several dashboard tabs refreshing every few seconds ask the same questions; within the refresh
interval they share one answer (and one store query: concurrent misses for the same key wait
for the first). Bounded, in-process, keyed by path and sorted query parameters.

>>> cache_key("/api/stats/history", {"b": "2", "a": "1"})
'/api/stats/history?a=1&b=2'
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from urllib.parse import urlencode

MAX_ENTRIES = 256


def cache_key(path: str, params: dict[str, str] | Iterable[tuple[str, str]]) -> str:
    items = sorted(params.items() if isinstance(params, dict) else params)
    return f"{path}?{urlencode(items)}"


class QueryCache:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._pending: dict[str, asyncio.Future[bytes]] = {}
        self._clock = clock

    def get(self, key: str) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, body = entry
        if expires < self._clock():
            del self._entries[key]
            return None
        return body

    def put(self, key: str, body: bytes, ttl_s: float) -> None:
        self._entries[key] = (self._clock() + ttl_s, body)
        self._entries.move_to_end(key)
        while len(self._entries) > MAX_ENTRIES:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()

    async def get_or_compute(
        self, key: str, ttl_s: float, compute: Callable[[], Awaitable[bytes]]
    ) -> tuple[bytes, bool]:
        """(body, hit). A failed computation is not cached and fails its waiters too."""
        body = self.get(key)
        if body is not None:
            return body, True
        pending = self._pending.get(key)
        if pending is not None:
            return await asyncio.shield(pending), True
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            body = await compute()
        except Exception as error:
            future.set_exception(error)
            future.exception()  # retrieved: no "never retrieved" warning without waiters
            raise
        except BaseException:
            future.cancel()  # our request was cancelled: waiters retry on their own
            raise
        finally:
            self._pending.pop(key, None)
        future.set_result(body)
        self.put(key, body, ttl_s)
        return body, False
