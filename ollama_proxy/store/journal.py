"""Append-only journal of record batches on local disk, one directory per store.

Every batch is written to a new segment file (JSON lines, fsynced) before any store sees it,
and a segment is deleted only after its store has accepted it. A crash therefore loses at
most what was still in memory (under a second), and a replay after a crash may repeat a
batch, which the stores' idempotent inserts absorb.
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
    """JSON lines; orjson serialises the dataclasses natively (about 2 us a record)."""
    lines = [orjson.dumps({"r": r}) for r in batch.requests]
    lines += [orjson.dumps({"m": m}) for m in batch.metrics]
    lines += [orjson.dumps({"c": c}) for c in batch.contents]
    return b"\n".join(lines) + b"\n"


def decode(data: bytes) -> Batch:
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
