"""Fault injection and observation, for the proxy's failure and reliability tests.

Faults apply to inference requests (generate, chat, embed and their /v1 forms), to the next
`count` of them or until cleared, e.g. `sim.set_faults(Faults(mid_stream_error_after=2,
count=1))` on the app's state (simulator/state.py).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, fields
from typing import Any

MID_STREAM_ERROR = "an error was encountered while running the model"
NON_JSON_LINE = b"this line is not JSON\n"


@dataclass
class Faults:
    """What goes wrong. Every field off by default."""

    status: int | None = None  # answer this HTTP status with an error body, before any output
    error_message: str | None = None  # message for `status` or the mid-stream error line
    queue_full: bool = False  # answer 503 queue full
    mid_stream_error_after: int | None = None  # after N chunks write an {"error"} line and end
    reset_after_chunks: int | None = None  # after N chunks reset the connection (RST)
    stall_s: float = 0.0  # pause this long after `stall_after_chunks` chunks
    stall_after_chunks: int = 1
    non_json_line: bool = False  # write a line that is not JSON after the first chunk
    huge_line_bytes: int = 0  # make the first token this many bytes long
    count: int | None = None  # apply to the next N inference requests; None = until cleared

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Faults:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault fields: {sorted(unknown)}")
        return cls(**data)

    def active(self) -> bool:
        return self != Faults(count=self.count)


@dataclass
class Cancellation:
    """A generation stopped because its client went away."""

    path: str
    chunks: int
    at_monotonic: float  # time.monotonic(): the same clock as asyncio's loop.time()
    at_unix: float


@dataclass
class Stats:
    requests: Counter[str] = field(default_factory=Counter)
    started: int = 0
    completed: int = 0
    failed: int = 0
    cancellations: list[Cancellation] = field(default_factory=list)
    active: int = 0
    queue_full: int = 0
    _changed: asyncio.Event | None = None

    def record_cancel(self, path: str, chunks: int) -> None:
        self.cancellations.append(Cancellation(path, chunks, time.monotonic(), time.time()))
        self._notify()

    def record_done(self, *, failed: bool = False) -> None:
        if failed:
            self.failed += 1
        else:
            self.completed += 1
        self._notify()

    async def wait_for_cancellations(self, n: int = 1, timeout: float = 5.0) -> list[Cancellation]:
        """Wait (in the simulator's loop) until at least `n` generations were cancelled."""
        async with asyncio.timeout(timeout):
            while len(self.cancellations) < n:
                self._changed = self._changed or asyncio.Event()
                await self._changed.wait()
                self._changed.clear()
        return self.cancellations

    def _notify(self) -> None:
        if self._changed is not None:
            self._changed.set()

    def to_json(self, loads: int, unloads: int) -> dict[str, Any]:
        return {
            "requests": dict(self.requests),
            "generations": {
                "started": self.started,
                "completed": self.completed,
                "failed": self.failed,
                "cancelled": len(self.cancellations),
                "active": self.active,
            },
            "cancellations": [asdict(c) for c in self.cancellations],
            "queue_full": self.queue_full,
            "loads": loads,
            "unloads": unloads,
        }


@dataclass
class FaultPlan:
    """The faults in force and how many more requests they apply to."""

    faults: Faults = field(default_factory=Faults)

    def set(self, faults: Faults) -> None:
        self.faults = faults

    def clear(self) -> None:
        self.faults = Faults()

    def take(self) -> Faults | None:
        """The faults for one inference request (consuming one of `count`)."""
        faults = self.faults
        if not faults.active():
            return None
        if faults.count is not None:
            if faults.count <= 0:
                return None
            faults.count -= 1
            if faults.count == 0:
                self.faults = Faults()
        return faults
