"""Hand the proxy's own aggregates to every reader of an SDK MeterProvider.

The OTel specification calls this a MetricProducer; the Python SDK (1.45) has none, so we wrap
the one function every reader calls to collect (`MeasurementConsumer.collect`). Readers then
export SDK instruments (the system gauges) and our aggregates as one MetricsData, whatever the
reader is: Prometheus, OTLP, or a test's InMemoryMetricReader. This is the only place that
touches SDK internals; tests/telemetry fail loudly if an SDK upgrade moves them.
"""

from __future__ import annotations

from collections.abc import Callable
from time import time_ns
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    Metric,
    MetricsData,
    ResourceMetrics,
    ScopeMetrics,
)
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

Produce = Callable[[int], list[Metric]]


class BridgeUnavailable(RuntimeError):
    """The SDK's internals moved: the aggregates cannot reach the readers."""


def merge(
    data: MetricsData | None, resource: Any, scope: InstrumentationScope, extra: list[Metric]
) -> MetricsData | None:
    """`data` plus one more scope holding `extra` (pure)."""
    if not extra:
        return data
    ours = ScopeMetrics(scope, extra, schema_url="")
    if data is None or not data.resource_metrics:
        return MetricsData([ResourceMetrics(resource, [ours], schema_url="")])
    first, *rest = data.resource_metrics
    merged = ResourceMetrics(first.resource, [*first.scope_metrics, ours], first.schema_url)
    return MetricsData([merged, *rest])


def attach(provider: MeterProvider, scope: InstrumentationScope, produce: Produce) -> None:
    """Make every current and future reader of `provider` also collect `produce(now_ns)`."""
    try:
        consumer = provider._measurement_consumer
        # The readers this provider serves (`_all_metric_readers` is process-wide).
        readers = list(consumer._reader_storages)
        resource = provider._sdk_config.resource
        original = consumer.collect
    except AttributeError as exc:  # pragma: no cover - only on an incompatible SDK
        raise BridgeUnavailable(f"opentelemetry-sdk internals changed: {exc}") from exc

    def collect(reader: Any, timeout_millis: float = 10_000) -> MetricsData | None:
        data = original(reader, timeout_millis=timeout_millis)
        return merge(data, resource, scope, produce(time_ns()))

    # Readers added later look `consumer.collect` up again (MeterProvider.add_metric_reader).
    consumer.collect = collect  # type: ignore[method-assign,assignment]
    for reader in readers:
        reader._set_collect_callback(collect)  # type: ignore[arg-type]
