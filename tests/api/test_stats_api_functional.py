"""The stats API over SQLite, PostgreSQL and chDB: answers checked against the records."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

import pytest

from ollama_proxy.records import RequestRecord
from ollama_proxy.stats import service as stats_service
from ollama_proxy.stats.series import iso, percentile_inc
from ollama_proxy.store.sketch import RELATIVE_ACCURACY
from tests.api.conftest import Api

ABS = 2e-3  # answers are rounded to 3 decimals
# SQLite and PostgreSQL answer percentiles from rollup sketches, within their stated accuracy
# of the exact value; chDB computes them exactly from the raw rows.
SKETCH_REL = {"sqlite": RELATIVE_ACCURACY, "postgres": RELATIVE_ACCURACY}


def pct(values: list[float], p: float) -> float | None:
    result = percentile_inc(sorted(values), p)
    return None if result is None else round(result, 3)


def approx_pct(api: Api, expected: float | None) -> Any:
    return pytest.approx(expected, rel=SKETCH_REL.get(api.kind, 0.0), abs=ABS)


def assert_pcts(api: Api, actual: dict[str, Any], values: list[float]) -> None:
    for name, p in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99)):
        expected = pct(values, p)
        if expected is None:
            assert actual[name] is None
        else:
            assert actual[name] == approx_pct(api, expected), name


def bucket_of(record: RequestRecord, step: int) -> int:
    return int(record.timestamp.timestamp()) // step * step


async def test_history_has_every_bucket_with_exact_values(api: Api) -> None:
    points = await api.get_json(
        "/api/stats/history", time_range="1h", granularity="1m", until=iso(api.anchor)
    )
    assert len(points) == 60
    starts = [datetime.fromisoformat(p["timestamp"].replace("Z", "+00:00")) for p in points]
    assert starts[-1] == api.anchor and all(
        b - a == timedelta(minutes=1) for a, b in zip(starts, starts[1:], strict=False)
    )
    by_bucket: dict[int, list[RequestRecord]] = defaultdict(list)
    for record in api.records:
        by_bucket[bucket_of(record, 60)].append(record)
    empty = 0
    for point, start in zip(points, starts, strict=True):
        records = by_bucket.get(int(start.timestamp()), [])
        assert point["requests"] == len(records)
        assert point["errors"] == sum(r.status == "error" for r in records)
        tokens = sum(r.prompt_tokens + r.completion_tokens for r in records)
        assert point["tokens_total"] == tokens
        assert point["throughput"] == pytest.approx(
            sum(r.completion_tokens for r in records) / 60, abs=ABS
        )
        assert_pcts(api, point["latency_ms"], [r.latency_ms for r in records])
        assert_pcts(api, point["ttft_ms"], [r.ttft_ms for r in records if r.ttft_ms is not None])
        if not records:
            empty += 1
            assert point["tokens_total"] == 0 and point["latency_ms"]["p50"] is None
    assert empty >= 10  # minutes 20-29 before the anchor are silent


async def test_history_filters_and_groups_by_instance(api: Api) -> None:
    points = await api.get_json(
        "/api/stats/history",
        time_range="1h",
        granularity="5m",
        until=iso(api.anchor),
        group_by="instance",
        model="qwen2.5:7b",
    )
    assert len(points) == 24  # two instances x 12 buckets
    for instance in ("box-1", "box-2"):
        series = [p for p in points if p["instance"] == instance]
        expected = [r for r in api.records if r.instance == instance and r.model == "qwen2.5:7b"]
        assert sum(p["requests"] for p in series) == len(expected)
        latencies = [
            r.latency_ms
            for r in expected
            if bucket_of(r, 300) == int(api.anchor.timestamp()) // 300 * 300 - 300
        ]
        assert_pcts(api, series[-2]["latency_ms"], latencies)


async def test_current_totals_and_last_hour(api: Api) -> None:
    body = await api.get_json("/api/stats/current")
    records = api.records
    assert body["requests_total"] == len(records)
    assert body["tokens_total"] == sum(r.prompt_tokens + r.completion_tokens for r in records)
    assert body["cached_tokens_total"] == sum(r.cached_tokens for r in records)
    assert body["requests_last_hour"] == len(records)  # all within 50 minutes
    assert body["error_count"] == sum(r.status == "error" for r in records)
    assert body["error_rate"] == pytest.approx(body["error_count"] / len(records), abs=1e-6)
    timed = [r for r in records if r.eval_duration_ms]
    tps = sum(r.completion_tokens for r in timed) / (
        sum(r.eval_duration_ms or 0 for r in timed) / 1000
    )
    assert body["tokens_per_sec"] == pytest.approx(tps, abs=ABS)
    assert_pcts(api, body["latency_ms"], [r.latency_ms for r in records])
    assert_pcts(api, body["ttft_ms"], [r.ttft_ms for r in records if r.ttft_ms is not None])
    assert body["uptime_hours"] == pytest.approx(2.0, abs=0.1)
    assert body["last_request_at"] == iso(max(r.timestamp for r in records))
    one = await api.get_json("/api/stats/current", instance="box-1")
    assert one["requests_total"] == sum(r.instance == "box-1" for r in records)


def newest_first(records: list[RequestRecord]) -> list[RequestRecord]:
    return sorted(records, key=lambda r: (r.timestamp, r.request_id), reverse=True)


async def test_logs_paginate_newest_first(api: Api) -> None:
    expected = newest_first(api.records)
    seen: list[str] = []
    for offset in range(0, len(expected), 100):
        page = await api.get_json("/api/stats/logs", limit=100, offset=offset)
        assert page["total"] == len(expected) and page["offset"] == offset
        seen += [log["id"] for log in page["logs"]]
    assert seen == [r.request_id for r in expected]
    first = (await api.get_json("/api/stats/logs", limit=1))["logs"][0]
    record = expected[0]
    assert first["timestamp"] == iso(record.timestamp)
    assert first["tokens"] == record.prompt_tokens + record.completion_tokens
    assert first["latency"] == pytest.approx(record.latency_ms)
    assert first["tokens_generated"] == record.completion_tokens
    assert first["ttft_ms"] == (
        pytest.approx(record.ttft_ms) if record.ttft_ms is not None else None
    )
    assert first["stream"] is record.stream and first["trace_id"] == record.trace_id


@pytest.mark.parametrize(
    ("params", "predicate"),
    [
        ({"status": "error"}, lambda r: r.status == "error"),
        ({"model": "llama3.2:3b"}, lambda r: r.model == "llama3.2:3b"),
        ({"client": "open-webui"}, lambda r: r.client_name == "open-webui"),
        ({"client": "10.0.0.2"}, lambda r: r.client == "10.0.0.2"),
        (
            {"instance": "box-2", "status": "cancelled"},
            lambda r: r.instance == "box-2" and r.status == "cancelled",
        ),
        ({"endpoint": "/api/tags"}, lambda r: r.endpoint == "/api/tags"),
        ({"model": "x' OR '1'='1"}, lambda r: False),
    ],
)
async def test_logs_filters(api: Api, params: dict[str, str], predicate: Any) -> None:
    expected = newest_first([r for r in api.records if predicate(r)])
    page = await api.get_json("/api/stats/logs", limit=1000, **params)
    assert page["total"] == len(expected)
    assert [log["id"] for log in page["logs"]] == [r.request_id for r in expected]


async def test_logs_time_window(api: Api) -> None:
    since, until = api.anchor - timedelta(minutes=40), api.anchor - timedelta(minutes=10)
    expected = [r for r in api.records if since <= r.timestamp < until]
    page = await api.get_json("/api/stats/logs", limit=1000, since=iso(since), until=iso(until))
    assert page["total"] == len(expected) > 0


async def test_log_detail_and_404(api: Api) -> None:
    record = api.records[17]
    body = await api.get_json(f"/api/stats/logs/{record.request_id}")
    assert body["id"] == record.request_id and body["model"] == record.model
    missing = await api.get_json("/api/stats/logs/no-such-id", expect=404)
    assert missing["field"] == "id"


async def test_csv_streams_every_filtered_row(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stats_service, "CSV_CHUNK", 7)  # many keyset pages
    response = await api.client.get("/api/stats/logs.csv", params={"status": "success"})
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(await response.text())))
    expected = newest_first([r for r in api.records if r.status == "success"])
    assert [row["id"] for row in rows] == [r.request_id for r in expected]
    assert rows[0]["stream"] in ("true", "false")
    assert rows[0]["latency_ms"] and float(rows[0]["latency_ms"]) == pytest.approx(
        expected[0].latency_ms
    )


def group(records: list[RequestRecord], key: Any) -> dict[str, list[RequestRecord]]:
    out: dict[str, list[RequestRecord]] = defaultdict(list)
    for record in records:
        out[key(record)].append(record)
    return out


async def test_models_breakdown(api: Api) -> None:
    rows = await api.get_json("/api/models", time_range="1h", until=iso(api.anchor))
    expected = group([r for r in api.records if r.model], lambda r: r.model)
    assert {row["model_name"] for row in rows} == set(expected)
    for row in rows:
        records = expected[row["model_name"]]
        assert row["requests_count"] == len(records)
        assert row["avg_latency"] == pytest.approx(
            sum(r.latency_ms for r in records) / len(records), abs=ABS
        )
        assert row["p95_latency"] == approx_pct(api, pct([r.latency_ms for r in records], 0.95))
        assert row["ttft"] == approx_pct(
            api, pct([r.ttft_ms for r in records if r.ttft_ms is not None], 0.5)
        )
        loads = [r.load_duration_ms for r in records if (r.load_duration_ms or 0) >= 250]
        assert row["load_count"] == len(loads)
        assert row["error_rate"] == pytest.approx(
            sum(r.status == "error" for r in records) / len(records), abs=1e-5
        )
        assert row["last_used"] == iso(max(r.timestamp for r in records))
        assert row["loaded"] is False
    assert [r["requests_count"] for r in rows] == sorted(
        (r["requests_count"] for r in rows), reverse=True
    )
    grouped = await api.get_json(
        "/api/models", time_range="1h", until=iso(api.anchor), group_by="instance"
    )
    assert sum(r["requests_count"] for r in grouped) == sum(len(v) for v in expected.values())
    assert {r["instance"] for r in grouped} == {"box-1", "box-2"}


async def test_clients_and_instances(api: Api) -> None:
    rows = await api.get_json("/api/stats/clients", time_range="1h", until=iso(api.anchor))
    expected = group(api.records, lambda r: r.client_name or r.client)
    assert {row["client"]: row["requests_count"] for row in rows} == {
        k: len(v) for k, v in expected.items()
    }
    for row in rows:
        assert row["models"] == sorted({r.model for r in expected[row["client"]] if r.model})
        assert row["p95_latency"] == approx_pct(
            api, pct([r.latency_ms for r in expected[row["client"]]], 0.95)
        )
    instances = await api.get_json("/api/stats/instances", time_range="1h", until=iso(api.anchor))
    by_instance = group(api.records, lambda r: r.instance)
    assert {row["instance"]: row["tokens"] for row in instances} == {
        k: sum(r.prompt_tokens + r.completion_tokens for r in v) for k, v in by_instance.items()
    }


async def test_a_window_without_records_answers_zeros(api: Api) -> None:
    old = iso(api.anchor - timedelta(days=3))
    points = await api.get_json("/api/stats/history", time_range="6h", until=old)
    assert len(points) == 72 and all(p["requests"] == 0 for p in points)
    assert await api.get_json("/api/models", until=old) == []
