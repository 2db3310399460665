from __future__ import annotations

from typing import Any

from ollama_proxy.records import RequestRecord
from ollama_proxy.telemetry import names as n
from ollama_proxy.telemetry.instruments import error_type, genai_operation
from tests.telemetry.conftest import Otel

COMMON = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "ollama",
    "gen_ai.request.model": "llama3.2:1b",
    "server.address": "127.0.0.1",
    "server.port": 11434,
}


def chat_record(**overrides: Any) -> RequestRecord:
    values: dict[str, Any] = dict(
        endpoint="/api/chat",
        operation="chat",
        api_flavor="native",
        inference=True,
        model="llama3.2:1b",
        http_status=200,
        stream=True,
        prompt_tokens=12,
        cached_tokens=4,
        completion_tokens=30,
        chunks=31,
        latency_ms=820.0,
        ttfb_ms=100.0,
        total_duration_ms=800.0,
        load_duration_ms=300.0,
        prompt_eval_duration_ms=50.0,
        eval_duration_ms=400.0,
        queue_wait_ms=50.0,
        decode_tps=75.0,
        done_reason="stop",
        ttft_answer_ms=100.0,
    )
    values.update(overrides)
    return RequestRecord(**values)


def by_attrs(points: list[Any], **match: Any) -> Any:
    found = [p for p in points if all(p.attributes.get(k) == v for k, v in match.items())]
    assert len(found) == 1, [dict(p.attributes) for p in points]
    return found[0]


def test_successful_stream_records_every_metric(otel: Otel) -> None:
    otel.telemetry.instruments.record(chat_record(), ttfc_s=0.1)
    names = set(otel.metrics())
    thinking = (n.REASONING_OUTPUT_TOKENS, n.THINKING_DURATION)  # this model did not think
    skipped = (n.ERRORS, n.IN_FLIGHT, *thinking)
    assert names == {spec.name for spec in n.ALL_METRICS if spec not in skipped}
    duration = otel.points(n.OPERATION_DURATION.name)[0]
    assert dict(duration.attributes) == COMMON
    assert duration.count == 1 and duration.sum == 0.82
    assert list(duration.explicit_bounds) == list(n.DURATION_BUCKETS)
    tokens = otel.points(n.TOKEN_USAGE.name)
    assert by_attrs(tokens, **{"gen_ai.token.type": "input"}).sum == 12
    assert by_attrs(tokens, **{"gen_ai.token.type": "output"}).sum == 30
    # One count per chunk after the first, at the mean interval: (0.82 - 0.1) / 30.
    per_chunk = otel.points(n.TIME_PER_OUTPUT_CHUNK.name)[0]
    assert per_chunk.count == 30 and abs(per_chunk.sum - 0.72) < 1e-9
    assert otel.points(n.TIME_TO_FIRST_CHUNK.name)[0].sum == 0.1
    assert otel.points(n.SERVER_REQUEST_DURATION.name)[0].sum == 0.8
    assert abs(otel.points(n.SERVER_TIME_TO_FIRST_TOKEN.name)[0].sum - 0.35) < 1e-9
    assert abs(otel.points(n.SERVER_TIME_PER_OUTPUT_TOKEN.name)[0].sum - 0.4 / 30) < 1e-9
    assert otel.points(n.MODEL_LOAD_DURATION.name)[0].sum == 0.3
    assert otel.points(n.PROMPT_EVAL_DURATION.name)[0].sum == 0.05
    assert otel.points(n.QUEUE_WAIT.name)[0].sum == 0.05
    assert otel.points(n.TOKENS_PER_SECOND.name)[0].sum == 75
    assert otel.points(n.CACHED_INPUT_TOKENS.name)[0].value == 4
    request = otel.points(n.REQUESTS.name)[0]
    assert dict(request.attributes) == {
        "ollama.operation": "chat",
        "gen_ai.request.model": "llama3.2:1b",
        "http.response.status_code": 200,
        "ollama.request.status": "success",
    }


def test_error_records_error_type_and_no_usage(otel: Otel) -> None:
    record = chat_record(status="error", http_status=404, error_type="http_404", stream=False)
    otel.telemetry.instruments.record(record)
    duration = otel.points(n.OPERATION_DURATION.name)[0]
    assert duration.attributes["error.type"] == "404"
    assert otel.points(n.TOKEN_USAGE.name) == []
    assert by_attrs(otel.points(n.ERRORS.name), **{"error.type": "404"}).value == 1


def test_cancelled_requests_are_counted_but_not_timed(otel: Otel) -> None:
    otel.telemetry.instruments.record(chat_record(status="cancelled"))
    assert otel.points(n.OPERATION_DURATION.name) == []
    assert otel.points(n.REQUESTS.name)[0].attributes["ollama.request.status"] == "cancelled"


def test_estimated_counts_are_not_reported_as_usage(otel: Otel) -> None:
    otel.telemetry.instruments.record(chat_record(estimated=True))
    assert otel.points(n.TOKEN_USAGE.name) == []


def test_embeddings_report_input_tokens_only(otel: Otel) -> None:
    record = chat_record(operation="embeddings", stream=False, completion_tokens=0)
    otel.telemetry.instruments.record(record)
    tokens = otel.points(n.TOKEN_USAGE.name)
    assert [p.attributes["gen_ai.token.type"] for p in tokens] == ["input"]
    assert tokens[0].attributes["gen_ai.operation.name"] == "embeddings"


def test_non_inference_routes_only_count_requests(otel: Otel) -> None:
    record = RequestRecord(endpoint="/api/tags", operation="list", http_status=200)
    otel.telemetry.instruments.record(record)
    assert set(otel.metrics()) == {n.REQUESTS.name}


def test_in_flight_goes_up_and_down(otel: Otel) -> None:
    otel.telemetry.instruments.in_flight("chat", 1)
    otel.telemetry.instruments.in_flight("chat", 1)
    assert otel.points(n.IN_FLIGHT.name)[0].value == 2
    otel.telemetry.instruments.in_flight("chat", -1)
    assert otel.points(n.IN_FLIGHT.name)[0].value == 1


def test_registered_gauges_are_read_at_collection(otel: Otel) -> None:
    models = [(1.0, {"gen_ai.request.model": "a"}), (1.0, {"gen_ai.request.model": "b"})]
    cpu = iter([12.5, 40.0])
    otel.telemetry.register_gauge(n.SYSTEM_LOADED_MODELS, "{model}", "loaded", lambda: models)
    otel.telemetry.register_gauge(n.SYSTEM_CPU_PERCENT, "%", "cpu", lambda: next(cpu))
    otel.telemetry.register_gauge("broken", "1", "raises", lambda: 1 / 0)
    otel.telemetry.register_gauge("absent", "1", "no value yet", lambda: None)
    assert otel.points(n.SYSTEM_CPU_PERCENT)[0].value == 12.5
    assert otel.points(n.SYSTEM_CPU_PERCENT)[0].value == 40.0
    loaded = otel.points(n.SYSTEM_LOADED_MODELS)
    assert sorted(p.attributes["gen_ai.request.model"] for p in loaded) == ["a", "b"]
    assert "broken" not in otel.metrics() and "absent" not in otel.metrics()


def test_error_type_is_low_cardinality() -> None:
    assert error_type(RequestRecord(error_type="http_500", http_status=500)) == "500"
    assert error_type(RequestRecord(error_type="stream_error")) == "stream_error"
    assert error_type(RequestRecord(http_status=503)) == "503"
    assert error_type(RequestRecord()) == "_OTHER"


def test_generate_is_text_completion() -> None:
    assert genai_operation("generate") == "text_completion"
    assert genai_operation("chat") == "chat"


def test_thinking_is_counted_under_the_semconv_reasoning_name(otel: Otel) -> None:
    record = chat_record(thinking_tokens=9, thinking_ms=450.0, ttft_answer_ms=600.0)
    otel.telemetry.instruments.record(record, ttfc_s=0.15)
    assert otel.points("gen_ai.usage.reasoning.output_tokens")[0].value == 9
    assert otel.points(n.THINKING_DURATION.name)[0].sum == 0.45
    assert otel.points(n.TIME_TO_FIRST_ANSWER_CHUNK.name)[0].sum == 0.6


def test_usage_that_is_not_reported_is_not_token_usage(otel: Otel) -> None:
    # Semconv: counts that could not be obtained are not reported (pull progress, estimates).
    otel.telemetry.instruments.record(chat_record(usage_source="estimated"), ttfc_s=0.1)
    otel.telemetry.instruments.record(chat_record(usage_source="none"), ttfc_s=0.1)
    assert n.TOKEN_USAGE.name not in otel.metrics()


def test_model_labels_stay_within_budget_and_unanswered_names_are_other(otel: Otel) -> None:
    instruments = otel.telemetry.instruments
    instruments.models.limit = 3
    # A 404 for a made-up name takes no label, though the budget has room.
    instruments.record(chat_record(model="junk:latest", http_status=404, status="error"))
    for i in range(10):  # answered 2xx: the first three get their own label
        instruments.record(chat_record(model=f"m{i}:latest"), ttfc_s=0.1)
    models = {p.attributes["gen_ai.request.model"] for p in otel.points(n.REQUESTS.name)}
    assert models == {"m0:latest", "m1:latest", "m2:latest", "other"}
