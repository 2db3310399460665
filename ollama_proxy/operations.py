"""Pure route knowledge of Ollama's API: what a request path does.

Below both the proxy (which forwards) and the meter (which reads what was forwarded), so
neither imports the other.

>>> classify("/api/chat")
Route(operation='chat', flavor='native', inference=True)
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Route:
    operation: str  # gen_ai.operation.name where one applies, else a short verb
    flavor: str  # native, openai, anthropic, none
    inference: bool  # runs a model and may report usage


_EXACT: dict[str, Route] = {
    "/api/generate": Route("generate", "native", True),
    "/api/chat": Route("chat", "native", True),
    "/api/embed": Route("embeddings", "native", True),
    "/api/embeddings": Route("embeddings", "native", True),
    "/v1/chat/completions": Route("chat", "openai", True),
    "/v1/completions": Route("text_completion", "openai", True),
    "/v1/embeddings": Route("embeddings", "openai", True),
    "/v1/responses": Route("chat", "openai_responses", True),
    "/v1/messages": Route("chat", "anthropic", True),
    "/v1/audio/transcriptions": Route("chat", "openai", True),
    "/api/tags": Route("list", "native", False),
    "/api/ps": Route("ps", "native", False),
    "/api/show": Route("show", "native", False),
    "/api/pull": Route("pull", "native", False),
    "/api/push": Route("push", "native", False),
    "/api/create": Route("create", "native", False),
    "/api/copy": Route("copy", "native", False),
    "/api/delete": Route("delete", "native", False),
    "/api/version": Route("version", "native", False),
    "/api/status": Route("status", "native", False),
    "/v1/models": Route("list", "openai", False),
    "/": Route("heartbeat", "none", False),
}


def classify(path: str) -> Route:
    """Map a request path to its operation; unknown paths are `other`."""
    route = _EXACT.get(path)
    if route is not None:
        return route
    if path.startswith("/api/blobs/"):
        return Route("blob", "native", False)
    if path.startswith("/v1/models/"):
        return Route("show", "openai", False)
    return Route("other", "none", False)
