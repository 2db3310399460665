"""`create_simulator_app(config)`: the route table of ollama-api.md §1 on aiohttp."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from ollama_proxy.simulator import control
from ollama_proxy.simulator import handlers_native as n
from ollama_proxy.simulator import handlers_v1 as v1
from ollama_proxy.simulator.config import SimulatorConfig
from ollama_proxy.simulator.http import respond
from ollama_proxy.simulator.state import SIMULATOR, Simulator

# gin's defaults for unknown paths and known paths with the wrong method.
NOT_FOUND = b"404 page not found"
METHOD_NOT_ALLOWED = b"405 method not allowed"

ROUTES: list[tuple[str, str, Handler]] = [
    ("GET", "/", n.root),
    ("HEAD", "/", n.root),
    ("GET", "/api/version", n.version),
    ("HEAD", "/api/version", n.version),
    ("GET", "/api/status", n.status),
    ("POST", "/api/generate", n.generate),
    ("POST", "/api/chat", n.chat),
    ("POST", "/api/embed", n.embed),
    ("POST", "/api/embeddings", n.embeddings),
    ("GET", "/api/tags", n.tags),
    ("HEAD", "/api/tags", n.tags),
    ("POST", "/api/show", n.show),
    ("GET", "/api/ps", n.ps),
    ("POST", "/api/pull", n.pull),
    ("POST", "/api/push", n.push),
    ("POST", "/api/create", n.create),
    ("POST", "/api/copy", n.copy),
    ("DELETE", "/api/delete", n.delete),
    ("HEAD", "/api/blobs/{digest}", n.head_blob),
    ("POST", "/api/blobs/{digest}", n.create_blob),
    ("POST", "/v1/chat/completions", v1.chat_completions),
    ("POST", "/v1/completions", v1.completions),
    ("POST", "/v1/embeddings", v1.embeddings),
    ("GET", "/v1/models", v1.models),
    ("GET", "/v1/models/{model}", v1.model),
    ("POST", "/v1/responses", v1.responses_handler),
    ("POST", "/v1/messages", v1.messages_handler),
]


@web.middleware
async def gin_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count the request; answer router misses the way gin does (text/plain 404 and 405)."""
    request.app[SIMULATOR].stats.requests[request.path] += 1
    try:
        return await handler(request)
    except web.HTTPMethodNotAllowed:
        return respond(405, METHOD_NOT_ALLOWED, "text/plain")
    except web.HTTPNotFound:
        return respond(404, NOT_FOUND, "text/plain")


def create_simulator_app(config: SimulatorConfig | None = None) -> web.Application:
    """An aiohttp app that serves the Ollama API; its state is `app[SIMULATOR]`.

    >>> app = create_simulator_app(SimulatorConfig.zero_delay())
    """
    app = web.Application(middlewares=[gin_errors], client_max_size=0)
    app[SIMULATOR] = Simulator.from_config(config or SimulatorConfig())
    for method, path, handler in ROUTES:
        app.router.add_route(method, path, handler)
    control.add_routes(app)
    return app
