"""/metrics (Prometheus text), /api/stats/metrics (JSON snapshot) and the --metrics-json dump."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import structlog
from aiohttp import web

from ollama_proxy.files import write_atomic
from ollama_proxy.telemetry.core import Telemetry
from ollama_proxy.telemetry.scrape import PROMETHEUS_CONTENT_TYPE, ScrapeReader, snapshot_json

log = structlog.get_logger("ollama_proxy.telemetry")

TELEMETRY_KEY = web.AppKey("telemetry_routes", Telemetry)


def _reader(request: web.Request) -> ScrapeReader:
    scrape = request.app[TELEMETRY_KEY].scrape
    if scrape is None:
        raise web.HTTPServiceUnavailable(
            text='{"error": "metrics reader not configured"}', content_type="application/json"
        )
    return scrape


async def prometheus_metrics(request: web.Request) -> web.Response:
    body = _reader(request).prometheus_text()
    return web.Response(body=body, headers={"Content-Type": PROMETHEUS_CONTENT_TYPE})


async def json_metrics(request: web.Request) -> web.Response:
    return web.Response(
        body=orjson.dumps(snapshot_json(_reader(request).snapshot())),
        content_type="application/json",
    )


def add_telemetry_routes(app: web.Application, telemetry: Telemetry) -> None:
    """GET /metrics and GET /api/stats/metrics on `app`."""
    app[TELEMETRY_KEY] = telemetry
    app.router.add_get("/metrics", prometheus_metrics)
    app.router.add_get("/api/stats/metrics", json_metrics)


def write_snapshot(telemetry: Telemetry, path: Path) -> None:
    """Write the JSON snapshot atomically: readers never see a half-written file."""
    body = snapshot_body(telemetry)
    if body is not None:
        write_atomic(path, body)


def snapshot_body(telemetry: Telemetry) -> bytes | None:
    if telemetry.scrape is None:
        return None
    return orjson.dumps(snapshot_json(telemetry.scrape.snapshot()), option=orjson.OPT_INDENT_2)


async def metrics_json_dumper(telemetry: Telemetry, path: str | Path, interval_s: float) -> None:
    """Rewrite `path` every `interval_s` until cancelled; writes a last snapshot on the way out."""
    target = Path(path)
    try:
        while True:
            await _dump(telemetry, target)
            await asyncio.sleep(interval_s)
    finally:
        await _dump(telemetry, target)


async def _dump(telemetry: Telemetry, target: Path) -> None:
    """The snapshot is read on the loop (the instruments live there), the file is written in a
    worker thread: a slow disk must not stall the streams."""
    body = snapshot_body(telemetry)
    if body is None:
        return
    try:
        await asyncio.to_thread(write_atomic, target, body)
    except OSError as exc:
        log.warning("metrics_json_write_failed", path=str(target), error=str(exc))
