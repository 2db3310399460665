"""Pydantic models of every request body and response of the stats API.

Handlers serialise their answers through these models, and `api/openapi.py` builds the OpenAPI
document from their JSON schemas, so the document matches what is sent. Timestamps are strings
in the API's one format (ISO 8601 UTC, milliseconds, `Z`; see `stats.series.iso`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator

Timestamp = Field(json_schema_extra={"format": "date-time"})


class ErrorBody(BaseModel):
    error: str
    field: str | None = None


class Percentiles(BaseModel):
    """Interpolated percentiles (PERCENTILE.INC) in milliseconds; null without data."""

    p50: float | None
    p95: float | None
    p99: float | None


class LoadedModel(BaseModel):
    name: str
    size_bytes: int | None = None
    size_vram_bytes: int | None = None
    expires_at: str | None = None
    node: str | None = None  # with a fleet: the node it is loaded on


class CurrentStats(BaseModel):
    tokens_total: int
    prompt_tokens_total: int
    completion_tokens_total: int
    cached_tokens_total: int
    requests_total: int
    errors_total: int
    uptime_hours: float
    tokens_per_sec: float | None
    requests_last_hour: int
    error_count: int
    error_rate: float
    tokens_last_hour: int
    prompt_tokens_last_hour: int
    completion_tokens_last_hour: int
    cached_tokens_last_hour: int
    in_flight: int
    latency_ms: Percentiles
    ttft_ms: Percentiles
    loaded_models: list[LoadedModel]
    last_request_at: str | None
    instance: str | None
    generated_at: str


class OverviewHealth(BaseModel):
    status: Literal["healthy", "degraded", "unhealthy"]
    reasons: list[str]


class OverviewTotals(BaseModel):
    requests: int
    errors: int
    tokens: int
    prompt_tokens: int
    completion_tokens: int
    last_request_at: str | None


class OverviewLastHour(BaseModel):
    requests: int
    errors: int
    error_rate: float
    tokens: int
    tokens_per_sec: float | None
    latency_ms: Percentiles
    ttft_ms: Percentiles


class StatsOverview(BaseModel):
    """GET /api/stats: totals, last hour, loaded models, health and every endpoint's path.

    `totals` and `last_hour` are null when the store cannot answer; `error` then says why.
    """

    instance: str
    version: str
    mode: Literal["proxy", "api"]
    health: OverviewHealth
    totals: OverviewTotals | None
    last_hour: OverviewLastHour | None
    in_flight: int
    loaded_models: list[LoadedModel]
    pipeline: dict[str, int] | None
    error: str | None
    endpoints: list[str]


class HistoryPoint(BaseModel):
    timestamp: str
    instance: str | None
    node: str | None = None  # with group_by=node
    requests: int
    errors: int
    tokens_total: int
    prompt_tokens: int
    completion_tokens: int
    throughput: float
    tokens_per_sec: float | None
    latency_ms: Percentiles
    ttft_ms: Percentiles


class LogEntry(BaseModel):
    """One request record, plus the brief's short names (`id`, `tokens`, `latency`)."""

    id: str
    timestamp: str
    model: str
    tokens: int | None  # null when usage_source is "none" (no model ran, nothing reported)
    latency: float
    status: Literal["success", "error", "cancelled"]
    request_id: str
    instance: str
    method: str
    endpoint: str
    operation: str
    api_flavor: str
    inference: bool
    client: str
    client_name: str
    user_agent: str
    http_status: int
    error_type: str
    error_message: str
    stream: bool
    prompt_tokens: int | None
    cached_tokens: int | None
    completion_tokens: int | None
    tokens_generated: int | None
    estimated: bool
    chunks: int
    latency_ms: float
    ttfb_ms: float | None
    ttft_ms: float | None
    total_duration_ms: float | None
    load_duration_ms: float | None
    prompt_eval_duration_ms: float | None
    eval_duration_ms: float | None
    queue_wait_ms: float | None
    decode_tps: float | None
    prefill_tps: float | None
    done_reason: str
    bytes_in: int
    bytes_out: int
    trace_id: str
    gpu_ms: float | None = None
    load_charged_ms: float | None = None
    energy_j: float | None = None
    usage_source: Literal["reported", "estimated", "none"]
    model_requested: str
    thinking_tokens: int | None
    thinking_ms: float | None
    ttft_answer_ms: float | None
    thinking_estimated: bool


class LogsPage(BaseModel):
    total: int
    limit: int
    offset: int
    logs: list[LogEntry]


class ModelStats(BaseModel):
    model_name: str
    instance: str | None
    node: str | None = None  # with group_by=node
    requests_count: int
    errors: int
    error_rate: float | None  # None for a loaded model without requests in the range
    avg_latency: float | None
    p50_latency: float | None
    p95_latency: float | None
    tokens: int
    prompt_tokens: int
    completion_tokens: int
    tokens_per_sec: float | None
    ttft: float | None
    p95_ttft: float | None
    load_count: int
    avg_load_ms: float | None
    last_used: str | None
    loaded: bool
    gpu_s: float = 0.0  # prompt_eval + eval seconds (GPU time)
    load_charged_s: float = 0.0  # model loads this group caused
    gpu_share: float | None = None  # of all groups' GPU + load time in the answer
    energy_j: float | None = None  # null: no power reading
    j_per_1k_tokens: float | None = None  # joules per 1,000 output tokens
    thinking_tokens: int  # thinking (reasoning) tokens of the model's requests in the range
    avg_thinking_ms: float | None  # mean first-thinking-to-first-answer time, thinking requests


class QuotaUsage(BaseModel):
    gpu_s_used: float
    gpu_s_limit: float | None
    tokens_used: int
    tokens_limit: int | None
    exceeded: bool
    resets_at: str


class ClientStats(BaseModel):
    client: str
    instance: str | None
    node: str | None = None  # with group_by=node
    requests_count: int
    errors: int
    error_rate: float
    avg_latency: float | None
    p95_latency: float | None
    tokens: int
    prompt_tokens: int
    completion_tokens: int
    models: list[str]
    last_seen: str | None
    gpu_s: float = 0.0  # prompt_eval + eval seconds (GPU time)
    load_charged_s: float = 0.0  # model loads this group caused
    gpu_share: float | None = None  # of all groups' GPU + load time in the answer
    energy_j: float | None = None  # null: no power reading
    quota: QuotaUsage | None = None  # PROXY_QUOTAS: today's usage against the label's limits


class InstanceStats(BaseModel):
    instance: str
    requests_count: int
    errors: int
    error_rate: float
    avg_latency: float | None
    p95_latency: float | None
    tokens: int
    last_seen: str | None


class NodeModel(BaseModel):
    name: str
    size_vram_bytes: int


class NodeStats(BaseModel):
    """One Ollama node. Live fields are null for a node this proxy does not route to."""

    node: str
    url: str | None
    healthy: bool | None
    version: str | None
    in_flight: int | None
    slots: int | None  # parallel requests per loaded model (configured or learned)
    vram_used_bytes: int | None
    vram_capacity_bytes: int | None  # configured, else the most seen loaded at once
    ejections: int | None
    loaded_models: list[NodeModel]
    requests_count: int
    errors: int
    error_rate: float
    avg_latency: float | None
    p95_latency: float | None
    tokens: int
    prompt_tokens: int
    completion_tokens: int
    tokens_per_sec: float | None
    avg_queue_wait_ms: float | None
    cold_loads: int
    last_seen: str | None


class UpstreamHealth(BaseModel):
    url: str
    reachable: bool
    status_code: int | None = None
    version: str | None = None
    latency_ms: float | None = None
    error: str | None = None


class StoreHealth(BaseModel):
    model_config = ConfigDict(extra="allow")  # the recorder may report more (queue, journal)

    url: str
    kind: str
    healthy: bool
    error: str | None = None
    # From the record pipeline (absent in `api` mode, which only pings the store):
    state: Literal["ok", "degraded", "down"] | None = Field(
        None, description="down: writes fail; degraded: behind or records at risk/dropped."
    )
    backlog_records: int | None = Field(None, description="Journaled, not yet in this store.")
    backlog_bytes: int | None = Field(None, description="Journal bytes this store still needs.")
    backlog_age_s: float | None = Field(
        None, description="Age of the oldest record not yet in this store (0 when current)."
    )
    last_error: str | None = None


class Health(BaseModel):
    status: Literal["healthy", "degraded", "unhealthy"]
    reasons: list[str]
    upstream: UpstreamHealth | None
    stores: list[StoreHealth]
    version: str
    instance: str
    mode: Literal["proxy", "api"]
    uptime_hours: float


class ConfigView(BaseModel):
    settings: dict[str, Any]
    mutable: list[str]


class ConfigUpdate(BaseModel):
    """Body of POST /api/config: only the settings that are safe to change at run time."""

    # An empty body changes nothing: a 400 that says so, not a 200 (minProperties states it).
    # Strict: exactly the types and values the document states (no `true` for a number, no
    # lower-case level).
    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"minProperties": 1})

    api_log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] | None = None
    metrics_export_interval: float | None = Field(None, gt=0, le=3600)
    dashboard_refresh_s: float | None = Field(None, gt=0, le=3600)
    retention_days: int | None = Field(None, ge=1, le=3650)

    @field_validator("retention_days", mode="before")
    @classmethod
    def _whole(cls, value: Any) -> Any:
        # JSON Schema counts 30.0 as an integer; strict pydantic would not.
        return int(value) if isinstance(value, float) and value.is_integer() else value


class ConfigApplied(ConfigView):
    applied: dict[str, Any]


class LoginBody(BaseModel):
    token: str = Field(max_length=4096)


HISTORY = TypeAdapter(list[HistoryPoint])
MODELS = TypeAdapter(list[ModelStats])
CLIENTS = TypeAdapter(list[ClientStats])
INSTANCES = TypeAdapter(list[InstanceStats])
NODES = TypeAdapter(list[NodeStats])
