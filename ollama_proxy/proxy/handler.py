"""The catch-all proxy handler: forward, stream back chunk by chunk, tee to the meter.

Bytes are relayed as they arrive, in both directions; the meter reads a copy. Nothing here
may fail or slow a client request because metering or recording failed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from time import monotonic, perf_counter

import aiohttp
import orjson
import structlog
from aiohttp import web

from ollama_proxy.config import Settings
from ollama_proxy.live.accounting import Accounting
from ollama_proxy.live.tracker import LiveTracker
from ollama_proxy.meter.capture import CapturingMeter, ContentCapture, compile_patterns
from ollama_proxy.meter.meter import Meter
from ollama_proxy.operations import Route, classify
from ollama_proxy.proxy.access import Access, Admitted, Refusal
from ollama_proxy.proxy.body import BodyStalled, body_stall, next_chunk
from ollama_proxy.proxy.headers import (
    request_headers,
    response_headers,
    skipped_auto_headers,
    target_url,
)
from ollama_proxy.proxy.observer import (
    CLIENT_ADDRESS,
    NullObserver,
    Observer,
    RequestObservation,
)
from ollama_proxy.proxy.refusals import RefusalTally
from ollama_proxy.records import ContentRecord, RequestRecord

log = structlog.get_logger("ollama_proxy.proxy")

UPSTREAM_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError, OSError)
ACCESS_CHECKED = web.RequestKey("access_checked", object)  # Admitted | Refusal, from expect()
CLIENT_GONE = (ConnectionResetError, aiohttp.ClientConnectionResetError, BrokenPipeError)


class InFlight:
    """Counts requests being served (the stats API's `in_flight`)."""

    def __init__(self) -> None:
        self.count = 0

    def enter(self) -> None:
        self.count += 1

    def leave(self) -> None:
        self.count -= 1


@dataclass(slots=True)
class Outcome:
    """What happened to one forwarded request beyond its response: the meter's inputs."""

    cancelled: bool = False
    upstream_error: str | None = None
    # A fleet (proxy/fleet_forward.py): stamps node, route_reason and attempts on the record,
    # and names the node in a mid-stream failure.
    after: Callable[[RequestRecord], None] | None = None
    node_label: str | None = None
    # The request's record while it runs: a fleet names the node on it at dispatch, so the
    # live view shows where the request is before it ends (`after` stamps the final one).
    record: RequestRecord | None = None


def describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text != type(exc).__name__ else text


def error_body(message: str) -> bytes:
    """Ollama's error shape: {"error": "..."}."""
    return orjson.dumps({"error": message})


def error_answer(status: int, message: str, meter: Meter | None) -> web.Response:
    """The proxy's own answer in Ollama's error shape, metered as the response it is."""
    body = error_body(message)
    if meter is not None:
        now = perf_counter()
        meter.observe_response_start(status, "application/json", now)
        meter.observe_chunk(body, now)
    return web.Response(status=status, body=body, content_type="application/json")


class ProxyHandler:
    """Forwards one request to Ollama and relays the answer untouched."""

    def __init__(
        self,
        settings: Settings,
        session: aiohttp.ClientSession | None,
        submit: Callable[[RequestRecord], None] | None,
        observer: Observer | None = None,
        inflight: InFlight | None = None,
        access: Access | None = None,
        live: LiveTracker | None = None,
    ) -> None:
        self.session = session  # set by the app's cleanup context once the loop runs
        self._upstream = settings.upstream_url
        self._upstream_label = str(settings.upstream_url)
        self._metering = settings.enable_instrumentation
        self.submit = submit  # the recorder's submit, bound once the recorder has started
        self._observer: Observer = observer or NullObserver()
        self._instance = settings.instance_name
        nodes = settings.nodes  # one: its name on every record; several: the fleet's choice
        self._node, self._route_reason = (nodes[0].name, "only") if len(nodes) == 1 else ("", "")
        self.inflight = inflight or InFlight()
        self._access = access or Access({})
        self.live = live or LiveTracker()
        self.refusals = RefusalTally(max_labels=settings.max_client_labels)  # MAX_CLIENT_LABELS
        self.accounting = Accounting()  # the app replaces it when quotas or energy are on
        # CAPTURE_CONTENT (opt-in): the only place prompt and answer text is ever kept.
        self._capture = (
            (settings.capture_max_bytes, compile_patterns(settings.capture_redact_patterns))
            if settings.capture_content
            else None
        )
        self.submit_content: Callable[[ContentRecord], None] | None = None
        # The proxy's own API keys are not Ollama's business: never forwarded.
        self._drop_headers = ("Authorization",) if self._access.requires_key else ()
        # Set by the app with more than one upstream (proxy/fleet_forward.py).
        self.fleet_forward: Callable[..., Awaitable[web.StreamResponse]] | None = None
        self.body_idle_s = settings.request_body_idle_s  # REQUEST_BODY_IDLE_S
        self.requests_total = 0  # metered requests finished, for the error-rate sampler
        self.errors_total = 0

    def upstream_session(self) -> aiohttp.ClientSession:
        """The shared upstream session; an error, not an assert (python -O drops asserts)."""
        if self.session is None:
            raise RuntimeError("upstream session not started")
        return self.session

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        self.inflight.enter()
        try:
            client = None
            if not self._access.open:
                checked: Admitted | Refusal = request.get(ACCESS_CHECKED) or self._check(request)
                if isinstance(checked, Refusal):
                    return self._refuse(request, checked)
                client = checked.client
                request[CLIENT_ADDRESS] = checked.address
            if not self._metering:
                return await self._forward(request, None, None)
            return await self._metered(request, client)
        finally:
            self.inflight.leave()

    def _check(self, request: web.Request) -> Admitted | Refusal:
        """Key, scope, rate limit and quota: all before `100 Continue`, so a refused upload
        never starts."""
        route = classify(request.path)
        checked = self._access.check(request.headers, request.remote or "", monotonic(), route)
        quotas = self.accounting.quotas
        if isinstance(checked, Admitted) and quotas is not None:
            return quotas.check(checked.client, route) or checked
        return checked

    async def expect(self, request: web.Request) -> web.StreamResponse | None:
        """`Expect: 100-continue`: the key check first, so a refused client uploads nothing."""
        if not self._access.open:
            checked = request[ACCESS_CHECKED] = self._check(request)
            if isinstance(checked, Refusal):
                return self._refuse(request, checked)
        await _continue(request)
        return None

    def _refuse(self, request: web.Request, refusal: Refusal) -> web.Response:
        """401/403/429 in Ollama's error shape; counted, and only a sample of them recorded.

        No upstream call is made. A record per refusal let a flood of them push real records
        out of the recorder's queue (see proxy/refusals.py).
        """
        body = error_body(refusal.message)
        headers = {"Retry-After": str(refusal.retry_after_s)} if refusal.retry_after_s else None
        stands_for = self.refusals.refused(refusal.reason, refusal.client, monotonic())
        self.requests_total += 1
        self.errors_total += 1
        if self._metering and stands_for is not None:
            self._record_refusal(request, refusal, body, stands_for)
        return web.Response(
            status=refusal.status, body=body, content_type="application/json", headers=headers
        )

    def _record_refusal(
        self, request: web.Request, refusal: Refusal, body: bytes, stands_for: int
    ) -> None:
        try:
            started = perf_counter()
            route = classify(request.path)
            record = self._new_record(request, route)
            record.client = refusal.client or record.client
            meter = Meter(record, route, started)
            meter.observe_response_start(refusal.status, "application/json", started)
            meter.observe_chunk(body, started)
            record = meter.finish(perf_counter(), cancelled=False, upstream_error=None)
            if stands_for > 1:
                record.error_message = (
                    f"{record.error_message} ({stands_for} refused since the last record "
                    f"of {record.client})"
                )
            if self.submit is not None:
                self.submit(record)
        except Exception:  # never let recording reach the client
            log.exception("record_failed")

    async def _metered(self, request: web.Request, client: str | None) -> web.StreamResponse:
        started = perf_counter()
        route = classify(request.path)
        record = self._new_record(request, route)
        if client is not None:
            record.client = client  # the API key's label, or the hashed address
        meter = (
            CapturingMeter(record, route, started, ContentCapture(*self._capture))
            if self._capture is not None
            else Meter(record, route, started)
        )
        observation = self._observer.start(request, route, record)
        if route.inference:
            self.live.enter(record, meter, started)
        outcome = Outcome(record=record)
        try:
            return await self._forward(request, meter, observation, outcome)
        except asyncio.CancelledError:
            outcome.cancelled = True
            raise
        finally:
            self._finish(meter, observation, outcome)

    def _finish(self, meter: Meter, observation: RequestObservation, outcome: Outcome) -> None:
        try:
            record = meter.finish(
                perf_counter(),
                cancelled=outcome.cancelled,
                upstream_error=outcome.upstream_error,
            )
            if outcome.after is not None:
                outcome.after(record)
            self.accounting.settle(record)
            observation.finish(record)
            self.live.leave(record)
            self.requests_total += 1
            if record.status == "error":
                self.errors_total += 1
            if self.submit is not None:
                self.submit(record)
            if isinstance(meter, CapturingMeter) and self.submit_content is not None:
                self.submit_content(meter.content(record))
        except Exception:  # never let recording reach the client
            log.exception("record_failed")

    def _new_record(self, request: web.Request, route: Route) -> RequestRecord:
        headers = request.headers
        return RequestRecord(
            instance=self._instance,
            method=request.method,
            endpoint=request.path,
            operation=route.operation,
            api_flavor=route.flavor,
            inference=route.inference,
            client=request.remote or "",
            client_name=headers.get("X-Client-Name", ""),
            user_agent=headers.get("User-Agent", ""),
            node=self._node,
            route_reason=self._route_reason,
        )

    async def _forward(
        self,
        request: web.Request,
        meter: Meter | None,
        observation: RequestObservation | None,
        outcome: Outcome | None = None,
    ) -> web.StreamResponse:
        if self.fleet_forward is not None:
            return await self.fleet_forward(request, meter, observation, outcome)
        headers = request_headers(
            request.headers, self._upstream, request.remote, self._drop_headers
        )
        if observation is not None:
            observation.inject(headers)
        skip = skipped_auto_headers(request.headers)
        if "Content-Type" not in request.headers:
            skip += ("Content-Type",)
        url = target_url(self._upstream, request.raw_path)
        body = _relay_body(request, meter, self.body_idle_s) if request.body_exists else None
        try:
            upstream = await self.upstream_session().request(
                request.method,
                url,
                headers=headers,
                data=body,
                skip_auto_headers=skip,
                allow_redirects=False,
            )
        except UPSTREAM_ERRORS as exc:
            stall = body_stall(exc)
            if stall is not None:
                return await self.body_stalled(request, stall, meter)
            message = f"upstream Ollama at {self._upstream_label} unreachable: {describe(exc)}"
            if outcome is not None:
                outcome.upstream_error = message
            return await self._bad_gateway(request, message, meter)
        try:
            return await self._relay(request, upstream, meter, observation, outcome)
        finally:
            upstream.close()

    async def body_stalled(
        self, request: web.Request, stall: BodyStalled, meter: Meter | None
    ) -> web.StreamResponse:
        """408 for a client that stopped sending its body, then the connection is closed:
        aiohttp would otherwise linger 10 s reading the rest of the body."""
        log.info("request_body_stalled", path=request.path, idle_s=stall.idle_s)
        response = error_answer(408, str(stall), meter)
        response.force_close()
        await response.prepare(request)
        await response.write_eof()
        if request.protocol is not None:
            request.protocol.force_close()  # after the answer is written: close, no lingering
        return response

    async def _bad_gateway(
        self, request: web.Request, message: str, meter: Meter | None
    ) -> web.StreamResponse:
        log.warning("upstream_unreachable", error=message, path=request.path)
        return error_answer(502, message, meter)

    async def _relay(
        self,
        request: web.Request,
        upstream: aiohttp.ClientResponse,
        meter: Meter | None,
        observation: RequestObservation | None,
        outcome: Outcome | None,
    ) -> web.StreamResponse:
        response = web.StreamResponse(
            status=upstream.status,
            reason=upstream.reason,
            headers=response_headers(upstream.headers),
        )
        content_type = upstream.headers.get("Content-Type", "")
        if meter is not None:
            meter.observe_response_start(upstream.status, content_type, perf_counter())
        try:
            await response.prepare(request)
        except CLIENT_GONE:
            _mark_cancelled(outcome)
            return response
        first = True
        try:
            async for chunk in upstream.content.iter_any():
                # Timed on arrival: a slow client's backpressure on write() is not the model's
                # time to first token.
                arrived = perf_counter()
                await response.write(chunk)
                if meter is not None:
                    meter.observe_chunk(chunk, arrived)
                if first and observation is not None:
                    observation.on_first_chunk()
                    self.live.first_byte()
                first = False
        except CLIENT_GONE:
            _mark_cancelled(outcome)
            return response
        except UPSTREAM_ERRORS as exc:
            await self._end_broken_stream(request, response, content_type, exc, meter, outcome)
            return response
        with contextlib.suppress(*CLIENT_GONE):
            await response.write_eof()
        return response

    async def _end_broken_stream(
        self,
        request: web.Request,
        response: web.StreamResponse,
        content_type: str,
        exc: BaseException,
        meter: Meter | None,
        outcome: Outcome | None,
    ) -> None:
        """The upstream reset mid-stream: end the client's stream as Ollama ends one on error."""
        label = (outcome.node_label if outcome else None) or self._upstream_label
        message = f"upstream Ollama at {label} failed mid-stream: {describe(exc)}"
        log.warning("upstream_stream_broken", error=message, path=request.path)
        if outcome is not None:
            outcome.upstream_error = message
        if response.content_length is not None or "event-stream" in content_type:
            # Neither a fixed-length body nor an SSE stream can be ended early honestly: SSE
            # has no error line the OpenAI/Anthropic SDKs check, and a clean end reads as a
            # complete answer. Dropping the connection (no last chunk) makes them raise, as a
            # broken connection to Ollama itself would.
            if request.transport is not None:
                request.transport.close()
            return
        with contextlib.suppress(*CLIENT_GONE):
            if content_type.startswith("application/x-ndjson"):
                # Ollama's own mid-stream failure: one {"error": ...} line, then the end.
                line = error_body(message) + b"\n"
                await response.write(line)
                if meter is not None:
                    meter.observe_chunk(line, perf_counter())
            await response.write_eof()


async def _continue(request: web.Request) -> None:
    """What aiohttp's default expect handler does: 100 Continue on HTTP/1.1, else 417."""
    expect = request.headers.get("Expect", "")
    if request.version != aiohttp.HttpVersion11:
        return
    if expect.lower() != "100-continue":
        raise web.HTTPExpectationFailed(text=f"Unknown Expect: {expect}")
    await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    request.writer.output_size = 0  # the 100 is not part of the response's size


def _mark_cancelled(outcome: Outcome | None) -> None:
    if outcome is not None:
        outcome.cancelled = True


async def _relay_body(
    request: web.Request, meter: Meter | None, idle_s: float
) -> AsyncIterator[bytes]:
    while chunk := await next_chunk(request, idle_s):
        if meter is not None:
            meter.observe_request_chunk(chunk)
        yield chunk
