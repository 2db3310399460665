"""Tracer and meter providers from Settings; OTLP exporters only when an endpoint is set.

Exports run in the SDK's own threads (BatchSpanProcessor, PeriodicExportingMetricReader), so a
collector that is down never touches the request path; its errors are logged once per window,
the window doubling while the failures go on (`RateLimitFilter`).
"""

from __future__ import annotations

import logging
import time
from urllib.parse import unquote

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricExporter, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    ParentBased,
    Sampler,
    TraceIdRatioBased,
)

from ollama_proxy.config import Settings
from ollama_proxy.telemetry.core import Telemetry
from ollama_proxy.telemetry.scrape import ScrapeReader

# Loggers the SDK and exporters report failed exports on (opentelemetry 1.45).
EXPORT_LOGGERS = (
    "opentelemetry.exporter.otlp.proto.grpc.exporter",
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "opentelemetry.exporter.otlp.proto.http.metric_exporter",
    "opentelemetry.sdk._shared_internal",
    "opentelemetry.sdk.metrics._internal.export",
)


def parse_pairs(text: str) -> dict[str, str]:
    """`k=v,k2=v2` as OTEL_EXPORTER_OTLP_HEADERS and OTEL_RESOURCE_ATTRIBUTES write it."""
    pairs: dict[str, str] = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        if sep and key.strip():
            pairs[unquote(key.strip())] = unquote(value.strip())
    return pairs


def build_resource(settings: Settings) -> Resource:
    attributes: dict[str, str] = {
        **parse_pairs(settings.otel_resource_attributes),
        "service.name": settings.otel_service_name,
        "service.instance.id": settings.instance_name,
    }
    return Resource.create(attributes)


def signal_endpoint(settings: Settings, signal: str) -> str:
    """OTLP/HTTP posts to <endpoint>/v1/<signal>; gRPC takes the bare endpoint."""
    base = settings.otel_exporter_otlp_endpoint.rstrip("/")
    if settings.otel_exporter_otlp_protocol == "grpc":
        return base
    return f"{base}/v1/{signal}"


def otlp_exporters(settings: Settings) -> tuple[SpanExporter, MetricExporter] | None:
    if not settings.otel_exporter_otlp_endpoint:
        return None
    headers = parse_pairs(settings.otel_exporter_otlp_headers)
    if settings.otel_exporter_otlp_protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
            OTLPMetricExporter as GrpcMetrics,
        )
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
            OTLPSpanExporter as GrpcSpans,
        )

        endpoint = signal_endpoint(settings, "traces")
        insecure = endpoint.startswith("http://")
        return (
            GrpcSpans(endpoint=endpoint, insecure=insecure, headers=headers),
            GrpcMetrics(endpoint=endpoint, insecure=insecure, headers=headers),
        )
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
        OTLPMetricExporter as HttpMetrics,
    )
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter as HttpSpans,
    )

    return (
        HttpSpans(endpoint=signal_endpoint(settings, "traces"), headers=headers),
        HttpMetrics(endpoint=signal_endpoint(settings, "metrics"), headers=headers),
    )


def build_sampler(name: str, ratio: float) -> Sampler:
    """The sampler OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG name (the SDK's own names).

    Unsampled requests still get a valid trace id on their record and a `traceparent` to
    Ollama (sampled flag off): only the span export is skipped.

    >>> build_sampler("parentbased_traceidratio", 0.25).get_description()[:40]
    'ParentBased{root:TraceIdRatioBased{0.25}'
    """
    roots: dict[str, Sampler] = {
        "always_on": ALWAYS_ON,
        "always_off": ALWAYS_OFF,
        "traceidratio": TraceIdRatioBased(ratio),
    }
    if name.startswith("parentbased_"):
        return ParentBased(roots[name.removeprefix("parentbased_")])
    return roots[name]


def build_telemetry(settings: Settings) -> Telemetry:
    """Prometheus/JSON reader always; OTLP span and metric export when configured."""
    resource = build_resource(settings)
    tracer_provider: TracerProvider | None = None  # no exporter: spans would go nowhere
    scrape = ScrapeReader()
    readers: list[ScrapeReader | PeriodicExportingMetricReader] = [scrape]
    exporters = otlp_exporters(settings)
    if exporters is not None:
        span_exporter, metric_exporter = exporters
        sampler = build_sampler(settings.otel_traces_sampler, settings.otel_traces_sampler_arg)
        tracer_provider = TracerProvider(resource=resource, sampler=sampler)
        tracer_provider.add_span_processor(BatchSpanProcessor(span_exporter))
        readers.append(
            PeriodicExportingMetricReader(
                metric_exporter, export_interval_millis=settings.otel_metric_export_interval_ms
            )
        )
        rate_limit_export_logs()
    meter_provider = MeterProvider(metric_readers=readers, resource=resource)
    return Telemetry(
        tracer_provider,
        meter_provider,
        settings.upstream_url,
        scrape=scrape,
        max_model_labels=settings.max_model_labels,
        closers=(meter_provider.shutdown,)
        if tracer_provider is None
        else (tracer_provider.shutdown, meter_provider.shutdown),
    )


class RateLimitFilter(logging.Filter):
    """Pass one record per window; the window doubles (up to `max_s`) while records keep coming.

    The next record that passes says how many were suppressed.
    """

    def __init__(self, base_s: float = 30.0, max_s: float = 600.0) -> None:
        super().__init__()
        self.base_s, self.max_s = base_s, max_s
        self.window_s = base_s
        self._next = 0.0
        self._last = float("-inf")
        self.suppressed = 0

    def filter(self, record: logging.LogRecord, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        if now - self._last > 2 * self.window_s:
            self.window_s = self.base_s  # quiet for a while: a new outage starts fresh
        self._last = now
        if now < self._next:
            self.suppressed += 1
            return False
        if self.suppressed:
            record.msg = f"{record.msg} ({self.suppressed} similar messages suppressed)"
            self.suppressed = 0
        self._next = now + self.window_s
        self.window_s = min(self.window_s * 2, self.max_s)
        return True


def rate_limit_export_logs(base_s: float = 30.0) -> None:
    """One RateLimitFilter per export logger (idempotent)."""
    for name in EXPORT_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RateLimitFilter) for f in logger.filters):
            logger.addFilter(RateLimitFilter(base_s))
