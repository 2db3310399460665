"""Process settings: profile, listen address, instance name and logging."""

from __future__ import annotations

import socket
from enum import StrEnum
from typing import Any, Literal, Self

from pydantic import BaseModel, Field, field_validator, model_validator

from ollama_proxy.config.fields import env

DEFAULT_LISTEN = "127.0.0.1:11435"

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class Profile(StrEnum):
    dev = "dev"
    staging = "staging"
    prod = "prod"


# Profile defaults apply only to settings the user did not set explicitly.
PROFILE_DEFAULTS: dict[Profile, dict[str, Any]] = {
    Profile.dev: {"api_log_level": "INFO", "log_format": "console"},
    Profile.staging: {"api_log_level": "INFO", "log_format": "json"},
    Profile.prod: {"api_log_level": "WARNING", "log_format": "json"},
}


def split_host_port(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    try:
        return host.strip("[]"), int(port)
    except ValueError:
        return "", -1


class ProcessSettings(BaseModel):
    profile: Profile = Field(
        Profile.dev,
        validation_alias=env("APP_PROFILE", "profile"),
        description="Defaults profile: dev (console logs, INFO), staging (JSON, INFO) or prod "
        "(JSON, WARNING).",
    )
    listen: str = Field(
        DEFAULT_LISTEN,
        validation_alias=env("PROXY_LISTEN", "listen"),
        description="host:port the proxy listens on (`--listen`).",
    )
    instance_name: str = Field(
        default_factory=socket.gethostname,
        validation_alias=env("INSTANCE_NAME", "instance_name"),
        description="Name written on every record and metric (the brief's service_name); "
        "defaults to the host name.",
    )
    api_log_level: LogLevel | None = Field(
        None,
        validation_alias=env("API_LOG_LEVEL", "api_log_level"),
        description="Log level of the proxy's own events: DEBUG, INFO, WARNING, ERROR, "
        "CRITICAL (profile default).",
    )
    log_libraries: LogLevel = Field(
        "WARNING",
        validation_alias=env("LOG_LIBRARIES", "log_libraries"),
        description="Log level of third-party libraries (aiohttp, database drivers, OTel); "
        "DEBUG shows e.g. every SQL statement.",
    )
    log_format: Literal["console", "json"] | None = Field(
        None,
        validation_alias=env("LOG_FORMAT", "log_format"),
        description="Log output: console or json (profile default).",
    )
    use_uvloop: bool = Field(
        True,
        validation_alias=env("USE_UVLOOP", "use_uvloop"),
        description="Run on uvloop when it is installed (the `fast` extra); it cuts the "
        "proxy's CPU per chunk (docs/benchmarks.md).",
    )

    @field_validator("listen")
    @classmethod
    def _check_listen(cls, value: str) -> str:
        host, port = split_host_port(value)
        if not host or not 0 <= port <= 65535:
            raise ValueError(f"expected host:port, e.g. {DEFAULT_LISTEN}; got {value!r}")
        return value

    @field_validator("api_log_level", "log_libraries", mode="before")
    @classmethod
    def _upper_level(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _apply_profile(self) -> Self:
        for name, default in PROFILE_DEFAULTS[self.profile].items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, default)
        return self

    @property
    def listen_host(self) -> str:
        return split_host_port(self.listen)[0]

    @property
    def listen_port(self) -> int:
        return split_host_port(self.listen)[1]

    @property
    def log_level(self) -> str:
        return self.api_log_level or "INFO"
