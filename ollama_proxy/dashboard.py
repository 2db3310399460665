"""Serves the built dashboard at /dashboard/ from the package (ollama_proxy/_dashboard).

Hashed assets are cached for a year; index.html is revalidated. Unknown non-asset paths get
index.html (the app routes on the client). Paths that leave the bundle directory are refused.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

BUNDLE = Path(__file__).resolve().parent / "_dashboard"
IMMUTABLE = "public, max-age=31536000, immutable"
NOT_BUILT = """<!doctype html><meta charset="utf-8"><title>ollama-local-serve</title>
<body style="font-family:sans-serif;max-width:40em;margin:4em auto">
<h1>Dashboard not built</h1>
<p>This install has no dashboard bundle. Build it with <code>make dashboard</code>
(needs Node 20), or install a released wheel or the Docker image, which carry it.
The JSON API works without it: <a href="/api/stats/current">/api/stats/current</a>.</p>"""


def resolve(root: Path, tail: str) -> Path | None:
    """The file for `tail` inside `root`, or None when it is missing or escapes `root`."""
    candidate = (root / tail).resolve()
    if candidate != root and root not in candidate.parents:
        return None
    return candidate if candidate.is_file() else None


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def make_handler(root: Path = BUNDLE) -> Handler:
    root = root.resolve()

    async def dashboard(request: web.Request) -> web.StreamResponse:
        tail = request.match_info.get("tail", "")
        if "\x00" in tail or ".." in tail.split("/"):
            raise web.HTTPBadRequest(text="bad path")
        index = root / "index.html"
        if not index.is_file():
            return web.Response(text=NOT_BUILT, content_type="text/html", status=503)
        found = resolve(root, tail) if tail else None
        if found is not None:
            cache = IMMUTABLE if tail.startswith("assets/") else "no-cache"
            return web.FileResponse(found, headers={"Cache-Control": cache})
        if tail.startswith("assets/"):
            raise web.HTTPNotFound(text="no such asset")
        return web.FileResponse(index, headers={"Cache-Control": "no-cache"})

    return dashboard


async def _redirect(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/dashboard/")


DASHBOARD_ROUTES = web.AppKey("dashboard_routes", bool)


def add_dashboard_routes(app: web.Application, root: Path = BUNDLE) -> None:
    """GET /dashboard and /dashboard/{tail}; safe to call twice."""
    if app.get(DASHBOARD_ROUTES):
        return
    app[DASHBOARD_ROUTES] = True
    handler = make_handler(root)
    app.router.add_get("/dashboard", _redirect)
    app.router.add_get("/dashboard/{tail:.*}", handler)
