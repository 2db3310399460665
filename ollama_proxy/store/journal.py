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
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from ollama_proxy.records import ContentRecord, MetricPoint, RequestRecord

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
    """One JSON document per segment: a single orjson call serialises the dataclasses natively,
    about 4x cheaper a record than a call per line. (Segments are written whole or not at all,
    see `Journal.append`, so nothing gains from a line per record.)"""
    return orjson.dumps(
        {"requests": batch.requests, "metrics": batch.metrics, "contents": batch.contents}
    )


def decode(data: bytes) -> Batch:
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError:
        document = None
    if not isinstance(document, dict) or "requests" not in document:
        return _decode_lines(data)
    return Batch(
        [RequestRecord.from_dict(item) for item in document["requests"]],
        [MetricPoint.from_dict(item) for item in document.get("metrics", [])],
        [ContentRecord.from_dict(item) for item in document.get("contents", [])],
    )


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
            batch.metrics.append(MetricPoint.from_dict(item["m"]))
        elif "c" in item:
            batch.contents.append(ContentRecord.from_dict(item["c"]))
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
