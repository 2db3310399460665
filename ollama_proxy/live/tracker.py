"""The in-flight inference requests, as the proxy handler registers them.

Per request the handler pays one dict insert and one delete; everything else (reading the
meters, rates over the last seconds) happens only while someone watches the live view.
"""

from __future__ import annotations

import asyncio
import re
from collections import deque
from dataclasses import dataclass
from typing import Protocol

import orjson

from ollama_proxy.live.rates import RateBook
from ollama_proxy.meter.meter import LiveView
from ollama_proxy.records import RequestRecord

SAMPLES = 48  # token counts kept per request: 2 s at the fastest snapshot rate, and more
MAX_TRACKED = 10_000  # beyond this many concurrent requests the view shows the first ones

_LIMIT = re.compile(
    rb'"(?:num_predict|max_tokens|max_completion_tokens|max_output_tokens)"\s*:\s*(\d{1,9})'
)


class Watched(Protocol):
    """What the live view reads from a request's meter (ollama_proxy.meter.meter.Meter)."""

    def live_view(self) -> LiveView: ...
    def request_head(self) -> bytes: ...
    def first_byte_seen(self) -> bool: ...


@dataclass(slots=True)
class Entry:
    record: RequestRecord
    meter: Watched
    started: float  # perf_counter at arrival
    # (time, output units) at each snapshot, made by the first snapshot that reads the entry:
    # unwatched, a request costs one small object.
    samples: deque[tuple[float, int]] | None = None
    model: str = ""
    limit: int | None = None  # num_predict / max_tokens the client asked for
    head_read: bool = False
    thinking: bool = False  # the last output seen carried reasoning text

    def read_head(self) -> None:
        """The model and the output limit from the request body, once it has arrived."""
        if self.head_read:
            return
        head = self.meter.request_head()
        if not head:
            return
        self.head_read = True
        try:
            body = orjson.loads(head)
        except orjson.JSONDecodeError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("model"), str):
            self.model = body["model"][:300]
        match = _LIMIT.search(head)
        if match:
            self.limit = int(match.group(1)) or None


class LiveTracker:
    """In-flight inference requests by id, plus what finished ones taught (`rates`)."""

    def __init__(self) -> None:
        self.entries: dict[str, Entry] = {}
        self.rates = RateBook()
        self.subscribers = 0
        self.changed = asyncio.Event()

    def enter(self, record: RequestRecord, meter: Watched, started: float) -> None:
        if len(self.entries) < MAX_TRACKED:
            self.entries[record.request_id] = Entry(record, meter, started)
        if self.subscribers:
            self.changed.set()

    def first_byte(self) -> None:
        if self.subscribers:
            self.changed.set()

    def leave(self, record: RequestRecord) -> None:
        if self.entries.pop(record.request_id, None) is not None:
            self.rates.learn(record)
            if self.subscribers:
                self.changed.set()
