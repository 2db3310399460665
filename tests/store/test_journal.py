"""The journal's segment format: a batch survives the disk exactly, old segments still replay."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson

from ollama_proxy.records import ContentRecord, MetricPoint, RequestRecord
from ollama_proxy.store.journal import Batch, Journal, decode, encode


def _batch() -> Batch:
    stamp = datetime(2026, 11, 29, 5, 0, 0, 123000, tzinfo=UTC)
    requests = [
        RequestRecord(timestamp=stamp, model="llama3.2", prompt_tokens=7, ttft_ms=None),
        RequestRecord(timestamp=stamp, model="qwen3", latency_ms=12.5, ttft_ms=3.25),
    ]
    metrics = [MetricPoint("cpu_percent", 41.5, timestamp=stamp, metadata={"core": 1})]
    contents = [ContentRecord(requests[0].request_id, stamp, prompt="hi", response="hello")]
    return Batch(requests, metrics, contents)


def test_a_batch_round_trips_through_a_segment(tmp_path: Path) -> None:
    batch = _batch()
    journal = Journal(tmp_path)
    segment = journal.append(batch, data=encode(batch))
    assert journal.segments() == [segment]
    again = journal.read(segment)
    assert again.requests == batch.requests
    assert again.metrics == batch.metrics
    assert again.contents == batch.contents


def test_segments_of_the_line_format_still_replay() -> None:
    batch = _batch()
    lines = [orjson.dumps({"r": r}) for r in batch.requests]
    lines += [orjson.dumps({"m": m}) for m in batch.metrics]
    lines.append(b'{"r": {"model": "torn')  # a torn last line is skipped
    again = decode(b"\n".join(lines))
    assert again.requests == batch.requests and again.metrics == batch.metrics


def test_segments_of_records_by_field_name_still_replay() -> None:
    batch = _batch()
    document = {"requests": batch.requests, "metrics": batch.metrics, "contents": batch.contents}
    again = decode(orjson.dumps(document))
    assert again.requests == batch.requests
    assert again.metrics == batch.metrics and again.contents == batch.contents


def test_rows_are_read_by_their_field_names_not_by_position() -> None:
    batch = _batch()
    document = orjson.loads(encode(batch))
    document["request_fields"].reverse()
    document["request_rows"] = [row[::-1] for row in document["request_rows"]]
    assert decode(orjson.dumps(document)).requests == batch.requests


def test_an_empty_batch_encodes_and_decodes() -> None:
    assert len(decode(encode(Batch([], [])))) == 0
