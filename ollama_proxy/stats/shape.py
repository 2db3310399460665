"""Pure: aggregate rows from a backend -> the API's response objects (see docs/api.md)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from ollama_proxy.meter.names import canonical_model
from ollama_proxy.records import (
    NULLABLE_FLOAT_FIELDS,
    NULLABLE_INT_FIELDS,
    REQUEST_FIELDS,
    USAGE_FIELDS,
    legacy_usage_source,
)
from ollama_proxy.stats.series import decode_rate, iso, pct_object, round_ms
from ollama_proxy.store.rollups import SUM_COLUMNS

BOOL_FIELDS = ("inference", "stream", "estimated", "thinking_estimated")
INT_FIELDS = (
    "http_status",
    "prompt_tokens",
    "cached_tokens",
    "completion_tokens",
    "chunks",
    "bytes_in",
    "bytes_out",
)
NULLABLE_FLOATS = NULLABLE_FLOAT_FIELDS
# Column order of logs.csv: the brief's id, then every record field.
CSV_COLUMNS: tuple[str, ...] = ("id", *REQUEST_FIELDS)


def as_datetime(value: Any) -> datetime | None:
    """Store timestamps (datetime, naive = UTC; ISO text; epoch seconds) -> aware UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(float(value), UTC)
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _int(value: Any) -> int:
    return int(value or 0)


def _nullable_float(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number


_EPOCH = datetime.fromtimestamp(0, UTC)


def ratio(part: int, whole: int) -> float:
    return round(part / whole, 6) if whole else 0.0


def avg(total: Any, count: int) -> float | None:
    return round_ms(float(total) / count) if count and total is not None else None


def log_entry(row: dict[str, Any]) -> dict[str, Any]:
    """A request_logs row -> the API's log object (every record field + brief names)."""
    entry: dict[str, Any] = {name: row.get(name) for name in REQUEST_FIELDS}
    for name in BOOL_FIELDS:
        entry[name] = bool(entry[name])
    for name in INT_FIELDS:
        entry[name] = _int(entry[name])
    for name in NULLABLE_FLOATS:
        entry[name] = _nullable_float(entry[name])
    for name in NULLABLE_INT_FIELDS:
        entry[name] = None if entry[name] is None else int(entry[name])
    entry["usage_source"] = entry["usage_source"] or legacy_usage_source(
        entry["inference"], entry["estimated"]
    )
    entry["model_requested"] = entry["model_requested"] or ""
    for name in ("instance", "method", "endpoint", "operation", "api_flavor", "model", "client"):
        entry[name] = entry[name] or ""
    for name in ("client_name", "user_agent", "error_type", "error_message", "done_reason"):
        entry[name] = entry[name] or ""
    entry["trace_id"] = entry["trace_id"] or ""
    entry["request_id"] = str(entry["request_id"])
    entry["latency_ms"] = float(entry["latency_ms"] or 0.0)
    entry["timestamp"] = iso(as_datetime(row.get("timestamp")))
    entry["id"] = entry["request_id"]
    entry["tokens"] = entry["prompt_tokens"] + entry["completion_tokens"]
    entry["latency"] = entry["latency_ms"]
    entry["tokens_generated"] = entry["completion_tokens"]
    if entry["usage_source"] == "none":
        # No model ran or nothing was reported: no token counts exist (stored as 0).
        for name in (*USAGE_FIELDS, "tokens", "tokens_generated"):
            entry[name] = None
    return entry


def csv_row(entry: dict[str, Any]) -> list[str]:
    """A log object -> CSV cells: booleans true/false, nulls empty."""
    cells = []
    for name in CSV_COLUMNS:
        value = entry[name]
        if value is None:
            cells.append("")
        elif isinstance(value, bool):
            cells.append("true" if value else "false")
        elif isinstance(value, str):
            cells.append(spreadsheet_safe(value))
        else:
            cells.append(str(value))
    return cells


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(text: str) -> str:
    """A text cell a spreadsheet shows as text, never runs as a formula (CSV injection).

    Client-controlled values (client name, user agent, endpoint, error text) reach the CSV;
    OWASP's advice is a leading `'` before any cell that starts like a formula. Numbers are
    not text cells, so a negative number keeps its sign.

    >>> spreadsheet_safe("@SUM(1+1)"), spreadsheet_safe("curl/8.5")
    ("'@SUM(1+1)", 'curl/8.5')
    """
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def current(
    totals: dict[str, Any],
    window: dict[str, Any],
    *,
    uptime_s: float,
    in_flight: int,
    loaded: list[dict[str, Any]],
    instance: str | None,
    now: datetime,
) -> dict[str, Any]:
    prompt, completion = _int(totals.get("prompt_tokens")), _int(totals.get("completion_tokens"))
    w_prompt, w_completion = (
        _int(window.get("prompt_tokens")),
        _int(window.get("completion_tokens")),
    )
    requests, errors = _int(window.get("requests")), _int(window.get("errors"))
    has_rows = requests > 0
    return {
        "tokens_total": prompt + completion,
        "prompt_tokens_total": prompt,
        "completion_tokens_total": completion,
        "cached_tokens_total": _int(totals.get("cached_tokens")),
        "requests_total": _int(totals.get("requests")),
        "errors_total": _int(totals.get("errors")),
        "uptime_hours": round(uptime_s / 3600.0, 4),
        "tokens_per_sec": decode_rate(window.get("eval_tokens"), window.get("eval_ms")),
        "requests_last_hour": requests,
        "error_count": errors,
        "error_rate": ratio(errors, requests),
        "tokens_last_hour": w_prompt + w_completion,
        "prompt_tokens_last_hour": w_prompt,
        "completion_tokens_last_hour": w_completion,
        "cached_tokens_last_hour": _int(window.get("cached_tokens")),
        "in_flight": in_flight,
        "latency_ms": pct_object(window if has_rows else None, "lat"),
        "ttft_ms": pct_object(window if has_rows else None, "ttft"),
        "loaded_models": loaded,
        "last_request_at": iso(as_datetime(totals.get("last_ts"))),
        "instance": instance,
        "generated_at": iso(now),
    }


def _common(row: dict[str, Any]) -> dict[str, Any]:
    requests, errors = _int(row.get("requests")), _int(row.get("errors"))
    prompt, completion = _int(row.get("prompt_tokens")), _int(row.get("completion_tokens"))
    return {
        "requests_count": requests,
        "errors": errors,
        "error_rate": ratio(errors, requests),
        "avg_latency": avg(row.get("latency_sum"), requests),
        "p95_latency": round_ms(row.get("lat_p95")),
        "tokens": prompt + completion,
        "prompt_tokens": prompt,
        "completion_tokens": completion,
    }


def _grouping(row: dict[str, Any], group_by: str | None) -> dict[str, str | None]:
    """The row's `instance` and `node` keys: the grouped one set, the other null."""
    return {
        key: str(row.get(key) or "") if group_by == key else None for key in ("instance", "node")
    }


def _sorted(items: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    return sorted(
        items,
        key=lambda item: (
            -item["requests_count"],
            item[key],
            item.get("instance") or "",
            item.get("node") or "",
        ),
    )


def gpu_fields(row: dict[str, Any]) -> dict[str, Any]:
    """GPU-seconds, charged load seconds and energy of a group (share: see with_gpu_share).

    >>> gpu_fields({"gpu_ms_sum": 1500.0, "load_charged_sum": 0, "energy_n": 0})
    {'gpu_s': 1.5, 'load_charged_s': 0.0, 'energy_j': None}
    """
    has_energy = _int(row.get("energy_n")) > 0
    return {
        "gpu_s": round(float(row.get("gpu_ms_sum") or 0) / 1000, 3),
        "load_charged_s": round(float(row.get("load_charged_sum") or 0) / 1000, 3),
        "energy_j": round(float(row.get("energy_j_sum") or 0), 3) if has_energy else None,
    }


def with_gpu_share(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each item's share of the GPU time (its GPU plus charged load seconds) of all items."""
    total = sum(item["gpu_s"] + item["load_charged_s"] for item in items)
    for item in items:
        used = item["gpu_s"] + item["load_charged_s"]
        item["gpu_share"] = round(used / total, 6) if total > 0 else None
    return items


def joules_per_1k(row: dict[str, Any]) -> float | None:
    """Energy per 1,000 output tokens, over the requests that have an energy reading."""
    tokens = _int(row.get("energy_tokens"))
    if _int(row.get("energy_n")) == 0 or tokens == 0:
        return None
    return round(float(row.get("energy_j_sum") or 0) * 1000 / tokens, 3)


# Model measures that add up when two names turn out to be one model: the summed columns.
_ADDITIVE = frozenset(SUM_COLUMNS)


def merge_model_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows keyed by canonical model name (and instance): `llama3.2` and `llama3.2:latest`,
    recorded before names were canonical, are one model. Counts and sums add up; percentiles
    and other non-additive values come from the busier row (an approximation, noted in docs).

    >>> [r["requests"] for r in merge_model_rows(
    ...     [{"model": "m", "requests": 2}, {"model": "m:latest", "requests": 3}])]
    [5]
    """
    merged: dict[tuple[str, str, str], dict[str, Any]] = {}
    for row in rows:
        name = canonical_model(str(row.get("model") or ""))
        key = (name, str(row.get("instance") or ""), str(row.get("node") or ""))
        into = merged.get(key)
        if into is None:
            merged[key] = {**row, "model": name}
            continue
        busier = row if _int(row.get("requests")) > _int(into.get("requests")) else into
        combined = {**busier, "model": name}
        for measure in _ADDITIVE & (row.keys() | into.keys()):
            combined[measure] = (row.get(measure) or 0) + (into.get(measure) or 0)
        stamps = [t for t in (row.get("last_ts"), into.get("last_ts")) if t is not None]
        combined["last_ts"] = max(stamps, key=lambda t: as_datetime(t) or _EPOCH, default=None)
        merged[key] = combined
    return list(merged.values())


def model_rows(
    rows: list[dict[str, Any]], loaded_names: set[str], group_by: str | None
) -> list[dict[str, Any]]:
    # /api/ps names the model canonically ("llama3.2:latest"); requests may not have.
    loaded_names = {canonical_model(name) for name in loaded_names}
    out = [_model_item(row, loaded_names, group_by) for row in merge_model_rows(rows)]
    if not group_by:
        # A model sitting in VRAM with no traffic in the range is still a model of the box:
        # zero counts, and no error rate (there were no requests to have one).
        seen = {item["model_name"] for item in out}
        out += [
            _model_item({"model": name}, loaded_names, group_by) | {"error_rate": None}
            for name in sorted(loaded_names - seen)
        ]
    return _sorted(with_gpu_share(out), "model_name")


def _model_item(
    row: dict[str, Any], loaded_names: set[str], group_by: str | None
) -> dict[str, Any]:
    loads = _int(row.get("load_count"))
    item: dict[str, Any] = {"model_name": str(row["model"])}
    item.update(_grouping(row, group_by))
    item.update(_common(row))
    item.update(
        p50_latency=round_ms(row.get("lat_p50")),
        tokens_per_sec=decode_rate(row.get("eval_tokens"), row.get("eval_ms")),
        ttft=round_ms(row.get("ttft_p50")),
        p95_ttft=round_ms(row.get("ttft_p95")),
        load_count=loads,
        avg_load_ms=avg(row.get("load_ms_sum"), loads),
        last_used=iso(as_datetime(row.get("last_ts"))),
        loaded=str(row["model"]) in loaded_names,
        thinking_tokens=_int(row.get("thinking_tokens")),
        avg_thinking_ms=avg(row.get("thinking_ms_sum"), _int(row.get("thinking_count"))),
    )
    item.update(gpu_fields(row), j_per_1k_tokens=joules_per_1k(row))
    return item


def client_rows(rows: list[dict[str, Any]], group_by: str | None) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        item: dict[str, Any] = {"client": str(row["client"])}
        item.update(_grouping(row, group_by))
        item.update(_common(row))
        models = row.get("models") or []
        if isinstance(models, str):  # SQLite group_concat
            models = models.split(",") if models else []
        item["models"] = sorted({str(m) for m in models if m})
        item["last_seen"] = iso(as_datetime(row.get("last_ts")))
        item.update(gpu_fields(row))
        out.append(item)
    return _sorted(with_gpu_share(out), "client")


def instance_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        common = _common(row)
        out.append(
            {
                "instance": str(row.get("instance") or ""),
                "requests_count": common["requests_count"],
                "errors": common["errors"],
                "error_rate": common["error_rate"],
                "avg_latency": common["avg_latency"],
                "p95_latency": common["p95_latency"],
                "tokens": common["tokens"],
                "last_seen": iso(as_datetime(row.get("last_ts"))),
            }
        )
    return _sorted(out, "instance")
