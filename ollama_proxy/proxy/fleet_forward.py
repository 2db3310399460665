"""Forwarding to a fleet of nodes: pick one, retry the next before any response byte.

Only used with more than one upstream; the single-upstream path in `handler.py` never comes
here. Request bodies up to MAX_HELD bytes are held so that a node refusing, timing out while
connecting or answering 503 (queue full) can be replaced by the next candidate; larger bodies
stream to the first candidate and are not retried. Once a response has started nothing is
retried.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from time import perf_counter
from typing import TYPE_CHECKING, Any

import aiohttp
import orjson
import structlog
from aiohttp import web
from yarl import URL

from ollama_proxy.fleet.choose import Candidate, NoNode, UnknownNode, rank
from ollama_proxy.fleet.facts import NO_FACTS, Facts, facts
from ollama_proxy.fleet.nodes import Fleet, Node, Ticket
from ollama_proxy.fleet.union import lowest_version, union_models, union_openai_models
from ollama_proxy.meter.meter import Meter
from ollama_proxy.operations import classify
from ollama_proxy.proxy.body import BodyStalled, body_stall, next_chunk
from ollama_proxy.proxy.handler import error_answer
from ollama_proxy.proxy.headers import request_headers, skipped_auto_headers, target_url
from ollama_proxy.proxy.observer import RequestObservation
from ollama_proxy.records import RequestRecord

if TYPE_CHECKING:
    from ollama_proxy.proxy.handler import Outcome, ProxyHandler

log = structlog.get_logger("ollama_proxy.fleet")

MAX_HELD = 8 * 1024 * 1024  # request bytes held for a retry on another node
# Request bytes held at once by all requests together: without it memory grew with the number
# of clients uploading at once (8 MB each). Past it a request holds only its head (enough to
# route on its model) and streams the rest to its first candidate, without a retry.
HELD_BUDGET = 256 * 1024 * 1024
HEAD_BYTES = 64 * 1024
NODE_HEADER = "X-Ollama-Node"


class NodeEjected(aiohttp.ClientConnectionError):
    """The node was ejected while this request waited for its first response byte."""


# Before any response byte these mean the node never started on the request.
RETRYABLE = (
    NodeEjected,
    aiohttp.ClientConnectorError,
    aiohttp.ConnectionTimeoutError,
    aiohttp.ServerDisconnectedError,
    aiohttp.ClientOSError,
)
UPSTREAM_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError, OSError)
UNION_TIMEOUT_S = 10.0
UNIONS: dict[str, Callable[[list[Any]], bytes]] = {
    "/api/tags": union_models,
    "/api/ps": union_models,
    "/api/version": lowest_version,
    "/v1/models": union_openai_models,
}
MANAGEMENT = frozenset({"pull", "push", "create", "copy", "delete", "blob"})
# The management that changes a node's models on disk (its /api/tags): a push, or a blob's
# HEAD or upload (one per layer of an `ollama create`), leaves them as they were.
CHANGES_MODELS = frozenset({"pull", "create", "copy", "delete"})


class FleetForwarder:
    """`handler._forward` for a fleet: route, try candidates, relay through the handler."""

    def __init__(self, handler: ProxyHandler, fleet: Fleet, max_attempts: int) -> None:
        self.handler = handler
        self.fleet = fleet
        self.max_attempts = max_attempts
        self._drop = (*handler._drop_headers, NODE_HEADER)
        # Requests sent to a node and still without an answer: a node that goes silent
        # (packets swallowed) holds them on pooled connections until it is ejected.
        self._waiting: list[set[asyncio.Future[aiohttp.ClientResponse]]] = [
            set() for _ in fleet.nodes
        ]
        fleet.on_ejected = self._abort_waiting
        self.held = 0  # request bytes reserved or held by requests in flight (HELD_BUDGET)

    def _abort_waiting(self, node: Node) -> None:
        for waiter in list(self._waiting[node.index]):
            waiter.cancel()

    async def _send_watched(
        self, request: web.Request, node: Node, body: Any, observation: RequestObservation | None
    ) -> aiohttp.ClientResponse:
        waiter = asyncio.ensure_future(self._send(request, node, body, observation))
        waiting = self._waiting[node.index]
        waiting.add(waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if waiter.cancelled() and task is not None and not task.cancelling():
                raise NodeEjected(f"node {node.name} ejected") from None
            raise
        finally:
            waiting.discard(waiter)

    async def __call__(
        self,
        request: web.Request,
        meter: Meter | None,
        observation: RequestObservation | None,
        outcome: Outcome | None,
    ) -> web.StreamResponse:
        forced = request.headers.get(NODE_HEADER)
        if forced is None and request.method == "GET" and request.path in UNIONS:
            return await self._union(request, meter, outcome)
        reserved = MAX_HELD if self.held + MAX_HELD <= HELD_BUDGET else HEAD_BYTES
        self.held += reserved  # before reading: requests reading at once share the budget
        try:
            held, rest = await _hold(request, meter, reserved, self.handler.body_idle_s)
        except BodyStalled as stall:
            self.held -= reserved
            return await self.handler.body_stalled(request, stall, meter)
        except BaseException:
            self.held -= reserved
            raise
        self.held += len(held) - reserved
        try:
            return await self._route(request, held, rest, forced, meter, observation, outcome)
        finally:
            self.held -= len(held)

    async def _route(
        self,
        request: web.Request,
        held: bytes,
        rest: AsyncIterator[bytes] | None,
        forced: str | None,
        meter: Meter | None,
        observation: RequestObservation | None,
        outcome: Outcome | None,
    ) -> web.StreamResponse:
        found = facts(held) if held else NO_FACTS
        try:
            candidates = rank(self.fleet, found, forced, self.max_attempts)
        except UnknownNode:
            return await _answer(request, 404, f'unknown node "{forced}"', meter, outcome)
        except NoNode:
            message = f"no node may run {found.model} (ROUTE_RULES)"
            return await _answer(request, 503, message, meter, outcome)
        operation = classify(request.path).operation
        changes = operation in CHANGES_MODELS
        if operation in MANAGEMENT and forced is None and rest is None:
            nodes = self._healthy()
            return await self._each(request, nodes, held, meter, observation, outcome, changes)
        body: bytes | AsyncIterator[bytes] | None = held if request.body_exists else None
        if rest is not None:
            body, candidates = _chained(held, rest), candidates[:1]
        try:
            return await self._attempts(
                request, candidates, body, found, meter, observation, outcome
            )
        finally:
            if changes:
                self.fleet.on_changed(candidates[0].node)

    def _healthy(self) -> list[Node]:
        return [n for n in self.fleet.nodes if n.healthy] or list(self.fleet.nodes)

    async def _send(
        self, request: web.Request, node: Node, body: Any, observation: RequestObservation | None
    ) -> aiohttp.ClientResponse:
        url = URL(node.url)
        headers = request_headers(request.headers, url, request.remote, self._drop)
        if observation is not None:
            observation.inject(headers)
        skip = skipped_auto_headers(request.headers)
        if "Content-Type" not in request.headers:
            skip += ("Content-Type",)
        return await self.handler.upstream_session().request(
            request.method,
            target_url(url, request.raw_path),
            headers=headers,
            data=body,
            skip_auto_headers=skip,
            allow_redirects=False,
        )

    async def _attempts(
        self,
        request: web.Request,
        candidates: list[Candidate],
        body: bytes | AsyncIterator[bytes] | None,
        found: Facts,
        meter: Meter | None,
        observation: RequestObservation | None,
        outcome: Outcome | None,
    ) -> web.StreamResponse:
        tries = candidates[: self.max_attempts]
        error, attempt = "", 0
        for attempt, candidate in enumerate(tries, 1):
            node = candidate.node
            ticket = self.fleet.dispatch(node, found.model)
            if outcome is not None and outcome.record is not None:
                outcome.record.node = node.name  # seen live at once; a failover moves it
            try:
                upstream = await self._send_watched(request, node, body, observation)
            except asyncio.CancelledError:
                self.fleet.cancel(ticket)
                raise
            except UPSTREAM_ERRORS as exc:
                self.fleet.cancel(ticket)
                stall = body_stall(exc)
                if stall is not None:  # the client's fault, not the node's
                    return await self.handler.body_stalled(request, stall, meter)
                error = f"node {node.name} ({node.url}): {_describe(exc)}"
                if isinstance(exc, RETRYABLE):
                    self.fleet.connect_failed(node)
                    log.warning("node_failed", node=node.name, error=error, attempt=attempt)
                    continue
                break
            if upstream.status == 503 and attempt < len(tries) and isinstance(body, bytes):
                upstream.release()  # queue full there: the next node may have room
                self.fleet.cancel(ticket)
                error = f"node {node.name} answered 503"
                continue
            self.fleet.connect_ok(node)
            if found.affinity is not None:
                self.fleet.remember(found.affinity, node)
            return await self._relay(
                request, upstream, ticket, candidate, attempt, meter, observation, outcome
            )
        _route(outcome, ",".join(c.node.name for c in tries[:attempt]), "failed", attempt)
        message = f"no Ollama node could take the request: {error}"
        if outcome is not None:
            outcome.upstream_error = message
        return await self.handler._bad_gateway(request, message, meter)

    async def _relay(
        self,
        request: web.Request,
        upstream: aiohttp.ClientResponse,
        ticket: Ticket,
        candidate: Candidate,
        attempt: int,
        meter: Meter | None,
        observation: RequestObservation | None,
        outcome: Outcome | None,
    ) -> web.StreamResponse:
        fleet = self.fleet
        if outcome is None:  # not metered: the slot is freed when the relay ends
            try:
                return await self.handler._relay(request, upstream, meter, observation, outcome)
            finally:
                upstream.close()
                fleet.release(ticket, None, False)

        def after(record: RequestRecord) -> None:
            record.node, record.route_reason, record.attempts = (
                candidate.node.name,
                candidate.reason,
                attempt,
            )
            fleet.release(ticket, record.queue_wait_ms, record.status == "error")

        outcome.after = after
        outcome.node_label = f"{candidate.node.name} ({candidate.node.url})"
        try:
            return await self.handler._relay(request, upstream, meter, observation, outcome)
        finally:
            upstream.close()

    async def _union(
        self, request: web.Request, meter: Meter | None, outcome: Outcome | None
    ) -> web.StreamResponse:
        """One Ollama to clients: the merged answer of every healthy node."""
        nodes = self._healthy()
        answers = await asyncio.gather(*(self._get_json(n, request.raw_path) for n in nodes))
        bodies = [body for body in answers if body is not None]
        answered = [n.name for n, body in zip(nodes, answers, strict=True) if body is not None]
        _route(outcome, ",".join(answered), "union", len(nodes))
        if not bodies:
            return await _answer(request, 502, "no Ollama node answered", meter, outcome)
        body = UNIONS[request.path](bodies)
        if meter is not None:
            now = perf_counter()
            meter.observe_response_start(200, "application/json; charset=utf-8", now)
            meter.observe_chunk(body, now)
        return web.Response(body=body, content_type="application/json", charset="utf-8")

    async def _get_json(self, node: Node, raw_path: str) -> Any | None:
        session = self.handler.upstream_session()
        timeout = aiohttp.ClientTimeout(total=UNION_TIMEOUT_S)
        try:
            async with session.get(node.url + raw_path, timeout=timeout) as response:
                if response.status != 200:
                    return None
                return orjson.loads(await response.read())
        except (*UPSTREAM_ERRORS, orjson.JSONDecodeError):
            return None

    async def _each(
        self,
        request: web.Request,
        nodes: list[Node],
        body: bytes,
        meter: Meter | None,
        observation: RequestObservation | None,
        outcome: Outcome | None,
        changes: bool,
    ) -> web.StreamResponse:
        """Management (pull, create, delete, ...): every node in turn, one progress at a time.
        `changes`: it changes the models on disk, so each node's /api/tags is polled after."""
        relay = _InTurn(request, meter, every=request.method == "HEAD")
        data = body if request.body_exists else None
        for node in nodes:
            try:
                upstream = await self._send(request, node, data, observation)
            except UPSTREAM_ERRORS as exc:
                await relay.failed(node, _describe(exc))
                continue
            try:
                await relay.add(node, upstream)
            except UPSTREAM_ERRORS as exc:
                await relay.failed(node, _describe(exc))
            finally:
                upstream.close()
                if changes:
                    self.fleet.on_changed(node)
        _route(outcome, ",".join(n.name for n in nodes), "each", len(nodes))
        return await relay.finish()


class _InTurn:
    """Relays the answers of several nodes as one: NDJSON progress streams one after the
    other; plain answers collapse to the first success (else the last failure). With `every`
    (HEAD /api/blobs/...: "do you have this blob?") a success needs every node's: the first
    failure makes the client upload the blob, which then goes to every node."""

    def __init__(self, request: web.Request, meter: Meter | None, every: bool = False) -> None:
        self.request = request
        self.meter = meter
        self.every = every
        self.stream: web.StreamResponse | None = None
        self.kept: tuple[int, str, bytes] | None = None

    async def add(self, node: Node, upstream: aiohttp.ClientResponse) -> None:
        content_type = upstream.headers.get("Content-Type", "")
        if self.stream is None and content_type.startswith("application/x-ndjson"):
            self.stream = web.StreamResponse(status=upstream.status)
            self.stream.content_type = "application/x-ndjson"
            self._observe_start(upstream.status, content_type)
            await self.stream.prepare(self.request)
        if (stream := self.stream) is not None:
            async for chunk in upstream.content.iter_any():
                await self._write(stream, chunk)
            return
        self._keep(upstream.status, content_type, await upstream.read())

    def _keep(self, status: int, content_type: str, body: bytes) -> None:
        kept = self.kept
        if kept is None:
            self.kept = (status, content_type, body)
        elif self.every:
            if kept[0] < 300 <= status:
                self.kept = (status, content_type, body)
        elif kept[0] >= 300:  # a success replaces a failure, a later failure an earlier one
            self.kept = (status, content_type, body)

    async def failed(self, node: Node, error: str) -> None:
        body = orjson.dumps({"error": f"node {node.name}: {error}"})
        if (stream := self.stream) is not None:
            await self._write(stream, body + b"\n")
        else:
            self._keep(502, "application/json", body)

    async def finish(self) -> web.StreamResponse:
        if self.stream is not None:
            await self.stream.write_eof()
            return self.stream
        status, content_type, body = self.kept or (502, "application/json", b"")
        self._observe_start(status, content_type)
        if body and self.meter is not None:
            self.meter.observe_chunk(body, perf_counter())
        response = web.Response(status=status, body=body)
        if content_type:
            response.headers["Content-Type"] = content_type
        return response

    def _observe_start(self, status: int, content_type: str) -> None:
        if self.meter is not None:
            self.meter.observe_response_start(status, content_type, perf_counter())

    async def _write(self, stream: web.StreamResponse, chunk: bytes) -> None:
        await stream.write(chunk)
        if self.meter is not None:
            self.meter.observe_chunk(chunk, perf_counter())


def _route(outcome: Outcome | None, node: str, reason: str, attempts: int) -> None:
    if outcome is None:
        return

    def after(record: RequestRecord) -> None:
        record.node, record.route_reason, record.attempts = node, reason, attempts

    outcome.after = after


async def _answer(
    request: web.Request, status: int, message: str, meter: Meter | None, outcome: Outcome | None
) -> web.StreamResponse:
    """The proxy's own answer in Ollama's error shape; a 5xx is the request's upstream error."""
    if outcome is not None and status >= 500:
        outcome.upstream_error = message
    return error_answer(status, message, meter)


async def _hold(
    request: web.Request, meter: Meter | None, limit: int, idle_s: float
) -> tuple[bytes, AsyncIterator[bytes] | None]:
    """The body, whole when it fits in `limit` bytes; else its head and the rest to come.
    BodyStalled when the client pauses `idle_s` seconds."""
    if not request.body_exists:
        return b"", None
    parts: list[bytes] = []
    size = 0
    while True:
        chunk = await next_chunk(request, idle_s)
        if not chunk:
            return b"".join(parts), None
        if meter is not None:
            meter.observe_request_chunk(chunk)
        parts.append(chunk)
        size += len(chunk)
        if size > limit:
            return b"".join(parts), _rest(request, meter, idle_s)


async def _rest(request: web.Request, meter: Meter | None, idle_s: float) -> AsyncIterator[bytes]:
    while chunk := await next_chunk(request, idle_s):
        if meter is not None:
            meter.observe_request_chunk(chunk)
        yield chunk


async def _chained(head: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    yield head
    async for chunk in rest:
        yield chunk


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text != type(exc).__name__ else text
