"""The simulator's local model store: what `/api/tags` lists, what can be pulled, blobs."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

from ollama_proxy.simulator.config import ModelSpec, SimulatorConfig, normalize_name


@dataclass
class Registry:
    """Local models by normalized name, models the fake remote registry offers, and blobs."""

    local: dict[str, ModelSpec] = field(default_factory=dict)
    remote: dict[str, ModelSpec] = field(default_factory=dict)
    blobs: dict[str, int] = field(default_factory=dict)  # "sha256:<hex>" -> size

    @classmethod
    def from_config(cls, config: SimulatorConfig) -> Registry:
        registry = cls()
        for spec in config.models:
            registry.local[normalize_name(spec.name)] = spec
        for spec in [*config.models, *config.pullable]:
            registry.remote[normalize_name(spec.name)] = spec
        return registry

    def get(self, name: str) -> ModelSpec | None:
        return self.local.get(normalize_name(name)) if name else None

    def listed(self) -> list[ModelSpec]:
        """Newest first, as Ollama's ListHandler sorts them."""
        return sorted(self.local.values(), key=lambda s: s.modified_at_ns, reverse=True)

    def add(self, spec: ModelSpec) -> None:
        self.local[normalize_name(spec.name)] = spec

    def copy(self, source: str, destination: str) -> bool:
        spec = self.get(source)
        if spec is None:
            return False
        self.add(replace(spec, name=normalize_name(destination), modified_at_ns=time.time_ns()))
        return True

    def delete(self, name: str) -> bool:
        return self.local.pop(normalize_name(name), None) is not None

    def pullable(self, name: str) -> ModelSpec | None:
        return self.remote.get(normalize_name(name))


def layers(spec: ModelSpec) -> list[tuple[str, int]]:
    """(digest, size) of a model's layers: weights, template, license, params."""
    weights = "sha256:" + spec.digest
    small = [("template", 1_429), ("license", 7_711), ("params", 96)]
    out = [(weights, spec.size)]
    for kind, size in small:
        out.append(("sha256:" + ModelSpec(spec.name + kind).digest, size))
    return out
