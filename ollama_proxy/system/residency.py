"""Model residency from /api/ps snapshots: load and unload events, pure."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Resident:
    name: str
    size: int
    size_vram: int
    context_length: int
    expires_at: str


@dataclass(frozen=True)
class ResidencyEvent:
    timestamp: datetime
    model: str
    event: str  # "load" or "unload"
    size: int
    size_vram: int
    context_length: int
    expires_at: str
    resident_s: float | None = None  # on unloads: how long the model stayed in memory

    def to_dict(self) -> dict[str, Any]:
        return {
            "resident_s": self.resident_s,
            "timestamp": self.timestamp.isoformat().replace("+00:00", "Z"),
            "model": self.model,
            "event": self.event,
            "size": self.size,
            "size_vram": self.size_vram,
            "context_length": self.context_length,
            "expires_at": self.expires_at,
        }


def parse_ps(body: dict[str, Any]) -> dict[str, Resident]:
    """`{"models": [...]}` of /api/ps -> residents by name."""
    out = {}
    for item in body.get("models") or []:
        name = str(item.get("name") or item.get("model") or "")
        if name:
            out[name] = Resident(
                name=name,
                size=int(item.get("size") or 0),
                size_vram=int(item.get("size_vram") or 0),
                context_length=int(item.get("context_length") or 0),
                expires_at=str(item.get("expires_at") or ""),
            )
    return out


def diff(
    before: dict[str, Resident], after: dict[str, Resident], at: datetime
) -> list[ResidencyEvent]:
    """Loads (in `after` only) and unloads (in `before` only), sorted by model name."""
    events = []
    for name in sorted(after.keys() - before.keys()):
        r = after[name]
        events.append(
            ResidencyEvent(at, name, "load", r.size, r.size_vram, r.context_length, r.expires_at)
        )
    for name in sorted(before.keys() - after.keys()):
        r = before[name]
        events.append(
            ResidencyEvent(at, name, "unload", r.size, r.size_vram, r.context_length, r.expires_at)
        )
    return events


class Timeline:
    """The latest residents and a bounded history of events."""

    def __init__(self, limit: int = 10_000) -> None:
        self.residents: dict[str, Resident] = {}
        self.loaded_at: dict[str, datetime] = {}
        self.events: deque[ResidencyEvent] = deque(maxlen=limit)
        self.seen = False  # at least one /api/ps answer so far

    def update(self, snapshot: dict[str, Resident], at: datetime) -> list[ResidencyEvent]:
        # Models already resident when the proxy starts appear as loads seen at that moment.
        events = [self._with_duration(e) for e in diff(self.residents, snapshot, at)]
        self.residents, self.seen = snapshot, True
        self.events.extend(events)
        return events

    def _with_duration(self, event: ResidencyEvent) -> ResidencyEvent:
        if event.event == "load":
            self.loaded_at[event.model] = event.timestamp
            return event
        started = self.loaded_at.pop(event.model, None)
        if started is None:
            return event
        seconds = (event.timestamp - started).total_seconds()
        return replace(event, resident_s=round(seconds, 3))

    def resident_for(self, name: str, now: datetime) -> float | None:
        started = self.loaded_at.get(name)
        return None if started is None else round((now - started).total_seconds(), 3)

    def since(self, start: datetime) -> list[ResidencyEvent]:
        return [e for e in self.events if e.timestamp >= start]
