"""Typed keys for the objects shared through the aiohttp application.

The composition root (`app.py`) sets them; handlers read them. The classes are imported for
type checking only, so this module imports nothing upward at run time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web

from ollama_proxy.config import Settings

if TYPE_CHECKING:
    from ollama_proxy.alerts.engine import AlertEngine
    from ollama_proxy.fleet.nodes import Fleet
    from ollama_proxy.proxy.handler import InFlight
    from ollama_proxy.recorder import Recorder
    from ollama_proxy.store.base import Store
    from ollama_proxy.system.monitor import SystemMonitor
    from ollama_proxy.telemetry import Telemetry

SETTINGS = web.AppKey("settings", Settings)
UPSTREAM_SESSION = web.AppKey("upstream_session", aiohttp.ClientSession)
RECORDER: web.AppKey[Recorder] = web.AppKey("recorder")
STORES: web.AppKey[list[Store]] = web.AppKey("stores")  # queries are served from [0]
OBSERVER: web.AppKey[Any] = web.AppKey("observer")  # proxy.observer.Observer
TELEMETRY: web.AppKey[Telemetry | None] = web.AppKey("telemetry")
INFLIGHT: web.AppKey[InFlight] = web.AppKey("inflight")
STARTED_AT = web.AppKey("started_at", float)  # time.time() at start, for uptime
SYSTEM: web.AppKey[SystemMonitor] = web.AppKey("system")  # samplers, residency, upstream
FLEET: web.AppKey[Fleet] = web.AppKey("fleet")  # only with more than one upstream
ALERTS: web.AppKey[AlertEngine] = web.AppKey("alerts")  # rules, lifecycle, notifiers
