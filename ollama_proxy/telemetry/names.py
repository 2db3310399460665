"""Every metric name, attribute name and bucket boundary the proxy emits, in one place.

The GenAI semantic conventions are still "Development" and being renamed (otel-genai.md §1.5:
PR #374 replaces `gen_ai.client.token.usage`, PR #521 renames the duration metrics), so a rename
is one edit here. Names under `ollama.*` are our own extension: the conventions have no model
load time, queue wait or decode speed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# --- scopes and fixed values -------------------------------------------------------------
SCOPE = "ollama_proxy.telemetry"
PROVIDER = "ollama"  # not a well-known gen_ai.provider.name value; custom values are allowed
DEFAULT_SERVICE_NAME = "ollama-local-serve"

# --- GenAI attributes (semantic-conventions v1.41.0, docs/gen-ai/gen-ai-spans.md) ---------
GEN_AI_OPERATION_NAME = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME = "gen_ai.provider.name"
GEN_AI_REQUEST_MODEL = "gen_ai.request.model"
GEN_AI_REQUEST_STREAM = "gen_ai.request.stream"
GEN_AI_RESPONSE_MODEL = "gen_ai.response.model"
GEN_AI_RESPONSE_FINISH_REASONS = "gen_ai.response.finish_reasons"
GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK = "gen_ai.response.time_to_first_chunk"
GEN_AI_USAGE_INPUT_TOKENS = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS = "gen_ai.usage.cache_read.input_tokens"
GEN_AI_USAGE_REASONING_OUTPUT_TOKENS = "gen_ai.usage.reasoning.output_tokens"
GEN_AI_TOKEN_TYPE = "gen_ai.token.type"
TOKEN_TYPE_INPUT = "input"
TOKEN_TYPE_OUTPUT = "output"

# --- general and HTTP attributes ----------------------------------------------------------
ERROR_TYPE = "error.type"
ERROR_TYPE_OTHER = "_OTHER"
SERVER_ADDRESS = "server.address"
SERVER_PORT = "server.port"
CLIENT_ADDRESS = "client.address"
HTTP_REQUEST_METHOD = "http.request.method"
HTTP_RESPONSE_STATUS_CODE = "http.response.status_code"
HTTP_ROUTE = "http.route"
URL_PATH = "url.path"
USER_AGENT_ORIGINAL = "user_agent.original"

# --- our extension: Ollama's own timings as span attributes (seconds) ---------------------
OLLAMA_LOAD_DURATION = "ollama.load_duration"
OLLAMA_PROMPT_EVAL_DURATION = "ollama.prompt_eval_duration"
OLLAMA_EVAL_DURATION = "ollama.eval_duration"
OLLAMA_TOTAL_DURATION = "ollama.total_duration"
OLLAMA_OPERATION = "ollama.operation"  # the proxy's own verb: list, pull, show, ...
OLLAMA_REQUEST_STATUS = "ollama.request.status"  # success, error, cancelled
OLLAMA_ESTIMATED_USAGE = "ollama.usage.estimated"  # token counts came from the meter
OLLAMA_REQUEST_ID = "ollama.request.id"
OLLAMA_CHUNKS = "ollama.response.chunks"
EVENT_CANCELLED = "cancelled"
EVENT_FIRST_CHUNK = "first_chunk"

# The proxy's route verbs that differ from gen_ai.operation.name (ollama-api.md, otel-genai §1.3).
GENAI_OPERATION_BY_ROUTE: dict[str, str] = {"generate": "text_completion"}

# --- bucket boundaries (ExplicitBucketBoundaries advice, otel-genai.md §1.4) --------------
TOKEN_BUCKETS: tuple[float, ...] = (
    1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
)  # fmt: skip
DURATION_BUCKETS: tuple[float, ...] = (
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
)  # fmt: skip
TTFT_BUCKETS: tuple[float, ...] = (
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
)  # fmt: skip
TPOT_BUCKETS: tuple[float, ...] = (
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5,
)  # fmt: skip
# Our own: decode speed of local models spans ~1 tok/s (CPU, big model) to ~1000 (GPU, tiny).
TPS_BUCKETS: tuple[float, ...] = (
    1, 2, 5, 10, 15, 20, 30, 50, 75, 100, 150, 200, 300, 500, 1000,
)  # fmt: skip
# Queue wait is usually ~0 and then jumps to whole generations of other requests.
QUEUE_BUCKETS: tuple[float, ...] = (
    0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
)  # fmt: skip

# --- metrics ------------------------------------------------------------------------------
MetricKind = Literal["histogram", "counter", "updown"]


@dataclass(frozen=True, slots=True)
class MetricSpec:
    name: str
    kind: MetricKind
    unit: str
    description: str
    bounds: tuple[float, ...] = ()


TOKEN_USAGE = MetricSpec(
    "gen_ai.client.token.usage", "histogram", "{token}",
    "Input and output tokens per request, as Ollama reported them.", TOKEN_BUCKETS,
)  # fmt: skip
OPERATION_DURATION = MetricSpec(
    "gen_ai.client.operation.duration", "histogram", "s",
    "Request arrival to the last byte relayed to the client.", DURATION_BUCKETS,
)  # fmt: skip
TIME_TO_FIRST_CHUNK = MetricSpec(
    "gen_ai.client.operation.time_to_first_chunk", "histogram", "s",
    "Request arrival to the first streamed chunk relayed (streaming only).", DURATION_BUCKETS,
)  # fmt: skip
TIME_PER_OUTPUT_CHUNK = MetricSpec(
    "gen_ai.client.operation.time_per_output_chunk", "histogram", "s",
    "Time between streamed chunks after the first; one count per chunk, each at the "
    "request's mean interval (nothing is measured per chunk).", DURATION_BUCKETS,
)  # fmt: skip
SERVER_REQUEST_DURATION = MetricSpec(
    "gen_ai.server.request.duration", "histogram", "s",
    "Ollama's total_duration.", DURATION_BUCKETS,
)  # fmt: skip
SERVER_TIME_TO_FIRST_TOKEN = MetricSpec(
    "gen_ai.server.time_to_first_token", "histogram", "s",
    "Ollama's load_duration + prompt_eval_duration.", TTFT_BUCKETS,
)  # fmt: skip
SERVER_TIME_PER_OUTPUT_TOKEN = MetricSpec(
    "gen_ai.server.time_per_output_token", "histogram", "s",
    "Ollama's eval_duration / eval_count.", TPOT_BUCKETS,
)  # fmt: skip
MODEL_LOAD_DURATION = MetricSpec(
    "ollama.model.load.duration", "histogram", "s",
    "Ollama's load_duration (custom: no semantic convention covers model loading).",
    DURATION_BUCKETS,
)  # fmt: skip
PROMPT_EVAL_DURATION = MetricSpec(
    "ollama.prompt_eval.duration", "histogram", "s",
    "Ollama's prompt_eval_duration (prefill).", DURATION_BUCKETS,
)  # fmt: skip
QUEUE_WAIT = MetricSpec(
    "ollama.queue.wait.duration", "histogram", "s",
    "Estimated wait before Ollama started the request: total - load - prompt_eval - eval.",
    QUEUE_BUCKETS,
)  # fmt: skip
TOKENS_PER_SECOND = MetricSpec(
    "ollama.decode.tokens_per_second", "histogram", "{token}/s",
    "Decode speed: eval_count / eval_duration.", TPS_BUCKETS,
)  # fmt: skip
CACHED_INPUT_TOKENS = MetricSpec(
    "ollama.usage.cache_read.input_tokens", "counter", "{token}",
    "Prompt tokens served from Ollama's prompt cache.",
)  # fmt: skip
# The semantic conventions' name for thinking tokens (gen_ai.usage.reasoning.output_tokens,
# v1.41; PR #374 would make it gen_ai.client.inference.usage.reasoning.output_tokens). Ollama
# reports no such count: it is the meter's count of thinking chunks unless an API gives one.
REASONING_OUTPUT_TOKENS = MetricSpec(
    "gen_ai.usage.reasoning.output_tokens", "counter", "{token}",
    "Thinking (reasoning) output tokens: the upstream's count where given, else thinking "
    "chunks counted (part of the output tokens).",
)  # fmt: skip
THINKING_DURATION = MetricSpec(
    "ollama.thinking.duration", "histogram", "s",
    "First thinking chunk to the first answer chunk, per request that thought (streaming).",
    DURATION_BUCKETS,
)  # fmt: skip
TIME_TO_FIRST_ANSWER_CHUNK = MetricSpec(
    "ollama.time_to_first_answer_chunk", "histogram", "s",
    "Request arrival to the first chunk of the answer itself, after any thinking (streaming).",
    DURATION_BUCKETS,
)  # fmt: skip
REQUESTS = MetricSpec(
    "ollama.requests", "counter", "{request}",
    "Requests relayed, by operation, model, HTTP status and outcome.",
)  # fmt: skip
ERRORS = MetricSpec(
    "ollama.errors", "counter", "{error}",
    "Failed requests, by operation, model and error.type.",
)  # fmt: skip
IN_FLIGHT = MetricSpec(
    "ollama.requests.in_flight", "updown", "{request}",
    "Requests being relayed right now.",
)  # fmt: skip

ALL_METRICS: tuple[MetricSpec, ...] = (
    TOKEN_USAGE,
    OPERATION_DURATION,
    TIME_TO_FIRST_CHUNK,
    TIME_PER_OUTPUT_CHUNK,
    SERVER_REQUEST_DURATION,
    SERVER_TIME_TO_FIRST_TOKEN,
    SERVER_TIME_PER_OUTPUT_TOKEN,
    MODEL_LOAD_DURATION,
    PROMPT_EVAL_DURATION,
    QUEUE_WAIT,
    TOKENS_PER_SECOND,
    CACHED_INPUT_TOKENS,
    REASONING_OUTPUT_TOKENS,
    THINKING_DURATION,
    TIME_TO_FIRST_ANSWER_CHUNK,
    REQUESTS,
    ERRORS,
    IN_FLIGHT,
)

# --- system gauges (registered by the system-metrics helper through register_gauge) -------
SYSTEM_CPU_PERCENT = "ollama.system.cpu.utilization"
SYSTEM_MEMORY_PERCENT = "ollama.system.memory.utilization"
SYSTEM_UPTIME = "ollama.proxy.uptime"
SYSTEM_LOADED_MODELS = "ollama.models.loaded"
SYSTEM_VRAM = "ollama.gpu.memory.used"
OLLAMA_NODE = "ollama.node"  # a fleet: the node a resident model is on

# --- the record pipeline: one series per store (attributes: store URL, kind) ----------------
STORE_STATE = "ollama.proxy.store.state"  # 0 ok, 1 degraded, 2 down
STORE_BACKLOG_RECORDS = "ollama.proxy.store.backlog.records"
STORE_BACKLOG_BYTES = "ollama.proxy.store.backlog.size"
STORE_BACKLOG_AGE = "ollama.proxy.store.backlog.age"
RECORDS_DROPPED = "ollama.proxy.records.dropped"  # per store: records it will never get
JOURNAL_QUARANTINED = "ollama.proxy.journal.quarantined"  # segments moved to quarantine/

# --- access refusals (401/403/429), counted instead of recorded one by one -------------------
PROXY_REFUSED = "ollama.proxy.refused"
OLLAMA_REFUSAL_REASON = "ollama.refusal.reason"  # unauthorized, forbidden, rate_limited
OLLAMA_CLIENT = "ollama.client"  # the key's label, or the (hashed) address
