"""/api/stats/system, /api/stats/models/loaded, /api/stats/models/timeline."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from aiohttp import web

from ollama_proxy import appkeys
from ollama_proxy.api.handlers import json_response
from ollama_proxy.stats.query import TIME_RANGES, QueryError
from ollama_proxy.stats.shape import as_datetime


def _since(request: web.Request) -> datetime:
    name = request.query.get("time_range", "1h")
    if name not in TIME_RANGES:
        raise QueryError("time_range", f"time_range must be one of {', '.join(TIME_RANGES)}")
    return datetime.now(UTC) - timedelta(seconds=TIME_RANGES[name])


# Points per series at most: an hour at the 5 s sample rate. Longer ranges are averaged into
# as many time buckets in the store: a week of raw samples was a million rows read into memory
# and encoded on the event loop for one chart.
MAX_POINTS = 720


def step_s(span_s: float, sample_s: float) -> int | None:
    """Bucket width for a range; None when its raw samples fit in MAX_POINTS.

    >>> step_s(3600, 5.0), step_s(6 * 3600, 5.0), step_s(7 * 86400, 5.0)
    (None, 30, 840)
    """
    if span_s / sample_s <= MAX_POINTS:
        return None
    return math.ceil(span_s / MAX_POINTS)


def _metric_sql(kind: str, since: datetime, step: int | None) -> tuple[str, dict[str, Any]]:
    if step is None:
        columns, group = "timestamp AS ts, metric_name, metadata, metric_value", "ORDER BY ts"
    else:
        columns = "{bucket} AS ts, metric_name, metadata, avg(metric_value) AS metric_value"
        group = "GROUP BY ts, metric_name, metadata ORDER BY ts"
    if kind in ("chdb", "clickhouse"):
        bucket = f"intDiv(toUnixTimestamp(timestamp), {step}) * {step}"
        where = "metric_type = 'gauge' AND timestamp >= {since:DateTime64(6, 'UTC')}"
        sql = f"SELECT {columns} FROM ollama_metrics FINAL WHERE {where} {group}"
        return sql.replace("{bucket}", bucket), {"since": since.strftime("%Y-%m-%d %H:%M:%S.%f")}
    if kind == "postgres":
        bucket = f"(floor(extract(epoch FROM timestamp) / {step}) * {step})::bigint"
        stamp: Any = since
    else:
        bucket = f"(CAST(strftime('%s', timestamp) AS INTEGER) / {step}) * {step}"
        stamp = since.replace(tzinfo=None)
    where = "metric_type = 'gauge' AND timestamp >= :since"
    sql = f"SELECT {columns} FROM ollama_metrics WHERE {where} {group}"
    return sql.replace("{bucket}", bucket), {"since": stamp}


async def _metric_rows(
    app: web.Application, since: datetime, step: int | None
) -> list[dict[str, Any]]:
    stores = app.get(appkeys.STORES) or []
    if not stores:
        return []
    sql, params = _metric_sql(stores[0].kind, since, step)
    return await stores[0].fetch(sql, params)


def _series(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Rows -> {metric name (with its gpu/model label): [{timestamp, value}]}."""
    out: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        meta = row.get("metadata") or {}
        if isinstance(meta, str):
            meta = orjson.loads(meta) if meta else {}
        label = meta.get("model") or meta.get("gpu")
        if label not in (None, "") and meta.get("node"):
            label = f"{label}@{meta['node']}"  # a fleet: the same model on two nodes
        key = row["metric_name"] if label in (None, "") else f"{row['metric_name']}[{label}]"
        at = as_datetime(row["ts"])
        stamp = at.isoformat() if at is not None else None
        out.setdefault(key, []).append({"timestamp": stamp, "value": row["metric_value"]})
    return out


async def system(request: web.Request) -> web.Response:
    since = _since(request)
    settings = request.app[appkeys.SETTINGS]
    span = (datetime.now(UTC) - since).total_seconds()
    step = step_s(span, settings.metrics_export_interval)
    rows = await _metric_rows(request.app, since, step)
    monitor = request.app.get(appkeys.SYSTEM)
    latest = None
    if monitor is not None and monitor.last is not None:
        s = monitor.last
        latest = {
            "cpu_percent": s.cpu_percent,
            "memory_percent": s.memory_percent,
            "proxy_rss_bytes": s.proxy_rss_bytes,
            "proxy_cpu_percent": s.proxy_cpu_percent,
            "uptime_hours": s.uptime_hours,
            "gpus": [vars(g) for g in s.gpus],
            "error_rate": monitor.error_rate,
            "upstream": monitor.upstream_health(),
        }
    body = {"since": since.isoformat(), "latest": latest, "series": _series(rows)}
    return json_response(orjson.dumps(body))


async def _busy_ms(
    app: web.Application, model: str, since: datetime, node: str = ""
) -> float | None:
    """Milliseconds spent serving requests for `model` (on `node`) since `since` (its load)."""
    stores = app.get(appkeys.STORES) or []
    if not stores:
        return None
    store = stores[0]
    # /api/ps says "llama3.2:latest" where requests say "llama3.2".
    names = {"a": model, "b": model.removesuffix(":latest")}
    if store.kind in ("chdb", "clickhouse"):
        sql = (
            "SELECT sum(latency_ms) AS busy FROM request_logs FINAL "
            "WHERE model IN ({a:String}, {b:String}) AND timestamp >= {since:DateTime64(6, 'UTC')}"
            + (" AND node = {node:String}" if node else "")
        )
        params: dict[str, Any] = {**names, "since": since.strftime("%Y-%m-%d %H:%M:%S.%f")}
    else:
        sql = (
            "SELECT sum(latency_ms) AS busy FROM request_logs "
            "WHERE model IN (:a, :b) AND timestamp >= :since"
            + (" AND node = :node" if node else "")
        )
        stamp = since if store.kind == "postgres" else since.replace(tzinfo=None)
        params = {**names, "since": stamp}
    if node:
        params["node"] = node
    rows = await store.fetch(sql, params)
    return float(rows[0]["busy"] or 0.0) if rows else 0.0


async def models_loaded(request: web.Request) -> web.Response:
    """Resident models now, with how long each has been in memory and how much of that idle
    (resident time minus the time its requests took; overlapping requests can make it 0)."""
    monitor = request.app.get(appkeys.SYSTEM)
    models = monitor.loaded_models() if monitor is not None else []
    for model in models:
        model["idle_s"] = None
        loaded_at = model.get("loaded_at")
        if loaded_at and model.get("resident_s") is not None:
            since = datetime.fromisoformat(loaded_at.replace("Z", "+00:00"))
            busy = await _busy_ms(request.app, model["name"], since, model.get("node", ""))
            if busy is not None:
                model["idle_s"] = round(max(0.0, model["resident_s"] - busy / 1000), 3)
    return json_response(orjson.dumps({"models": models, "polled": bool(monitor)}))


async def models_timeline(request: web.Request) -> web.Response:
    since = _since(request)
    monitor = request.app.get(appkeys.SYSTEM)
    events = [e.to_dict() for e in monitor.timeline.since(since)] if monitor else []
    return json_response(orjson.dumps({"events": events}))


def add_system_routes(app: web.Application) -> None:
    app.router.add_get("/api/stats/system", system)
    app.router.add_get("/api/stats/models/loaded", models_loaded)
    app.router.add_get("/api/stats/models/timeline", models_timeline)
