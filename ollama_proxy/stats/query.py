"""Pure: stats query parameters -> validated query objects.

Every parameter the stats API accepts is declared once in `PARAMS` (name, JSON schema,
description); the validators here and the OpenAPI document (`api/openapi.py`) both read it, so
the two cannot drift. A bad value raises `QueryError(field, message)` naming the accepted values.

>>> q = parse_history({"time_range": "1h"}, now=datetime(2025, 1, 1, 12, 0, 30, tzinfo=UTC))
>>> q.step_s, q.buckets, q.first_bucket.isoformat()
(60, 60, '2025-01-01T11:01:00+00:00')
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

TIME_RANGES: dict[str, int] = {
    "15m": 900,
    "1h": 3600,
    "6h": 6 * 3600,
    "24h": 24 * 3600,
    "7d": 7 * 86400,
    "30d": 30 * 86400,
}
GRANULARITIES: dict[str, int] = {
    "1m": 60,
    "5m": 300,
    "15m": 900,
    "1h": 3600,
    "6h": 6 * 3600,
    "1d": 86400,
}
# A few hundred points per chart: enough resolution, small JSON.
DEFAULT_GRANULARITY: dict[str, str] = {
    "15m": "1m",
    "1h": "1m",
    "6h": "5m",
    "24h": "5m",
    "7d": "1h",
    "30d": "6h",
}
MAX_BUCKETS = 1500  # 7d at 1m would be 10,080 points: more than any chart can show
STATUSES = ("success", "error", "cancelled")
GROUP_BYS = ("instance", "node")
MAX_LIMIT = 1000
MAX_TEXT = 512  # longer filter values cannot match anything we store
# Timestamps outside this span are clamped to it: nothing is stored outside, and far values
# overflow datetime arithmetic in the databases.
MIN_TIME = datetime(2000, 1, 1, tzinfo=UTC)
MAX_TIME = datetime(2200, 1, 1, tzinfo=UTC)
MAX_TIME_TEXT = 64
# The two forms `since`/`until` accept, stated to clients in the OpenAPI document: RFC 3339
# (`format: date-time`, an offset required) or Unix seconds. The server accepts exactly these,
# no other ISO 8601 shape, so the document and the parser agree.
UNIX_SECONDS = r"[0-9]{1,12}(?:\.[0-9]{1,9})?"
RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,30})?"
    r"(?:[Zz]|[+-][0-9]{2}:[0-9]{2})"
)
INTEGER = re.compile(r"-?[0-9]{1,20}")


class QueryError(ValueError):
    """An invalid parameter; the API answers 400 `{"error": message, "field": field}`."""

    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class ParamSpec:
    name: str
    schema: dict[str, Any]
    description: str


def _enum(values: Any) -> dict[str, Any]:
    return {"type": "string", "enum": list(values)}


_TIME_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "string", "format": "date-time", "maxLength": MAX_TIME_TEXT},
        {"type": "string", "pattern": f"^{UNIX_SECONDS}$"},
    ]
}
_TEXT_SCHEMA: dict[str, Any] = {"type": "string", "maxLength": MAX_TEXT, "pattern": r"^[^\x00]*$"}
_TIME_NOTE = (
    "RFC 3339 with an offset (2025-06-01T12:00:00Z) or Unix seconds; values before "
    "2000-01-01 or after 2200-01-01 count as those bounds"
)

PARAMS: dict[str, ParamSpec] = {
    spec.name: spec
    for spec in (
        ParamSpec("time_range", _enum(TIME_RANGES), "Window ending at `until`."),
        ParamSpec(
            "granularity",
            _enum(GRANULARITIES),
            "Bucket width; default from the range (15m,1h→1m; 6h,24h→5m; 7d→1h; 30d→6h). "
            f"At most {MAX_BUCKETS} buckets: a finer one is coarsened to the first that fits.",
        ),
        ParamSpec("until", _TIME_SCHEMA, f"End of the window (default now): {_TIME_NOTE}."),
        ParamSpec("since", _TIME_SCHEMA, f"Only records at or after: {_TIME_NOTE}."),
        ParamSpec(
            "model",
            _TEXT_SCHEMA,
            "Model name as Ollama reads it (`llama3.2` is `llama3.2:latest`).",
        ),
        ParamSpec("instance", _TEXT_SCHEMA, "Exact instance name (INSTANCE_NAME of a proxy)."),
        ParamSpec("client", _TEXT_SCHEMA, "Client address or client name."),
        ParamSpec("endpoint", _TEXT_SCHEMA, "Exact request path, e.g. /api/chat."),
        ParamSpec("operation", _TEXT_SCHEMA, "Operation: chat, generate, embeddings, ..."),
        ParamSpec("status", _enum(STATUSES), "Request outcome."),
        ParamSpec("node", _TEXT_SCHEMA, "Exact Ollama node name (fleet: OLLAMA_UPSTREAMS)."),
        ParamSpec(
            "group_by", _enum(GROUP_BYS), "Split rows per proxy instance or per Ollama node."
        ),
        ParamSpec(
            "limit",
            {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 100},
            "Page size.",
        ),
        ParamSpec(
            "offset",
            {"type": "integer", "minimum": 0, "maximum": 2**31 - 1, "default": 0},
            "Rows to skip.",
        ),
    )
}

HISTORY_PARAMS = ("time_range", "granularity", "until", "model", "instance", "node", "group_by")
LOGS_PARAMS = (
    "limit",
    "offset",
    "status",
    "model",
    "client",
    "instance",
    "node",
    "endpoint",
    "operation",
    "since",
    "until",
)
CSV_PARAMS = tuple(p for p in LOGS_PARAMS if p not in ("limit", "offset"))
MODELS_PARAMS = ("time_range", "until", "instance", "node", "group_by")
CLIENTS_PARAMS = ("time_range", "until", "model", "instance", "node", "group_by")
NODES_PARAMS = ("time_range", "until", "instance")
INSTANCES_PARAMS = ("time_range", "until")
CURRENT_PARAMS = ("instance",)


@dataclass(frozen=True, slots=True)
class Filters:
    """Equality filters and a half-open time window `[since, until)`; None = no filter."""

    model: str | None = None
    instance: str | None = None
    client: str | None = None
    status: str | None = None
    endpoint: str | None = None
    operation: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    node: str | None = None


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    filters: Filters  # since = first_bucket, until = end of the last bucket
    step_s: int
    buckets: int
    first_bucket: datetime
    now: datetime  # the request's `until`: the last bucket is partial up to here
    group_by: str | None = None  # "instance" or "node"

    @property
    def bucket_starts(self) -> list[datetime]:
        step = timedelta(seconds=self.step_s)
        return [self.first_bucket + i * step for i in range(self.buckets)]


@dataclass(frozen=True, slots=True)
class LogsQuery:
    filters: Filters
    limit: int = 100
    offset: int = 0


@dataclass(frozen=True, slots=True)
class BreakdownQuery:
    """models / clients / instances over a window."""

    filters: Filters
    group_by: str | None = None  # "instance" or "node"
    extra: dict[str, Any] = field(default_factory=dict)


# --- single values -----------------------------------------------------------------------


def _text(params: Mapping[str, str], name: str) -> str | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    if len(value) > MAX_TEXT:
        raise QueryError(name, f"{name} is longer than {MAX_TEXT} characters")
    if "\x00" in value:
        raise QueryError(name, f"{name} must not contain NUL characters")
    return value


def _choice(params: Mapping[str, str], name: str, choices: Any, default: str | None) -> str | None:
    # An empty value is not one of the choices: 400, as the document's enum says.
    value = params.get(name)
    if value is None:
        return default
    if value not in choices:
        accepted = ", ".join(choices)
        raise QueryError(name, f"{name} must be one of {accepted}; got {value[:40]!r}")
    return value


def _int(params: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    # ASCII digits only: int() would also take " 5", "+5", "5_0" and other scripts' digits,
    # which the document's `type: integer` does not.
    if not INTEGER.fullmatch(raw):
        raise QueryError(name, f"{name} must be an integer; got {raw[:40]!r}")
    value = int(raw)
    if not low <= value <= high:
        raise QueryError(name, f"{name} must be between {low} and {high}; got {value}")
    return value


def clamp_time(value: datetime) -> datetime:
    return min(max(value, MIN_TIME), MAX_TIME)


def parse_time(raw: str, name: str) -> datetime:
    """RFC 3339 with an offset or Unix seconds -> aware UTC datetime within MIN/MAX_TIME."""
    if re.fullmatch(UNIX_SECONDS, raw):
        seconds = min(float(raw), MAX_TIME.timestamp())
        return clamp_time(datetime.fromtimestamp(seconds, UTC))
    invalid = QueryError(
        name, f"{name} must be RFC 3339 with an offset (2025-06-01T12:00:00Z) or Unix seconds"
    )
    if not RFC3339.fullmatch(raw):
        raise invalid
    text = raw.upper().replace("Z", "+00:00")
    if text[17:19] == "60":  # a leap second (RFC 3339 allows it; datetime does not)
        text = f"{text[:17]}59{text[19:]}"
    year = int(text[:4])
    if year < MIN_TIME.year - 1 or year > MAX_TIME.year:
        # Far years need no parsing (and year 0 or 9999 with an offset do not fit datetime).
        return MIN_TIME if year < MIN_TIME.year else MAX_TIME
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise invalid from None  # a day or an hour that does not exist
    return clamp_time(value.astimezone(UTC))


def _time(params: Mapping[str, str], name: str) -> datetime | None:
    raw = params.get(name)
    if raw is None:
        return None
    if len(raw) > MAX_TIME_TEXT:
        raise QueryError(name, f"{name} is too long")
    return parse_time(raw, name)


def _group_by(params: Mapping[str, str]) -> str | None:
    return _choice(params, "group_by", GROUP_BYS, None)


def _window(params: Mapping[str, str], now: datetime, default_range: str) -> tuple[datetime, str]:
    until = _time(params, "until") or now
    time_range = _choice(params, "time_range", TIME_RANGES, default_range)
    assert time_range is not None
    return until, time_range


# --- whole queries -----------------------------------------------------------------------


def floor_time(value: datetime, step_s: int) -> datetime:
    """Align to a multiple of `step_s` since the Unix epoch (UTC)."""
    epoch = int(value.timestamp() // step_s) * step_s
    return datetime.fromtimestamp(epoch, UTC)


def parse_history(params: Mapping[str, str], now: datetime) -> HistoryQuery:
    until, time_range = _window(params, now, "1h")
    granularity = _choice(params, "granularity", GRANULARITIES, DEFAULT_GRANULARITY[time_range])
    assert granularity is not None
    step = GRANULARITIES[granularity]
    span = TIME_RANGES[time_range]
    # Too fine for the range (7d at 1m): the first coarser granularity that fits, so every
    # combination the document allows is answered.
    step = min(s for s in GRANULARITIES.values() if s >= step and span // s <= MAX_BUCKETS)
    buckets = max(1, span // step)
    last = floor_time(until, step)
    first = last - timedelta(seconds=step * (buckets - 1))
    filters = Filters(
        model=_text(params, "model"),
        instance=_text(params, "instance"),
        since=first,
        until=last + timedelta(seconds=step),
        node=_text(params, "node"),
    )
    return HistoryQuery(filters, step, buckets, first, until, _group_by(params))


def parse_logs(params: Mapping[str, str], *, paged: bool = True) -> LogsQuery:
    # since after until is an empty window, answered as such (the document cannot state a
    # relation between two parameters, so it is no error).
    since, until = _time(params, "since"), _time(params, "until")
    filters = Filters(
        model=_text(params, "model"),
        instance=_text(params, "instance"),
        client=_text(params, "client"),
        status=_choice(params, "status", STATUSES, None),
        endpoint=_text(params, "endpoint"),
        operation=_text(params, "operation"),
        since=since,
        until=until,
        node=_text(params, "node"),
    )
    if not paged:
        return LogsQuery(filters, 0, 0)
    limit = _int(params, "limit", 100, 1, MAX_LIMIT)
    offset = _int(params, "offset", 0, 0, 2**31 - 1)
    return LogsQuery(filters, limit, offset)


def parse_breakdown(
    params: Mapping[str, str], now: datetime, *, with_model: bool = False
) -> BreakdownQuery:
    until, time_range = _window(params, now, "24h")
    filters = Filters(
        model=_text(params, "model") if with_model else None,
        instance=_text(params, "instance"),
        since=until - timedelta(seconds=TIME_RANGES[time_range]),
        until=until,
        node=_text(params, "node"),
    )
    return BreakdownQuery(filters, _group_by(params))


def parse_instances(params: Mapping[str, str], now: datetime) -> BreakdownQuery:
    until, time_range = _window(params, now, "24h")
    since = until - timedelta(seconds=TIME_RANGES[time_range])
    return BreakdownQuery(Filters(since=since, until=until))


def parse_nodes(params: Mapping[str, str], now: datetime) -> BreakdownQuery:
    until, time_range = _window(params, now, "24h")
    since = until - timedelta(seconds=TIME_RANGES[time_range])
    return BreakdownQuery(Filters(instance=_text(params, "instance"), since=since, until=until))


def parse_current(params: Mapping[str, str]) -> Filters:
    return Filters(instance=_text(params, "instance"))
