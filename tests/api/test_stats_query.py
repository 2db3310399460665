"""Pure stats layer: parameter validation, bucket alignment, gap filling, percentiles."""

from __future__ import annotations

import statistics
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ollama_proxy.stats import query as q
from ollama_proxy.stats.aggregate import Params, where_clause
from ollama_proxy.stats.series import fill_series, iso, percentile_inc

NOW = datetime(2025, 6, 1, 12, 7, 30, tzinfo=UTC)


def test_history_defaults_to_1h_in_1m_buckets_ending_at_the_current_bucket() -> None:
    query = q.parse_history({}, NOW)
    assert (query.step_s, query.buckets) == (60, 60)
    assert query.bucket_starts[-1] == datetime(2025, 6, 1, 12, 7, tzinfo=UTC)
    assert query.bucket_starts[0] == datetime(2025, 6, 1, 11, 8, tzinfo=UTC)
    assert query.filters.since == query.bucket_starts[0]
    assert query.filters.until == datetime(2025, 6, 1, 12, 8, tzinfo=UTC)


@pytest.mark.parametrize(
    ("time_range", "step", "buckets"),
    [("15m", 60, 15), ("1h", 60, 60), ("6h", 300, 72), ("24h", 300, 288), ("7d", 3600, 168)],
)
def test_default_granularity_follows_the_range(time_range: str, step: int, buckets: int) -> None:
    query = q.parse_history({"time_range": time_range}, NOW)
    assert (query.step_s, query.buckets) == (step, buckets)


def test_buckets_align_to_the_epoch() -> None:
    query = q.parse_history({"time_range": "24h", "granularity": "1h"}, NOW)
    assert all(int(start.timestamp()) % 3600 == 0 for start in query.bucket_starts)


@pytest.mark.parametrize(
    ("params", "field", "fragment"),
    [
        ({"time_range": "2h"}, "time_range", "15m, 1h, 6h, 24h, 7d, 30d"),
        ({"granularity": "2m"}, "granularity", "1m, 5m"),
        ({"until": "yesterday"}, "until", "RFC 3339"),
        ({"until": "1e30"}, "until", "Unix seconds"),
        ({"until": "2025-02-30T00:00:00Z"}, "until", "RFC 3339"),
        ({"until": "2025-06-01"}, "until", "RFC 3339"),
        ({"until": ""}, "until", "RFC 3339"),
        ({"group_by": "model"}, "group_by", "instance"),
        ({"model": "x" * 600}, "model", "longer"),
        ({"model": "a\x00b"}, "model", "NUL"),
    ],
)
def test_bad_history_params_name_the_field(
    params: dict[str, str], field: str, fragment: str
) -> None:
    with pytest.raises(q.QueryError) as info:
        q.parse_history(params, NOW)
    assert info.value.field == field
    assert fragment in info.value.message


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"offset": "-1"}, "offset"),
        ({"status": "ok"}, "status"),
        ({"limit": " 5"}, "limit"),
        ({"limit": "\u0665"}, "limit"),  # an Arabic-Indic five: int() would take it
        ({"status": ""}, "status"),
    ],
)
def test_bad_logs_params_name_the_field(params: dict[str, str], field: str) -> None:
    with pytest.raises(q.QueryError) as info:
        q.parse_logs(params)
    assert info.value.field == field


def test_times_accept_rfc3339_with_an_offset_and_unix_seconds() -> None:
    expected = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
    for raw in (
        "2025-06-01T12:00:00Z",
        "2025-06-01t12:00:00z",
        "2025-06-01T14:00:00+02:00",
        "2025-06-01T12:00:00.000Z",
        "1748779200",
        "1748779200.0",
    ):
        assert q.parse_time(raw, "until") == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0", q.MIN_TIME),
        ("0000-01-01T00:00:00+23:59", q.MIN_TIME),
        ("1999-12-31T23:00:00-02:00", datetime(2000, 1, 1, 1, 0, tzinfo=UTC)),
        ("9999-12-31T23:59:59-23:59", q.MAX_TIME),
        ("999999999999", q.MAX_TIME),
        ("2016-12-31T23:59:60Z", datetime(2016, 12, 31, 23, 59, 59, tzinfo=UTC)),
    ],
)
def test_times_outside_the_stored_span_count_as_its_bounds(raw: str, expected: datetime) -> None:
    # The document states format date-time (years 0000-9999) and Unix seconds: every such
    # value is answered, never refused for its range.
    assert q.parse_time(raw, "until") == expected


def test_a_granularity_too_fine_for_the_range_is_coarsened_to_the_first_that_fits() -> None:
    query = q.parse_history({"time_range": "7d", "granularity": "1m"}, NOW)
    assert (query.step_s, query.buckets) == (900, 672)
    assert q.parse_history({"time_range": "30d", "granularity": "5m"}, NOW).step_s == 3600


def test_since_after_until_is_an_empty_window_not_an_error() -> None:
    params = {"since": "2025-06-02T00:00:00Z", "until": "2025-06-01T00:00:00Z"}
    filters = q.parse_logs(params).filters
    assert filters.since is not None and filters.until is not None
    assert filters.since > filters.until


def test_where_clause_binds_every_value() -> None:
    params = Params(lambda name, kind: f":{name}")
    hostile = "x' OR 1=1 --"
    filters = q.Filters(model=hostile, client=hostile, since=NOW, status="error")
    sql = where_clause(filters, params)
    assert hostile not in sql
    # the model twice: its canonical name and the untagged one older rows hold
    assert sorted(params.values.values(), key=str) == sorted(
        [f"{hostile}:latest", hostile, hostile, "error", NOW], key=str
    )


def _query(buckets_from: datetime) -> q.HistoryQuery:
    return q.parse_history({"time_range": "15m", "until": iso(buckets_from) or ""}, buckets_from)


def test_fill_series_gives_every_bucket_with_zeros_and_null_percentiles() -> None:
    query = _query(NOW)
    second = query.bucket_starts[1]
    rows = [
        {
            "bucket": int(second.timestamp()),
            "requests": 2,
            "errors": 1,
            "prompt_tokens": 5,
            "completion_tokens": 120,
            "eval_tokens": 120,
            "eval_ms": 2000.0,
            "lat_p50": 10.0,
            "lat_p95": 19.0,
            "lat_p99": 19.8,
            "ttft_p50": None,
        }
    ]
    points = fill_series(query, rows)
    assert len(points) == 15
    assert points[0]["requests"] == 0 and points[0]["tokens_total"] == 0
    assert points[0]["latency_ms"] == {"p50": None, "p95": None, "p99": None}
    assert points[1]["tokens_total"] == 125
    assert points[1]["throughput"] == 2.0  # 120 completion tokens / 60 s
    assert points[1]["tokens_per_sec"] == 60.0  # 120 tokens / 2 s of eval
    assert points[1]["latency_ms"]["p95"] == 19.0


def test_the_partial_last_bucket_rate_uses_elapsed_seconds() -> None:
    query = _query(NOW)  # 30 s into the last minute
    last = query.bucket_starts[-1]
    rows = [{"bucket": int(last.timestamp()), "requests": 1, "completion_tokens": 60}]
    assert fill_series(query, rows)[-1]["throughput"] == 2.0


def test_group_by_instance_gives_one_full_series_per_instance() -> None:
    query = q.parse_history({"time_range": "15m", "group_by": "instance"}, NOW)
    start = int(query.bucket_starts[3].timestamp())
    rows = [
        {"bucket": start, "instance": "b", "requests": 1},
        {"bucket": start, "instance": "a", "requests": 2},
    ]
    points = fill_series(query, rows)
    assert len(points) == 30
    assert [p["instance"] for p in points[::15]] == ["a", "b"]
    assert points[3]["requests"] == 2 and points[18]["requests"] == 1


@given(st.lists(st.floats(min_value=0, max_value=1e6), min_size=1, max_size=50))
def test_percentile_inc_matches_statistics_inclusive(values: list[float]) -> None:
    ordered = sorted(values)
    if len(ordered) > 1:
        cuts = statistics.quantiles(ordered, n=100, method="inclusive")
        assert percentile_inc(ordered, 0.95) == pytest.approx(cuts[94], rel=1e-9, abs=1e-6)
    assert percentile_inc(ordered, 0.5) == pytest.approx(
        statistics.median(ordered), rel=1e-9, abs=1e-6
    )


def test_breakdown_window_ends_at_until() -> None:
    query = q.parse_breakdown({"time_range": "1h", "until": "2025-06-01T12:00:00Z"}, NOW)
    assert query.filters.until - query.filters.since == timedelta(hours=1)
