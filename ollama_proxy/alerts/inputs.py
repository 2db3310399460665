"""The rules' inputs besides requests, read from what the proxy already keeps in memory.

- `upstream_down`: with several upstreams, each fleet node's health (its poller's probes and
  the proxy's connections); with one, the system monitor's upstream health check.
- `vram_high`: the system monitor's last GPU sample.
- `store_backlog`: each store's `backlog_age_s` in the recorder's health report, when the
  recorder reports one (stores that do not are simply not judged).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ollama_proxy.alerts.rules import GpuUse, NodeHealth, StoreBacklog


class AppInputs:
    """Reads through getters, so it works whatever order the app's parts start in."""

    def __init__(
        self,
        system: Callable[[], Any],
        recorder: Callable[[], Any],
        fleet: Callable[[], Any] = lambda: None,
    ) -> None:
        self._system = system
        self._recorder = recorder
        self._fleet = fleet

    def nodes(self) -> list[NodeHealth]:
        fleet = self._fleet()
        if fleet is not None:
            return [NodeHealth(node.name, node.healthy) for node in fleet.nodes]
        monitor = self._system()
        if monitor is None:
            return []
        health = monitor.upstream_health()
        return [NodeHealth(str(health.get("url", "upstream")), health.get("reachable"))]

    def gpus(self) -> list[GpuUse]:
        monitor = self._system()
        sample = getattr(monitor, "last", None)
        if sample is None:
            return []
        return [
            GpuUse(str(g.index), 100.0 * g.memory_used_bytes / g.memory_total_bytes)
            for g in sample.gpus
            if g.memory_total_bytes > 0
        ]

    def stores(self) -> list[StoreBacklog]:
        recorder = self._recorder()
        if recorder is None:
            return []
        return [
            StoreBacklog(str(entry.get("url", "")), entry.get("backlog_age_s"))
            for entry in recorder.health()
            if "backlog_age_s" in entry
        ]
