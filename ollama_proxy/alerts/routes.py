"""`/api/alerts` (firing, pending, history) and `/api/alerts/silences` (list, add, delete).

The API middleware guards them like the rest of our routes: with ADMIN_TOKEN set, every one
needs the token (a silence mutes notifications, so adding one is an admin act).
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web
from pydantic import ValidationError

from ollama_proxy import appkeys
from ollama_proxy.alerts.engine import AlertEngine
from ollama_proxy.alerts.lifecycle import MAX_SILENCE_TEXT, Silence
from ollama_proxy.alerts.schemas import SilenceBody
from ollama_proxy.api.errors import ApiError, read_json_object
from ollama_proxy.stats.query import INTEGER

MAX_BODY = 16 * 1024
MAX_HISTORY = 200


def add_alert_routes(app: web.Application) -> None:
    router = app.router
    router.add_get("/api/alerts", alerts)
    router.add_get("/api/alerts/silences", list_silences)
    router.add_post("/api/alerts/silences", add_silence)
    router.add_delete("/api/alerts/silences/{id}", delete_silence)


def _engine(request: web.Request) -> AlertEngine:
    engine = request.app.get(appkeys.ALERTS)
    if engine is None:
        raise ApiError(503, "alerts are off (ENABLE_INSTRUMENTATION=false)", None)
    return engine


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


async def alerts(request: web.Request) -> web.Response:
    raw = request.query.get("history", "50")
    # ASCII digits only (str.isdigit takes other scripts' digits), as `type: integer` says.
    if not INTEGER.fullmatch(raw) or not 0 <= int(raw) <= MAX_HISTORY:
        raise ApiError(400, f"history must be a whole number from 0 to {MAX_HISTORY}", "history")
    return _json(_engine(request).snapshot(history_limit=int(raw)))


async def list_silences(request: web.Request) -> web.Response:
    engine = _engine(request)
    return _json({"silences": [s.to_dict() for s in engine.silences.list(engine.now())]})


async def add_silence(request: web.Request) -> web.Response:
    engine = _engine(request)
    now = engine.now()
    silence = parse_silence(await read_json_object(request, MAX_BODY), engine, now)
    try:
        engine.silences.add(silence, now)
    except ValueError as exc:
        raise ApiError(409, str(exc), None) from None
    await engine.save_silences()
    return _json(silence.to_dict(), status=201)


async def delete_silence(request: web.Request) -> web.Response:
    engine = _engine(request)
    if not engine.silences.remove(request.match_info["id"]):
        raise ApiError(404, "no such silence", "id")
    await engine.save_silences()
    return web.Response(status=204)


def parse_silence(data: dict[str, Any], engine: AlertEngine, now: float) -> Silence:
    """{"rule"?: name, "matchers"?: {label: value}, "duration_s": s, "comment"?: text}."""
    try:
        body = SilenceBody.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = str(first["loc"][0]) if first["loc"] else "body"
        raise ApiError(400, f"{where}: {first['msg']}", where) from None
    if body.rule is not None and body.rule not in engine.specs:
        raise ApiError(400, f"unknown rule; known: {', '.join(engine.specs)}", "rule")
    if body.rule is None and not body.matchers:
        raise ApiError(400, "a silence needs a rule or matchers", "rule")
    return Silence(
        matchers={k[:MAX_SILENCE_TEXT]: v[:MAX_SILENCE_TEXT] for k, v in body.matchers.items()},
        expires_at=now + body.duration_s,
        created_at=now,
        rule=body.rule,
        comment=body.comment,
    )
