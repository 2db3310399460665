"""The simulator's mutable state, one per app: `app[SIMULATOR]`.

In a test: `sim = app[SIMULATOR]`, then `sim.set_faults(Faults(reset_after_chunks=3,
count=1))`, and `await sim.stats.wait_for_cancellations(1)` to see the proxy cancel upstream.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from ollama_proxy.simulator.config import SimulatorConfig
from ollama_proxy.simulator.faults import FaultPlan, Faults, Stats
from ollama_proxy.simulator.registry import Registry
from ollama_proxy.simulator.scheduler import Scheduler


@dataclass
class Simulator:
    config: SimulatorConfig
    registry: Registry
    scheduler: Scheduler
    plan: FaultPlan = field(default_factory=FaultPlan)
    stats: Stats = field(default_factory=Stats)

    @classmethod
    def from_config(cls, config: SimulatorConfig) -> Simulator:
        scheduler = Scheduler(config.load_s, config.max_queue, config.num_parallel)
        return cls(config, Registry.from_config(config), scheduler)

    def set_faults(self, faults: Faults) -> None:
        self.plan.set(faults)

    def clear_faults(self) -> None:
        self.plan.clear()

    def reset(self) -> None:
        """Forget faults, statistics and loaded models (local models and blobs stay)."""
        self.plan.clear()
        self.stats = Stats()
        self.scheduler.clear()
        self.scheduler.loads = self.scheduler.unloads = 0

    def stats_json(self) -> dict[str, Any]:
        return self.stats.to_json(self.scheduler.loads, self.scheduler.unloads)


SIMULATOR = web.AppKey("simulator", Simulator)
