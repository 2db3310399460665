"""RequestRecord and MetricPoint: the one shape every store writes.

A record never holds prompt or response text. Field names are the store's column names,
except `completion_tokens`, which the brief's schema calls `tokens_generated`.
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any, Literal

Status = Literal["success", "error", "cancelled"]
UsageSource = Literal["reported", "estimated", "none"]


def utcnow() -> datetime:
    return datetime.now(UTC)


# Ids are UUID-shaped (version 8, RFC 9562): 60 random bits drawn once per process, then a
# counter from a random start. Unique across processes and restarts like uuid4, but ~6x
# cheaper on the request path, and increasing, so primary-key indexes are appended to.
_ID_HIGH = (secrets.randbits(64) & ~(0xF << 12)) | (0x8 << 12)  # version nibble = 8
_ID_PREFIX = f"{_ID_HIGH >> 32:08x}-{(_ID_HIGH >> 16) & 0xFFFF:04x}-{_ID_HIGH & 0xFFFF:04x}-"
_ID_VARIANT = 0b10 << 62
_id_counter = itertools.count(secrets.randbits(40))


def new_request_id() -> str:
    """A new record id.

    >>> import uuid
    >>> a, b = new_request_id(), new_request_id()
    >>> uuid.UUID(a).version, uuid.UUID(a).variant == uuid.RFC_4122, a < b
    (8, True, True)
    """
    low = f"{_ID_VARIANT | next(_id_counter):016x}"  # a 40-bit start is far below 2**62
    return f"{_ID_PREFIX}{low[:4]}-{low[4:]}"


@dataclass(slots=True)
class RequestRecord:
    """One metered request.

    >>> RequestRecord(endpoint="/api/tags", operation="list").status
    'success'
    """

    request_id: str = field(default_factory=new_request_id)
    timestamp: datetime = field(default_factory=utcnow)  # when the request arrived (UTC)
    instance: str = ""  # INSTANCE_NAME of the proxy that wrote it (brief: service_name)
    method: str = "GET"
    endpoint: str = ""  # request path, e.g. /api/chat
    operation: str = ""  # chat, generate, embed, list, pull, ... (see operations.py)
    api_flavor: str = ""  # native, openai, anthropic, none
    inference: bool = False  # True for routes that run a model
    model: str = ""
    client: str = ""  # remote address (or PROXY_API_KEYS label)
    client_name: str = ""  # X-Client-Name header, when sent
    user_agent: str = ""
    http_status: int = 0
    status: Status = "success"
    error_type: str = ""  # short class: http_404, upstream_unreachable, stream_error, ...
    error_message: str = ""
    stream: bool = False  # the response was streamed (NDJSON or SSE)
    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0
    estimated: bool = False  # no usage from Ollama: counts are what the meter saw
    chunks: int = 0  # streamed lines/events carrying output
    latency_ms: float = 0.0  # wall time from request to the last byte relayed
    ttfb_ms: float | None = None  # time to the first response byte
    ttft_ms: float | None = None  # time to the first chunk carrying output
    total_duration_ms: float | None = None  # Ollama's own timings (ns -> ms)
    load_duration_ms: float | None = None
    prompt_eval_duration_ms: float | None = None
    eval_duration_ms: float | None = None
    queue_wait_ms: float | None = None  # estimate: total - load - prompt_eval - eval
    decode_tps: float | None = None  # eval_count / eval_duration
    prefill_tps: float | None = None  # prompt_eval_count / prompt_eval_duration
    done_reason: str = ""
    bytes_in: int = 0
    bytes_out: int = 0
    trace_id: str = ""
    gpu_ms: float | None = None  # prompt_eval + eval duration: the GPU time this request used
    load_charged_ms: float | None = None  # load_duration, when this request caused the load
    energy_j: float | None = None  # its share of the GPU's measured energy (null: no reading)
    node: str = ""  # the Ollama node that answered (several, comma-separated, for unions)
    route_reason: str = ""  # why that node: loaded, affinity, on_disk, pinned, forced, only, ...
    attempts: int = 1  # nodes tried (failover before the first response byte)
    # Where the token counts came from (UsageSource): the upstream's usage, the meter's count
    # of streamed chunks, or nowhere (no model ran, or nothing was said): then the counts read
    # as null. Left empty, it is derived from `inference` and `estimated` (older records).
    usage_source: str = ""
    model_requested: str = ""  # the model as the client named it (`model` is canonical)
    thinking_tokens: int | None = None  # None: the model did not think (or nobody could tell)
    thinking_ms: float | None = None  # first thinking chunk to the first answer chunk
    ttft_answer_ms: float | None = None  # time to the first chunk of the answer itself
    thinking_estimated: bool = False  # thinking_tokens is the meter's count, not upstream's

    def __post_init__(self) -> None:
        if not self.usage_source:
            self.usage_source = legacy_usage_source(self.inference, self.estimated)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def to_dict(self) -> dict[str, Any]:
        # A flat copy: dataclasses.asdict deep-copies and costs ~10x more per record.
        return {name: getattr(self, name) for name in REQUEST_FIELDS}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RequestRecord:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if isinstance(values.get("timestamp"), str):
            values["timestamp"] = datetime.fromisoformat(values["timestamp"])
        return cls(**values)


def legacy_usage_source(inference: object, estimated: object) -> UsageSource:
    """usage_source of a record written before it existed (the store migrations agree).

    >>> legacy_usage_source(False, False), legacy_usage_source(True, True)
    ('none', 'estimated')
    """
    if not inference:
        return "none"
    return "estimated" if estimated else "reported"


REQUEST_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(RequestRecord))
# A record's values in REQUEST_FIELDS order, as a tuple (one C call: journal rows, store rows).
request_values: Callable[[RequestRecord], tuple[Any, ...]] = attrgetter(*REQUEST_FIELDS)
_FIELD_GETTERS = {name: attrgetter(name) for name in REQUEST_FIELDS}


def request_column(records: Sequence[RequestRecord], name: str) -> list[Any]:
    """One field of every record, in order: a C-level pass (`map` over an attribute getter)
    that allocates one list, not a tuple per record (store columns: rollups, Arrow)."""
    return list(map(_FIELD_GETTERS[name], records))


def is_constant(column: Sequence[Any]) -> bool:
    """Every value equal to the first (a list's `count` compares identity first: one C pass,
    and a batch's repeated text is mostly one string object). Empty: False.

    >>> is_constant(["a", "a"]), is_constant([None, 1]), is_constant([])
    (True, False, False)
    """
    return bool(column) and column.count(column[0]) == len(column)


_COLUMN_CHUNK = 2048  # records: a chunk's objects stay in the CPU cache while each field is read


def request_columns(records: Sequence[RequestRecord]) -> list[list[Any]]:
    """Every field of every record, one list per field in REQUEST_FIELDS order.

    Read a chunk of records at a time: a field at a time over the whole batch fetches every
    record from memory once per field (a quarter more CPU at 100k records).

    >>> columns = request_columns([RequestRecord(model="a"), RequestRecord(model="b")])
    >>> columns[REQUEST_FIELDS.index("model")]
    ['a', 'b']
    """
    if len(records) <= _COLUMN_CHUNK:
        return [request_column(records, name) for name in REQUEST_FIELDS]
    columns: list[list[Any]] = [[] for _ in REQUEST_FIELDS]
    for start in range(0, len(records), _COLUMN_CHUNK):
        chunk = records[start : start + _COLUMN_CHUNK]
        for column, name in zip(columns, REQUEST_FIELDS, strict=True):
            column += map(_FIELD_GETTERS[name], chunk)
    return columns


# Fields that are None when unknown (Ollama reported no timing, no first token, ...).
NULLABLE_FLOAT_FIELDS: tuple[str, ...] = (
    "ttfb_ms",
    "ttft_ms",
    "total_duration_ms",
    "load_duration_ms",
    "prompt_eval_duration_ms",
    "eval_duration_ms",
    "queue_wait_ms",
    "decode_tps",
    "prefill_tps",
    "gpu_ms",
    "load_charged_ms",
    "energy_j",
    "thinking_ms",
    "ttft_answer_ms",
)
# Integer counts that are None when unknown.
NULLABLE_INT_FIELDS: tuple[str, ...] = ("thinking_tokens",)
# Token counts read as null (not 0) when the record's usage_source is "none".
USAGE_FIELDS: tuple[str, ...] = ("prompt_tokens", "cached_tokens", "completion_tokens")


@dataclass(slots=True)
class MetricPoint:
    """One sampled metric value (the brief's `ollama_metrics` row)."""

    metric_name: str
    metric_value: float
    metric_type: str = "gauge"  # gauge, counter, event
    timestamp: datetime = field(default_factory=utcnow)
    instance: str = ""  # the brief's service_name
    metadata: dict[str, Any] = field(default_factory=dict)
    point_id: str = field(default_factory=new_request_id)  # idempotent retries

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MetricPoint:
        values = dict(data)
        if isinstance(values.get("timestamp"), str):
            values["timestamp"] = datetime.fromisoformat(values["timestamp"])
        return cls(**values)


@dataclass(slots=True)
class ContentRecord:
    """Prompt and response text of one request, redacted; only with CAPTURE_CONTENT=true."""

    request_id: str
    timestamp: datetime
    instance: str = ""
    prompt: str = ""
    response: str = ""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ContentRecord:
        values = dict(data)
        if isinstance(values.get("timestamp"), str):
            values["timestamp"] = datetime.fromisoformat(values["timestamp"])
        return cls(**values)
