"""Telemetry through the real proxy, with the simulator as Ollama."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from multidict import CIMultiDict
from opentelemetry.trace import SpanKind, StatusCode
from yarl import URL

from ollama_proxy.app import create_app
from ollama_proxy.config import Settings
from ollama_proxy.records import RequestRecord
from ollama_proxy.simulator import SimulatorConfig, create_simulator_app
from ollama_proxy.simulator.faults import Faults
from ollama_proxy.simulator.state import SIMULATOR, Simulator
from ollama_proxy.telemetry import Telemetry, add_telemetry_routes
from ollama_proxy.telemetry.providers import build_sampler
from tests.servers import start_app
from tests.telemetry.conftest import Otel, make_otel

# aiohttp 3.14 warns about the proxy's callable-object handler (lead's app.py, reported).
pytestmark = pytest.mark.filterwarnings("ignore:Bare functions are deprecated:DeprecationWarning")

MODEL = "llama3.2:latest"
HI = [{"role": "user", "content": "hi"}]  # an empty chat only loads the model
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


class Records:
    """The proxy's submit(): collects records and lets a test await the n-th."""

    def __init__(self) -> None:
        self.items: list[RequestRecord] = []
        self._changed = asyncio.Event()

    def submit(self, record: RequestRecord) -> None:
        self.items.append(record)
        self._changed.set()

    async def wait(self, count: int) -> list[RequestRecord]:
        # The handler finishes (spans end, record is submitted) after the client has the
        # last byte, so tests await the record instead of racing it.
        while len(self.items) < count:
            self._changed.clear()
            await asyncio.wait_for(self._changed.wait(), 10)
        return self.items


@dataclass
class Stack:
    url: str
    upstream: URL
    sim: Simulator
    records: Records
    upstream_headers: list[CIMultiDict[str]] = field(default_factory=list)
    runners: list[web.AppRunner] = field(default_factory=list)

    async def close(self) -> None:
        for runner in reversed(self.runners):
            await runner.cleanup()


async def start_stack(observer_for: Any) -> Stack:
    sim_app = create_simulator_app(SimulatorConfig(tokens_per_s=0, ttft_s=0, load_s=0))
    seen: list[CIMultiDict[str]] = []

    @web.middleware
    async def record_headers(request: web.Request, handler: Any) -> web.StreamResponse:
        seen.append(CIMultiDict(request.headers))
        return await handler(request)

    sim_app.middlewares.append(record_headers)
    sim_runner, sim_url = await start_app(sim_app)
    records = Records()
    settings = Settings(upstream=sim_url, listen="127.0.0.1:0", instance_name="test")
    observer = observer_for(URL(sim_url))
    app = create_app(settings, observer=observer, submit=records.submit)
    runner, url = await start_app(app)
    return Stack(url, URL(sim_url), sim_app[SIMULATOR], records, seen, [sim_runner, runner])


@pytest.fixture
async def stack_otel() -> AsyncIterator[tuple[Stack, Otel]]:
    made: dict[str, Otel] = {}

    def observer_for(upstream: URL) -> Telemetry:
        made["otel"] = make_otel(upstream)
        return made["otel"].telemetry

    stack = await start_stack(observer_for)
    yield stack, made["otel"]
    await stack.close()
    made["otel"].tracer_provider.shutdown()
    made["otel"].meter_provider.shutdown()


async def post(url: str, path: str, body: dict[str, Any], **headers: str) -> tuple[int, bytes]:
    async with aiohttp.ClientSession() as session:
        async with session.post(url + path, json=body, headers=headers) as resp:
            return resp.status, await resp.read()


async def test_streamed_chat_spans_attributes_and_propagation(
    stack_otel: tuple[Stack, Otel],
) -> None:
    stack, otel = stack_otel
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
    status, _ = await post(stack.url, "/api/chat", body, traceparent=TRACEPARENT)
    assert status == 200
    (record,) = await stack.records.wait(1)
    server = otel.span("POST /api/chat")
    client = otel.span(f"chat {MODEL}")
    assert (server.kind, client.kind) == (SpanKind.SERVER, SpanKind.CLIENT)
    assert format(server.context.trace_id, "032x") == TRACE_ID == record.trace_id
    assert client.parent is not None and client.parent.span_id == server.context.span_id
    # Ollama received our CLIENT span as its parent, in the client's trace.
    upstream = [h for h in stack.upstream_headers if "traceparent" in h][-1]
    client_id = format(client.context.span_id, "016x")
    assert upstream.getall("traceparent") == [f"00-{TRACE_ID}-{client_id}-01"]
    attrs = client.attributes or {}
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.provider.name"] == "ollama"
    assert attrs["gen_ai.request.model"] == attrs["gen_ai.response.model"] == MODEL
    assert attrs["gen_ai.request.stream"] is True
    assert attrs["server.address"] == stack.upstream.host
    assert attrs["server.port"] == stack.upstream.port
    assert record.prompt_tokens > 0 and record.completion_tokens > 0
    assert attrs["gen_ai.usage.input_tokens"] == record.prompt_tokens
    assert attrs["gen_ai.usage.output_tokens"] == record.completion_tokens
    assert attrs["gen_ai.response.finish_reasons"] == (record.done_reason,)
    assert 0 < attrs["gen_ai.response.time_to_first_chunk"] < 10
    for name in ("ollama.total_duration", "ollama.load_duration", "ollama.eval_duration"):
        assert isinstance(attrs[name], float)
    assert client.status.status_code == StatusCode.UNSET
    # The spans end after the last byte: not before the upstream answered completely.
    assert client.end_time is not None and server.end_time is not None
    assert client.end_time - client.start_time >= 0
    assert (server.attributes or {})["http.response.status_code"] == 200


async def test_generate_without_stream_is_a_text_completion(
    stack_otel: tuple[Stack, Otel],
) -> None:
    stack, otel = stack_otel
    status, _ = await post(
        stack.url, "/api/generate", {"model": MODEL, "prompt": "x", "stream": False}
    )
    assert status == 200
    await stack.records.wait(1)
    span = otel.span(f"text_completion {MODEL}")
    assert "gen_ai.request.stream" not in (span.attributes or {})
    assert (span.attributes or {})["gen_ai.usage.output_tokens"] > 0


async def test_unknown_model_404_is_a_client_span_error(stack_otel: tuple[Stack, Otel]) -> None:
    stack, otel = stack_otel
    status, _ = await post(stack.url, "/api/chat", {"model": "nope:1b", "messages": HI})
    assert status == 404
    await stack.records.wait(1)
    client = otel.span("chat nope:1b")
    assert client.status.status_code == StatusCode.ERROR
    assert (client.attributes or {})["error.type"] == "404"
    assert otel.span("POST /api/chat").status.status_code == StatusCode.UNSET


async def test_upstream_500_fails_both_spans(stack_otel: tuple[Stack, Otel]) -> None:
    stack, otel = stack_otel
    stack.sim.set_faults(Faults(status=500, count=1))
    status, _ = await post(stack.url, "/api/chat", {"model": MODEL, "messages": HI})
    assert status == 500
    await stack.records.wait(1)
    for name in (f"chat {MODEL}", "POST /api/chat"):
        span = otel.span(name)
        assert span.status.status_code == StatusCode.ERROR
        assert (span.attributes or {})["error.type"] == "500"


async def test_mid_stream_error_fails_both_spans(stack_otel: tuple[Stack, Otel]) -> None:
    stack, otel = stack_otel
    stack.sim.set_faults(Faults(mid_stream_error_after=2, count=1))
    status, body = await post(stack.url, "/api/chat", {"model": MODEL, "messages": HI})
    assert status == 200 and b'"error"' in body
    (record,) = await stack.records.wait(1)
    assert record.status == "error"
    for name in (f"chat {MODEL}", "POST /api/chat"):
        span = otel.span(name)
        assert span.status.status_code == StatusCode.ERROR
        assert (span.attributes or {})["error.type"] == record.error_type


async def test_client_cancel_ends_spans_without_error(stack_otel: tuple[Stack, Otel]) -> None:
    stack, otel = stack_otel
    stack.sim.set_faults(Faults(stall_s=30, stall_after_chunks=1, count=1))
    async with aiohttp.ClientSession() as session:
        resp = await session.post(stack.url + "/api/chat", json={"model": MODEL, "messages": HI})
        await resp.content.readline()  # the first chunk arrived; now hang up
        resp.close()
    (record,) = await stack.records.wait(1)
    assert record.status == "cancelled"
    for name in (f"chat {MODEL}", "POST /api/chat"):
        span = otel.span(name)
        assert span.status.status_code == StatusCode.UNSET
        assert [e.name for e in span.events] == ["cancelled"]


async def test_metrics_scrape_after_traffic(stack_otel: tuple[Stack, Otel]) -> None:
    stack, otel = stack_otel
    for _ in range(3):
        await post(stack.url, "/api/chat", {"model": MODEL, "messages": HI, "stream": False})
    await post(stack.url, "/api/chat", {"model": "nope:1b", "messages": HI})
    records = await stack.records.wait(4)
    # /metrics is served by the telemetry routes; here on their own app, same Telemetry.
    metrics_app = web.Application()
    add_telemetry_routes(metrics_app, otel.telemetry)
    runner, url = await start_app(metrics_app)
    stack.runners.append(runner)
    async with aiohttp.ClientSession() as session, session.get(url + "/metrics") as resp:
        text = await resp.text()
    samples = parse_prometheus(text)
    ok = {
        "gen_ai_request_model": MODEL,
        "http_response_status_code": "200",
        "ollama_operation": "chat",
        "ollama_request_status": "success",
    }
    assert value(samples, "ollama_requests_total", ok) == 3
    assert value(samples, "ollama_errors_total", {"error_type": "404"}) == 1
    output = sum(r.completion_tokens for r in records[:3])
    out_labels = {"gen_ai_token_type": "output", "gen_ai_request_model": MODEL}
    assert value(samples, "gen_ai_client_token_usage_sum", out_labels) == output
    assert value(samples, "gen_ai_client_token_usage_count", out_labels) == 3
    assert value(samples, "gen_ai_client_token_usage_bucket", {**out_labels, "le": "+Inf"}) == 3
    # Every request took more than 0 s and less than 81.92 s: all in finite buckets.
    dur = {"gen_ai_request_model": MODEL, "le": "81.92"}
    assert (
        value(samples, "gen_ai_client_operation_duration_seconds_bucket", {**dur, "error_type": ""})
        == 3
    )
    assert value(samples, "ollama_requests_in_flight", {"ollama_operation": "chat"}) == 0


def parse_prometheus(text: str) -> list[tuple[str, dict[str, str], float]]:
    from prometheus_client.parser import text_string_to_metric_families

    return [
        (s.name, dict(s.labels), s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
    ]


def value(
    samples: list[tuple[str, dict[str, str], float]], name: str, labels: dict[str, str | None]
) -> float:
    """The one sample named `name` whose labels match ("" = label absent in that series)."""
    found = [
        v
        for s_name, s_labels, v in samples
        if s_name == name and all(s_labels.get(k) == want for k, want in labels.items())
    ]
    assert len(found) == 1, (name, labels, found)
    return found[0]


@pytest.mark.parametrize("incoming", [None, TRACEPARENT])
async def test_sampling_drops_span_export_but_keeps_trace_ids(incoming: str | None) -> None:
    """OTEL_TRACES_SAMPLER=parentbased_traceidratio with ratio 0: a new trace is not exported,
    yet its record and Ollama still get a trace id; a client's sampled trace is followed."""
    made: dict[str, Otel] = {}

    def observer_for(upstream: URL) -> Telemetry:
        made["otel"] = make_otel(upstream, build_sampler("parentbased_traceidratio", 0.0))
        return made["otel"].telemetry

    stack = await start_stack(observer_for)
    try:
        headers = {"traceparent": incoming} if incoming else {}
        status, _ = await post(stack.url, "/api/chat", {"model": MODEL, "messages": HI}, **headers)
        assert status == 200
        (record,) = await stack.records.wait(1)
        forwarded = stack.upstream_headers[-1]["traceparent"]
        assert len(record.trace_id) == 32 and record.trace_id in forwarded
        spans = made["otel"].spans()
        sampled = int(forwarded.rsplit("-", 1)[1], 16) & 0x01  # W3C trace-flags bit 0
        if incoming:
            assert record.trace_id == TRACE_ID and sampled
            assert {s.kind for s in spans} == {SpanKind.SERVER, SpanKind.CLIENT}
        else:
            assert not sampled and spans == []
    finally:
        await stack.close()
        made["otel"].tracer_provider.shutdown()
        made["otel"].meter_provider.shutdown()
