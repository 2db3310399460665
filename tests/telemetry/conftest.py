"""In-memory providers: every test sees exactly the spans and metrics it produced."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, Metric
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import Sampler
from yarl import URL

from ollama_proxy.telemetry import ScrapeReader, Telemetry

UPSTREAM = URL("http://127.0.0.1:11434")


@dataclass
class Otel:
    telemetry: Telemetry
    spans_exporter: InMemorySpanExporter
    reader: InMemoryMetricReader
    scrape: ScrapeReader
    tracer_provider: TracerProvider
    meter_provider: MeterProvider

    def spans(self) -> list[ReadableSpan]:
        return list(self.spans_exporter.get_finished_spans())

    def span(self, name: str) -> ReadableSpan:
        found = [s for s in self.spans() if s.name == name]
        assert len(found) == 1, f"{name!r} not exactly once in {[s.name for s in self.spans()]}"
        return found[0]

    def metrics(self) -> dict[str, Metric]:
        data = self.reader.get_metrics_data()
        if data is None:
            return {}
        return {
            m.name: m for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics
        }

    def points(self, name: str) -> list[Any]:
        metric = self.metrics().get(name)
        return [] if metric is None else list(metric.data.data_points)


def make_otel(upstream: URL = UPSTREAM, sampler: Sampler | None = None) -> Otel:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider(sampler=sampler)
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    scrape = ScrapeReader()
    meter_provider = MeterProvider(metric_readers=[reader, scrape])
    telemetry = Telemetry(
        tracer_provider,
        meter_provider,
        upstream,
        scrape=scrape,
        closers=(tracer_provider.shutdown, meter_provider.shutdown),
    )
    return Otel(telemetry, exporter, reader, scrape, tracer_provider, meter_provider)


@pytest.fixture
def otel() -> Iterator[Otel]:
    made = make_otel()
    yield made
    made.tracer_provider.shutdown()
    made.meter_provider.shutdown()
