"""Load generator, run as its own process: N concurrent workers, TTFB and total per request.

    python -m bench.loadgen --url http://127.0.0.1:11435 --workload chat_stream \
        --concurrency 16 --requests 400

Prints one JSON object: per-request time to first byte and to last byte (ms), chunks seen,
errors, and the wall time of the run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import dataclass
from typing import Any

import aiohttp

WORKLOADS: dict[str, tuple[str, dict[str, Any]]] = {
    # streamed /api/chat with 200 output chunks (+ the done chunk)
    "chat_stream": (
        "/api/chat",
        {
            "model": "llama3.2",
            "messages": [{"role": "user", "content": "benchmark"}],
            "options": {"num_predict": 200},
        },
    ),
    # non-streamed /api/generate
    "generate": (
        "/api/generate",
        {
            "model": "llama3.2",
            "prompt": "benchmark",
            "stream": False,
            "options": {"num_predict": 20},
        },
    ),
    # /v1/chat/completions streamed with usage
    "openai_stream": (
        "/v1/chat/completions",
        {
            "model": "llama3.2",
            "messages": [{"role": "user", "content": "benchmark"}],
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": 50,
        },
    ),
}


@dataclass
class Sample:
    ttfb_ms: float
    total_ms: float
    chunks: int
    ok: bool


async def one_request(
    session: aiohttp.ClientSession, url: str, body: bytes, delimiter: bytes = b"\n"
) -> Sample:
    started = time.perf_counter()
    first: float | None = None
    chunks = 0
    async with session.post(
        url, data=body, headers={"Content-Type": "application/json"}
    ) as response:
        async for data in response.content.iter_any():
            if first is None:
                first = time.perf_counter()
            chunks += data.count(delimiter)  # streamed lines or SSE events, not TCP reads
        if first is not None and chunks == 0:
            chunks = 1  # a single JSON body (no trailing newline) is one chunk
        ok = response.status == 200
    end = time.perf_counter()
    return Sample(((first or end) - started) * 1e3, (end - started) * 1e3, chunks, ok)


async def run(url: str, workload: str, concurrency: int, requests: int) -> dict[str, Any]:
    path, payload = WORKLOADS[workload]
    body = json.dumps(payload).encode()
    delimiter = b"\n\n" if path.startswith("/v1/") else b"\n"
    target = url.rstrip("/") + path
    samples: list[Sample] = []
    remaining = requests
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        await one_request(session, target, body)  # warm the connection and the model

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                samples.append(await one_request(session, target, body, delimiter))

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - started
    return {
        "ttfb_ms": [s.ttfb_ms for s in samples],
        "total_ms": [s.total_ms for s in samples],
        "chunks": sum(s.chunks for s in samples),
        "errors": sum(not s.ok for s in samples),
        "wall_s": wall,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--workload", choices=sorted(WORKLOADS), default="chat_stream")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--requests", type=int, default=100)
    args = parser.parse_args(argv)
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    result = asyncio.run(run(args.url, args.workload, args.concurrency, args.requests))
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
