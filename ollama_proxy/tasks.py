"""Background tasks of the process: a periodic action that survives its own failures, and the
stop that cancels tasks and waits for them to end (none may outlive its owner's stop)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable
from typing import Any


async def every(
    interval_s: float, action: Callable[[], Awaitable[Any]], logger: Any, failure: str
) -> None:
    """Run `action` now and then every `interval_s` until cancelled; a failure is logged as
    `failure` and the next round goes on (a sampler or evaluator never takes the proxy down)."""
    while True:
        try:
            await action()
        except Exception:
            logger.exception(failure)
        await asyncio.sleep(interval_s)


async def cancel_and_wait(tasks: Iterable[asyncio.Task[Any]]) -> None:
    """Cancel every task, then wait for each to end."""
    tasks = list(tasks)
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
