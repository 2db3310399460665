"""What the API needs to know about Ollama: reachable? version? which models are loaded?

The system-metrics sampler (app key SYSTEM) already polls Ollama; when it is there and offers
`upstream_health()` / `loaded_models()` (plain or async), its answers are used. Otherwise the
API asks Ollama itself with the shared upstream session, briefly cached so a dashboard refresh
does not become an Ollama request per tab.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from typing import Any

import aiohttp
from aiohttp import web

from ollama_proxy import appkeys
from ollama_proxy.stats.series import iso
from ollama_proxy.stats.shape import as_datetime

PROBE_TIMEOUT_S = 2.0
PROBE_TTL_S = 2.0


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


def _system_call(app: web.Application, name: str) -> Any | None:
    system = app.get(appkeys.SYSTEM)
    method = getattr(system, name, None) if system is not None else None
    return method if callable(method) else None


class UpstreamProbe:
    """Cached probes of Ollama over the shared session."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[float, Any]] = {}
        self._lock = asyncio.Lock()

    async def _cached(self, name: str, probe: Any) -> Any:
        async with self._lock:
            hit = self._cache.get(name)
            if hit is not None and hit[0] > time.monotonic():
                return hit[1]
            value = await probe()
            self._cache[name] = (time.monotonic() + PROBE_TTL_S, value)
            return value

    async def health(self, app: web.Application) -> dict[str, Any] | None:
        method = _system_call(app, "upstream_health")
        if method is not None:
            known = dict(await _maybe_await(method()))
            if known.get("reachable") is not None:
                return known
            # The monitor has not probed yet (just started): ask now rather than say "unknown".
        session = app.get(appkeys.UPSTREAM_SESSION)
        if session is None:
            return None  # api mode: no upstream
        url = str(app[appkeys.SETTINGS].upstream_url)
        return await self._cached("health", lambda: ping(session, url))  # type: ignore[no-any-return]

    async def loaded_models(self, app: web.Application) -> list[dict[str, Any]]:
        method = _system_call(app, "loaded_models")
        if method is not None:
            return [normalise_ps_model(m) for m in await _maybe_await(method())]
        session = app.get(appkeys.UPSTREAM_SESSION)
        if session is None:
            return []
        url = str(app[appkeys.SETTINGS].upstream_url)
        return await self._cached("ps", lambda: list_loaded(session, url))  # type: ignore[no-any-return]


async def _get_json(session: aiohttp.ClientSession, url: str) -> tuple[int, Any]:
    timeout = aiohttp.ClientTimeout(total=PROBE_TIMEOUT_S)
    async with session.get(url, timeout=timeout) as response:
        body = await response.read()
        try:
            import orjson

            return response.status, orjson.loads(body) if body else None
        except ValueError:
            return response.status, None


async def ping(session: aiohttp.ClientSession, base_url: str) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        status, body = await _get_json(session, f"{base_url}/api/version")
    except (aiohttp.ClientError, TimeoutError, OSError) as error:
        return {"url": base_url, "reachable": False, "error": str(error) or type(error).__name__}
    version = body.get("version") if isinstance(body, dict) else None
    return {
        "url": base_url,
        "reachable": True,
        "status_code": status,
        "version": version if isinstance(version, str) else None,
        "latency_ms": round((time.perf_counter() - started) * 1000, 3),
        "error": None if status < 400 else f"HTTP {status}",
    }


def normalise_ps_model(item: dict[str, Any]) -> dict[str, Any]:
    """One entry of Ollama's /api/ps (or of the system monitor's residents, which name their
    node with a fleet) -> the API's loaded-model object.

    >>> normalise_ps_model({"name": "qwen3:8b", "size_vram": 5, "node": "gpu-b"})["node"]
    'gpu-b'
    >>> "node" in normalise_ps_model({"model": "qwen3:8b"})
    False
    """
    expires = item.get("expires_at")
    try:
        expires_iso = iso(as_datetime(expires)) if expires else None
    except ValueError:
        expires_iso = None
    size, vram, node = item.get("size"), item.get("size_vram"), item.get("node")
    out = {
        "name": str(item.get("name") or item.get("model") or ""),
        "size_bytes": size if isinstance(size, int) else None,
        "size_vram_bytes": vram if isinstance(vram, int) else None,
        "expires_at": expires_iso,
    }
    if isinstance(node, str) and node:  # with a fleet: the node it is loaded on
        out["node"] = node
    return out


async def list_loaded(session: aiohttp.ClientSession, base_url: str) -> list[dict[str, Any]]:
    try:
        status, body = await _get_json(session, f"{base_url}/api/ps")
    except (aiohttp.ClientError, TimeoutError, OSError):
        return []
    if status != 200 or not isinstance(body, dict):
        return []
    return [normalise_ps_model(m) for m in body.get("models") or [] if isinstance(m, dict)]
