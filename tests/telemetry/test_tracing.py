from __future__ import annotations

from aiohttp.test_utils import make_mocked_request
from multidict import CIMultiDict
from opentelemetry.trace import SpanKind, StatusCode

from ollama_proxy.operations import classify
from ollama_proxy.records import RequestRecord
from ollama_proxy.telemetry import names as n
from ollama_proxy.telemetry.tracing import http_route
from tests.telemetry.conftest import Otel
from tests.telemetry.test_instruments import chat_record

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"


def run(
    otel: Otel,
    path: str,
    record: RequestRecord,
    headers: dict[str, str] | None = None,
    method: str = "POST",
) -> CIMultiDict[str]:
    """Drive one request through the observer the way the proxy handler does."""
    request = make_mocked_request(method, path, headers=headers or {})
    observation = otel.telemetry.start(request, classify(path), record)
    upstream: CIMultiDict[str] = CIMultiDict(headers or {})
    observation.inject(upstream)
    observation.on_first_chunk()
    observation.finish(record)
    return upstream


def test_chat_makes_a_server_span_with_a_genai_client_child(otel: Otel) -> None:
    record = chat_record()
    headers = {"traceparent": TRACEPARENT, "tracestate": "vendor=1", "User-Agent": "ollama-py"}
    upstream = run(otel, "/api/chat", record, headers)
    server = otel.span("POST /api/chat")
    client = otel.span("chat llama3.2:1b")
    assert server.kind == SpanKind.SERVER and client.kind == SpanKind.CLIENT
    # The client's trace continues: our SERVER span is a child of its span, CLIENT of SERVER.
    assert format(server.context.trace_id, "032x") == TRACE_ID
    assert server.parent is not None and format(server.parent.span_id, "016x") == PARENT_ID
    assert client.parent is not None and client.parent.span_id == server.context.span_id
    assert record.trace_id == TRACE_ID
    # Ollama sees the CLIENT span as its parent, and the vendor's tracestate survives.
    client_id = format(client.context.span_id, "016x")
    assert upstream.getall("traceparent") == [f"00-{TRACE_ID}-{client_id}-01"]
    assert upstream["tracestate"] == "vendor=1"
    assert client.end_time is not None and server.end_time is not None
    assert client.end_time <= server.end_time


def test_client_span_carries_the_genai_attributes(otel: Otel) -> None:
    run(otel, "/api/chat", chat_record())
    attrs = dict(otel.span("chat llama3.2:1b").attributes or {})
    ttfc = attrs.pop(n.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK)
    assert isinstance(ttfc, float) and 0 <= ttfc < 1
    assert attrs == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "ollama",
        "server.address": "127.0.0.1",
        "server.port": 11434,
        "gen_ai.request.model": "llama3.2:1b",
        "gen_ai.response.model": "llama3.2:1b",
        "gen_ai.request.stream": True,
        "gen_ai.usage.input_tokens": 12,
        "gen_ai.usage.output_tokens": 30,
        "gen_ai.usage.cache_read.input_tokens": 4,
        "gen_ai.response.finish_reasons": ("stop",),
        "ollama.total_duration": 0.8,
        "ollama.load_duration": 0.3,
        "ollama.prompt_eval_duration": 0.05,
        "ollama.eval_duration": 0.4,
    }
    server = dict(otel.span("POST /api/chat").attributes or {})
    assert server["http.response.status_code"] == 200
    assert server["http.route"] == "/api/chat"
    assert server["http.request.method"] == "POST"
    assert "error.type" not in server


def test_generate_is_named_text_completion(otel: Otel) -> None:
    run(otel, "/api/generate", chat_record(operation="generate", endpoint="/api/generate"))
    assert otel.span("text_completion llama3.2:1b").attributes[n.GEN_AI_OPERATION_NAME] == (
        "text_completion"
    )


def test_unknown_model_keeps_the_operation_as_name(otel: Otel) -> None:
    run(
        otel,
        "/v1/chat/completions",
        chat_record(model="", status="error", http_status=400, error_type="http_400"),
    )
    client = otel.span("chat")
    assert client.status.status_code == StatusCode.ERROR


def test_404_fails_the_client_span_only(otel: Otel) -> None:
    record = chat_record(
        status="error",
        http_status=404,
        error_type="http_404",
        error_message="model 'nope' not found",
        stream=False,
        prompt_tokens=0,
        completion_tokens=0,
        cached_tokens=0,
        done_reason="",
        total_duration_ms=None,
    )
    run(otel, "/api/chat", record)
    client = otel.span("chat llama3.2:1b")
    server = otel.span("POST /api/chat")
    assert client.status.status_code == StatusCode.ERROR
    assert client.status.description == "model 'nope' not found"
    assert client.attributes["error.type"] == "404"
    assert "gen_ai.response.model" not in client.attributes
    # HTTP server semconv: a 4xx is the caller's fault, not a server error.
    assert server.status.status_code == StatusCode.UNSET
    assert server.attributes["http.response.status_code"] == 404


def test_500_fails_both_spans(otel: Otel) -> None:
    record = chat_record(status="error", http_status=500, error_type="http_500", stream=False)
    run(otel, "/api/chat", record)
    for name in ("chat llama3.2:1b", "POST /api/chat"):
        span = otel.span(name)
        assert span.status.status_code == StatusCode.ERROR
        assert span.attributes["error.type"] == "500"


def test_mid_stream_failure_fails_both_spans(otel: Otel) -> None:
    record = chat_record(
        status="error",
        http_status=200,
        error_type="stream_error",
        error_message="upstream failed mid-stream",
    )
    run(otel, "/api/chat", record)
    for name in ("chat llama3.2:1b", "POST /api/chat"):
        span = otel.span(name)
        assert span.status.status_code == StatusCode.ERROR
        assert span.attributes["error.type"] == "stream_error"


def test_upstream_unreachable_fails_both_spans(otel: Otel) -> None:
    record = chat_record(status="error", http_status=502, error_type="upstream_unreachable")
    run(otel, "/api/chat", record)
    assert otel.span("POST /api/chat").attributes["error.type"] == "upstream_unreachable"


def test_cancel_is_not_an_error(otel: Otel) -> None:
    # semantic-conventions v1.41 (#3495): a client hanging up is not a server failure.
    run(otel, "/api/chat", chat_record(status="cancelled"))
    for name in ("chat llama3.2:1b", "POST /api/chat"):
        span = otel.span(name)
        assert span.status.status_code == StatusCode.UNSET
        assert span.attributes["ollama.request.status"] == "cancelled"
        assert [e.name for e in span.events] == ["cancelled"]


def test_non_inference_route_has_only_a_server_span(otel: Otel) -> None:
    record = RequestRecord(endpoint="/api/tags", operation="list", http_status=200)
    upstream = run(otel, "/api/tags", record, {"traceparent": TRACEPARENT}, method="GET")
    (server,) = otel.spans()
    assert server.name == "GET /api/tags" and server.kind == SpanKind.SERVER
    server_id = format(server.context.span_id, "016x")
    assert upstream["traceparent"] == f"00-{TRACE_ID}-{server_id}-01"


def test_without_traceparent_a_new_trace_starts(otel: Otel) -> None:
    record = RequestRecord(endpoint="/api/tags", operation="list", http_status=200)
    upstream = run(otel, "/api/tags", record, method="GET")
    (server,) = otel.spans()
    assert server.parent is None
    assert upstream["traceparent"].split("-")[1] == format(server.context.trace_id, "032x")
    assert record.trace_id == format(server.context.trace_id, "032x")


def test_finish_twice_ends_spans_once(otel: Otel) -> None:
    record = chat_record()
    request = make_mocked_request("POST", "/api/chat")
    observation = otel.telemetry.start(request, classify("/api/chat"), record)
    observation.finish(record)
    observation.finish(record)
    assert len(otel.spans()) == 2
    assert otel.points(n.REQUESTS.name)[0].value == 1


def test_unknown_paths_do_not_explode_span_names() -> None:
    assert http_route("/foo/123", classify("/foo/123")) is None
    assert http_route("/api/blobs/sha256:abc", classify("/api/blobs/sha256:abc")) == (
        "/api/blobs/{digest}"
    )
    assert http_route("/v1/models/llama", classify("/v1/models/llama")) == "/v1/models/{model}"


def test_lifecycle_span_records_failures(otel: Otel) -> None:
    with otel.telemetry.lifecycle_span("health_check", **{"server.port": 11434}):
        pass
    try:
        with otel.telemetry.lifecycle_span("start"):
            raise TimeoutError("ollama serve did not come up")
    except TimeoutError:
        pass
    ok = otel.span("ollama.service health_check")
    failed = otel.span("ollama.service start")
    assert ok.kind == SpanKind.INTERNAL and ok.status.status_code == StatusCode.UNSET
    assert failed.status.status_code == StatusCode.ERROR
    assert failed.attributes["error.type"] == "TimeoutError"
    assert [e.name for e in failed.events] == ["exception"]


def test_without_a_tracer_provider_trace_context_passes_through() -> None:
    from opentelemetry.sdk.metrics import MeterProvider

    from ollama_proxy.telemetry import Telemetry
    from tests.telemetry.conftest import UPSTREAM

    telemetry = Telemetry(None, MeterProvider(), UPSTREAM)
    record = chat_record()
    headers = {"traceparent": TRACEPARENT, "tracestate": "vendor=1"}
    request = make_mocked_request("POST", "/api/chat", headers=headers)
    observation = telemetry.start(request, classify("/api/chat"), record)
    upstream: CIMultiDict[str] = CIMultiDict(headers)
    observation.inject(upstream)
    observation.finish(record)
    assert upstream["traceparent"] == TRACEPARENT  # untouched: we made no span
    assert record.trace_id == TRACE_ID
    with telemetry.lifecycle_span("start") as span:
        assert not span.is_recording()
    assert telemetry.instruments.aggregates.sums[n.REQUESTS.name]
