"""Pure: the built-in rules, their defaults, and their evaluation over in-memory facts.

A rule turns the facts of one evaluation into observations: one per label set (a model, a
node, a GPU, a store), each with its value and whether the condition holds. The lifecycle
(`lifecycle.py`) turns observations into pending, firing and resolved alerts.

>>> spec = DEFAULT_RULES["queue_full"]
>>> w = RecordWindow(bucket_s=10, keep_s=300)
>>> w.add("m", now=5.0, queue_full=True)
>>> [(o.labels, o.value, o.active) for o in evaluate(spec, Facts(w), now=10.0)]
[((), 1.0, True)]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from ollama_proxy.alerts.window import ModelCounts, RecordWindow
from ollama_proxy.store.rollups import COLD_LOAD_MS  # the stats API's cut for a cold load

Labels = tuple[tuple[str, str], ...]  # sorted (name, value) pairs: hashable


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """One rule's tunables. `threshold=None` turns a rule off until it is set (ttft_p95)."""

    name: str
    summary: str
    threshold: float | None
    window_s: float = 0.0  # the look-back of window rules; 0 for state rules
    for_s: float = 0.0  # how long the condition holds before pending becomes firing
    resolve_after_s: float = 60.0  # how long it stays false before firing resolves
    min_count: int = 0  # requests needed in the window before the rule judges a model
    enabled: bool = True
    labels: Labels = ()  # added to every alert of the rule (severity, team, ...)
    min_load_ms: float = COLD_LOAD_MS  # cold_load_thrash: a load at least this long

    @property
    def active(self) -> bool:
        return self.enabled and self.threshold is not None

    def with_values(self, values: dict[str, Any]) -> RuleSpec:
        return replace(self, **values)


@dataclass(frozen=True, slots=True)
class NodeHealth:
    node: str
    reachable: bool | None  # None: not checked yet


@dataclass(frozen=True, slots=True)
class GpuUse:
    gpu: str
    memory_percent: float


@dataclass(frozen=True, slots=True)
class StoreBacklog:
    store: str
    backlog_age_s: float | None  # oldest record not yet written; None when nothing waits


@dataclass(frozen=True, slots=True)
class Baseline:
    decode_tps_median: float
    requests: int


@dataclass(slots=True)
class Facts:
    """Everything one evaluation reads; built from memory, never from a store."""

    window: RecordWindow
    nodes: list[NodeHealth] = field(default_factory=list)
    gpus: list[GpuUse] = field(default_factory=list)
    stores: list[StoreBacklog] = field(default_factory=list)
    baselines: dict[str, Baseline] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Observation:
    labels: Labels
    value: float
    active: bool


def _sev(severity: str) -> Labels:
    return (("severity", severity),)


DEFAULT_RULES: dict[str, RuleSpec] = {
    spec.name: spec
    for spec in (
        RuleSpec(
            "error_rate",
            "A model's requests are failing",
            threshold=0.2,
            window_s=300,
            min_count=20,
            labels=_sev("warning"),
        ),
        RuleSpec(
            "upstream_down", "An Ollama node is unreachable", 1, for_s=30, labels=_sev("critical")
        ),
        RuleSpec(
            "queue_full", "Ollama answered queue-full 503s", 1, window_s=300, labels=_sev("warning")
        ),
        RuleSpec(
            "cold_load_thrash",
            "A model keeps being loaded (VRAM thrash)",
            threshold=6,
            window_s=3600,
            labels=_sev("warning"),
        ),
        RuleSpec(
            "ttft_p95",
            "Time to first token p95 is above the threshold (ms)",
            threshold=None,
            window_s=600,
            min_count=10,
            labels=_sev("warning"),
        ),
        RuleSpec(
            "decode_regression",
            "A model decodes slower than its 7-day median (fraction below)",
            threshold=0.3,
            window_s=3600,
            min_count=50,
            labels=_sev("warning"),
        ),
        RuleSpec(
            "vram_high", "A GPU's memory is nearly full (%)", 95, for_s=600, labels=_sev("warning")
        ),
        RuleSpec(
            "store_backlog",
            "A store is falling behind (oldest unshipped record, s)",
            threshold=300,
            labels=_sev("warning"),
        ),
    )
}


def _models(spec: RuleSpec, facts: Facts, now: float) -> dict[str, ModelCounts]:
    return facts.window.per_model(now - spec.window_s, window_s=spec.window_s)


def _error_rate(spec: RuleSpec, facts: Facts, now: float) -> list[Observation]:
    out = []
    for model, c in _models(spec, facts, now).items():
        if model and c.requests >= max(1, spec.min_count):
            rate = c.errors / c.requests
            out.append(Observation((("model", model),), rate, rate >= _t(spec)))
    return out


def _queue_full(spec: RuleSpec, facts: Facts, now: float) -> list[Observation]:
    total = sum(c.queue_full for c in _models(spec, facts, now).values())
    return [Observation((), float(total), total >= _t(spec))]


def _cold_load_thrash(spec: RuleSpec, facts: Facts, now: float) -> list[Observation]:
    return [
        Observation((("model", model),), float(c.loads), c.loads >= _t(spec))
        for model, c in _models(spec, facts, now).items()
        if model and c.loads
    ]


def _ttft_p95(spec: RuleSpec, facts: Facts, now: float) -> list[Observation]:
    out = []
    for model, c in _models(spec, facts, now).items():
        p95 = c.ttft.quantile(0.95)
        if model and p95 is not None and c.ttft.count >= max(1, spec.min_count):
            out.append(Observation((("model", model),), p95, p95 >= _t(spec)))
    return out


def _decode_regression(spec: RuleSpec, facts: Facts, now: float) -> list[Observation]:
    out = []
    for model, c in _models(spec, facts, now).items():
        base = facts.baselines.get(model)
        median = c.decode_tps.quantile(0.5)
        if base is None or median is None or base.decode_tps_median <= 0:
            continue
        if c.decode_tps.count < max(1, spec.min_count) or base.requests < spec.min_count:
            continue
        drop = 1.0 - median / base.decode_tps_median
        out.append(Observation((("model", model),), drop, drop >= _t(spec)))
    return out


def _upstream_down(spec: RuleSpec, facts: Facts, now: float) -> list[Observation]:
    return [
        Observation((("node", n.node),), 0.0 if n.reachable else 1.0, not n.reachable)
        for n in facts.nodes
        if n.reachable is not None
    ]


def _vram_high(spec: RuleSpec, facts: Facts, now: float) -> list[Observation]:
    return [
        Observation((("gpu", g.gpu),), g.memory_percent, g.memory_percent >= _t(spec))
        for g in facts.gpus
    ]


def _store_backlog(spec: RuleSpec, facts: Facts, now: float) -> list[Observation]:
    return [
        Observation((("store", s.store),), age, age >= _t(spec))
        for s in facts.stores
        for age in (s.backlog_age_s or 0.0,)
    ]


def _t(spec: RuleSpec) -> float:
    assert spec.threshold is not None  # evaluate() skips rules without one
    return spec.threshold


EVALUATORS: dict[str, Callable[[RuleSpec, Facts, float], list[Observation]]] = {
    "error_rate": _error_rate,
    "upstream_down": _upstream_down,
    "queue_full": _queue_full,
    "cold_load_thrash": _cold_load_thrash,
    "ttft_p95": _ttft_p95,
    "decode_regression": _decode_regression,
    "vram_high": _vram_high,
    "store_backlog": _store_backlog,
}


def evaluate(spec: RuleSpec, facts: Facts, now: float) -> list[Observation]:
    if not spec.active:
        return []
    return EVALUATORS[spec.name](spec, facts, now)


def longest_window_s(specs: dict[str, RuleSpec]) -> float:
    return max((s.window_s for s in specs.values() if s.active), default=0.0)
