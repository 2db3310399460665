"""CPU cost of the OpenTelemetry instrumentation per request: on vs off, side by side.

    python -m bench.bench_telemetry            # ~20 s, prints JSON
    python -m bench.bench_telemetry --quick    # ~5 s

Each round runs the proxy handler's observer calls (start, inject, on_first_chunk, finish) for
a batch of requests in four modes: `off` (NullObserver); `on`, the default configuration
(metrics and /metrics, no trace exporter hence no spans); `on_with_spans`, as with
OTEL_EXPORTER_OTLP_ENDPOINT set (SERVER + CLIENT spans through a BatchSpanProcessor whose
exporter does the OTLP protobuf encoding but no network I/O); and `on_sdk_instruments`, the
same metric values through the SDK's synchronous instruments (the design `aggregates.py`
replaced), for comparison. The modes alternate
within every round so machine noise hits them alike; figures are medians over rounds of process
CPU time (all threads, so the span processor's worker counts too) per request. The request
objects and records exist in every mode, so the differences are the instrumentation alone.

Target: under 50 µs per request (issue 3).
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from aiohttp.test_utils import make_mocked_request
from multidict import CIMultiDict
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from yarl import URL

from ollama_proxy.operations import classify
from ollama_proxy.proxy.observer import NullObserver, Observer
from ollama_proxy.records import RequestRecord
from ollama_proxy.telemetry import ScrapeReader, Telemetry
from ollama_proxy.telemetry import names as n
from ollama_proxy.telemetry.instruments import Instruments
from ollama_proxy.telemetry.providers import build_sampler

UPSTREAM = URL("http://127.0.0.1:11434")
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
TARGET_US = 50.0


class EncodeOnlyExporter(SpanExporter):
    """Does the OTLP exporter's CPU work (protobuf encoding) without a network."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        encode_spans(spans).SerializeToString()
        return SpanExportResult.SUCCESS


def make_telemetry(spans: bool, ratio: float = 1.0) -> tuple[Telemetry, Callable[[], None]]:
    """As `build_telemetry` builds it: spans only when a trace exporter is set, kept
    for `ratio` of the traces (OTEL_TRACES_SAMPLER=traceidratio: the bench's requests carry a
    sampled traceparent, which the parentbased_* samplers would follow)."""
    tracer_provider = None
    if spans:
        tracer_provider = TracerProvider(sampler=build_sampler("traceidratio", ratio))
        processor = BatchSpanProcessor(EncodeOnlyExporter(), max_queue_size=1 << 15)
        tracer_provider.add_span_processor(processor)
    scrape = ScrapeReader()
    meter_provider = MeterProvider(metric_readers=[scrape])
    telemetry = Telemetry(tracer_provider, meter_provider, UPSTREAM, scrape=scrape)

    def close() -> None:
        if tracer_provider is not None:
            tracer_provider.shutdown()
        meter_provider.shutdown()

    return telemetry, close


class SdkInstruments(Instruments):
    """The same values through SDK synchronous instruments, for comparison only."""

    def __init__(self, meter_provider: MeterProvider, upstream_url: URL) -> None:
        super().__init__(meter_provider, upstream_url)
        meter = meter_provider.get_meter("bench.sdk")
        self._sdk: dict[str, Any] = {}
        for spec in n.ALL_METRICS:
            if spec.kind == "histogram":
                self._sdk[spec.name] = meter.create_histogram(
                    spec.name, spec.unit, spec.description,
                    explicit_bucket_boundaries_advisory=list(spec.bounds),
                )  # fmt: skip
            elif spec.kind == "counter":
                self._sdk[spec.name] = meter.create_counter(spec.name, spec.unit)
            else:
                self._sdk[spec.name] = meter.create_up_down_counter(spec.name, spec.unit)
        sdk = self._sdk

        class Agg:
            # Aggregates' interface, forwarding every value to the SDK (once, even for the
            # weighted per-chunk value: the comparison is generous to the SDK).
            lock = threading.Lock()

            def observe(self, name: str, bounds: Any, key: Any, value: float, k: int = 1) -> None:
                sdk[name].record(value, dict(key))

            def histogram(self, name: str, bounds: Any, key: Any) -> Any:
                # What Instruments keeps per attribute set: here an SDK histogram bound to them.
                instrument, attributes = sdk[name], dict(key)

                class Bound:
                    def add(self, value: float, k: int = 1) -> None:
                        instrument.record(value, attributes)

                return Bound()

            def add(self, name: str, key: Any, value: float) -> None:
                sdk[name].add(value, dict(key))

        self.aggregates = Agg()  # type: ignore[assignment]


def chat_record() -> RequestRecord:
    return RequestRecord(
        endpoint="/api/chat", operation="chat", api_flavor="native", inference=True
    )


def complete(record: RequestRecord) -> None:
    """What the meter fills in by the time the handler calls finish."""
    record.model = "llama3.2:1b"
    record.http_status = 200
    record.stream = True
    record.prompt_tokens, record.completion_tokens, record.cached_tokens = 26, 120, 8
    record.chunks = 121
    record.latency_ms, record.ttfb_ms = 1830.0, 210.0
    record.total_duration_ms, record.load_duration_ms = 1800.0, 12.0
    record.prompt_eval_duration_ms, record.eval_duration_ms = 150.0, 1600.0
    record.queue_wait_ms, record.decode_tps = 38.0, 75.0
    record.done_reason = "stop"


class Transport:
    """A plain transport: aiohttp's mocked one is a Mock, whose calls cost more than ours."""

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 50000) if name == "peername" else default


REQUESTS: dict[str, Any] = {}


def one_batch(observer: Observer, path: str, count: int) -> float:
    """CPU µs per request, including the export work the batch left queued."""
    flush = getattr(getattr(observer, "tracer_provider", None), "force_flush", None)
    return _batch(observer, path, count, flush)


def _batch(observer: Observer, path: str, count: int, flush: Callable[[], Any] | None) -> float:
    """CPU µs per request for `count` requests through `observer`."""
    route = classify(path)
    method = "POST" if route.inference else "GET"
    headers = {"traceparent": TRACEPARENT, "User-Agent": "bench", "Content-Type": "text/json"}
    if path not in REQUESTS:  # building a mocked request takes ~2 ms: reuse a few
        REQUESTS[path] = [
            make_mocked_request(method, path, headers=headers, transport=Transport())
            for _ in range(64)
        ]
    pool = REQUESTS[path]
    requests = [pool[i % len(pool)] for i in range(count)]
    upstream = [CIMultiDict(headers) for _ in range(count)]
    records = [
        chat_record() if route.inference else RequestRecord(endpoint=path) for _ in range(count)
    ]
    gc.collect()
    gc.disable()
    try:
        start = time.process_time_ns()
        for request, up, record in zip(requests, upstream, records, strict=True):
            observation = observer.start(request, route, record)
            observation.inject(up)
            observation.on_first_chunk()
            complete(record)
            observation.finish(record)
        if flush is not None:
            flush()
        elapsed = time.process_time_ns() - start
    finally:
        gc.enable()
    return elapsed / count / 1000.0


def run(rounds: int, batch: int) -> dict[str, Any]:
    default, close_default = make_telemetry(spans=False)
    otlp, close_otlp = make_telemetry(spans=True)
    sampled, close_sampled = make_telemetry(spans=True, ratio=0.1)
    sdk_metrics, close_sdk = make_telemetry(spans=False)
    sdk_metrics.instruments = SdkInstruments(MeterProvider(), UPSTREAM)
    modes: dict[str, Observer] = {
        "off": NullObserver(),
        "on": default,
        "on_with_spans": otlp,
        "on_with_spans_sampled_10pct": sampled,
        "on_sdk_instruments": sdk_metrics,
    }
    paths = {"chat": "/api/chat", "tags": "/api/tags"}
    samples: dict[str, dict[str, list[float]]] = {p: {m: [] for m in modes} for p in paths}
    for path in paths.values():
        for observer in modes.values():
            one_batch(observer, path, batch)  # warm up: first spans, caches, imports
    for _ in range(rounds):
        for path_name, path in paths.items():
            for mode, observer in modes.items():
                samples[path_name][mode].append(one_batch(observer, path, batch))
    close_default()
    close_otlp()
    close_sampled()
    close_sdk()
    result: dict[str, Any] = {"unit": "cpu_us_per_request", "rounds": rounds, "batch": batch}
    for path_name, by_mode in samples.items():
        medians = {mode: statistics.median(values) for mode, values in by_mode.items()}
        result[path_name] = {
            **{mode: round(v, 2) for mode, v in medians.items()},
            **{
                f"added_{mode}": round(medians[mode] - medians["off"], 2)
                for mode in modes
                if mode != "off"
            },
        }
    worst = max(result[p]["added_on"] for p in paths)
    result["target_us"] = TARGET_US
    result["meets_target"] = worst < TARGET_US  # the default configuration (no OTLP)
    result["meets_target_with_spans"] = (
        max(result[p]["added_on_with_spans"] for p in paths) < TARGET_US
    )
    result["python"] = platform.python_version()
    result["machine"] = platform.machine()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds (~5 s)")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--batch", type=int, default=2000)
    args = parser.parse_args()
    rounds = args.rounds or (5 if args.quick else 15)
    print(json.dumps(run(rounds, args.batch), indent=2))


if __name__ == "__main__":
    main()
