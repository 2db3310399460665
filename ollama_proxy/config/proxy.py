"""Proxy settings: the upstream Ollama, timeouts and the connection pool."""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator
from yarl import URL

from ollama_proxy.config.fields import env

DEFAULT_UPSTREAM = "http://127.0.0.1:11434"


def normalise_upstream(value: str) -> str:
    """Accept what OLLAMA_HOST accepts: `host`, `host:port`, `scheme://host:port/path`."""
    raw = value.strip()
    if "://" not in raw:
        raw = f"http://{raw}"
    url = URL(raw)
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"expected an http(s) URL such as {DEFAULT_UPSTREAM}; got {value!r}")
    port = url.explicit_port or (11434 if "://" not in value else url.port)
    host = "127.0.0.1" if url.host in ("0.0.0.0", "::") else url.host
    return str(URL.build(scheme=url.scheme, host=host, port=port, path=url.path.rstrip("/")))


class ProxySettings(BaseModel):
    upstream: str = Field(
        DEFAULT_UPSTREAM,
        validation_alias=env("OLLAMA_UPSTREAM", "OLLAMA_HOST", "upstream"),
        description="Ollama base URL (`--upstream`). OLLAMA_UPSTREAM wins over OLLAMA_HOST, "
        "which is also what clients read, so a loop back to the proxy is refused.",
    )
    enable_instrumentation: bool = Field(
        True,
        validation_alias=env("ENABLE_INSTRUMENTATION", "enable_instrumentation"),
        description="Meter requests; false makes the proxy a plain pass-through.",
    )
    connect_timeout_s: float = Field(
        10.0,
        gt=0,
        validation_alias=env("CONNECT_TIMEOUT_S", "connect_timeout_s"),
        description="Seconds for the TCP connect to the upstream before answering 502 (the "
        "wait for a free pooled connection is not counted).",
    )
    read_timeout_s: float = Field(
        0.0,
        ge=0,
        validation_alias=env("READ_TIMEOUT_S", "read_timeout_s"),
        description="Seconds of upstream silence before giving up; 0 = never "
        "(model loads are silent for minutes).",
    )
    request_body_idle_s: float = Field(
        60.0,
        gt=0,
        validation_alias=env("REQUEST_BODY_IDLE_S", "request_body_idle_s"),
        description="Seconds a client may pause while sending a request body; then 408 and "
        "the connection is closed.",
    )
    keepalive_timeout_s: float = Field(
        75.0,
        gt=0,
        validation_alias=env("KEEPALIVE_TIMEOUT_S", "keepalive_timeout_s"),
        description="Seconds a client connection may go without a complete request (idle "
        "between requests, or still sending its headers however slowly); then it is closed.",
    )
    shutdown_grace_s: float = Field(
        30.0,
        ge=0,
        validation_alias=env("SHUTDOWN_GRACE_S", "shutdown_grace_s"),
        description="Seconds in-flight streams may finish after SIGTERM/SIGINT.",
    )
    upstream_max_connections: int = Field(
        0,
        ge=0,
        validation_alias=env("UPSTREAM_MAX_CONNECTIONS", "upstream_max_connections"),
        description="Pooled connections to the upstream; 0 = unlimited. Requests beyond it "
        "queue for a free connection, without a time limit.",
    )

    @field_validator("upstream")
    @classmethod
    def _normalise_upstream(cls, value: str) -> str:
        return normalise_upstream(value)

    @property
    def upstream_url(self) -> URL:
        return URL(self.upstream)
