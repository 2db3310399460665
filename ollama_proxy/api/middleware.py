"""One middleware for our own routes: JSON errors, admin token, CORS.

Proxied Ollama traffic passes straight through after one prefix check, so metering stays
cheap; only paths in `proxy.routes.OWN_ROUTE_PREFIXES` get auth, CORS and the error shape.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web

from ollama_proxy import appkeys
from ollama_proxy.addresses import is_loopback
from ollama_proxy.api.errors import (
    ApiError,
    error_response,
    from_api_error,
    from_http_exception,
    from_query_error,
    is_store_failure,
    store_unavailable,
)
from ollama_proxy.proxy.headers import target_error
from ollama_proxy.proxy.routes import is_own_route
from ollama_proxy.stats.query import QueryError

log = structlog.get_logger("ollama_proxy.api")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

TOKEN_COOKIE = "ollama_proxy_token"
# Open without a token: load balancers probe health, the dashboard needs the document and the
# login route to show its login screen, and the bundle itself holds no data.
OPEN_PREFIXES = (
    "/api/health",
    "/api/openapi.json",
    "/api/stats/login",
    "/api/stats/logout",
    "/dashboard",
)
CORS_METHODS = "GET, POST, DELETE, OPTIONS"
CORS_HEADERS = "Authorization, Content-Type, Cache-Control"


def needs_token(path: str) -> bool:
    return not path.startswith(OPEN_PREFIXES)


# Safe by default: with no ADMIN_TOKEN, what changes the server (POST /api/config: log level,
# retention, i.e. a remote delete) answers only clients on this machine.
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def mutates(request: web.Request) -> bool:
    return request.method not in READ_METHODS and needs_token(request.path)


def token_ok(request: web.Request, expected: str) -> bool:
    """Bearer header or login cookie, compared in constant time."""
    header = request.headers.get("Authorization", "")
    given = header[7:].strip() if header[:7].lower() == "bearer " else ""
    if not given:
        given = request.cookies.get(TOKEN_COOKIE, "")
    return hmac.compare_digest(given.encode(), expected.encode())


def cors_headers(request: web.Request, origins: list[str]) -> dict[str, str]:
    origin = request.headers.get("Origin")
    if not origin or not origins or (origin not in origins and "*" not in origins):
        return {}
    headers = {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
    headers["Access-Control-Allow-Credentials"] = "true"
    return headers


def _preflight(request: web.Request, cors: dict[str, str]) -> web.Response:
    headers = dict(cors)
    if cors:
        headers["Access-Control-Allow-Methods"] = CORS_METHODS
        headers["Access-Control-Allow-Headers"] = CORS_HEADERS
        headers["Access-Control-Max-Age"] = "600"
    return web.Response(status=204, headers=headers)


async def _guarded(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except QueryError as error:
        return from_query_error(error)
    except ApiError as error:
        return from_api_error(error)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        return from_http_exception(error)
    except Exception as error:
        if is_store_failure(error):
            log.warning("store_unavailable", path=request.path, error=str(error)[:300])
            return store_unavailable(error)
        # Never a bare 500 page: the error shape, and the details only in our log.
        log.exception("api_error", path=request.path)
        return error_response(500, "internal error; see the proxy log", None)


def _is_catch_all(request: web.Request) -> bool:
    resource = request.match_info.route.resource
    return resource is not None and resource.canonical == "/{tail}"


@web.middleware
async def api_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    bad_target = target_error(request.raw_path)
    if bad_target is not None:
        # Ollama's error shape: the client may be any Ollama client, not our API's.
        return web.json_response({"error": bad_target}, status=400)
    path = request.path
    if not is_own_route(path):
        return await handler(request)
    if _is_catch_all(request):
        # An own path with no handler (/api/health/x, /api/models.json): ours to answer, not
        # Ollama's, so it is not forwarded.
        return error_response(404, f"no such endpoint: {path[:100]}; see /api/stats/", None)
    settings = request.app[appkeys.SETTINGS]
    cors = cors_headers(request, settings.cors_origins)
    if request.method == "OPTIONS" and not path.startswith("/dashboard"):
        return _preflight(request, cors)
    if settings.admin_token and needs_token(path) and not token_ok(request, settings.admin_token):
        response: web.StreamResponse = error_response(
            401,
            "admin token required",
            "authorization",
            {"WWW-Authenticate": 'Bearer realm="ollama-proxy"'},
        )
    elif not settings.admin_token and mutates(request) and not is_loopback(request.remote):
        response = error_response(
            403,
            "without ADMIN_TOKEN only clients on this machine may change settings; set "
            "ADMIN_TOKEN and send it as a Bearer token",
            "authorization",
        )
    else:
        response = await _guarded(request, handler)
    if cors and not response.prepared:
        response.headers.update(cors)
    return response
