"""The test control API under `/_sim/` (not part of Ollama's API).

- `POST /_sim/faults` with a `Faults` JSON object: set the faults (`{}` clears them)
- `DELETE /_sim/faults`: clear them
- `GET /_sim/stats`: request counts, generations, cancellations (with close times), loads
- `POST /_sim/reset`: forget faults, statistics and loaded models
"""

from __future__ import annotations

from dataclasses import asdict

import orjson
from aiohttp import web

from ollama_proxy.simulator.faults import Faults
from ollama_proxy.simulator.state import SIMULATOR

PREFIX = "/_sim/"


def _json(data: object, status: int = 200) -> web.Response:
    return web.Response(
        status=status, body=orjson.dumps(data), headers={"Content-Type": "application/json"}
    )


async def set_faults(request: web.Request) -> web.Response:
    sim = request.app[SIMULATOR]
    try:
        data = orjson.loads(await request.read() or b"{}")
        faults = Faults.from_json(data if isinstance(data, dict) else {})
    except (orjson.JSONDecodeError, TypeError, ValueError) as exc:
        return _json({"error": str(exc)}, 400)
    sim.set_faults(faults)
    return _json(asdict(faults))


async def clear_faults(request: web.Request) -> web.Response:
    request.app[SIMULATOR].clear_faults()
    return _json(asdict(Faults()))


async def get_faults(request: web.Request) -> web.Response:
    return _json(asdict(request.app[SIMULATOR].plan.faults))


async def stats(request: web.Request) -> web.Response:
    return _json(request.app[SIMULATOR].stats_json())


async def reset(request: web.Request) -> web.Response:
    request.app[SIMULATOR].reset()
    return _json({"reset": True})


def add_routes(app: web.Application) -> None:
    app.router.add_route("POST", PREFIX + "faults", set_faults)
    app.router.add_route("DELETE", PREFIX + "faults", clear_faults)
    app.router.add_route("GET", PREFIX + "faults", get_faults)
    app.router.add_route("GET", PREFIX + "stats", stats)
    app.router.add_route("POST", PREFIX + "reset", reset)
