"""Append-only journal of record batches on local disk, one directory per store.

Every batch is written to a new segment file (one JSON document, fsynced) before any store
sees it, and a segment is deleted only after its store has accepted it. A crash therefore
loses at most what was still in memory (under a second), and a replay after a crash may
repeat a batch, which the stores' idempotent inserts absorb.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from ollama_proxy.records import (
    REQUEST_FIELDS,
    ContentRecord,
    MetricPoint,
    RequestRecord,
    request_values,
)

_counter = itertools.count()


def store_dir(root: str | Path, store_url: str) -> Path:
    slug = hashlib.sha256(store_url.encode()).hexdigest()[:12]
    return Path(root) / slug


@dataclass
class Batch:
    requests: list[RequestRecord]
    metrics: list[MetricPoint]
    contents: list[ContentRecord] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.requests) + len(self.metrics) + len(self.contents)


def encode(batch: Batch) -> bytes:
    """One JSON document per segment, requests as rows under their field names.

    A single orjson call for the whole batch, with each record as a tuple of its values:
    about half the CPU of serialising the dataclasses by name, and a tenth of a call per
    line. (Segments are written whole or not at all, see `Journal.append`, so nothing gains
    from a line per record.)
    """
    return orjson.dumps(
        {
            "request_fields": REQUEST_FIELDS,
            "request_rows": [request_values(r) for r in batch.requests],
            "metrics": batch.metrics,
            "contents": batch.contents,
        }
    )


def decode(data: bytes) -> Batch:
    """A segment of any format this project has written: rows, records by name, or lines."""
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError:
        document = None
    if not isinstance(document, dict):
        return _decode_lines(data)
    if "request_rows" in document:
        requests = _rows(document["request_fields"], document["request_rows"])
    elif "requests" in document:  # records by field name (until 2026-11-29)
        requests = [RequestRecord.from_dict(item) for item in document["requests"]]
    else:
        return _decode_lines(data)
    return Batch(
        requests,
        [MetricPoint.from_dict(_known(item, _METRIC_KEYS)) for item in document.get("metrics", [])],
        [
            ContentRecord.from_dict(_known(item, _CONTENT_KEYS))
            for item in document.get("contents", [])
        ],
    )


def _rows(names: list[str], rows: list[list[Any]]) -> list[RequestRecord]:
    """Records from rows under `names`: the shipper reads every batch back through here, so
    the known-field filter and the timestamp's position are worked out once per segment."""
    if tuple(names) == REQUEST_FIELDS:  # this release's own segments: positional
        stamp = REQUEST_FIELDS.index("timestamp")
        out = []
        for row in rows:
            if isinstance(row[stamp], str):
                row[stamp] = _parse_time(row[stamp])
            out.append(RequestRecord(*row))
        return out
    keep = [(i, name) for i, name in enumerate(names) if name in _REQUEST_KEYS]
    out = []
    for row in rows:
        values = {name: row[i] for i, name in keep}
        if isinstance(values.get("timestamp"), str):
            values["timestamp"] = _parse_time(values["timestamp"])
        out.append(RequestRecord(**values))
    return out


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text)


_REQUEST_KEYS = frozenset(REQUEST_FIELDS)

# Segments outlive releases: keys a later or earlier release wrote, and this one does not know,
# are dropped (RequestRecord.from_dict does the same), missing ones take their defaults.
_METRIC_KEYS = frozenset(f.name for f in fields(MetricPoint))
_CONTENT_KEYS = frozenset(f.name for f in fields(ContentRecord))


def _known(item: dict[str, Any], keys: frozenset[str]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k in keys}


def _decode_lines(data: bytes) -> Batch:
    """Segments of the first builds: a JSON line per record, tagged r/m/c."""
    batch = Batch([], [])
    for line in data.splitlines():
        if not line.strip():
            continue
        try:
            item = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue  # a torn last line from a crash mid-write: its batch was never acked
        if "r" in item:
            batch.requests.append(RequestRecord.from_dict(item["r"]))
        elif "m" in item:
            batch.metrics.append(MetricPoint.from_dict(_known(item["m"], _METRIC_KEYS)))
        elif "c" in item:
            batch.contents.append(ContentRecord.from_dict(_known(item["c"], _CONTENT_KEYS)))
    return batch


class Journal:
    """Segments of one store, replayed oldest first."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    def new_segment(self) -> Path:
        name = f"{time.time_ns():020d}-{os.getpid()}-{next(_counter):08d}.ndjson"
        return self.directory / name

    def append(self, batch: Batch, path: Path | None = None, data: bytes | None = None) -> Path:
        """Write a segment (encode with `encode` first to keep the CPU work off threads)."""
        path = path or self.new_segment()
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as handle:
            handle.write(data if data is not None else encode(batch))
            handle.flush()
            os.fsync(handle.fileno())
        tmp.rename(path)  # a segment is either complete or absent
        return path

    def segments(self) -> list[Path]:
        return sorted(self.directory.glob("*.ndjson"))

    def read(self, segment: Path) -> Batch:
        return decode(segment.read_bytes())

    def remove(self, segments: Iterable[Path]) -> None:
        for segment in segments:
            segment.unlink(missing_ok=True)

    def backlog(self) -> int:
        return len(self.segments())
