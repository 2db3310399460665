"""GET /api/stats and /api/stats/: what a person wants from curl, and where to look next.

Totals, the last hour, the loaded models and health in one small answer, plus the path of
every endpoint the proxy answers itself. A store that is down does not fail the overview: the
numbers are null and `error` says why, the rest is still there.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ollama_proxy import __version__, appkeys
from ollama_proxy.api import schemas
from ollama_proxy.api.admin import health_status, store_health
from ollama_proxy.api.errors import ApiError
from ollama_proxy.api.handlers import (
    _in_flight,
    _now,
    _state,
    _uptime_s,
    dump,
    json_response,
)
from ollama_proxy.proxy.routes import is_own_route
from ollama_proxy.stats.query import Filters


def totals(current: dict[str, Any]) -> dict[str, Any]:
    return {
        "requests": current["requests_total"],
        "errors": current["errors_total"],
        "tokens": current["tokens_total"],
        "prompt_tokens": current["prompt_tokens_total"],
        "completion_tokens": current["completion_tokens_total"],
        "last_request_at": current["last_request_at"],
    }


def last_hour(current: dict[str, Any]) -> dict[str, Any]:
    return {
        "requests": current["requests_last_hour"],
        "errors": current["error_count"],
        "error_rate": current["error_rate"],
        "tokens": current["tokens_last_hour"],
        "tokens_per_sec": current["tokens_per_sec"],
        "latency_ms": current["latency_ms"],
        "ttft_ms": current["ttft_ms"],
    }


def own_endpoints(app: web.Application) -> list[str]:
    """Every GET path the proxy answers itself (templates such as `{id}` kept as they are)."""
    paths = set()
    for resource in app.router.resources():
        path = resource.canonical
        if "{tail}" in path or not is_own_route(path):
            continue
        if any(route.method in ("GET", "*") for route in resource):
            paths.add(path)
    return sorted(paths)


async def _current(request: web.Request) -> tuple[dict[str, Any] | None, str | None]:
    app, state = request.app, _state(request)
    try:
        service = state.service(app)
        loaded = await state.probe.loaded_models(app)
        data = await service.current(
            Filters(), _now(), uptime_s=_uptime_s(app), in_flight=_in_flight(app), loaded=loaded
        )
    except ApiError as error:
        return None, error.message
    except Exception as error:  # a store that fails is a fact to report, not a 500
        return None, f"store unavailable: {str(error)[:300] or type(error).__name__}"
    return schemas.CurrentStats.model_validate(data).model_dump(mode="json"), None


async def stats_root(request: web.Request) -> web.Response:
    app = request.app
    mode = "proxy" if appkeys.UPSTREAM_SESSION in app or appkeys.SYSTEM in app else "api"
    status, reasons = health_status(
        mode, await _state(request).probe.health(app), await store_health(app)
    )
    current, problem = await _current(request)
    recorder = app.get(appkeys.RECORDER)
    data = {
        "instance": app[appkeys.SETTINGS].instance_name,
        "version": __version__,
        "mode": mode,
        "health": {"status": status, "reasons": reasons},
        "totals": totals(current) if current else None,
        "last_hour": last_hour(current) if current else None,
        "in_flight": _in_flight(app),
        "loaded_models": current["loaded_models"] if current else [],
        "pipeline": recorder.stats() if recorder is not None else None,
        "error": problem,
        "endpoints": own_endpoints(app),
    }
    return json_response(dump(schemas.StatsOverview, data))
