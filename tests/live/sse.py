"""A Server-Sent Events reader for the live view's tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson


async def snapshots(response: aiohttp.ClientResponse) -> AsyncIterator[dict[str, Any]]:
    """Each `data:` event's JSON, in order; comments (keepalives) are skipped."""
    buffer = b""
    async for chunk in response.content.iter_any():
        buffer += chunk
        while b"\n\n" in buffer:
            event, buffer = buffer.split(b"\n\n", 1)
            for line in event.split(b"\n"):
                if line.startswith(b"data: "):
                    yield orjson.loads(line[6:])
