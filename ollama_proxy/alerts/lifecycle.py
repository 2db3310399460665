"""Pure: observations -> alerts that go pending -> firing -> resolved, and silences.

An alert is one rule and one label set (the dedup key). It turns pending when its condition
first holds, firing once it has held for the rule's `for`, and resolved once the condition has
been false for `resolve_after` (the hysteresis that keeps a value hovering at the threshold
from notifying on every evaluation). A pending alert whose condition goes away is dropped
without a word. Notifications are derived from `notified`: a firing alert is announced once,
when no silence covers it, and its resolution is announced only if its firing was.

>>> t = Tracker(history_max=10)
>>> spec = RuleSpec("queue_full", "s", threshold=1, resolve_after_s=0)
>>> [e.state for e in t.update(spec, [Observation((), 1.0, True)], now=0.0)]
['firing']
>>> [e.state for e in t.update(spec, [Observation((), 0.0, False)], now=1.0)]
['resolved']
"""

from __future__ import annotations

import itertools
import secrets
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

from ollama_proxy.alerts.rules import Labels, Observation, RuleSpec

State = Literal["pending", "firing", "resolved"]
MAX_SILENCES = 1000
MAX_SILENCE_TEXT = 500  # a matcher's label name or value is cut to this length


@dataclass(slots=True)
class Alert:
    rule: str
    labels: Labels
    summary: str
    threshold: float
    value: float
    active_since: float  # wall time the condition first held
    state: State = "pending"
    fired_at: float | None = None
    resolved_at: float | None = None
    clear_since: float | None = None  # the condition has been false since
    notified: bool = False  # its firing was sent to the notifiers
    silenced_by: str | None = None

    @property
    def key(self) -> tuple[str, Labels]:
        return (self.rule, self.labels)

    def label_dict(self) -> dict[str, str]:
        return {"alertname": self.rule, **dict(self.labels)}


@dataclass(frozen=True, slots=True)
class Event:
    """A notification to send: an alert that fired or resolved."""

    state: Literal["firing", "resolved"]
    alert: Alert


class Tracker:
    """All pending and firing alerts, and a bounded history of resolved ones."""

    def __init__(self, history_max: int = 200, silences: Silences | None = None) -> None:
        self.silences = silences if silences is not None else Silences()
        self.active: dict[tuple[str, Labels], Alert] = {}
        self.history: deque[Alert] = deque(maxlen=history_max)

    def update(self, spec: RuleSpec, observations: list[Observation], now: float) -> list[Event]:
        events: list[Event] = []
        seen: set[tuple[str, Labels]] = set()
        for obs in observations:
            labels = tuple(sorted({**dict(spec.labels), **dict(obs.labels)}.items()))
            key = (spec.name, labels)
            seen.add(key)
            alert = self.active.get(key)
            if obs.active:
                alert = alert or self._new(spec, labels, obs, now)
                self._hold(spec, alert, obs.value, now, events)
            elif alert is not None:
                alert.value = obs.value
                self._clear(spec, alert, now, events)
        for key, alert in list(self.active.items()):
            if key[0] == spec.name and key not in seen:
                self._clear(spec, alert, now, events)  # no data any more counts as false
        return events

    def _new(self, spec: RuleSpec, labels: Labels, obs: Observation, now: float) -> Alert:
        threshold = spec.threshold if spec.threshold is not None else 0.0
        alert = Alert(spec.name, labels, spec.summary, threshold, obs.value, active_since=now)
        self.active[alert.key] = alert
        return alert

    def _hold(
        self, spec: RuleSpec, alert: Alert, value: float, now: float, events: list[Event]
    ) -> None:
        alert.value = value
        alert.clear_since = None
        if alert.state == "pending" and now - alert.active_since >= spec.for_s:
            alert.state, alert.fired_at = "firing", now
        alert.silenced_by = self.silences.covering(alert, now)
        if alert.state == "firing" and not alert.notified and alert.silenced_by is None:
            alert.notified = True
            events.append(Event("firing", alert))

    def _clear(self, spec: RuleSpec, alert: Alert, now: float, events: list[Event]) -> None:
        if alert.state == "pending":
            del self.active[alert.key]
            return
        if alert.clear_since is None:
            alert.clear_since = now
        if now - alert.clear_since >= spec.resolve_after_s:
            alert.state, alert.resolved_at = "resolved", now
            del self.active[alert.key]
            self.history.append(alert)
            if alert.notified:
                events.append(Event("resolved", alert))

    def drop_rule(self, name: str) -> None:
        for key in [k for k in self.active if k[0] == name]:
            del self.active[key]

    def firing(self) -> list[Alert]:
        return [a for a in self.active.values() if a.state == "firing"]

    def pending(self) -> list[Alert]:
        return [a for a in self.active.values() if a.state == "pending"]


_silence_ids = itertools.count(1)


@dataclass(slots=True)
class Silence:
    """Mutes notifications of the alerts it matches until `expires_at` (wall time).

    `rule` None matches every rule; every label in `matchers` must equal the alert's.
    """

    matchers: dict[str, str]
    expires_at: float
    created_at: float
    rule: str | None = None
    comment: str = ""
    id: str = field(default_factory=lambda: f"{next(_silence_ids)}-{secrets.token_hex(4)}")

    def matches(self, alert: Alert, now: float) -> bool:
        if now >= self.expires_at or (self.rule is not None and self.rule != alert.rule):
            return False
        labels = dict(alert.labels)
        return all(labels.get(k) == v for k, v in self.matchers.items())

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "rule": self.rule,
            "matchers": dict(self.matchers),
            "comment": self.comment,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
        }


class Silences:
    def __init__(self) -> None:
        self._items: dict[str, Silence] = {}

    def add(self, silence: Silence, now: float) -> Silence:
        self.expire(now)
        if len(self._items) >= MAX_SILENCES:
            raise ValueError(f"at most {MAX_SILENCES} silences")
        self._items[silence.id] = silence
        return silence

    def remove(self, silence_id: str) -> bool:
        return self._items.pop(silence_id, None) is not None

    def expire(self, now: float) -> None:
        for sid in [s.id for s in self._items.values() if now >= s.expires_at]:
            del self._items[sid]

    def list(self, now: float) -> list[Silence]:
        self.expire(now)
        return sorted(self._items.values(), key=lambda s: s.created_at)

    def covering(self, alert: Alert, now: float) -> str | None:
        """The id of a silence that covers the alert now, if any."""
        return next((s.id for s in self._items.values() if s.matches(alert, now)), None)
