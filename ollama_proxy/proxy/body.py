"""Reading a client's request body with an idle bound.

A client that stops sending its body (a stalled upload, or one trickling bytes on purpose)
would otherwise hold its connection, and the upstream connection the body is being relayed
on, for as long as it likes. Every read waits at most REQUEST_BODY_IDLE_S for the next bytes.
"""

from __future__ import annotations

import asyncio

from aiohttp import web


class BodyStalled(Exception):
    """The client sent no request-body bytes for `idle_s` seconds."""

    def __init__(self, idle_s: float) -> None:
        super().__init__(f"request body: no bytes from the client for {idle_s:g} s")
        self.idle_s = idle_s


async def next_chunk(request: web.Request, idle_s: float) -> bytes:
    """The next bytes of the body (b"" at its end); BodyStalled after `idle_s` without any.

    Bytes already received are taken without a timer: a small body arrives with its headers,
    and a timer per request costs the metered path a few microseconds for nothing.
    """
    content = request.content
    chunk = content.read_nowait()
    if chunk or content.at_eof():
        return chunk
    try:
        async with asyncio.timeout(idle_s):
            return await content.readany()
    except TimeoutError:
        raise BodyStalled(idle_s) from None


def body_stall(exc: BaseException | None) -> BodyStalled | None:
    """The stall behind an error, if one is: aiohttp's client wraps what a request body
    raised while it was being sent in a ClientConnectionError, the original as its cause."""
    while exc is not None:
        if isinstance(exc, BodyStalled):
            return exc
        exc = exc.__cause__
    return None
