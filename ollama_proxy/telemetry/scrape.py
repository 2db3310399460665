"""Pull-side metric reading: Prometheus text for /metrics, a JSON snapshot for the stats API.

One reader serves both, so each value is aggregated once however many ways it is read. Its
Prometheus registry is private: two apps in one process (tests, the demo) never collide on the
global `prometheus_client.REGISTRY`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics.export import (
    Gauge,
    Histogram,
    HistogramDataPoint,
    MetricsData,
    NumberDataPoint,
    Sum,
)
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

PROMETHEUS_CONTENT_TYPE = CONTENT_TYPE_LATEST


class ScrapeReader(PrometheusMetricReader):
    """A Prometheus reader on a private registry that can also hand out raw snapshots."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self._snapshot_only = False
        self._last: MetricsData | None = None
        super().__init__(registry=self.registry, scope_info_enabled=False)

    def prometheus_text(self) -> bytes:
        return generate_latest(self.registry)

    def snapshot(self) -> MetricsData | None:
        """Collect now without queueing the data for the next Prometheus scrape."""
        self._snapshot_only = True
        try:
            self.collect()
        finally:
            self._snapshot_only = False
        return self._last

    def _receive_metrics(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> None:
        self._last = metrics_data
        if not self._snapshot_only:
            super()._receive_metrics(metrics_data, timeout_millis, **kwargs)


def snapshot_json(data: MetricsData | None, now: datetime | None = None) -> dict[str, Any]:
    """Every current metric value as plain JSON (pure).

    {"timestamp", "resource": {...}, "metrics": [{"name", "unit", "description", "type",
    "points": [{"attributes", "value"} | {"attributes", "count", "sum", "min", "max",
    "buckets": [{"le", "count"}]}]}]}; bucket counts are per bucket, not cumulative.
    """
    stamp = (now or datetime.now(UTC)).isoformat()
    out: dict[str, Any] = {"timestamp": stamp, "resource": {}, "metrics": []}
    if data is None:
        return out
    for resource_metrics in data.resource_metrics:
        out["resource"].update(_plain(resource_metrics.resource.attributes))
        for scope in resource_metrics.scope_metrics:
            for metric in scope.metrics:
                kind, points = _points(metric.data)
                out["metrics"].append(
                    {
                        "name": metric.name,
                        "unit": metric.unit,
                        "description": metric.description,
                        "type": kind,
                        "scope": scope.scope.name,
                        "points": points,
                    }
                )
    out["metrics"].sort(key=lambda m: m["name"])
    return out


def _points(data: Any) -> tuple[str, list[dict[str, Any]]]:
    if isinstance(data, Histogram):
        return "histogram", [_histogram_point(p) for p in data.data_points]
    if isinstance(data, Sum):
        kind = "counter" if data.is_monotonic else "updowncounter"
        return kind, [_number_point(p) for p in data.data_points]
    if isinstance(data, Gauge):
        return "gauge", [_number_point(p) for p in data.data_points]
    return type(data).__name__.lower(), []


def _number_point(point: NumberDataPoint) -> dict[str, Any]:
    return {"attributes": _plain(point.attributes), "value": point.value}


def _histogram_point(point: HistogramDataPoint) -> dict[str, Any]:
    bounds = [*point.explicit_bounds, math.inf]
    return {
        "attributes": _plain(point.attributes),
        "count": point.count,
        "sum": point.sum,
        "min": _finite(point.min),
        "max": _finite(point.max),
        "buckets": [
            {"le": "+Inf" if math.isinf(le) else le, "count": count}
            for le, count in zip(bounds, point.bucket_counts, strict=True)
        ],
    }


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _plain(attributes: Mapping[str, Any] | None) -> dict[str, Any]:
    if not attributes:
        return {}
    return {k: list(v) if isinstance(v, tuple) else v for k, v in attributes.items()}
