"""CPU cost of the OpenTelemetry instrumentation per request: on vs off, side by side.

    python -m bench.bench_telemetry            # ~20 s, prints JSON
    python -m bench.bench_telemetry --quick    # ~5 s

Each round runs the proxy handler's observer calls (start, inject, on_first_chunk, finish) for
a batch of requests with telemetry off (NullObserver), on (Telemetry with a Prometheus reader
and a BatchSpanProcessor whose exporter drops spans), and on with the SDK's own synchronous
instruments for the same values (the design the cheap aggregates replaced). The modes alternate
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
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from yarl import URL

from ollama_proxy.proxy.observer import NullObserver, Observer
from ollama_proxy.proxy.routes import classify
from ollama_proxy.records import RequestRecord
from ollama_proxy.telemetry import ScrapeReader, Telemetry
from ollama_proxy.telemetry import names as n
from ollama_proxy.telemetry.instruments import Instruments

UPSTREAM = URL("http://127.0.0.1:11434")
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
TARGET_US = 50.0


class DropExporter(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def make_telemetry() -> tuple[Telemetry, Callable[[], None]]:
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(DropExporter(), max_queue_size=1 << 16))
    scrape = ScrapeReader()
    meter_provider = MeterProvider(metric_readers=[scrape])
    telemetry = Telemetry(tracer_provider, meter_provider, UPSTREAM, scrape=scrape)

    def close() -> None:
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


def one_batch(observer: Observer, path: str, count: int) -> float:
    """CPU µs per request for `count` requests through `observer`."""
    route = classify(path)
    method = "POST" if route.inference else "GET"
    headers = {"traceparent": TRACEPARENT, "User-Agent": "bench", "Content-Type": "text/json"}
    requests = [make_mocked_request(method, path, headers=headers) for _ in range(count)]
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
        elapsed = time.process_time_ns() - start
    finally:
        gc.enable()
    return elapsed / count / 1000.0


def run(rounds: int, batch: int) -> dict[str, Any]:
    telemetry, close_on = make_telemetry()
    sdk_telemetry, close_sdk = make_telemetry()
    sdk_telemetry.instruments = SdkInstruments(MeterProvider(), UPSTREAM)
    modes: dict[str, Observer] = {
        "off": NullObserver(),
        "on": telemetry,
        "on_sdk_instruments": sdk_telemetry,
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
    close_on()
    close_sdk()
    result: dict[str, Any] = {"unit": "cpu_us_per_request", "rounds": rounds, "batch": batch}
    for path_name, by_mode in samples.items():
        medians = {mode: statistics.median(values) for mode, values in by_mode.items()}
        result[path_name] = {
            **{mode: round(v, 2) for mode, v in medians.items()},
            "added_by_telemetry": round(medians["on"] - medians["off"], 2),
            "added_with_sdk_instruments": round(medians["on_sdk_instruments"] - medians["off"], 2),
        }
    worst = max(result[p]["added_by_telemetry"] for p in paths)
    result["target_us"] = TARGET_US
    result["meets_target"] = worst < TARGET_US
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
