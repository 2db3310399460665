"""Waiting in tests for what another task or process makes true, with a bound."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable


async def until(
    condition: Callable[[], object | Awaitable[object]], timeout_s: float = 10.0
) -> None:
    """Check `condition` (plain or async) every 10 ms until it holds; TimeoutError after
    `timeout_s`."""
    async with asyncio.timeout(timeout_s):
        while not await _value(condition()):
            await asyncio.sleep(0.01)


async def _value(result: object) -> object:
    return await result if inspect.isawaitable(result) else result
