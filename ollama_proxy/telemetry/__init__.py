"""OpenTelemetry for the proxy: GenAI spans and metrics, OTLP export, Prometheus /metrics.

Wiring (app.py): `telemetry = Telemetry.from_settings(settings)`, pass it as the handler's
observer, `add_telemetry_routes(app, telemetry)`, and `await telemetry.shutdown()` on cleanup.
"""

from ollama_proxy.telemetry.core import Observation, Telemetry
from ollama_proxy.telemetry.http import add_telemetry_routes, metrics_json_dumper
from ollama_proxy.telemetry.scrape import ScrapeReader

__all__ = [
    "Observation",
    "ScrapeReader",
    "Telemetry",
    "add_telemetry_routes",
    "metrics_json_dumper",
]
