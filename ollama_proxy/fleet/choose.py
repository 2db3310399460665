"""Pure: rank the nodes for one request.

Tiers, best first: the model loaded with a free slot; loaded but busy (shortest expected
wait); on disk with VRAM to spare; on disk (loading evicts something); not on the node, never
chosen while another node has the model. Ties go to the node with the fewest requests in
flight. A conversation stays on its node while that node is in the best tier on offer.
"""

from __future__ import annotations

from typing import NamedTuple

from ollama_proxy.fleet.facts import Facts
from ollama_proxy.fleet.nodes import Fleet, Node

REASONS = ("loaded", "busy", "on_disk", "evict", "absent")
ABSENT = 4


class Candidate(NamedTuple):  # a tuple: built per request, cheaper than a dataclass
    node: Node
    reason: str  # loaded, busy, on_disk, evict, absent, affinity, pinned, forced, only, any


class UnknownNode(LookupError):
    """X-Ollama-Node named no configured node."""


class NoNode(LookupError):
    """Pinning rules left no node for the model."""


def _tier(node: Node, model: str) -> tuple[int, float, int, int]:
    # Hot: once per node per request. Attributes read directly, no property calls.
    running = node.inflight_models.get(model, 0)
    if running or model in node.loaded:
        slots = node.slots_configured or node.slots_learned
        if running < slots:
            return (0, 0.0, node.inflight, node.index)
        return (1, (running + 1 - slots) / slots, node.inflight, node.index)
    if model in node.on_disk:
        return (2 if node.fits(model) else 3, 0.0, node.inflight, node.index)
    return (ABSENT, 0.0, node.inflight, node.index)


def rank(fleet: Fleet, facts: Facts, forced: str | None = None, limit: int = 64) -> list[Candidate]:
    """At most `limit` candidates, in the order they are tried (failover walks down them)."""
    if forced is not None:
        node = fleet.by_name.get(forced)
        if node is None:
            raise UnknownNode(forced)
        return [Candidate(node, "forced")]
    if len(fleet.nodes) == 1:
        return [Candidate(fleet.nodes[0], "only")]
    nodes = fleet.nodes
    rule = fleet.rule_for(facts.model) if facts.model and fleet.rules else None
    if rule is not None:
        nodes = [fleet.by_name[name] for name in rule.nodes if name in fleet.by_name]
        if not nodes:
            raise NoNode(facts.model)
    pool = [n for n in nodes if n.healthy] or list(nodes)  # all ejected: try them anyway
    if not facts.model:
        pool.sort(key=lambda n: (n.inflight, n.index))
        return [Candidate(n, "any") for n in pool[:limit]]
    return _ranked(fleet, facts, pool, "pinned" if rule is not None else None, limit)


def _ranked(
    fleet: Fleet, facts: Facts, pool: list[Node], label: str | None, limit: int
) -> list[Candidate]:
    model = facts.model
    scored = sorted([(_tier(n, model), n) for n in pool])
    best = scored[0][0][0]
    if best != ABSENT:
        scored = [(tier, n) for tier, n in scored if tier[0] != ABSENT]
    sticky = fleet.affinity(facts.affinity) if facts.affinity is not None else None
    if sticky is not None:
        for i, (tier, node) in enumerate(scored):
            if node is sticky:
                if tier[0] == best:  # only while it stays a best choice
                    scored.insert(0, scored.pop(i))
                else:
                    sticky = None
                break
    out = [Candidate(n, label or REASONS[tier[0]]) for tier, n in scored[:limit]]
    if sticky is not None and out[0].node is sticky:
        out[0] = Candidate(sticky, label or "affinity")
    return out
