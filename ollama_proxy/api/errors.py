"""The one JSON error shape of our own routes: `{"error": "...", "field": "..." | null}`.

Handlers raise `ApiError` (or `QueryError` from the pure stats layer); `error_middleware`
turns both, and aiohttp's own 404/405, into this shape, so a client parses one thing.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from ollama_proxy.stats.query import QueryError


class ApiError(Exception):
    """An error answered as JSON with an HTTP status."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field


async def read_json_object(request: web.Request, max_bytes: int) -> dict[str, Any]:
    """A request body that must be one JSON object of at most `max_bytes` (empty means {})."""
    raw = await request.content.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise ApiError(413, f"body larger than {max_bytes} bytes", None)
    try:
        data = orjson.loads(raw or b"{}")
    except orjson.JSONDecodeError:
        raise ApiError(400, "body must be a JSON object", "body") from None
    if not isinstance(data, dict):
        raise ApiError(400, "body must be a JSON object", "body")
    return data


def error_body(message: str, field: str | None = None) -> dict[str, Any]:
    return {"error": message, "field": field}


def error_response(
    status: int, message: str, field: str | None = None, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        status=status,
        body=orjson.dumps(error_body(message, field)),
        content_type="application/json",
        headers=headers,
    )


def from_query_error(error: QueryError) -> web.Response:
    return error_response(400, error.message, error.field)


def from_api_error(error: ApiError) -> web.Response:
    return error_response(error.status, error.message, error.field)


def from_http_exception(error: web.HTTPException) -> web.Response:
    """aiohttp's 404/405/413 ... in our shape (keeping Allow etc.)."""
    headers = {k: v for k, v in error.headers.items() if k.lower() in ("allow",)}
    return error_response(error.status, error.reason, None, headers)


# Exceptions raised by the store drivers, named by their top-level package so none of them has
# to be imported here (each is an optional extra).
STORE_PACKAGES = frozenset(
    {"sqlalchemy", "asyncpg", "aiosqlite", "sqlite3", "aiochclient", "chdb", "clickhouse_connect"}
)


def is_store_failure(error: BaseException) -> bool:
    """A store that is down or refused the query (not a bug of ours): 503, not 500."""
    if isinstance(error, OSError | TimeoutError | ConnectionError):
        return True
    return any(cls.__module__.split(".")[0] in STORE_PACKAGES for cls in type(error).__mro__)


def store_unavailable(error: BaseException) -> web.Response:
    cause = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return error_response(503, f"store unavailable: {type(error).__name__}: {cause[:300]}")
