"""OpenTelemetry for the proxy: GenAI spans and metrics, OTLP export, Prometheus /metrics.

Wiring (app.py): `telemetry = build_telemetry(settings)`, pass it as the handler's
observer, `add_telemetry_routes(app, telemetry)`, and `await telemetry.shutdown()` on cleanup.
"""

from ollama_proxy.telemetry.core import Observation, Telemetry
from ollama_proxy.telemetry.http import add_telemetry_routes, metrics_json_dumper
from ollama_proxy.telemetry.providers import build_telemetry
from ollama_proxy.telemetry.scrape import ScrapeReader

__all__ = [
    "Observation",
    "ScrapeReader",
    "Telemetry",
    "add_telemetry_routes",
    "build_telemetry",
    "metrics_json_dumper",
]
