"""Byte-level test tools: a recording TCP relay and a raw HTTP/1.1 client.

The relay sits between the proxy and the upstream and keeps every byte each way, so a test can
compare what the upstream sent with what the client received, byte for byte.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

import h11


@dataclass
class Exchange:
    status: int
    reason: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes
    chunks: list[bytes] = field(default_factory=list)

    def header(self, name: bytes) -> bytes | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None


def parse_responses(raw: bytes, methods: list[bytes]) -> list[Exchange]:
    """Every HTTP/1.1 response in a byte stream (in order; `methods` says which were HEAD)."""
    conn = h11.Connection(h11.CLIENT)
    out: list[Exchange] = []
    for method in methods:
        conn.send(h11.Request(method=method, target=b"/", headers=[(b"host", b"x")]))
        conn.send(h11.EndOfMessage())
        if not out:
            conn.receive_data(raw)
        current: Exchange | None = None
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(b"")
                event = conn.next_event()
                if event is h11.NEED_DATA or isinstance(event, h11.ConnectionClosed):
                    break
            if isinstance(event, h11.Response):
                current = Exchange(event.status_code, event.reason, list(event.headers), b"")
            elif isinstance(event, h11.Data) and current is not None:
                current.body += bytes(event.data)
                current.chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                break
            elif isinstance(event, h11.ConnectionClosed):
                break
        if current is not None:
            out.append(current)
        if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
            break
        with contextlib.suppress(h11.LocalProtocolError):
            conn.start_next_cycle()
    return out


def parse_request_bodies(raw: bytes) -> list[tuple[h11.Request, bytes]]:
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(raw)
    found: list[tuple[h11.Request, bytes]] = []
    request: h11.Request | None = None
    body = b""
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA or isinstance(event, h11.ConnectionClosed):
            break
        if isinstance(event, h11.Request):
            request, body = event, b""
        elif isinstance(event, h11.Data):
            body += bytes(event.data)
        elif isinstance(event, h11.EndOfMessage) and request is not None:
            found.append((request, body))
            conn.send(h11.Response(status_code=200, headers=[(b"content-length", b"0")]))
            conn.send(h11.EndOfMessage())
            conn.start_next_cycle()
    return found


class TapRelay:
    """TCP relay to `target` that records the bytes of every connection, both ways."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.upstream_bytes: list[bytearray] = []  # per connection: upstream -> proxy
        self.request_bytes: list[bytearray] = []  # per connection: proxy -> upstream
        self.closed_at: list[float] = []  # loop.time() when the proxy closed a connection
        self.closed = asyncio.Event()
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{self.port}"

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        sent, received = bytearray(), bytearray()
        self.request_bytes.append(sent)
        self.upstream_bytes.append(received)
        await asyncio.gather(
            self._from_proxy(reader, up_writer, sent), _pipe(up_reader, writer, received)
        )

    async def _from_proxy(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, log: bytearray
    ) -> None:
        await _pipe(reader, writer, log)
        self.closed_at.append(asyncio.get_running_loop().time())
        self.closed.set()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, log: bytearray) -> None:
    try:
        while data := await reader.read(65536):
            log += data
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


async def raw_request(host: str, port: int, request: bytes, *, read_timeout: float = 10) -> bytes:
    """Send raw bytes, read until the server closes (send `Connection: close`)."""
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(request)
    await writer.drain()
    data = bytearray()
    try:
        while chunk := await asyncio.wait_for(reader.read(65536), read_timeout):
            data += chunk
    finally:
        writer.close()
    return bytes(data)


def http_request(
    method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    for key, value in (headers or {}).items():
        lines.append(f"{key}: {value}")
    if body or method in ("POST", "PUT", "DELETE"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body
