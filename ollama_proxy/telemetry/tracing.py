"""Spans for proxied requests: a SERVER span per request, a GenAI CLIENT span per inference.

The incoming W3C `traceparent`/`tracestate` is the SERVER span's parent; the CLIENT span (or the
SERVER span, for routes that run no model) is what Ollama sees as parent in the upstream
request. Spans end in `finish`, after the last byte was relayed, never when headers arrive.

Cancellation by the client is not an error (semantic-conventions v1.41, #3495): those spans end
with status UNSET, an event `cancelled` and `ollama.request.status="cancelled"`.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any

from aiohttp import web
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, TracerProvider
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import AttributeValue
from yarl import URL

from ollama_proxy.operations import Route
from ollama_proxy.proxy.observer import CLIENT_ADDRESS
from ollama_proxy.records import RequestRecord
from ollama_proxy.telemetry import names as n
from ollama_proxy.telemetry.instruments import VERSION, error_type, genai_operation, seconds

# Only W3C trace context is rewritten; `baggage` passes through with the other headers.
PROPAGATOR = TraceContextTextMapPropagator()

_TEMPLATES = {"blob": "/api/blobs/{digest}"}


def http_route(path: str, route: Route) -> str | None:
    """Low-cardinality route for span names: the path of a known route, None for unknown ones."""
    if route.operation == "other":
        return None
    if route.operation == "show" and route.flavor == "openai":
        return "/v1/models/{model}"
    return _TEMPLATES.get(route.operation, path)


def server_failed(record: RequestRecord) -> bool:
    """HTTP server semconv: 4xx are the client's fault; 5xx and broken streams are errors."""
    return record.status == "error" and not 400 <= record.http_status < 500


def client_attributes(record: RequestRecord, ttfc_s: float | None) -> dict[str, AttributeValue]:
    """GenAI CLIENT span attributes known once the response has been relayed (pure)."""
    attrs: dict[str, AttributeValue] = {}
    if record.status != "success":
        attrs[n.OLLAMA_REQUEST_STATUS] = record.status
    if record.model:
        attrs[n.GEN_AI_REQUEST_MODEL] = record.model
        if record.status == "success":
            attrs[n.GEN_AI_RESPONSE_MODEL] = record.model
    if record.stream:
        attrs[n.GEN_AI_REQUEST_STREAM] = True
        if ttfc_s is not None:
            attrs[n.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] = ttfc_s
    if record.prompt_tokens or record.completion_tokens:
        attrs[n.GEN_AI_USAGE_INPUT_TOKENS] = record.prompt_tokens
        attrs[n.GEN_AI_USAGE_OUTPUT_TOKENS] = record.completion_tokens
        if record.estimated:
            attrs[n.OLLAMA_ESTIMATED_USAGE] = True
    if record.cached_tokens:
        attrs[n.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] = record.cached_tokens
    if record.thinking_tokens:
        attrs[n.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] = record.thinking_tokens
    if record.done_reason:
        attrs[n.GEN_AI_RESPONSE_FINISH_REASONS] = (record.done_reason,)
    for name, ms in (
        (n.OLLAMA_TOTAL_DURATION, record.total_duration_ms),
        (n.OLLAMA_LOAD_DURATION, record.load_duration_ms),
        (n.OLLAMA_PROMPT_EVAL_DURATION, record.prompt_eval_duration_ms),
        (n.OLLAMA_EVAL_DURATION, record.eval_duration_ms),
    ):
        if ms is not None:
            attrs[name] = ms / 1000.0
    if record.status == "error":
        attrs[n.ERROR_TYPE] = error_type(record)
    return attrs


class Tracing:
    """Starts and ends the spans of proxied requests; built from an injected TracerProvider."""

    def __init__(self, tracer_provider: TracerProvider, upstream_url: URL) -> None:
        self._tracer = tracer_provider.get_tracer(n.SCOPE, VERSION)
        self._server_attrs: dict[str, AttributeValue] = {
            n.GEN_AI_PROVIDER_NAME: n.PROVIDER,
            n.SERVER_ADDRESS: upstream_url.host or "",
            n.SERVER_PORT: upstream_url.port or 0,
        }
        self._node_servers: dict[str, dict[str, AttributeValue]] = {}

    def set_nodes(self, nodes: Mapping[str, tuple[str, int]]) -> None:
        """A fleet: CLIENT spans end with the server.address/port of the node that answered."""
        self._node_servers = {
            name: {n.SERVER_ADDRESS: host, n.SERVER_PORT: port}
            for name, (host, port) in nodes.items()
        }

    def start_server(self, request: web.Request, route: Route) -> tuple[Span, Context]:
        """The SERVER span, child of the client's `traceparent` when it sent one."""
        parent = PROPAGATOR.extract(request.headers)
        path = request.path
        template = http_route(path, route)
        # Few attributes on purpose: each costs ~0.5 µs (the SDK cleans every value).
        attrs: dict[str, AttributeValue] = {n.HTTP_REQUEST_METHOD: request.method, n.URL_PATH: path}
        if template is not None:
            attrs[n.HTTP_ROUTE] = template
        address = request.get(CLIENT_ADDRESS, request.remote)
        if address:
            attrs[n.CLIENT_ADDRESS] = address
        agent = request.headers.get("User-Agent")
        if agent:
            attrs[n.USER_AGENT_ORIGINAL] = agent
        name = f"{request.method} {template}" if template else request.method
        span = self._tracer.start_span(name, parent, SpanKind.SERVER, attrs)
        return span, trace.set_span_in_context(span, parent)

    def start_client(self, route: Route, server_context: Context) -> tuple[Span, Context]:
        """The GenAI CLIENT span; named by operation until the model is known."""
        operation = genai_operation(route.operation)
        attrs = {n.GEN_AI_OPERATION_NAME: operation, **self._server_attrs}
        span = self._tracer.start_span(operation, server_context, SpanKind.CLIENT, attrs)
        return span, trace.set_span_in_context(span, server_context)

    @staticmethod
    def inject(context: Context, headers: MutableMapping[str, Any]) -> None:
        PROPAGATOR.inject(headers, context)

    def end_client(self, span: Span, record: RequestRecord, ttfc_s: float | None) -> None:
        if span.is_recording():
            if record.model:
                span.update_name(f"{genai_operation(record.operation)} {record.model}")
            span.set_attributes(client_attributes(record, ttfc_s))
            server = self._node_servers.get(record.node) if self._node_servers else None
            if server is not None:
                span.set_attributes(server)
            _set_outcome(span, record, record.status == "error")
        span.end()

    @staticmethod
    def end_server(span: Span, record: RequestRecord) -> None:
        if span.is_recording():
            attrs: dict[str, AttributeValue] = {}
            if record.status != "success":
                attrs[n.OLLAMA_REQUEST_STATUS] = record.status
            if record.http_status:
                attrs[n.HTTP_RESPONSE_STATUS_CODE] = record.http_status
            if record.model:
                attrs[n.GEN_AI_REQUEST_MODEL] = record.model
            failed = server_failed(record)
            if failed:
                attrs[n.ERROR_TYPE] = error_type(record)
            span.set_attributes(attrs)
            _set_outcome(span, record, failed)
        span.end()


def _set_outcome(span: Span, record: RequestRecord, failed: bool) -> None:
    if failed:
        span.set_status(Status(StatusCode.ERROR, record.error_message[:500] or None))
    elif record.status == "cancelled":
        span.add_event(n.EVENT_CANCELLED)


__all__ = ["PROPAGATOR", "Tracing", "client_attributes", "http_route", "seconds"]
