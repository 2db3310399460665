"""Telemetry settings: OpenTelemetry (standard OTEL_* names) and the metrics JSON snapshot."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from ollama_proxy.config.fields import env

TracesSampler = Literal[
    "parentbased_always_on",
    "parentbased_always_off",
    "parentbased_traceidratio",
    "always_on",
    "always_off",
    "traceidratio",
]


class TelemetrySettings(BaseModel):
    otel_sdk_disabled: bool = Field(
        False,
        validation_alias=env("OTEL_SDK_DISABLED"),
        description="true turns spans, OTel metrics and /metrics off (requests are still "
        "metered and stored).",
    )
    otel_exporter_otlp_endpoint: str = Field(
        "",
        validation_alias=env("OTEL_EXPORTER_OTLP_ENDPOINT"),
        description="OTLP collector base URL, e.g. http://127.0.0.1:4317 (gRPC) or "
        "http://127.0.0.1:4318 (HTTP). Empty = nothing is exported over OTLP.",
    )
    otel_exporter_otlp_protocol: Literal["grpc", "http/protobuf"] = Field(
        "grpc",
        validation_alias=env("OTEL_EXPORTER_OTLP_PROTOCOL"),
        description="OTLP transport: grpc or http/protobuf (/v1/traces and /v1/metrics are "
        "appended to the endpoint).",
    )
    otel_exporter_otlp_headers: str = Field(
        "",
        validation_alias=env("OTEL_EXPORTER_OTLP_HEADERS"),
        description="Headers sent with every OTLP export: key=value,key2=value2 "
        "(URL-encoded values).",
    )
    otel_service_name: str = Field(
        "ollama-local-serve",
        validation_alias=env("OTEL_SERVICE_NAME"),
        description="service.name of the OTel resource.",
    )
    otel_resource_attributes: str = Field(
        "",
        validation_alias=env("OTEL_RESOURCE_ATTRIBUTES"),
        description="Extra OTel resource attributes: key=value,key2=value2.",
    )
    otel_traces_sampler: TracesSampler = Field(
        "parentbased_always_on",
        validation_alias=env("OTEL_TRACES_SAMPLER"),
        description="Which requests get exported spans (with OTEL_EXPORTER_OTLP_ENDPOINT): the "
        "standard OTel sampler names. parentbased_* follow a client's sampled traceparent.",
    )
    otel_traces_sampler_arg: float = Field(
        1.0,
        ge=0.0,
        le=1.0,
        validation_alias=env("OTEL_TRACES_SAMPLER_ARG"),
        description="Ratio of traces kept by the *traceidratio samplers, 0 to 1 (spans cost "
        "~0.1 ms CPU a request: 0.1 keeps a tenth). Metrics and records count every request.",
    )
    otel_metric_export_interval_ms: int = Field(
        60_000,
        gt=0,
        validation_alias=env("OTEL_METRIC_EXPORT_INTERVAL"),
        description="Milliseconds between OTLP metric exports.",
    )
    metrics_json_file: str = Field(
        "",
        validation_alias=env("METRICS_JSON_FILE", "metrics_json_file"),
        description="When set (`--metrics-json FILE`), a JSON snapshot of every metric is "
        "written there every METRICS_EXPORT_INTERVAL seconds (atomic replace).",
    )
    max_model_labels: int = Field(
        200,
        ge=0,
        validation_alias=env("MAX_MODEL_LABELS", "max_model_labels"),
        description="Most distinct model names metrics carry; the rest are labelled `other`. "
        "Only names Ollama answered with a 2xx take a label.",
    )
    max_client_labels: int = Field(
        500,
        ge=0,
        validation_alias=env("MAX_CLIENT_LABELS", "max_client_labels"),
        description="Most distinct client values metrics carry; the rest are labelled `other`.",
    )
