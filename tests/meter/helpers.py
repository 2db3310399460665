"""Drive a Meter the way the proxy handler does, with a fixed clock."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ollama_proxy.meter.meter import Meter
from ollama_proxy.operations import classify
from ollama_proxy.records import RequestRecord
from tests.meter.fixtures import Fixture

T0 = 100.0  # arrival
T_START = 100.010  # response headers
T_CHUNK = 100.020  # every chunk (a fixed clock keeps records split-independent)
T_END = 100.050


def run(
    path: str,
    content_type: str,
    chunks: Iterable[bytes],
    *,
    status: int = 200,
    request: Iterable[bytes] = (),
    cancelled: bool = False,
    upstream_error: str | None = None,
    method: str = "POST",
) -> RequestRecord:
    route = classify(path)
    record = RequestRecord(endpoint=path, method=method, operation=route.operation)
    meter = Meter(record, route, T0)
    for piece in request:
        meter.observe_request_chunk(piece)
    meter.observe_response_start(status, content_type, T_START)
    for chunk in chunks:
        meter.observe_chunk(chunk, T_CHUNK)
    return meter.finish(T_END, cancelled=cancelled, upstream_error=upstream_error)


def run_fixture(fixture: Fixture, chunks: Iterable[bytes] | None = None) -> RequestRecord:
    return run(
        fixture.path,
        fixture.content_type,
        [fixture.body] if chunks is None else chunks,
        status=fixture.status,
        request=[fixture.request] if fixture.request else [],
    )


def comparable(record: RequestRecord) -> dict[str, Any]:
    """The record minus what differs between two runs by construction."""
    data = record.to_dict()
    del data["request_id"], data["timestamp"]
    return data


def split_at(data: bytes, cuts: Iterable[int]) -> list[bytes]:
    """`data` cut at the given offsets (duplicates give empty chunks on purpose)."""
    out, last = [], 0
    for cut in sorted(cuts):
        cut = max(0, min(cut, len(data)))
        out.append(data[last:cut])
        last = cut
    out.append(data[last:])
    return out
