from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from ollama_proxy.telemetry import add_telemetry_routes, metrics_json_dumper
from ollama_proxy.telemetry import names as n
from ollama_proxy.telemetry.http import write_snapshot
from ollama_proxy.telemetry.scrape import snapshot_json
from tests.telemetry.conftest import Otel, make_otel
from tests.telemetry.test_instruments import chat_record


def test_snapshot_json_of_nothing() -> None:
    stamp = datetime(2026, 1, 1, tzinfo=UTC)
    assert snapshot_json(None, stamp) == {
        "timestamp": "2026-01-01T00:00:00+00:00",
        "resource": {},
        "metrics": [],
    }


def test_snapshot_json_has_histograms_counters_and_gauges(otel: Otel) -> None:
    otel.telemetry.instruments.record(chat_record(), ttfc_s=0.1)
    otel.telemetry.register_gauge(n.SYSTEM_UPTIME, "s", "uptime", lambda: 7.0)
    snap = snapshot_json(otel.scrape.snapshot())
    metrics = {m["name"]: m for m in snap["metrics"]}
    assert metrics[n.SYSTEM_UPTIME]["type"] == "gauge"
    assert metrics[n.SYSTEM_UPTIME]["points"] == [{"attributes": {}, "value": 7.0}]
    assert metrics[n.REQUESTS.name]["type"] == "counter"
    duration = metrics[n.OPERATION_DURATION.name]["points"][0]
    assert duration["count"] == 1 and duration["sum"] == 0.82
    assert duration["buckets"][-1] == {"le": "+Inf", "count": 0}
    assert {"le": 1.28, "count": 1} in duration["buckets"]
    assert snap["resource"]["telemetry.sdk.name"] == "opentelemetry"
    json.dumps(snap)  # plain JSON all the way down


def test_snapshot_does_not_queue_data_for_prometheus(otel: Otel) -> None:
    otel.telemetry.instruments.record(chat_record())
    for _ in range(3):
        otel.scrape.snapshot()
    text = otel.scrape.prometheus_text().decode()
    assert text.count("# TYPE ollama_requests_total counter") == 1


def test_two_apps_in_one_process_have_their_own_registries() -> None:
    first, second = make_otel(), make_otel()
    first.telemetry.instruments.record(chat_record())
    assert "ollama_requests_total" in first.scrape.prometheus_text().decode()
    assert "ollama_requests_total" not in second.scrape.prometheus_text().decode()


async def test_routes_serve_prometheus_and_json(otel: Otel) -> None:
    app = web.Application()
    add_telemetry_routes(app, otel.telemetry)
    otel.telemetry.instruments.record(chat_record())
    async with TestClient(TestServer(app)) as client:
        prom = await client.get("/metrics")
        assert prom.status == 200
        assert prom.headers["Content-Type"].startswith("text/plain; version=")
        text = await prom.text()
        assert 'gen_ai_request_model="llama3.2:1b"' in text
        snap = await client.get("/api/stats/metrics")
        assert snap.status == 200
        names = {m["name"] for m in (await snap.json())["metrics"]}
        assert n.TOKEN_USAGE.name in names


async def test_routes_without_a_reader_answer_503() -> None:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.trace import TracerProvider
    from yarl import URL

    from ollama_proxy.telemetry import Telemetry

    app = web.Application()
    add_telemetry_routes(app, Telemetry(TracerProvider(), MeterProvider(), URL("http://h:1")))
    async with TestClient(TestServer(app)) as client:
        resp = await client.get("/metrics")
        assert resp.status == 503
        assert "error" in await resp.json()


def test_write_snapshot_replaces_the_file(otel: Otel, tmp_path: Path) -> None:
    target = tmp_path / "sub" / "metrics.json"
    write_snapshot(otel.telemetry, target)
    otel.telemetry.instruments.record(chat_record())
    write_snapshot(otel.telemetry, target)
    names = {m["name"] for m in json.loads(target.read_text())["metrics"]}
    assert n.REQUESTS.name in names
    assert [p.name for p in target.parent.iterdir()] == ["metrics.json"]  # no temp files left


async def test_dumper_writes_at_start_and_on_cancel(
    otel: Otel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio
    import threading

    from ollama_proxy.telemetry import http

    target = tmp_path / "m.json"
    written = asyncio.Event()
    writers: list[threading.Thread] = []
    write, loop = http.write_atomic, asyncio.get_running_loop()

    def watched(path: Path, body: bytes) -> None:
        writers.append(threading.current_thread())
        write(path, body)
        loop.call_soon_threadsafe(written.set)

    monkeypatch.setattr(http, "write_atomic", watched)
    task = asyncio.create_task(metrics_json_dumper(otel.telemetry, target, interval_s=3600))
    async with asyncio.timeout(10):
        await written.wait()  # the first dump, at start
    assert target.exists()
    # Regression: the file was written on the event loop (mkdir, write, rename).
    assert threading.main_thread() not in writers
    otel.telemetry.instruments.record(chat_record())
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    names = {m["name"] for m in json.loads(target.read_text())["metrics"]}
    assert n.REQUESTS.name in names  # the final dump saw the last request
