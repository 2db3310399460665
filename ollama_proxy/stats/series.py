"""Pure: bucket rows from a store -> complete, gap-filled series; rates; percentiles.

Backends return one row per non-empty bucket (and instance, when grouped) with the keys of
`BUCKET_KEYS`; `fill_series` turns them into one point per bucket so charts never interpolate
across a silence.

>>> from datetime import UTC, datetime
>>> percentile_inc([1.0, 2.0, 3.0, 4.0], 0.5)
2.5
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from ollama_proxy.stats.query import HistoryQuery

PERCENTILES = (0.5, 0.95, 0.99)
PCT_NAMES = ("p50", "p95", "p99")
# Keys of one backend bucket row; the percentile keys may be None (no data in the bucket).
BUCKET_KEYS = (
    "bucket",  # bucket start, Unix seconds (int)
    "requests",
    "errors",
    "prompt_tokens",
    "completion_tokens",
    "eval_tokens",  # completion tokens of requests that reported an eval duration
    "eval_ms",  # sum of those eval durations
    "lat_p50",
    "lat_p95",
    "lat_p99",
    "ttft_p50",
    "ttft_p95",
    "ttft_p99",
)


def percentile_inc(sorted_values: Sequence[float], p: float) -> float | None:
    """Linear interpolation between closest ranks: PostgreSQL `percentile_cont`, ClickHouse
    `quantileExactInclusive`, Excel PERCENTILE.INC (R-7). The one definition all stores use."""
    if not sorted_values:
        return None
    pos = p * (len(sorted_values) - 1)
    low = math.floor(pos)
    high = min(low + 1, len(sorted_values) - 1)
    frac = pos - low
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * frac


def round_ms(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    if math.isnan(number) or math.isinf(number):
        return None
    return round(number, 3)


def rate(count: float, seconds: float) -> float:
    return round(count / seconds, 3) if seconds > 0 else 0.0


def decode_rate(tokens: Any, eval_ms: Any) -> float | None:
    """Tokens per second from Ollama's eval timing; None without a timing."""
    if not eval_ms or float(eval_ms) <= 0:
        return None
    return round(float(tokens or 0) / (float(eval_ms) / 1000.0), 3)


def pct_object(row: dict[str, Any] | None, prefix: str) -> dict[str, float | None]:
    if row is None:
        return dict.fromkeys(PCT_NAMES)
    return {name: round_ms(row.get(f"{prefix}_{name}")) for name in PCT_NAMES}


def iso(value: datetime | None) -> str | None:
    """ISO 8601 UTC with milliseconds and Z (the API's one timestamp format)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    text = value.astimezone(UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def _bucket_seconds(start: datetime, step_s: int, now: datetime) -> float:
    """The last bucket is partial: divide by the seconds elapsed in it (at least 1)."""
    elapsed = (now - start).total_seconds()
    return float(min(step_s, max(1.0, elapsed)))


def make_point(
    start: datetime, row: dict[str, Any] | None, query: HistoryQuery, group: str | None
) -> dict[str, Any]:
    data = row or {}
    prompt = int(data.get("prompt_tokens") or 0)
    completion = int(data.get("completion_tokens") or 0)
    return {
        "timestamp": iso(start),
        "instance": group if query.group_by == "instance" else None,
        "node": group if query.group_by == "node" else None,
        "requests": int(data.get("requests") or 0),
        "errors": int(data.get("errors") or 0),
        "tokens_total": prompt + completion,
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "throughput": rate(completion, _bucket_seconds(start, query.step_s, query.now)),
        "tokens_per_sec": decode_rate(data.get("eval_tokens"), data.get("eval_ms")),
        "latency_ms": pct_object(row, "lat"),
        "ttft_ms": pct_object(row, "ttft"),
    }


def fill_series(query: HistoryQuery, rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One point per bucket (per instance when grouped), oldest first; gaps get zeros."""
    by_key: dict[tuple[str | None, int], dict[str, Any]] = {}
    seen: set[str] = set()
    key = query.group_by
    for row in rows:
        group = str(row.get(key) or "") if key else None
        if group is not None:
            seen.add(group)
        by_key[(group, int(row["bucket"]))] = row
    groups: list[str | None] = [None]
    if key:
        groups = list(sorted(seen))
    points = []
    for group in groups:
        for start in query.bucket_starts:
            found = by_key.get((group, int(start.timestamp())))
            points.append(make_point(start, found, query, group))
    return points
