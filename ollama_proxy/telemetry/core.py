"""Telemetry: the proxy's Observer, built from injected tracer and meter providers.

>>> from opentelemetry.sdk.metrics import MeterProvider
>>> from opentelemetry.sdk.trace import TracerProvider
>>> from yarl import URL
>>> telemetry = Telemetry(TracerProvider(), MeterProvider(), URL("http://127.0.0.1:11434"))
>>> telemetry.scrape is None  # no /metrics unless a ScrapeReader is passed
True
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from time import perf_counter
from typing import TYPE_CHECKING

from aiohttp import web
from multidict import CIMultiDict
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, TracerProvider
from opentelemetry.util.types import AttributeValue
from yarl import URL

from ollama_proxy.operations import Route
from ollama_proxy.records import RequestRecord
from ollama_proxy.telemetry import names as n
from ollama_proxy.telemetry.instruments import GaugeCallback, Instruments
from ollama_proxy.telemetry.labels import DEFAULT_MAX_MODEL_LABELS
from ollama_proxy.telemetry.tracing import PROPAGATOR, Tracing

if TYPE_CHECKING:
    from ollama_proxy.telemetry.scrape import ScrapeReader


class Observation:
    """One request's spans and timings; the handler calls inject, on_first_chunk, finish.

    Without spans (no tracer provider) `inject` does nothing: the client's own `traceparent`
    already travels upstream with the other headers.
    """

    __slots__ = ("_telemetry", "_server", "_client", "_context", "_started", "_first", "_op")

    def __init__(
        self,
        telemetry: Telemetry,
        server: Span | None,
        client: Span | None,
        context: Context | None,
        operation: str,
    ) -> None:
        self._telemetry: Telemetry | None = telemetry
        self._server = server
        self._client = client
        self._context = context  # the span Ollama should see as parent
        self._started = perf_counter()
        self._first: float | None = None
        self._op = operation

    def inject(self, upstream_headers: CIMultiDict[str]) -> None:
        if self._context is not None:
            PROPAGATOR.inject(upstream_headers, self._context)

    def on_first_chunk(self) -> None:
        if self._first is None:
            self._first = perf_counter()

    def finish(self, record: RequestRecord) -> None:
        telemetry, self._telemetry = self._telemetry, None
        if telemetry is None:
            return  # already finished: the handler's finally and an error path both called
        ttfc = None if self._first is None else self._first - self._started
        try:
            telemetry.instruments.in_flight(self._op, -1)
            telemetry.instruments.record(record, ttfc)
        finally:
            if self._client is not None and telemetry.tracing is not None:
                telemetry.tracing.end_client(self._client, record, ttfc)
            if self._server is not None:
                Tracing.end_server(self._server, record)


class Telemetry:
    """OpenTelemetry for the proxy: spans and metrics per request, gauges, lifecycle spans.

    `tracer_provider=None` means no spans (no trace exporter is configured, so spans would
    cost CPU and go nowhere); the client's trace context is then forwarded untouched.
    `scrape` serves /metrics and /api/stats/metrics; `closers` run at `shutdown` (providers
    built by `providers.build_telemetry` flush their exporters there).
    """

    def __init__(
        self,
        tracer_provider: TracerProvider | None,
        meter_provider: MeterProvider,
        upstream_url: URL,
        *,
        scrape: ScrapeReader | None = None,
        closers: tuple[Callable[[], object], ...] = (),
        max_model_labels: int = DEFAULT_MAX_MODEL_LABELS,
    ) -> None:
        self.tracing = None if tracer_provider is None else Tracing(tracer_provider, upstream_url)
        self.instruments = Instruments(
            meter_provider,
            upstream_url,
            max_model_labels=max_model_labels,
        )
        self.scrape = scrape
        self.tracer_provider = tracer_provider
        self.meter_provider = meter_provider
        self._tracer = (tracer_provider or trace.NoOpTracerProvider()).get_tracer(n.SCOPE)
        self._closers = closers

    # --- Observer ---------------------------------------------------------------------
    def start(self, request: web.Request, route: Route, record: RequestRecord) -> Observation:
        self.instruments.in_flight(route.operation, 1)
        if self.tracing is None:
            record.trace_id = incoming_trace_id(request)
            return Observation(self, None, None, None, route.operation)
        server, context = self.tracing.start_server(request, route)
        client = None
        if route.inference:
            client, context = self.tracing.start_client(route, context)
        span_context = server.get_span_context()
        if span_context.is_valid:
            record.trace_id = format(span_context.trace_id, "032x")
        return Observation(self, server, client, context, route.operation)

    def set_nodes(self, nodes: Mapping[str, tuple[str, int]]) -> None:
        """A fleet of upstreams: server.address/port per node on spans and metrics."""
        self.instruments.set_nodes(nodes)
        if self.tracing is not None:
            self.tracing.set_nodes(nodes)

    # --- for the system-metrics and service helpers ------------------------------------
    def register_gauge(
        self, name: str, unit: str, description: str, callback: GaugeCallback
    ) -> None:
        self.instruments.register_gauge(name, unit, description, callback)

    def register_counter(
        self, name: str, unit: str, description: str, callback: GaugeCallback
    ) -> None:
        self.instruments.register_counter(name, unit, description, callback)

    @contextmanager
    def lifecycle_span(self, name: str, **attributes: AttributeValue) -> Iterator[Span]:
        """An INTERNAL span `ollama.service <name>` (start, stop, health_check, get_models).

        An exception marks the span as failed with error.type = its class, then propagates.
        """
        with self._tracer.start_as_current_span(
            f"ollama.service {name}",
            kind=SpanKind.INTERNAL,
            attributes=attributes,
            record_exception=True,
            set_status_on_exception=False,
        ) as span:
            try:
                yield span
            except BaseException as exc:
                span.set_attribute(n.ERROR_TYPE, type(exc).__qualname__)
                span.set_status(Status(StatusCode.ERROR, str(exc)[:500] or None))
                raise

    async def shutdown(self) -> None:
        """Flush and stop the providers (blocking exporter calls run off the event loop)."""
        for close in self._closers:
            result = await asyncio.to_thread(close)
            if isinstance(result, Awaitable):
                await result


def incoming_trace_id(request: web.Request) -> str:
    """The trace id of the client's `traceparent`, or "" (records still join client traces)."""
    if "traceparent" not in request.headers:
        return ""
    context = trace.get_current_span(PROPAGATOR.extract(request.headers)).get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else ""
