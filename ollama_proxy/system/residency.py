"""Model residency from /api/ps snapshots: load and unload events, pure.

With a fleet every node's /api/ps is polled: a resident is one model on one node (`node` ""
for the single upstream), so the same model on two nodes is two residents with their own
loads and unloads.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

Key = tuple[str, str]  # (node, model name)


@dataclass(frozen=True)
class Resident:
    name: str
    size: int
    size_vram: int
    context_length: int
    expires_at: str
    node: str = ""

    @property
    def key(self) -> Key:
        return (self.node, self.name)


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
    node: str = ""

    @property
    def key(self) -> Key:
        return (self.node, self.model)

    def to_dict(self) -> dict[str, Any]:
        out = {
            "resident_s": self.resident_s,
            "timestamp": self.timestamp.isoformat().replace("+00:00", "Z"),
            "model": self.model,
            "event": self.event,
            "size": self.size,
            "size_vram": self.size_vram,
            "context_length": self.context_length,
            "expires_at": self.expires_at,
        }
        if self.node:
            out["node"] = self.node
        return out


def parse_ps(body: dict[str, Any], node: str = "") -> dict[Key, Resident]:
    """`{"models": [...]}` of one node's /api/ps -> its residents by (node, name)."""
    out = {}
    for item in body.get("models") or []:
        name = str(item.get("name") or item.get("model") or "")
        if name:
            resident = Resident(
                name=name,
                size=int(item.get("size") or 0),
                size_vram=int(item.get("size_vram") or 0),
                context_length=int(item.get("context_length") or 0),
                expires_at=str(item.get("expires_at") or ""),
                node=node,
            )
            out[resident.key] = resident
    return out


def _event(at: datetime, kind: str, r: Resident) -> ResidencyEvent:
    return ResidencyEvent(
        at, r.name, kind, r.size, r.size_vram, r.context_length, r.expires_at, node=r.node
    )


def diff(
    before: dict[Key, Resident], after: dict[Key, Resident], at: datetime
) -> list[ResidencyEvent]:
    """Loads (in `after` only) and unloads (in `before` only), sorted by node and model."""
    loads = [_event(at, "load", after[key]) for key in sorted(after.keys() - before.keys())]
    unloads = [_event(at, "unload", before[key]) for key in sorted(before.keys() - after.keys())]
    return loads + unloads


class Timeline:
    """The latest residents and a bounded history of events."""

    def __init__(self, limit: int = 10_000) -> None:
        self.residents: dict[Key, Resident] = {}
        self.loaded_at: dict[Key, datetime] = {}
        self.events: deque[ResidencyEvent] = deque(maxlen=limit)
        self.seen = False  # at least one /api/ps answer so far

    def update(self, snapshot: dict[Key, Resident], at: datetime) -> list[ResidencyEvent]:
        # Models already resident when the proxy starts appear as loads seen at that moment.
        events = [self._with_duration(e) for e in diff(self.residents, snapshot, at)]
        self.residents, self.seen = snapshot, True
        self.events.extend(events)
        return events

    def _with_duration(self, event: ResidencyEvent) -> ResidencyEvent:
        if event.event == "load":
            self.loaded_at[event.key] = event.timestamp
            return event
        started = self.loaded_at.pop(event.key, None)
        if started is None:
            return event
        seconds = (event.timestamp - started).total_seconds()
        return replace(event, resident_s=round(seconds, 3))

    def resident_for(self, name: str, now: datetime, node: str = "") -> float | None:
        started = self.loaded_at.get((node, name))
        return None if started is None else round((now - started).total_seconds(), 3)

    def since(self, start: datetime) -> list[ResidencyEvent]:
        return [e for e in self.events if e.timestamp >= start]
