"""/api/stats/system, /api/stats/models/loaded, /api/stats/models/timeline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from aiohttp import web

from ollama_proxy import appkeys
from ollama_proxy.api.handlers import json_response
from ollama_proxy.stats.query import TIME_RANGES, QueryError


def _since(request: web.Request) -> datetime:
    name = request.query.get("time_range", "1h")
    if name not in TIME_RANGES:
        raise QueryError("time_range", f"time_range must be one of {', '.join(TIME_RANGES)}")
    return datetime.now(UTC) - timedelta(seconds=TIME_RANGES[name])


async def _metric_rows(app: web.Application, since: datetime) -> list[dict[str, Any]]:
    stores = app.get(appkeys.STORES) or []
    if not stores:
        return []
    store = stores[0]
    if store.kind in ("chdb", "clickhouse"):
        sql = (
            "SELECT toString(timestamp, 'UTC') AS ts, metric_name, metric_value, metadata "
            "FROM ollama_metrics FINAL WHERE metric_type = 'gauge' "
            "AND timestamp >= {since:DateTime64(6, 'UTC')} ORDER BY timestamp"
        )
        params: dict[str, Any] = {"since": since.strftime("%Y-%m-%d %H:%M:%S.%f")}
    else:
        sql = (
            "SELECT timestamp AS ts, metric_name, metric_value, metadata FROM ollama_metrics "
            "WHERE metric_type = 'gauge' AND timestamp >= :since ORDER BY timestamp"
        )
        params = {"since": since if store.kind == "postgres" else since.replace(tzinfo=None)}
    return await store.fetch(sql, params)


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
        stamp = row["ts"]
        stamp = stamp.isoformat() if isinstance(stamp, datetime) else str(stamp)
        out.setdefault(key, []).append({"timestamp": stamp, "value": row["metric_value"]})
    return out


async def system(request: web.Request) -> web.Response:
    since = _since(request)
    rows = await _metric_rows(request.app, since)
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
