"""/api/health, /api/config and the dashboard login: the operational side of the API."""

from __future__ import annotations

import hmac
import inspect
from typing import Any, cast

from aiohttp import web
from pydantic import ValidationError
from yarl import URL

from ollama_proxy import __version__, appkeys
from ollama_proxy.api import schemas
from ollama_proxy.api.errors import ApiError, read_json_object
from ollama_proxy.api.handlers import API_STATE, _state, _uptime_s, dump, json_response
from ollama_proxy.api.middleware import TOKEN_COOKIE
from ollama_proxy.config import Settings

# Any setting whose name holds one of these is masked in GET /api/config (headers: OTLP auth).
SECRET_WORDS = ("token", "key", "password", "salt", "secret", "headers")
MAX_BODY = 64 * 1024

# --- health -------------------------------------------------------------------------------


def mask_url(url: str) -> str:
    try:
        parsed = URL(url)
    except ValueError:
        return "***"
    return str(parsed.with_password("***")) if parsed.password else url


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


def _store_entry(item: Any, fallback_kind: str = "") -> dict[str, Any]:
    data = dict(item) if isinstance(item, dict) else dict(vars(item))
    healthy = data.get("healthy", data.get("ok", data.get("up", False)))
    data["healthy"] = bool(healthy)
    data["url"] = mask_url(str(data.get("url") or ""))
    data["kind"] = str(data.get("kind") or fallback_kind)
    error = data.get("error")
    data["error"] = None if error in (None, "") else str(error)
    return data


async def _ping_store(store: Any) -> dict[str, Any]:
    kind = str(getattr(store, "kind", ""))
    url = str(getattr(store, "url", kind))
    try:
        ping = getattr(store, "ping", None)
        ok = bool(await _maybe_await(ping())) if ping else True
        return _store_entry({"url": url, "kind": kind, "healthy": ok}, kind)
    except Exception as error:  # any failure of a store is a health fact, not an API error
        return _store_entry({"url": url, "kind": kind, "healthy": False, "error": error}, kind)


async def store_health(app: web.Application) -> list[dict[str, Any]]:
    recorder = app.get(appkeys.RECORDER)
    report = getattr(recorder, "health", None) if recorder is not None else None
    if report is not None:
        result = await _maybe_await(report())
        raw: Any = result["stores"] if isinstance(result, dict) else result
        items: list[Any] = list(raw or [])
        return [_store_entry(item) for item in items]
    stores = cast(list[Any], app.get(appkeys.STORES) or [])
    return [await _ping_store(store) for store in stores]


def health_status(
    mode: str, upstream: dict[str, Any] | None, stores: list[dict[str, Any]]
) -> tuple[str, list[str]]:
    """Pure: healthy/degraded/unhealthy and the reasons."""
    reasons: list[str] = []
    unhealthy = False
    if upstream is not None and not upstream.get("reachable"):
        reasons.append(f"upstream {upstream.get('url')} unreachable: {upstream.get('error')}")
        unhealthy = mode == "proxy"
    elif upstream is not None and upstream.get("error"):
        reasons.append(f"upstream {upstream.get('url')} answers {upstream.get('error')}")
    if mode == "api" and (not stores or not stores[0]["healthy"]):
        unhealthy = True
        reasons.append("the query store is down" if stores else "no store configured")
    for store in stores:
        if not store["healthy"]:
            reasons.append(f"store {store['url']} is down: {store.get('error') or 'no answer'}")
        elif store.get("state") == "degraded":
            reasons.append(
                f"store {store['url']} is degraded: {store.get('error') or 'catching up'} "
                f"({store.get('backlog_records', 0)} records behind, oldest "
                f"{store.get('backlog_age_s', 0)} s)"
            )
        elif store.get("journal_records"):
            reasons.append(f"store {store['url']} has {store['journal_records']} journaled")
    status = "unhealthy" if unhealthy else "degraded" if reasons else "healthy"
    return status, reasons


async def health(request: web.Request) -> web.Response:
    app = request.app
    mode = "proxy" if appkeys.UPSTREAM_SESSION in app or appkeys.SYSTEM in app else "api"
    upstream = await _state(request).probe.health(app)
    stores = await store_health(app)
    status, reasons = health_status(mode, upstream, stores)
    data = {
        "status": status,
        "reasons": reasons,
        "upstream": upstream,
        "stores": stores,
        "version": __version__,
        "instance": app[appkeys.SETTINGS].instance_name,
        "mode": mode,
        "uptime_hours": round(_uptime_s(app) / 3600.0, 4),
    }
    body = dump(schemas.Health, data)
    return json_response(body, status=503 if status == "unhealthy" else 200)


# --- config -------------------------------------------------------------------------------

MUTABLE = tuple(schemas.ConfigUpdate.model_fields)


def is_secret(name: str) -> bool:
    return any(word in name for word in SECRET_WORDS)


def masked_settings(settings: Settings) -> dict[str, Any]:
    data = settings.model_dump(mode="json")
    for name, value in data.items():
        if is_secret(name):
            data[name] = "***" if value else ""
        elif name == "store_urls":
            data[name] = [mask_url(url) for url in value]
    return data


def config_view(settings: Settings) -> dict[str, Any]:
    return {"settings": masked_settings(settings), "mutable": list(MUTABLE)}


async def get_config(request: web.Request) -> web.Response:
    return json_response(dump(schemas.ConfigView, config_view(request.app[appkeys.SETTINGS])))


def validate_update(data: dict[str, Any]) -> schemas.ConfigUpdate:
    try:
        return schemas.ConfigUpdate.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else None
        if first["type"] == "extra_forbidden":
            message = f"{field} cannot be changed at run time; mutable: {', '.join(MUTABLE)}"
        else:
            message = f"{field}: {first['msg']}"
        raise ApiError(400, message, field) from None


def apply_update(settings: Settings, update: schemas.ConfigUpdate) -> dict[str, Any]:
    applied = update.model_dump(exclude_none=True)
    for name, value in applied.items():
        setattr(settings, name, value)
    if "api_log_level" in applied:
        from ollama_proxy.logs import configure_logging

        configure_logging(
            applied["api_log_level"], settings.log_format or "console", settings.log_libraries
        )
    return applied


def _retention_now(app: web.Application) -> None:
    """A retention change applies at once: the recorder's pass, or (api mode) a pass here."""
    recorder = app.get(appkeys.RECORDER)
    loop = getattr(recorder, "retention", None)
    if loop is not None:
        loop.trigger()
        return
    from ollama_proxy.store.retention import run_pass

    stores = cast(list[Any], app.get(appkeys.STORES) or [])
    app[API_STATE].spawn(run_pass(stores))


async def post_config(request: web.Request) -> web.Response:
    settings = request.app[appkeys.SETTINGS]
    data = await read_json_object(request, MAX_BODY)
    if not data:
        raise ApiError(400, f"nothing to change; send one or more of: {', '.join(MUTABLE)}", "body")
    update = validate_update(data)
    applied = apply_update(settings, update)
    if "retention_days" in applied:
        _retention_now(request.app)
    _state(request).cache.clear()
    body = dump(schemas.ConfigApplied, {**config_view(settings), "applied": applied})
    return json_response(body)


# --- login --------------------------------------------------------------------------------


async def login(request: web.Request) -> web.Response:
    expected = request.app[appkeys.SETTINGS].admin_token
    data = await read_json_object(request, MAX_BODY)
    token = data.get("token")
    if not isinstance(token, str) or len(token) > 4096:
        raise ApiError(400, "token must be a string", "token")
    if not expected:
        return web.Response(status=204)
    if not hmac.compare_digest(token.encode(), expected.encode()):
        raise ApiError(401, "wrong admin token", "token")
    response = web.Response(status=204)
    response.set_cookie(
        TOKEN_COOKIE, token, httponly=True, samesite="Strict", path="/", secure=request.secure
    )
    return response


async def logout(request: web.Request) -> web.Response:
    response = web.Response(status=204)
    response.del_cookie(TOKEN_COOKIE, path="/")
    return response
