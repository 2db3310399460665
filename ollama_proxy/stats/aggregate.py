"""Pure: what every stats endpoint asks of a store, as one grouped-aggregate description.

Each endpoint is "these measures over the records matching these filters, grouped by these
keys": the cards (no group), history (bucket [, instance]), models (model [, instance]),
clients (client [, instance]), instances (instance). Backends (`sql_queries`,
`clickhouse_queries`) turn an `Aggregate` into their SQL; the pieces that are the same SQL
everywhere live here. Identifiers only ever come from the tables below, and every user value is
a bound parameter (`Params.add`), never text in the SQL.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ollama_proxy.meter.names import stored_names
from ollama_proxy.stats.query import Filters
from ollama_proxy.store.rollups import COLD_LOAD_MS as COLD_LOAD_MS  # defined with the rollups

CLIENT_KEY = "CASE WHEN client_name <> '' THEN client_name ELSE client END"
GROUP_EXPRS: dict[str, str] = {
    "model": "model",
    "instance": "instance",
    "client": CLIENT_KEY,
    "node": "node",
    # "bucket" is dialect-specific (time arithmetic): see the backends.
}

# Simple measures: the same SQL in SQLite, PostgreSQL and ClickHouse.
SIMPLE_MEASURES: dict[str, str] = {
    "requests": "count(*)",
    "errors": "sum(CASE WHEN status = 'error' THEN 1 ELSE 0 END)",
    "prompt_tokens": "sum(prompt_tokens)",
    "completion_tokens": "sum(completion_tokens)",
    "cached_tokens": "sum(cached_tokens)",
    "eval_tokens": "sum(CASE WHEN eval_duration_ms > 0 THEN completion_tokens ELSE 0 END)",
    "eval_ms": "sum(CASE WHEN eval_duration_ms > 0 THEN eval_duration_ms ELSE 0 END)",
    "latency_sum": "sum(latency_ms)",
    "load_count": f"sum(CASE WHEN load_duration_ms >= {COLD_LOAD_MS} THEN 1 ELSE 0 END)",
    "load_ms_sum": f"sum(CASE WHEN load_duration_ms >= {COLD_LOAD_MS} "
    "THEN load_duration_ms ELSE 0 END)",
    "last_ts": "max(timestamp)",
    # GPU time and energy (records without them count 0; energy_n says whether any had one).
    "gpu_ms_sum": "sum(coalesce(gpu_ms, 0))",
    "load_charged_sum": "sum(coalesce(load_charged_ms, 0))",
    "energy_j_sum": "sum(coalesce(energy_j, 0))",
    "energy_n": "count(energy_j)",
    "energy_tokens": "sum(CASE WHEN energy_j IS NOT NULL THEN completion_tokens ELSE 0 END)",
    "queue_wait_sum": "sum(CASE WHEN queue_wait_ms > 0 THEN queue_wait_ms ELSE 0 END)",
    "queue_wait_n": "sum(CASE WHEN queue_wait_ms IS NOT NULL THEN 1 ELSE 0 END)",
    # Thinking models (NULL for requests that did not think).
    "thinking_tokens": "sum(coalesce(thinking_tokens, 0))",
    "thinking_ms_sum": "sum(coalesce(thinking_ms, 0))",
    "thinking_count": "sum(CASE WHEN thinking_ms IS NOT NULL THEN 1 ELSE 0 END)",
}
GPU_MEASURES = ("gpu_ms_sum", "load_charged_sum", "energy_j_sum", "energy_n", "energy_tokens")
# Percentile measures: name -> (column, percentile). Dialect-specific SQL.
PCT_MEASURES: dict[str, tuple[str, float]] = {
    "lat_p50": ("latency_ms", 0.5),
    "lat_p95": ("latency_ms", 0.95),
    "lat_p99": ("latency_ms", 0.99),
    "ttft_p50": ("ttft_ms", 0.5),
    "ttft_p95": ("ttft_ms", 0.95),
    "ttft_p99": ("ttft_ms", 0.99),
}
COUNTS = ("requests", "errors", "prompt_tokens", "completion_tokens", "cached_tokens")
ALL_PCTS = tuple(PCT_MEASURES)
# Asked for by name only (the alerts' 7-day decode-speed baselines), not by every endpoint.
PCT_MEASURES["decode_p50"] = ("decode_tps", 0.5)
# "models": the distinct model names of a group (clients table); dialect-specific.


@dataclass(frozen=True, slots=True)
class Aggregate:
    filters: Filters
    groups: tuple[str, ...] = ()  # names from GROUP_EXPRS, or "bucket"
    measures: tuple[str, ...] = COUNTS
    step_s: int = 60  # bucket width, when "bucket" is a group
    require_model: bool = False  # only records that name a model (the models table)

    def pct_columns(self) -> dict[str, list[tuple[str, float]]]:
        """column -> [(measure name, p)] for the percentile measures asked for."""
        out: dict[str, list[tuple[str, float]]] = {}
        for name in self.measures:
            if name in PCT_MEASURES:
                column, p = PCT_MEASURES[name]
                out.setdefault(column, []).append((name, p))
        return out


@dataclass
class Params:
    """Collects bound parameters; `render(name, kind)` is the dialect's placeholder syntax."""

    render: Callable[[str, str], str]
    convert_time: Callable[[datetime], Any] = lambda value: value
    values: dict[str, Any] = field(default_factory=dict)

    def add(self, value: Any, kind: str = "str") -> str:
        name = f"p{len(self.values)}"
        self.values[name] = self.convert_time(value) if kind == "time" else value
        return self.render(name, kind)


def model_condition(model: str, params: Params) -> str:
    """The rows of `model` as Ollama names it: `llama3.2` is `llama3.2:latest`, and rows
    written before names were canonical hold `llama3.2` (see `stored_names`)."""
    return f"model IN ({', '.join(params.add(name) for name in stored_names(model))})"


def where_clause(filters: Filters, params: Params, *, require_model: bool = False) -> str:
    """`WHERE ...` for the filters (or an empty string); values become bound parameters."""
    parts: list[str] = []
    if filters.model is not None:
        parts.append(model_condition(filters.model, params))
    for column in ("instance", "status", "endpoint", "operation", "node"):
        value = getattr(filters, column)
        if value is not None:
            parts.append(f"{column} = {params.add(value)}")
    if filters.client is not None:
        ph = params.add(filters.client)
        parts.append(f"(client = {ph} OR client_name = {ph})")
    if filters.since is not None:
        parts.append(f"timestamp >= {params.add(filters.since, 'time')}")
    if filters.until is not None:
        parts.append(f"timestamp < {params.add(filters.until, 'time')}")
    if require_model:
        parts.append("model <> ''")
    return f"WHERE {' AND '.join(parts)}" if parts else ""
