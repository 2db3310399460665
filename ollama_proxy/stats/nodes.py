"""Pure: one row per Ollama node, from the store's per-node aggregates and, on a proxy with
several upstreams, the live node state (health, loaded models, in-flight requests).

Nodes only the store knows (another proxy's, or gone) have null live fields; nodes only the
live state knows (no traffic in the range) have zero counts.
"""

from __future__ import annotations

from typing import Any

from ollama_proxy.stats.series import decode_rate, iso
from ollama_proxy.stats.shape import _common, as_datetime, avg

NODE_MEASURES = (
    "requests",
    "errors",
    "prompt_tokens",
    "completion_tokens",
    "latency_sum",
    "lat_p95",
    "last_ts",
    "eval_tokens",
    "eval_ms",
    "load_count",
    "queue_wait_sum",
    "queue_wait_n",
)
LIVE_NULLS: dict[str, Any] = {
    "url": None,
    "healthy": None,
    "version": None,
    "in_flight": None,
    "slots": None,
    "vram_used_bytes": None,
    "vram_capacity_bytes": None,
    "ejections": None,
    "loaded_models": [],
}


def _stored(row: dict[str, Any]) -> dict[str, Any]:
    item = _common(row)
    item.update(
        tokens_per_sec=decode_rate(row.get("eval_tokens"), row.get("eval_ms")),
        avg_queue_wait_ms=avg(row.get("queue_wait_sum"), int(row.get("queue_wait_n") or 0)),
        cold_loads=int(row.get("load_count") or 0),
        last_seen=iso(as_datetime(row.get("last_ts"))),
    )
    return item


def node_rows(stored: list[dict[str, Any]], live: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Live nodes first in their configured order, then the others by name.

    Records of requests that went to several nodes (unions, management in turn) name them
    comma-separated: they are no node's own and are left out.
    """
    by_name = {
        str(row.get("node")): _stored(row)
        for row in stored
        if row.get("node") and "," not in str(row.get("node"))
    }
    empty = _stored({})
    out = [{"node": n["node"], **n, **by_name.pop(n["node"], empty)} for n in live]
    out += [{"node": name, **LIVE_NULLS, **by_name[name]} for name in sorted(by_name)]
    return out
