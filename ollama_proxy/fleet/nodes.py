"""Node state: what each Ollama node holds, how busy and how healthy it is. Pure.

Fed by the poller (/api/ps, /api/tags, /api/version answers, probe failures) and by the proxy
(dispatch, release, connect failures); read by `choose`. Every method is O(1) or O(models on
the node) and does no I/O, so a routing decision never waits on the network.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ollama_proxy.fleet.names import normalize_model
from ollama_proxy.fleet.spec import NodeSpec, RouteRule

AFFINITY_MAX = 10_000  # conversations remembered per proxy (LRU)
# A response whose queue wait stayed under this was served by a free slot.
FREE_SLOT_WAIT_MS = 25.0
GIB = 1024**3


@dataclass(slots=True)
class Node:
    """One Ollama node as the proxy sees it.

    >>> n = Node("gpu1", "http://10.0.0.5:11434", 0)
    >>> n.address, n.port, n.slots
    ('10.0.0.5', 11434, 1)
    """

    name: str
    url: str
    index: int
    address: str = ""
    port: int = 0
    healthy: bool = True  # until a probe or a connection says otherwise
    failures: int = 0  # consecutive connect failures and failed probes
    seen: bool = False  # at least one /api/ps answer
    version: str = ""
    loaded: dict[str, int] = field(default_factory=dict)  # model -> size_vram (from /api/ps)
    on_disk: dict[str, int] = field(default_factory=dict)  # model -> size (from /api/tags)
    inflight: int = 0
    inflight_models: dict[str, int] = field(default_factory=dict)
    slots_configured: int = 0  # 0: learned
    slots_learned: int = 1
    vram_configured: int = 0  # bytes; 0: learned (the most seen loaded at once)
    vram_high_water: int = 0
    requests: int = 0
    errors: int = 0
    cold_loads: int = 0
    ejections: int = 0

    def __post_init__(self) -> None:
        from yarl import URL

        url = URL(self.url)
        self.address = url.host or ""
        self.port = url.port or 0

    @property
    def slots(self) -> int:
        return self.slots_configured or self.slots_learned

    @property
    def vram_capacity(self) -> int:
        return self.vram_configured or self.vram_high_water

    @property
    def vram_used(self) -> int:
        return sum(self.loaded.values())

    def holds(self, model: str) -> bool:
        """In VRAM, or being loaded or run by a request sent there."""
        return model in self.loaded or self.inflight_models.get(model, 0) > 0

    def fits(self, model: str) -> bool:
        """Loading `model` here evicts nothing (an idle node always has room)."""
        used = self.vram_used
        return used == 0 or used + self.on_disk.get(model, 0) <= self.vram_capacity


@dataclass(slots=True)
class Ticket:
    """One dispatch of a request to a node, released when the request ends."""

    node: Node
    model: str
    concurrent: int  # requests for this model on this node, this one included
    cold: bool  # the model was not held by the node when sent
    released: bool = False


class Fleet:
    """All nodes, routing rules and conversation affinity.

    >>> from ollama_proxy.fleet.spec import NodeSpec
    >>> fleet = Fleet([NodeSpec("a", "http://127.0.0.2:11434")])
    >>> fleet.by_name["a"].healthy
    True
    """

    def __init__(
        self,
        specs: Iterable[NodeSpec],
        rules: Iterable[RouteRule] = (),
        *,
        slots: dict[str, float] | None = None,
        vram_gb: dict[str, float] | None = None,
        eject_after: int = 2,
    ) -> None:
        self.nodes = [Node(spec.name, spec.url, i) for i, spec in enumerate(specs)]
        self.by_name = {node.name: node for node in self.nodes}
        self.rules = list(rules)
        self.eject_after = eject_after
        for name, value in (slots or {}).items():
            self.by_name[name].slots_configured = int(value)
        for name, value in (vram_gb or {}).items():
            self.by_name[name].vram_configured = int(value * GIB)
        self._affinity: OrderedDict[int, str] = OrderedDict()
        self.on_loaded: Callable[[Node], None] = lambda node: None  # the poller's kick
        self.on_ejected: Callable[[Node], None] = lambda node: None  # the forwarder's abort
        # A pull, create, copy or delete went to the node: its /api/tags, now (the poller).
        self.on_changed: Callable[[Node], None] = lambda node: None

    # --- the proxy's side -------------------------------------------------------------------
    def dispatch(self, node: Node, model: str) -> Ticket:
        cold = bool(model) and not node.holds(model)
        node.inflight += 1
        count = node.inflight_models.get(model, 0) + 1
        node.inflight_models[model] = count
        return Ticket(node, model, count, cold)

    def release(self, ticket: Ticket, queue_wait_ms: float | None, error: bool) -> None:
        """The request ended: free its slot, learn the node's parallelism, count it."""
        if not self.cancel(ticket):
            return
        node = ticket.node
        node.requests += 1
        node.errors += error
        if queue_wait_ms is not None:
            self._learn_slots(node, ticket.concurrent, queue_wait_ms)
        if ticket.cold and not error:
            node.cold_loads += 1
            self.on_loaded(node)  # /api/ps now, not in up to 2 s

    def cancel(self, ticket: Ticket) -> bool:
        """Free the ticket's slot without counting a request (the node never took it)."""
        if ticket.released:
            return False
        ticket.released = True
        node, model = ticket.node, ticket.model
        node.inflight -= 1
        left = node.inflight_models.get(model, 1) - 1
        if left > 0:
            node.inflight_models[model] = left
        else:
            node.inflight_models.pop(model, None)
        return True

    @staticmethod
    def _learn_slots(node: Node, concurrent: int, queue_wait_ms: float) -> None:
        # k requests ran at once without waiting: at least k slots. Waiting with k in flight:
        # fewer than k.
        if queue_wait_ms < FREE_SLOT_WAIT_MS:
            node.slots_learned = max(node.slots_learned, concurrent)
        elif concurrent > 1:
            node.slots_learned = max(1, min(node.slots_learned, concurrent - 1))

    def connect_failed(self, node: Node) -> None:
        node.failures += 1
        if node.healthy and node.failures >= self.eject_after:
            node.healthy = False
            node.ejections += 1
            self.on_ejected(node)

    def connect_ok(self, node: Node) -> None:
        node.failures = 0
        node.healthy = True

    # --- the poller's side ------------------------------------------------------------------
    def probe_failed(self, node: Node) -> None:
        self.connect_failed(node)

    def apply_ps(self, node: Node, body: Any) -> None:
        """An /api/ps answer: the node is up (readmitted) and holds these models."""
        self.connect_ok(node)
        node.seen = True
        node.loaded = _sizes(body, "size_vram")
        node.vram_high_water = max(node.vram_high_water, node.vram_used)

    def apply_tags(self, node: Node, body: Any) -> None:
        node.on_disk = _sizes(body, "size")

    def apply_version(self, node: Node, body: Any) -> None:
        version = body.get("version") if isinstance(body, dict) else None
        node.version = version if isinstance(version, str) else ""

    def snapshot(self) -> list[dict[str, Any]]:
        """Live state per node, for GET /api/stats/nodes."""
        return [
            {
                "node": n.name,
                "url": n.url,
                "healthy": n.healthy,
                "version": n.version or None,
                "in_flight": n.inflight,
                "slots": n.slots,
                "vram_used_bytes": n.vram_used,
                "vram_capacity_bytes": n.vram_capacity or None,
                "ejections": n.ejections,
                "loaded_models": [
                    {"name": name, "size_vram_bytes": vram}
                    for name, vram in sorted(n.loaded.items())
                ],
            }
            for n in self.nodes
        ]

    # --- affinity ---------------------------------------------------------------------------
    def affinity(self, key: int) -> Node | None:
        name = self._affinity.get(key)
        return self.by_name.get(name) if name is not None else None

    def remember(self, key: int, node: Node) -> None:
        self._affinity[key] = node.name
        self._affinity.move_to_end(key)
        if len(self._affinity) > AFFINITY_MAX:
            self._affinity.popitem(last=False)

    def rule_for(self, model: str) -> RouteRule | None:
        for rule in self.rules:
            if rule.matches(model):
                return rule
        return None


def _sizes(body: Any, key: str) -> dict[str, int]:
    """`{"models": [...]}` -> {normalized name: size}; anything malformed is skipped."""
    out: dict[str, int] = {}
    models = body.get("models") if isinstance(body, dict) else None
    for item in models if isinstance(models, list) else ():
        if not isinstance(item, dict):
            continue
        name = item.get("name") or item.get("model")
        size = item.get(key)
        if isinstance(name, str) and name:
            out[normalize_model(name)] = size if isinstance(size, int) else 0
    return out
