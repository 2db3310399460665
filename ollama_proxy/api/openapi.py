"""The OpenAPI 3.1 document, built from the same pydantic models and parameter specs the
handlers use (`api/schemas.py`, `stats/query.PARAMS`), so it cannot drift from them."""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from ollama_proxy import __version__
from ollama_proxy.alerts import schemas as alert_schemas
from ollama_proxy.alerts.routes import MAX_HISTORY
from ollama_proxy.api import schemas
from ollama_proxy.stats import query as q

REF = "#/components/schemas/{model}"
COMPONENT_MODELS: tuple[type[BaseModel], ...] = (
    schemas.ErrorBody,
    schemas.StatsOverview,
    schemas.CurrentStats,
    schemas.HistoryPoint,
    schemas.LogEntry,
    schemas.LogsPage,
    schemas.ModelStats,
    schemas.ClientStats,
    schemas.InstanceStats,
    schemas.NodeStats,
    schemas.Health,
    schemas.ConfigView,
    schemas.ConfigUpdate,
    schemas.ConfigApplied,
    schemas.LoginBody,
    alert_schemas.AlertsPage,
    alert_schemas.SilenceBody,
    alert_schemas.SilenceList,
    alert_schemas.SilenceView,
)


def ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF.format(model=model.__name__)}


def array_of(model: type[BaseModel]) -> dict[str, Any]:
    return {"type": "array", "items": ref(model)}


def json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def answer(description: str, model: type[BaseModel]) -> dict[str, Any]:
    return {"description": description, "content": json_content(ref(model))}


def body(model: type[BaseModel]) -> dict[str, Any]:
    return {"required": True, "content": json_content(ref(model))}


def error(description: str) -> dict[str, Any]:
    return {"description": description, "content": json_content(ref(schemas.ErrorBody))}


def parameters(names: tuple[str, ...]) -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "in": "query",
            "required": False,
            "schema": q.PARAMS[name].schema,
            "description": q.PARAMS[name].description,
        }
        for name in names
    ]


def stats_get(
    summary: str, params: tuple[str, ...], schema: dict[str, Any], *, auth: bool = True
) -> dict[str, Any]:
    """A GET operation; `auth` adds the token requirement (only when ADMIN_TOKEN is set)."""
    responses: dict[str, Any] = {
        "200": {"description": "OK", "content": json_content(schema)},
        "400": {
            "description": "An invalid parameter: `field` names it, `error` the accepted "
            "values. (A request line over 8 KB is refused by the HTTP server itself, in "
            "plain text.)",
            "content": {
                **json_content(ref(schemas.ErrorBody)),
                "text/plain": {"schema": {"type": "string"}},
            },
        },
        "503": error("No store is open."),
    }
    op: dict[str, Any] = {"summary": summary, "parameters": parameters(params)}
    if auth:
        responses["401"] = error("ADMIN_TOKEN is set and the request has no valid token.")
        op["security"] = [{"bearer": []}, {"cookie": []}]
    op["responses"] = responses
    return {"get": op}


def _paths(secured: bool) -> dict[str, Any]:
    overview = stats_get(
        "Totals, last hour, loaded models, health and the path of every endpoint",
        (),
        ref(schemas.StatsOverview),
        auth=secured,
    )
    paths: dict[str, Any] = {
        "/api/stats": overview,
        "/api/stats/": overview,
        "/api/stats/current": stats_get(
            "Stats cards: totals, last hour",
            q.CURRENT_PARAMS,
            ref(schemas.CurrentStats),
            auth=secured,
        ),
        "/api/stats/history": stats_get(
            "One point per bucket, gaps filled",
            q.HISTORY_PARAMS,
            array_of(schemas.HistoryPoint),
            auth=secured,
        ),
        "/api/stats/logs": stats_get(
            "Request logs, newest first", q.LOGS_PARAMS, ref(schemas.LogsPage), auth=secured
        ),
        "/api/stats/clients": stats_get(
            "Usage per client", q.CLIENTS_PARAMS, array_of(schemas.ClientStats), auth=secured
        ),
        "/api/stats/instances": stats_get(
            "Usage per proxy instance",
            q.INSTANCES_PARAMS,
            array_of(schemas.InstanceStats),
            auth=secured,
        ),
        "/api/stats/nodes": stats_get(
            "Usage and live state per Ollama node",
            q.NODES_PARAMS,
            array_of(schemas.NodeStats),
            auth=secured,
        ),
        "/api/models": stats_get(
            "Usage per model", q.MODELS_PARAMS, array_of(schemas.ModelStats), auth=secured
        ),
    }
    live_op = stats_get(
        "In-flight requests, as Server-Sent Events (docs/api.md)", (), {}, auth=secured
    )
    live_op["get"]["responses"]["200"] = {
        "description": "One JSON snapshot per `data:` event",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
    paths["/api/stats/live"] = live_op
    csv_op = stats_get("The filtered logs as CSV (streamed)", q.CSV_PARAMS, {}, auth=secured)
    csv_op["get"]["responses"]["200"] = {
        "description": "CSV with a header row",
        "content": {"text/csv": {"schema": {"type": "string"}}},
    }
    paths["/api/stats/logs.csv"] = csv_op
    detail = stats_get("One request", (), ref(schemas.LogEntry), auth=secured)
    detail["get"]["parameters"] = [
        {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
    ]
    detail["get"]["responses"]["404"] = error("No request with this id.")
    paths["/api/stats/logs/{id}"] = detail
    paths.update(_admin_paths(secured))
    paths.update(_alert_paths(secured))
    return paths


def _alert_paths(secured: bool) -> dict[str, Any]:
    security: list[dict[str, list[str]]] = [{"bearer": []}, {"cookie": []}] if secured else []
    # Reading is open without a token; changing (a silence) is for this machine only then.
    unauthorized = {"401": error("ADMIN_TOKEN is set and the request has no valid token.")}
    read_auth = unauthorized if secured else {}
    change_auth = (
        unauthorized
        if secured
        else {"403": error("No ADMIN_TOKEN is set and the client is not on this machine.")}
    )
    off = {"503": error("Alerts are off (ENABLE_INSTRUMENTATION=false or the stand-alone API).")}
    common = {**read_auth, **off}
    changes = {**change_auth, **off}
    history = {
        "name": "history",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 0, "maximum": MAX_HISTORY, "default": 50},
        "description": "How many recently resolved alerts to list.",
    }
    return {
        "/api/alerts": {
            "get": {
                "summary": "Firing and pending alerts, recent history, silences, rules",
                "security": security,
                "parameters": [history],
                "responses": {
                    "200": answer("OK", alert_schemas.AlertsPage),
                    "400": error("history out of range."),
                    **common,
                },
            }
        },
        "/api/alerts/silences": {
            "get": {
                "summary": "Active silences",
                "security": security,
                "responses": {"200": answer("OK", alert_schemas.SilenceList), **common},
            },
            "post": {
                "summary": "Silence the notifications of matching alerts until it expires",
                "security": security,
                "requestBody": body(alert_schemas.SilenceBody),
                "responses": {
                    "201": answer("Created", alert_schemas.SilenceView),
                    "400": error("Invalid body: `field` names the problem."),
                    "409": error("Too many silences."),
                    "413": error("Body too large."),
                    **changes,
                },
            },
        },
        "/api/alerts/silences/{id}": {
            "delete": {
                "summary": "Remove a silence",
                "security": security,
                "parameters": [
                    {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {
                    "204": {"description": "Removed"},
                    "404": error("No silence with this id."),
                    **changes,
                },
            }
        },
    }


def _admin_paths(secured: bool) -> dict[str, Any]:
    security: list[dict[str, list[str]]] = [{"bearer": []}, {"cookie": []}] if secured else []
    unauthorized = error("ADMIN_TOKEN is set and the request has no valid token.")
    # Without ADMIN_TOKEN, reading is open and changing settings is for this machine only.
    refused = (
        {"401": unauthorized}
        if secured
        else {"403": error("No ADMIN_TOKEN is set and the client is not on this machine.")}
    )
    body_error = error("Invalid body: `field` names the setting.")
    return {
        "/api/health": {
            "get": {
                "summary": "Service health",
                "responses": {
                    "200": {
                        "description": "healthy or degraded",
                        "content": json_content(ref(schemas.Health)),
                    },
                    "503": {
                        "description": "unhealthy",
                        "content": json_content(ref(schemas.Health)),
                    },
                },
            }
        },
        "/api/config": {
            "get": {
                "summary": "Effective settings, secrets masked",
                "security": security,
                "responses": {
                    "200": answer("OK", schemas.ConfigView),
                    **({"401": unauthorized} if secured else {}),
                },
            },
            "post": {
                "summary": "Change the run-time settings",
                "security": security,
                "requestBody": {
                    "required": True,
                    "content": json_content(ref(schemas.ConfigUpdate)),
                },
                "responses": {
                    "200": {
                        "description": "Applied",
                        "content": json_content(ref(schemas.ConfigApplied)),
                    },
                    "400": body_error,
                    **refused,
                    "413": error("Body too large."),
                },
            },
        },
        "/api/stats/login": {
            "post": {
                "summary": "Set the login cookie from the admin token",
                "requestBody": body(schemas.LoginBody),
                "responses": {
                    "204": {"description": "Logged in (or no token configured)"},
                    "400": body_error,
                    "401": error("Wrong token."),
                    "413": error("Body too large."),
                },
            }
        },
        "/api/stats/logout": {
            "post": {
                "summary": "Clear the login cookie",
                "responses": {"204": {"description": "Done"}},
            }
        },
        "/api/openapi.json": {
            "get": {
                "summary": "This document",
                "responses": {
                    "200": {
                        "description": "OpenAPI 3.1",
                        "content": json_content({"type": "object"}),
                    }
                },
            }
        },
    }


@cache
def openapi_document(secured: bool = True, rules: tuple[str, ...] = ()) -> dict[str, Any]:
    """The document for this server's mode: `secured` when ADMIN_TOKEN is set (endpoints then
    declare the token), open otherwise (no security declared, POST /api/config may be 403).
    `rules`: the alert rules a silence may name (none when alerts are off)."""
    _, defs = models_json_schema(
        [(model, "serialization") for model in COMPONENT_MODELS], ref_template=REF
    )
    if rules:
        rule = defs["$defs"]["SilenceBody"]["properties"]["rule"]["anyOf"][0]
        rule["enum"] = list(rules)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "ollama-local-serve stats API",
            "version": __version__,
            "description": "Usage, latency and health of an Ollama server, measured by the "
            "metering proxy. Human version: docs/api.md.",
        },
        "paths": _paths(secured),
        "components": {
            "schemas": defs.get("$defs", {}),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "cookie": {"type": "apiKey", "in": "cookie", "name": "ollama_proxy_token"},
            },
        },
    }
