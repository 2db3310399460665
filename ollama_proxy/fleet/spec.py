"""Pure parsing of the fleet's settings: `[name=]URL` node entries and ROUTE_RULES.

>>> split_node("gpu1=http://10.0.0.5:11434")
('gpu1', 'http://10.0.0.5:11434')
>>> split_node("http://10.0.0.6:11434")
('', 'http://10.0.0.6:11434')
>>> parse_rules(["llama3*=gpu1|gpu2"])[0].nodes
('gpu1', 'gpu2')
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,62}")


@dataclass(frozen=True, slots=True)
class NodeSpec:
    """One configured Ollama node: its name (default host:port) and base URL."""

    name: str
    url: str


@dataclass(frozen=True, slots=True)
class RouteRule:
    """ROUTE_RULES entry: models matching `glob` run only on `nodes`."""

    glob: str
    nodes: tuple[str, ...]
    pattern: re.Pattern[str]

    def matches(self, model: str) -> bool:
        return self.pattern.fullmatch(model) is not None


def split_node(entry: str) -> tuple[str, str]:
    """`name=URL` -> (name, URL); a bare URL -> ("", URL). A name has no `/`."""
    entry = entry.strip()
    name, sep, rest = entry.partition("=")
    if sep and "/" not in name and _NAME.fullmatch(name.strip()):
        return name.strip(), rest.strip()
    if sep and "/" not in name:
        raise ValueError(f"node name {name!r} must match {_NAME.pattern}")
    return "", entry


def parse_rules(entries: list[str]) -> list[RouteRule]:
    """`glob=node|node` entries, first match wins (fnmatch globs, case-insensitive)."""
    rules = []
    for entry in entries:
        glob, sep, nodes = entry.partition("=")
        names = tuple(n.strip() for n in nodes.split("|") if n.strip())
        if not sep or not glob.strip() or not names:
            raise ValueError(f"route rule {entry!r}: expected MODEL_GLOB=NODE|NODE")
        glob = glob.strip().lower()
        rules.append(RouteRule(glob, names, re.compile(fnmatch.translate(glob))))
    return rules


def parse_node_numbers(entries: list[str], what: str) -> dict[str, float]:
    """`name=number` entries (ROUTE_NODE_SLOTS, ROUTE_NODE_VRAM_GB) -> {name: number}."""
    out: dict[str, float] = {}
    for entry in entries:
        name, sep, value = entry.partition("=")
        try:
            number = float(value)
        except ValueError:
            number = -1.0
        if not sep or not name.strip() or number <= 0:
            raise ValueError(f"{what} entry {entry!r}: expected NODE=POSITIVE_NUMBER")
        out[name.strip()] = number
    return out
