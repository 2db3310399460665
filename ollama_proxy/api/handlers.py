"""aiohttp handlers of the stats API: parse the query, ask `StatsService`, write JSON.

The contract is docs/api.md and /api/openapi.json; every answer goes through the pydantic
models of `api/schemas.py`.
"""

from __future__ import annotations

import asyncio
import csv
import io
import time
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime
from typing import Any, cast

import orjson
from aiohttp import web
from pydantic import BaseModel, TypeAdapter

from ollama_proxy import appkeys
from ollama_proxy.api import schemas
from ollama_proxy.api.cache import QueryCache, cache_key
from ollama_proxy.api.errors import ApiError
from ollama_proxy.api.upstream import UpstreamProbe
from ollama_proxy.quota import QUOTAS
from ollama_proxy.stats import query as q
from ollama_proxy.stats.service import StatsService
from ollama_proxy.stats.shape import CSV_COLUMNS, csv_row


class ApiState:
    """Mutable per-app state (the app's own mapping is frozen once it runs)."""

    def __init__(self) -> None:
        self.cache = QueryCache()
        self.probe = UpstreamProbe()
        self._service: StatsService | None = None
        self._store: Any = None
        self._background: set[asyncio.Task[Any]] = set()

    def spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        """Run `work` in the background; `close` cancels and awaits it (shutdown)."""
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def close(self) -> None:
        tasks = list(self._background)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def service(self, app: web.Application) -> StatsService:
        stores = cast(list[Any], app.get(appkeys.STORES) or [])
        if not stores:
            raise ApiError(503, "no store is configured or open yet", None)
        if self._service is None or self._store is not stores[0]:
            self._service, self._store = StatsService(backend_for(stores[0])), stores[0]
        return self._service


API_STATE = web.AppKey("api_state", ApiState)


def backend_for(store: Any) -> Any:
    """The stats backend for a store, by its `kind`."""
    kind = getattr(store, "kind", "")
    if kind in ("sqlite", "postgres", "postgresql"):
        from ollama_proxy.stats.rollup_queries import RollupStatsBackend

        return RollupStatsBackend(store.engine)
    if kind in ("clickhouse", "chdb"):
        from ollama_proxy.stats.clickhouse_queries import ClickHouseStatsBackend

        return ClickHouseStatsBackend(store)
    raise ApiError(503, f"store kind {kind!r} cannot answer stats queries", None)


def _state(request: web.Request) -> ApiState:
    return request.app[API_STATE]


def _now() -> datetime:
    return datetime.now(UTC)


def json_response(
    body: bytes, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(body=body, status=status, content_type="application/json", headers=headers)


def dump(model: type[BaseModel] | TypeAdapter[Any], data: Any) -> bytes:
    if isinstance(model, TypeAdapter):
        return model.dump_json(model.validate_python(data))
    return model.model_validate(data).model_dump_json().encode()


async def cached(request: web.Request, compute: Callable[[], Awaitable[bytes]]) -> web.Response:
    """Answer from the short query cache; `Cache-Control: no-cache` asks for a fresh one."""
    ttl = request.app[appkeys.SETTINGS].dashboard_refresh_s
    if "no-cache" in request.headers.get("Cache-Control", ""):
        return json_response(await compute(), headers={"X-Cache": "bypass"})
    key = cache_key(request.path, list(request.query.items()))
    body, hit = await _state(request).cache.get_or_compute(key, ttl, compute)
    return json_response(body, headers={"X-Cache": "hit" if hit else "miss"})


def _uptime_s(app: web.Application) -> float:
    return max(0.0, time.time() - app.get(appkeys.STARTED_AT, time.time()))


def _in_flight(app: web.Application) -> int:
    inflight = app.get(appkeys.INFLIGHT)
    return int(getattr(inflight, "count", 0) or 0)


# --- /api/stats/* -------------------------------------------------------------------------


async def current(request: web.Request) -> web.Response:
    filters = q.parse_current(request.query)
    app, state = request.app, _state(request)

    async def compute() -> bytes:
        loaded = await state.probe.loaded_models(app)
        data = await state.service(app).current(
            filters,
            _now(),
            uptime_s=_uptime_s(app),
            in_flight=_in_flight(app),
            loaded=loaded,
        )
        return dump(schemas.CurrentStats, data)

    return await cached(request, compute)


async def history(request: web.Request) -> web.Response:
    query = q.parse_history(request.query, _now())
    service = _state(request).service(request.app)

    async def compute() -> bytes:
        return dump(schemas.HISTORY, await service.history(query))

    return await cached(request, compute)


async def logs(request: web.Request) -> web.Response:
    query = q.parse_logs(request.query)
    service = _state(request).service(request.app)

    async def compute() -> bytes:
        return dump(schemas.LogsPage, await service.logs(query))

    return await cached(request, compute)


async def log_detail(request: web.Request) -> web.Response:
    request_id = request.match_info["id"]
    if not request_id or len(request_id) > 128 or not request_id.isprintable():
        raise ApiError(404, "no request with this id", "id")
    entry = await _state(request).service(request.app).log(request_id)
    if entry is None:
        raise ApiError(404, f"no request with id {request_id!r}", "id")
    return json_response(dump(schemas.LogEntry, entry))


async def logs_csv(request: web.Request) -> web.StreamResponse:
    """The whole filtered result, streamed page by page: memory stays one page."""
    query = q.parse_logs(request.query, paged=False)
    service = _state(request).service(request.app)
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": 'attachment; filename="ollama-requests.csv"',
        }
    )
    response.enable_chunked_encoding()
    await response.prepare(request)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    async for entries in service.log_chunks(query.filters):
        for entry in entries:
            writer.writerow(csv_row(entry))
        await response.write(buffer.getvalue().encode())
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():
        await response.write(buffer.getvalue().encode())
    await response.write_eof()
    return response


async def models(request: web.Request) -> web.Response:
    query = q.parse_breakdown(request.query, _now())
    app, state = request.app, _state(request)
    service = state.service(app)

    async def compute() -> bytes:
        loaded = {m["name"] for m in await state.probe.loaded_models(app)}
        return dump(schemas.MODELS, await service.models(query, loaded))

    return await cached(request, compute)


async def clients(request: web.Request) -> web.Response:
    query = q.parse_breakdown(request.query, _now(), with_model=True)
    service = _state(request).service(request.app)

    async def compute() -> bytes:
        rows = await service.clients(query)
        quotas = request.app.get(QUOTAS)
        if quotas is not None:
            for row in rows:
                row["quota"] = quotas.usage(row["client"])
        return dump(schemas.CLIENTS, rows)

    return await cached(request, compute)


async def instances(request: web.Request) -> web.Response:
    query = q.parse_instances(request.query, _now())
    service = _state(request).service(request.app)

    async def compute() -> bytes:
        return dump(schemas.INSTANCES, await service.instances(query))

    return await cached(request, compute)


async def nodes(request: web.Request) -> web.Response:
    """Per Ollama node: live state (a proxy with several upstreams) and stored usage."""
    query = q.parse_nodes(request.query, _now())
    service = _state(request).service(request.app)
    fleet = request.app.get(appkeys.FLEET)

    async def compute() -> bytes:
        live = fleet.snapshot() if fleet is not None else []
        return dump(schemas.NODES, await service.nodes(query, live))

    return await cached(request, compute)


async def not_found(request: web.Request) -> web.Response:
    raise ApiError(404, f"no such stats endpoint: {request.path[:100]}; see /api/openapi.json")


def method_not_allowed(allowed: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(
            status=405,
            body=orjson.dumps(
                {"error": f"method {request.method} not allowed; use {allowed}", "field": None}
            ),
            content_type="application/json",
            headers={"Allow": allowed},
        )

    return handler
