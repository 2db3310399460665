"""A live-view subscriber that stops reading is let go, so it cannot hold a subscriber slot
(MAX_SUBSCRIBERS) and its handler forever.

Regression: the handler awaited `response.write` without a timeout; a dashboard whose
machine vanished (no FIN, no RST) or a client that never reads kept it blocked in the drain.
"""

from __future__ import annotations

import asyncio
import socket

import pytest
from aiohttp import web

from ollama_proxy.live import feed as feed_module
from ollama_proxy.live.feed import LiveFeed, add_live_routes
from ollama_proxy.live.tracker import LiveTracker
from ollama_proxy.records import RequestRecord
from tests.live.test_snapshot import FakeMeter
from tests.servers import start_app


def busy_tracker(requests: int = 1000) -> LiveTracker:
    """Requests whose rows are about 2 KB each: snapshots of about 2 MB fill socket buffers."""
    tracker = LiveTracker()
    for i in range(requests):
        record = RequestRecord(request_id=f"r{i}", client="c" * 2000, inference=True)
        tracker.enter(record, FakeMeter(b'{"model":"m"}'), 0.0)  # type: ignore[arg-type]
    return tracker


async def test_a_subscriber_that_never_reads_is_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(feed_module, "WRITE_TIMEOUT_S", 1.0)
    app = web.Application()
    feed = LiveFeed(busy_tracker(), slots=1, interval_s=0.05, min_gap_s=0.05)
    add_live_routes(app, feed)
    runner, url = await start_app(app)
    host, port = url.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window, never read
    sock.setblocking(False)
    try:
        await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
        await asyncio.get_running_loop().sock_sendall(
            sock, f"GET /api/stats/live HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
        )
        async with asyncio.timeout(30):  # a hang, not a speed: the slot used to stay taken
            while feed.tracker.subscribers == 0:  # subscribed
                await asyncio.sleep(0.05)
            while feed.tracker.subscribers:  # and let go once its writes stop moving
                await asyncio.sleep(0.05)
    finally:
        sock.close()
        await feed.close()
        await runner.cleanup()
