"""Typed keys for the objects shared through the aiohttp application.

The composition root (`app.py`) sets them; handlers read them. Typed with `Any` where the
concrete class lives in a module that would otherwise import upward.
"""

from __future__ import annotations

from typing import Any

import aiohttp
from aiohttp import web

from ollama_proxy.config import Settings

SETTINGS = web.AppKey("settings", Settings)
UPSTREAM_SESSION = web.AppKey("upstream_session", aiohttp.ClientSession)
RECORDER = web.AppKey("recorder", Any)  # ollama_proxy.recorder.Recorder
STORES = web.AppKey("stores", Any)  # list[ollama_proxy.store.base.Store]; queries use [0]
OBSERVER = web.AppKey("observer", Any)  # ollama_proxy.proxy.observer.Observer (telemetry)
TELEMETRY = web.AppKey("telemetry", Any)  # ollama_proxy.telemetry Telemetry, when enabled
INFLIGHT = web.AppKey("inflight", Any)  # ollama_proxy.proxy.handler.InFlight
STARTED_AT = web.AppKey("started_at", float)  # time.time() at start, for uptime
SYSTEM = web.AppKey("system", Any)  # ollama_proxy.system: samplers, residency, upstream health
