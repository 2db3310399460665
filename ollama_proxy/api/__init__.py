"""The stats API: routes, middleware, and a stand-alone app for `ollama-proxy api`.

Wiring into the proxy app (before the proxy's catch-all route):

    add_api_routes(app)      # our routes + api_middleware (auth, CORS, JSON errors)
    ...other own routes (/metrics, /dashboard, /api/stats/system ...)
    add_api_fallback(app)    # JSON 404/405 for unknown /api/stats/* and wrong methods
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
from aiohttp import web

from ollama_proxy import appkeys
from ollama_proxy.alerts.routes import add_alert_routes
from ollama_proxy.api import admin, handlers, overview
from ollama_proxy.api.handlers import API_STATE, ApiState, json_response
from ollama_proxy.api.middleware import api_middleware
from ollama_proxy.api.openapi import openapi_document
from ollama_proxy.config import Settings

__all__ = ["add_api_fallback", "add_api_routes", "api_middleware", "create_api_app"]


async def openapi_json(request: web.Request) -> web.Response:
    secured = bool(request.app[appkeys.SETTINGS].admin_token)
    engine = request.app.get(appkeys.ALERTS)
    rules = tuple(engine.specs) if engine is not None else ()
    return json_response(orjson.dumps(openapi_document(secured, rules)))


def add_api_routes(app: web.Application) -> None:
    """Register the stats API on `app` (call before the proxy's catch-all route)."""
    if api_middleware not in app.middlewares:
        app.middlewares.append(api_middleware)
    state = app[API_STATE] = ApiState()

    async def close(app: web.Application) -> None:
        await state.close()  # before the stores close (cleanup)

    app.on_shutdown.append(close)
    router = app.router
    router.add_get("/api/stats", overview.stats_root)
    router.add_get("/api/stats/", overview.stats_root)
    router.add_get("/api/stats/current", handlers.current)
    router.add_get("/api/stats/history", handlers.history)
    router.add_get("/api/stats/logs", handlers.logs)
    router.add_get("/api/stats/logs.csv", handlers.logs_csv)
    router.add_get("/api/stats/logs/{id}", handlers.log_detail)
    router.add_get("/api/stats/clients", handlers.clients)
    router.add_get("/api/stats/instances", handlers.instances)
    router.add_get("/api/stats/nodes", handlers.nodes)
    router.add_post("/api/stats/login", admin.login)
    router.add_post("/api/stats/logout", admin.logout)
    router.add_get("/api/models", handlers.models)
    router.add_get("/api/health", admin.health)
    router.add_get("/api/config", admin.get_config)
    router.add_post("/api/config", admin.post_config)
    router.add_get("/api/openapi.json", openapi_json)
    add_alert_routes(app)


GET_STATS_PATHS = (
    "/api/stats",
    "/api/stats/",
    "/api/stats/current",
    "/api/stats/history",
    "/api/stats/logs",
    "/api/stats/logs.csv",
    "/api/stats/logs/{id}",
    "/api/stats/clients",
    "/api/stats/instances",
    "/api/stats/nodes",
)


def add_api_fallback(app: web.Application) -> None:
    """JSON 405 for our paths with another method, JSON 404 for unknown /api/stats/ paths.

    Without it these requests would reach the proxy's catch-all and go to Ollama. Call it
    after every own route (the system and dashboard work add /api/stats/* routes too).
    """
    router = app.router
    for path, allowed in (
        *((path, "GET") for path in GET_STATS_PATHS),
        ("/api/models", "GET"),
        ("/api/health", "GET"),
        ("/api/config", "GET, POST"),
        ("/api/openapi.json", "GET"),
        ("/api/stats/login", "POST"),
        ("/api/stats/logout", "POST"),
        ("/api/alerts", "GET"),
        ("/api/alerts/silences", "GET, POST"),
        ("/api/alerts/silences/{id}", "DELETE"),
    ):
        router.add_route("*", path, handlers.method_not_allowed(allowed))
    router.add_route("*", "/api/stats/{tail:.*}", handlers.not_found)


def _stores_ctx(settings: Settings) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        from ollama_proxy.store import open_stores

        stores: Any = await open_stores(settings)
        app[appkeys.STORES] = stores
        yield
        for store in stores:
            await store.close()

    return ctx


def create_api_app(settings: Settings) -> web.Application:
    """`ollama-proxy api`: the stats API (and the dashboard) over a store, no proxying."""
    app = web.Application()
    app[appkeys.SETTINGS] = settings
    app[appkeys.STARTED_AT] = time.time()
    app.cleanup_ctx.append(_stores_ctx(settings))
    add_api_routes(app)
    try:
        from ollama_proxy.dashboard import add_dashboard_routes
    except ImportError:
        pass
    else:
        add_dashboard_routes(app)
    add_api_fallback(app)
    return app
