"""Pure route knowledge: which paths the proxy answers itself.

Everything not in OWN_ROUTE_PREFIXES is forwarded to Ollama untouched; what an Ollama path
does (`Route`, `classify`) lives in `ollama_proxy.operations`.
"""

from __future__ import annotations

# Paths the proxy answers itself. None of them is an Ollama route (ollama-api.md §1);
# tests/test_routes.py checks that.
OWN_ROUTE_PREFIXES: tuple[str, ...] = (
    "/api/stats",
    "/api/models",
    "/api/health",
    "/api/config",
    "/api/openapi.json",
    "/api/alerts",
    "/metrics",
    "/dashboard",
)


def is_own_route(path: str) -> bool:
    for prefix in OWN_ROUTE_PREFIXES:
        if path == prefix or path.startswith(prefix):
            # /api/models must not swallow e.g. /api/modelsXYZ (not an Ollama path either,
            # but keep the match exact at a path boundary).
            rest = path[len(prefix) :]
            if not rest or prefix.endswith("/") or rest.startswith(("/", ".")):
                return True
    return False
