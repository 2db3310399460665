"""Settings: every variable the proxy reads, with its default and help text.

Settings are read once, at start, from the environment and `.env`; nothing else in the package
reads `os.environ`. Invalid values fail at start with a message naming the variable and the
accepted values.

Each concern declares its settings in its own module (`process`, `proxy`, `fleet`, `stores`,
`system`, `access`, `capture`, `api`, `telemetry`, `alerts`); `Settings` combines them into one flat
object, so a setting is `settings.upstream` wherever it is declared. A new setting goes into
the module of its concern, with an env name (`validation_alias`) and a `description`; `make
docs` then regenerates the README table and `.env.example`. Validator names must be unique
across the modules (pydantic keeps one validator per name).

>>> Settings(upstream="http://127.0.0.1:11434").upstream_url.port
11434
"""

from __future__ import annotations

from pydantic import ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict
from yarl import URL

from ollama_proxy.config.access import AccessSettings
from ollama_proxy.config.alerts import AlertSettings
from ollama_proxy.config.api import ApiSettings
from ollama_proxy.config.capture import CaptureSettings, parse_pattern_list
from ollama_proxy.config.fleet import FleetSettings
from ollama_proxy.config.process import (
    DEFAULT_LISTEN,
    PROFILE_DEFAULTS,
    LogLevel,
    ProcessSettings,
    Profile,
    split_host_port,
)
from ollama_proxy.config.proxy import DEFAULT_UPSTREAM, normalise_upstream
from ollama_proxy.config.stores import STORE_SCHEMES, ExporterType, StoreSettings
from ollama_proxy.config.system import SystemSettings
from ollama_proxy.config.telemetry import TelemetrySettings

__all__ = [
    "DEFAULT_LISTEN",
    "DEFAULT_UPSTREAM",
    "LOOPBACK_HOSTS",
    "PROFILE_DEFAULTS",
    "STORE_SCHEMES",
    "ExporterType",
    "LogLevel",
    "Profile",
    "Settings",
    "format_validation_error",
    "loop_error",
    "normalise_upstream",
    "parse_pattern_list",
    "split_host_port",
]


# The README's table lists settings in this order: the first base's fields come last (pydantic
# collects fields along the reversed MRO), so the bases are listed from the last concern to the
# first.
class Settings(
    BaseSettings,
    AlertSettings,
    TelemetrySettings,
    ApiSettings,
    CaptureSettings,
    AccessSettings,
    SystemSettings,
    StoreSettings,
    FleetSettings,
    ProcessSettings,
):
    """The one typed configuration object, passed into `create_app`."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
        case_sensitive=False,
    )


def format_validation_error(error: ValidationError) -> str:
    """One line per bad setting, naming the variable and what it accepts."""
    lines = ["invalid settings:"]
    for item in error.errors():
        name = ".".join(str(part) for part in item["loc"]) or "settings"
        accepted = item.get("ctx", {}).get("expected")
        hint = f" (accepted: {accepted})" if accepted else ""
        lines.append(f"  {name.upper()}: {item['msg']}{hint}; got {item.get('input')!r}")
    return "\n".join(lines)


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "0.0.0.0", "::", ""})


def loop_error(settings: Settings) -> str | None:
    """Why an upstream would be the proxy itself, or None.

    A user who exported OLLAMA_HOST=127.0.0.1:11435 for their clients would otherwise make the
    proxy forward to itself forever.
    """
    listen_host, listen_port = settings.listen_host, settings.listen_port
    for node in settings.nodes:
        upstream = URL(node.url)
        if upstream.port != listen_port or listen_port == 0:
            continue
        same_host = upstream.host == listen_host or (
            upstream.host in LOOPBACK_HOSTS and listen_host in LOOPBACK_HOSTS
        )
        if same_host:
            return (
                f"the upstream {node.url} is this proxy ({settings.listen}); set "
                "OLLAMA_UPSTREAM or --upstream to Ollama's own address (default "
                f"{DEFAULT_UPSTREAM}). OLLAMA_HOST may point your clients at the proxy."
            )
    return None
