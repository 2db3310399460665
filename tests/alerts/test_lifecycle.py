"""Pending -> firing -> resolved, hysteresis, dedup per rule and labels, silences."""

from __future__ import annotations

from ollama_proxy.alerts.lifecycle import Silence, Tracker
from ollama_proxy.alerts.rules import Observation, RuleSpec

SPEC = RuleSpec("error_rate", "errors", threshold=0.2, for_s=30, resolve_after_s=60)
M = (("model", "m"),)


def on(value: float = 0.5) -> list[Observation]:
    return [Observation(M, value, True)]


def off(value: float = 0.0) -> list[Observation]:
    return [Observation(M, value, False)]


def states(events: list) -> list[str]:
    return [e.state for e in events]


def test_pending_then_firing_after_for_then_resolved_after_hysteresis() -> None:
    t = Tracker()
    assert states(t.update(SPEC, on(), 0)) == []
    assert [a.state for a in t.pending()] == ["pending"]
    assert states(t.update(SPEC, on(), 29)) == []
    assert states(t.update(SPEC, on(), 30)) == ["firing"]
    assert states(t.update(SPEC, on(), 45)) == []  # one notification per firing
    assert states(t.update(SPEC, off(), 50)) == []  # false, but not for 60 s yet
    assert states(t.update(SPEC, on(), 70)) == []  # back above: the clock restarts
    assert states(t.update(SPEC, off(), 80)) == []
    assert states(t.update(SPEC, off(), 139)) == []
    events = t.update(SPEC, off(), 140)
    assert states(events) == ["resolved"]
    alert = events[0].alert
    assert (alert.fired_at, alert.resolved_at, alert.labels) == (30, 140, M)
    assert list(t.history) == [alert] and not t.active


def test_pending_that_clears_is_dropped_silently() -> None:
    t = Tracker()
    t.update(SPEC, on(), 0)
    assert states(t.update(SPEC, off(), 10)) == []
    assert not t.active and not t.history


def test_missing_observation_counts_as_false() -> None:
    spec = RuleSpec("queue_full", "q", threshold=1, resolve_after_s=0)
    t = Tracker()
    assert states(t.update(spec, [Observation((), 1, True)], 0)) == ["firing"]
    assert states(t.update(spec, [], 5)) == ["resolved"]


def test_dedup_is_per_rule_and_labels() -> None:
    spec = RuleSpec("cold_load_thrash", "c", threshold=6, labels=(("severity", "warning"),))
    t = Tracker()
    obs = [Observation((("model", "a"),), 6, True), Observation((("model", "b"),), 7, True)]
    events = t.update(spec, obs, 0)
    assert sorted(dict(e.alert.labels)["model"] for e in events) == ["a", "b"]
    assert all(dict(e.alert.labels)["severity"] == "warning" for e in events)
    assert t.update(spec, obs, 15) == []


def test_silence_mutes_fire_and_its_resolve_then_expires() -> None:
    spec = RuleSpec("error_rate", "e", threshold=0.2, resolve_after_s=0)
    t = Tracker()
    t.silences.add(Silence({"model": "m"}, expires_at=100, created_at=0, rule="error_rate"), 0)
    assert states(t.update(spec, on(), 10)) == []
    assert t.firing()[0].silenced_by is not None
    assert states(t.update(spec, on(), 100)) == ["firing"]  # expired while still firing
    assert states(t.update(spec, off(), 110)) == ["resolved"]


def test_silence_hides_the_resolve_of_an_unannounced_alert() -> None:
    spec = RuleSpec("error_rate", "e", threshold=0.2, resolve_after_s=0)
    t = Tracker()
    t.silences.add(Silence({}, expires_at=1000, created_at=0, rule="error_rate"), 0)
    t.update(spec, on(), 0)
    assert states(t.update(spec, off(), 5)) == []
    assert t.history[0].state == "resolved"


def test_silence_matching() -> None:
    t = Tracker()
    t.update(RuleSpec("error_rate", "e", threshold=0.2), on(), 0)
    alert = t.firing()[0]
    assert Silence({"model": "m"}, 10, 0).matches(alert, 5)
    assert not Silence({"model": "x"}, 10, 0).matches(alert, 5)
    assert not Silence({}, 10, 0, rule="queue_full").matches(alert, 5)
    assert not Silence({"model": "m"}, 10, 0).matches(alert, 10)  # expired
