"""OTLP export to real receivers started by the test: HTTP/protobuf (aiohttp) and gRPC."""

from __future__ import annotations

from concurrent import futures
from typing import Any

import grpc
import pytest
from aiohttp import web
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from yarl import URL

from ollama_proxy.config import Settings
from ollama_proxy.telemetry import Telemetry, build_telemetry
from ollama_proxy.telemetry import names as n
from tests.servers import start_app
from tests.telemetry.test_telemetry_functional import (
    HI,
    MODEL,
    TRACE_ID,
    TRACEPARENT,
    post,
    start_stack,
)

pytestmark = pytest.mark.filterwarnings("ignore:Bare functions are deprecated:DeprecationWarning")


class Received:
    def __init__(self) -> None:
        self.traces: list[trace_service_pb2.ExportTraceServiceRequest] = []
        self.metrics: list[metrics_service_pb2.ExportMetricsServiceRequest] = []
        self.headers: list[dict[str, str]] = []

    def spans(self) -> list[Any]:
        return [
            span
            for req in self.traces
            for rs in req.resource_spans
            for ss in rs.scope_spans
            for span in ss.spans
        ]

    def metric_names(self) -> set[str]:
        return {
            m.name
            for req in self.metrics
            for rm in req.resource_metrics
            for sm in rm.scope_metrics
            for m in sm.metrics
        }

    def service_names(self) -> set[str]:
        return {
            attr.value.string_value
            for req in self.traces
            for rs in req.resource_spans
            for attr in rs.resource.attributes
            if attr.key == "service.name"
        }


def http_receiver(received: Received) -> web.Application:
    async def traces(request: web.Request) -> web.Response:
        received.headers.append(dict(request.headers))
        received.traces.append(
            trace_service_pb2.ExportTraceServiceRequest.FromString(await request.read())
        )
        body = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
        return web.Response(body=body, content_type="application/x-protobuf")

    async def metrics(request: web.Request) -> web.Response:
        received.metrics.append(
            metrics_service_pb2.ExportMetricsServiceRequest.FromString(await request.read())
        )
        body = metrics_service_pb2.ExportMetricsServiceResponse().SerializeToString()
        return web.Response(body=body, content_type="application/x-protobuf")

    app = web.Application()
    app.router.add_post("/v1/traces", traces)
    app.router.add_post("/v1/metrics", metrics)
    return app


class GrpcTraces(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, received: Received) -> None:
        self.received = received

    def Export(self, request: Any, context: Any) -> Any:  # noqa: N802 - gRPC method name
        self.received.headers.append(dict(context.invocation_metadata()))
        self.received.traces.append(request)
        return trace_service_pb2.ExportTraceServiceResponse()


class GrpcMetrics(metrics_service_pb2_grpc.MetricsServiceServicer):
    def __init__(self, received: Received) -> None:
        self.received = received

    def Export(self, request: Any, context: Any) -> Any:  # noqa: N802 - gRPC method name
        self.received.metrics.append(request)
        return metrics_service_pb2.ExportMetricsServiceResponse()


async def traffic_through(endpoint: str, protocol: str) -> None:
    made: list[Telemetry] = []

    def observer_for(upstream: URL) -> Telemetry:
        settings = Settings(
            upstream=str(upstream),
            otel_exporter_otlp_endpoint=endpoint,
            otel_exporter_otlp_protocol=protocol,
            otel_exporter_otlp_headers="x-api-key=s3cret",
            otel_service_name="proxy-under-test",
        )
        made.append(build_telemetry(settings))
        return made[0]

    stack = await start_stack(observer_for)
    try:
        status, _ = await post(
            stack.url, "/api/chat", {"model": MODEL, "messages": HI}, traceparent=TRACEPARENT
        )
        assert status == 200
        await stack.records.wait(1)
    finally:
        await stack.close()
    await made[0].shutdown()  # flushes the span batch and a final metric export


def check(received: Received) -> None:
    spans = {span.name: span for span in received.spans()}
    assert {"POST /api/chat", f"chat {MODEL}"} <= set(spans)
    client = spans[f"chat {MODEL}"]
    assert client.trace_id.hex() == TRACE_ID
    assert client.parent_span_id == spans["POST /api/chat"].span_id
    attrs = {a.key: a.value for a in client.attributes}
    assert attrs["gen_ai.provider.name"].string_value == "ollama"
    assert attrs["gen_ai.usage.output_tokens"].int_value > 0
    assert received.service_names() == {"proxy-under-test"}
    assert {
        n.OPERATION_DURATION.name,
        n.TOKEN_USAGE.name,
        n.REQUESTS.name,
    } <= received.metric_names()
    assert any(h.get("x-api-key") == "s3cret" for h in received.headers)


async def test_otlp_http_export_reaches_a_receiver() -> None:
    received = Received()
    runner, url = await start_app(http_receiver(received))
    try:
        await traffic_through(url, "http/protobuf")
    finally:
        await runner.cleanup()
    check(received)


async def test_otlp_grpc_export_reaches_a_receiver() -> None:
    received = Received()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(GrpcTraces(received), server)
    metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(GrpcMetrics(received), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        await traffic_through(f"http://127.0.0.1:{port}", "grpc")
    finally:
        server.stop(grace=None)
    check(received)
