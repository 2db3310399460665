"""CPU cost of the Meter: per chunk and per request, on recorded-shape streams.

    python -m bench.bench_meter            # ~10 s, prints JSON
    python -m bench.bench_meter --quick    # ~2 s

Each stream is fed to a fresh Meter exactly as the proxy handler does (request body, response
start, one observe_chunk per network chunk, finish). Streams: a 200-token native /api/chat
stream (one NDJSON line per chunk, as Ollama flushes them), the same as /v1/chat/completions
SSE with include_usage, and both with 8 lines or events per chunk (a slow client or a busy
proxy lets aiohttp coalesce). Figures are medians over rounds of process CPU time;
`per_chunk_us` is the observe_chunk loop alone divided by the chunk count, `per_request_us`
the whole life.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import statistics
import time
from collections.abc import Callable

from ollama_proxy.meter.meter import Meter
from ollama_proxy.operations import classify
from ollama_proxy.records import RequestRecord

TOKENS = 200
_WORDS = [" the", " sky", " is", " blue", " because", " of", " Rayleigh", " scattering", "."]


def native_chunks(tokens: int = TOKENS) -> list[bytes]:
    out = []
    for i in range(tokens):
        word = _WORDS[i % len(_WORDS)]
        out.append(
            b'{"model":"llama3.2","created_at":"2025-10-26T17:15:24.%06dZ",' % i
            + b'"message":{"role":"assistant","content":"%s"},"done":false}\n' % word.encode()
        )
    out.append(
        b'{"model":"llama3.2","created_at":"2025-10-26T17:15:25.1Z","message":{"role":"assistant",'
        b'"content":""},"done":true,"done_reason":"stop","total_duration":4883583458,'
        b'"load_duration":1334875,"prompt_eval_count":26,"prompt_eval_duration":342546000,'
        b'"eval_count":200,"eval_duration":4535599000}\n'
    )
    return out


def openai_chunks(tokens: int = TOKENS) -> list[bytes]:
    head = (
        b'data: {"id":"chatcmpl-123","object":"chat.completion.chunk","created":1760000000,'
        b'"model":"llama3.2","system_fingerprint":"fp_ollama","choices":'
    )
    out = [
        head
        + b'[{"index":0,"delta":{"content":"%s"},"finish_reason":null}]}\n\n'
        % _WORDS[i % len(_WORDS)].encode()
        for i in range(tokens)
    ]
    out.append(head + b'[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n')
    out.append(
        head + b'[],"usage":{"prompt_tokens":26,"completion_tokens":200,"total_tokens":226}}\n\n'
    )
    out.append(b"data: [DONE]\n\n")
    return out


def coalesced(chunks: list[bytes], per: int = 8) -> list[bytes]:
    return [b"".join(chunks[i : i + per]) for i in range(0, len(chunks), per)]


STREAMS: dict[str, tuple[str, str, list[bytes]]] = {
    "native_ndjson_200": ("/api/chat", "application/x-ndjson", native_chunks()),
    "openai_sse_200": ("/v1/chat/completions", "text/event-stream", openai_chunks()),
    "native_ndjson_200_coalesced_x8": (
        "/api/chat",
        "application/x-ndjson",
        coalesced(native_chunks()),
    ),
    "openai_sse_200_coalesced_x8": (
        "/v1/chat/completions",
        "text/event-stream",
        coalesced(openai_chunks()),
    ),
}
REQUEST = b'{"model":"llama3.2","messages":[{"role":"user","content":"Why is the sky blue?"}]}'


def one_request(
    path: str, ctype: str, chunks: list[bytes], clock: Callable[[], int]
) -> tuple[int, int]:
    """CPU ns of the whole request and of its observe_chunk loop."""
    start = clock()
    route = classify(path)
    meter = Meter(RequestRecord(endpoint=path), route, 0.0)
    meter.observe_request_chunk(REQUEST)
    meter.observe_response_start(200, ctype, 0.001)
    loop_start = clock()
    for chunk in chunks:
        meter.observe_chunk(chunk, 0.002)
    loop_end = clock()
    record = meter.finish(0.003)
    end = clock()
    assert record.status == "success" and not record.estimated, record
    return end - start, loop_end - loop_start


def measure(rounds: int, per_round: int) -> dict[str, dict[str, float]]:
    clock = time.process_time_ns
    results: dict[str, dict[str, list[float]]] = {
        name: {"per_request_us": [], "per_chunk_us": []} for name in STREAMS
    }
    gc.disable()
    try:
        for _ in range(rounds):
            for name, (path, ctype, chunks) in STREAMS.items():  # interleaved: noise hits all
                total = loop = 0
                for _ in range(per_round):
                    t, lp = one_request(path, ctype, chunks, clock)
                    total, loop = total + t, loop + lp
                results[name]["per_request_us"].append(total / per_round / 1000)
                results[name]["per_chunk_us"].append(loop / per_round / len(chunks) / 1000)
    finally:
        gc.enable()
    out: dict[str, dict[str, float]] = {}
    for name, series in results.items():
        out[name] = {k: round(statistics.median(v), 3) for k, v in series.items()}
        out[name]["chunks"] = len(STREAMS[name][2])
        out[name]["bytes"] = sum(map(len, STREAMS[name][2]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds (~2 s)")
    args = parser.parse_args()
    rounds, per_round = (5, 20) if args.quick else (21, 40)
    report = {
        "benchmark": "meter",
        "python": platform.python_version(),
        "machine": platform.machine(),
        "rounds": rounds,
        "requests_per_round": per_round,
        "clock": "time.process_time_ns (process CPU, median over rounds)",
        "results": measure(rounds, per_round),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
