from __future__ import annotations

import logging

from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

from ollama_proxy.config import Settings
from ollama_proxy.telemetry import Telemetry, build_telemetry
from ollama_proxy.telemetry.providers import (
    EXPORT_LOGGERS,
    RateLimitFilter,
    build_resource,
    otlp_exporters,
    parse_pairs,
    rate_limit_export_logs,
    signal_endpoint,
)


def settings(**values: object) -> Settings:
    return Settings(upstream="http://127.0.0.1:11434", instance_name="box", **values)


def readers(telemetry: Telemetry) -> list[object]:
    return list(telemetry.meter_provider._measurement_consumer._reader_storages)  # type: ignore[attr-defined]


def test_parse_pairs_decodes_and_skips_junk() -> None:
    assert parse_pairs("a=1, b = x%3Dy ,junk,,=v") == {"a": "1", "b": "x=y"}
    assert parse_pairs("") == {}


def test_resource_from_settings() -> None:
    resource = build_resource(
        settings(otel_service_name="svc", otel_resource_attributes="deployment.environment=dev")
    )
    assert resource.attributes["service.name"] == "svc"
    assert resource.attributes["service.instance.id"] == "box"
    assert resource.attributes["deployment.environment"] == "dev"


def test_no_endpoint_no_otlp() -> None:
    assert otlp_exporters(settings()) is None


def test_http_endpoint_gets_signal_paths() -> None:
    s = settings(
        otel_exporter_otlp_endpoint="http://collector:4318/",
        otel_exporter_otlp_protocol="http/protobuf",
    )
    assert signal_endpoint(s, "traces") == "http://collector:4318/v1/traces"
    assert signal_endpoint(s, "metrics") == "http://collector:4318/v1/metrics"
    grpc = settings(otel_exporter_otlp_endpoint="http://collector:4317")
    assert signal_endpoint(grpc, "traces") == "http://collector:4317"


async def test_from_settings_adds_otlp_reader_only_when_configured() -> None:
    plain = build_telemetry(settings())
    assert plain.scrape is not None
    assert not any(isinstance(r, PeriodicExportingMetricReader) for r in readers(plain))
    await plain.shutdown()
    exporting = build_telemetry(
        settings(
            otel_exporter_otlp_endpoint="http://127.0.0.1:9",
            otel_exporter_otlp_protocol="http/protobuf",
        )
    )
    assert any(isinstance(r, PeriodicExportingMetricReader) for r in readers(exporting))
    await exporting.shutdown()


def test_rate_limit_passes_one_per_window_with_backoff() -> None:
    limit = RateLimitFilter(base_s=10, max_s=40)
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "export failed", None, None)
    passed = [t for t in range(200) if limit.filter(record, now=float(t))]
    # Windows 10, 20, 40, 40, ... while the failures go on.
    assert passed == [0, 10, 30, 70, 110, 150, 190]
    assert "suppressed" in str(record.msg)


def test_rate_limit_resets_after_a_quiet_period() -> None:
    limit = RateLimitFilter(base_s=10, max_s=40)
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "export failed", None, None)
    for t in (0, 10, 30):
        assert limit.filter(record, now=float(t))
    assert limit.filter(record, now=500.0)
    assert limit.window_s == 20  # started again from the base window (then doubled)


def test_export_loggers_get_one_filter_each() -> None:
    rate_limit_export_logs()
    rate_limit_export_logs()
    for name in EXPORT_LOGGERS:
        filters = logging.getLogger(name).filters
        assert sum(isinstance(f, RateLimitFilter) for f in filters) == 1
