"""Interpreter tuning for the serving process: the event loop and the garbage collector.

Both are process-wide, so only the command line's entry points call them, never the app
factory (tests build many apps in one process).
"""

from __future__ import annotations

import asyncio
import gc

# Young-generation collections every 20,000 net allocations of tracked objects instead of 700,
# and full collections only after 10 x 10 of those. Why: a metered request allocates about a
# hundred tracked objects and keeps its record alive until the next store flush, so with the
# defaults the collector ran every few requests and re-scanned every queued record, and a full
# collection walked the ~100k objects of the imported libraries: 20-25 µs of CPU a request
# (a quarter of what metering added to a small request; docs/performance.md).
GC_THRESHOLDS = (20_000, 10, 10)


def install_fast_loop(enabled: bool = True) -> str:
    """Use uvloop when installed and enabled: it measurably cuts the proxy's CPU per chunk."""
    if not enabled:
        return "asyncio"
    try:
        import uvloop
    except ImportError:
        return "asyncio"
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return "uvloop"


def settle_gc(thresholds: tuple[int, int, int] = GC_THRESHOLDS) -> None:
    """Call once everything is imported: what exists now lives as long as the process.

    `gc.freeze` moves those objects out of the collector's sight (no full collection walks
    them again); the thresholds make collections rarer. Reference counting still frees
    everything acyclic at once; only cyclic garbage waits for the next young collection.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*thresholds)
