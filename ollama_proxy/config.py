"""Settings: every variable the proxy reads, with its default and help text.

Settings are read once, at start, from the environment and `.env`; nothing else in the package
reads `os.environ`. Invalid values fail at start with a message naming the variable and the
accepted values.

>>> Settings(upstream="http://127.0.0.1:11434").upstream_url.port
11434
"""

from __future__ import annotations

import ipaddress
import json
import re
import socket
from enum import StrEnum
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from yarl import URL

from ollama_proxy.fleet.spec import NodeSpec, parse_node_numbers, parse_rules, split_node

DEFAULT_LISTEN = "127.0.0.1:11435"
DEFAULT_UPSTREAM = "http://127.0.0.1:11434"
STORE_SCHEMES = ("sqlite", "postgresql", "postgres", "clickhouse", "chdb")


class Profile(StrEnum):
    dev = "dev"
    staging = "staging"
    prod = "prod"


class ExporterType(StrEnum):
    sqlite = "sqlite"
    clickhouse = "clickhouse"
    postgres = "postgres"
    both = "both"


LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]

# Profile defaults apply only to settings the user did not set explicitly.
PROFILE_DEFAULTS: dict[Profile, dict[str, Any]] = {
    Profile.dev: {"api_log_level": "DEBUG", "log_format": "console"},
    Profile.staging: {"api_log_level": "INFO", "log_format": "json"},
    Profile.prod: {"api_log_level": "WARNING", "log_format": "json"},
}


def _env(*names: str) -> AliasChoices:
    return AliasChoices(*names)


class Settings(BaseSettings):
    """The one typed configuration object, passed into `create_app`."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
        case_sensitive=False,
    )

    # --- process --------------------------------------------------------------------------
    profile: Profile = Field(
        Profile.dev,
        validation_alias=_env("APP_PROFILE", "profile"),
        description="Defaults profile: dev (console logs, DEBUG), staging or prod (JSON logs).",
    )
    listen: str = Field(
        DEFAULT_LISTEN,
        validation_alias=_env("PROXY_LISTEN", "listen"),
        description="host:port the proxy listens on (`--listen`).",
    )
    upstream: str = Field(
        DEFAULT_UPSTREAM,
        validation_alias=_env("OLLAMA_UPSTREAM", "OLLAMA_HOST", "upstream"),
        description="Ollama base URL (`--upstream`). OLLAMA_UPSTREAM wins over OLLAMA_HOST, "
        "which is also what clients read, so a loop back to the proxy is refused.",
    )
    upstreams: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        validation_alias=_env("OLLAMA_UPSTREAMS", "upstreams"),
        description="Several Ollama nodes, comma-separated `[name=]URL` (`--upstream` "
        "repeated); the name defaults to host:port. Set, it replaces OLLAMA_UPSTREAM. With "
        "more than one node each request goes to the node that holds its model "
        "(docs/fleet.md).",
    )
    instance_name: str = Field(
        default_factory=socket.gethostname,
        validation_alias=_env("INSTANCE_NAME", "instance_name"),
        description="Name written on every record and metric (the brief's service_name); "
        "defaults to the host name.",
    )
    api_log_level: LogLevel | None = Field(
        None,
        validation_alias=_env("API_LOG_LEVEL", "api_log_level"),
        description="Log level: DEBUG, INFO, WARNING, ERROR, CRITICAL (profile default).",
    )
    log_format: Literal["console", "json"] | None = Field(
        None,
        validation_alias=_env("LOG_FORMAT", "log_format"),
        description="Log output: console or json (profile default).",
    )

    # --- proxy ----------------------------------------------------------------------------
    enable_instrumentation: bool = Field(
        True,
        validation_alias=_env("ENABLE_INSTRUMENTATION", "enable_instrumentation"),
        description="Meter requests; false makes the proxy a plain pass-through.",
    )
    connect_timeout_s: float = Field(
        10.0,
        gt=0,
        validation_alias=_env("CONNECT_TIMEOUT_S", "connect_timeout_s"),
        description="Seconds for the TCP connect to the upstream before answering 502 (the "
        "wait for a free pooled connection is not counted).",
    )
    read_timeout_s: float = Field(
        0.0,
        ge=0,
        validation_alias=_env("READ_TIMEOUT_S", "read_timeout_s"),
        description="Seconds of upstream silence before giving up; 0 = never "
        "(model loads are silent for minutes).",
    )
    shutdown_grace_s: float = Field(
        30.0,
        ge=0,
        validation_alias=_env("SHUTDOWN_GRACE_S", "shutdown_grace_s"),
        description="Seconds in-flight streams may finish after SIGTERM/SIGINT.",
    )
    upstream_max_connections: int = Field(
        0,
        ge=0,
        validation_alias=_env("UPSTREAM_MAX_CONNECTIONS", "upstream_max_connections"),
        description="Pooled connections to the upstream; 0 = unlimited. Requests beyond it "
        "queue for a free connection, without a time limit.",
    )
    use_uvloop: bool = Field(
        True,
        validation_alias=_env("USE_UVLOOP", "use_uvloop"),
        description="Run on uvloop when it is installed (the `fast` extra); it cuts the "
        "proxy's CPU per chunk (docs/benchmarks.md).",
    )

    # --- fleet (several upstreams) --------------------------------------------------------
    route_rules: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        validation_alias=_env("ROUTE_RULES", "route_rules"),
        description="Pinning, comma-separated `MODEL_GLOB=NODE|NODE` (first match wins): "
        "matching models run only on those nodes.",
    )
    route_max_attempts: int = Field(
        3,
        ge=1,
        le=16,
        validation_alias=_env("ROUTE_MAX_ATTEMPTS", "route_max_attempts"),
        description="Nodes tried for one request when a node refuses, times out connecting "
        "or answers 503 before any response byte.",
    )
    route_eject_failures: int = Field(
        2,
        ge=1,
        validation_alias=_env("ROUTE_EJECT_FAILURES", "route_eject_failures"),
        description="Consecutive connect failures or failed probes that eject a node; one "
        "answered probe readmits it.",
    )
    route_node_slots: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        validation_alias=_env("ROUTE_NODE_SLOTS", "route_node_slots"),
        description="Parallel requests per loaded model, `NODE=N` comma-separated (Ollama's "
        "OLLAMA_NUM_PARALLEL there); unset nodes are learned from queue waits.",
    )
    route_node_vram_gb: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        validation_alias=_env("ROUTE_NODE_VRAM_GB", "route_node_vram_gb"),
        description="VRAM per node in GiB, `NODE=GB` comma-separated; unset nodes count the "
        "most they were seen holding at once.",
    )
    fleet_ps_interval_s: float = Field(
        2.0,
        gt=0,
        validation_alias=_env("FLEET_PS_INTERVAL_S", "fleet_ps_interval_s"),
        description="Seconds between /api/ps probes of each node (also its health check).",
    )
    fleet_tags_interval_s: float = Field(
        30.0,
        gt=0,
        validation_alias=_env("FLEET_TAGS_INTERVAL_S", "fleet_tags_interval_s"),
        description="Seconds between /api/tags and /api/version polls of each node.",
    )

    # --- stores and the record pipeline ---------------------------------------------------
    store_urls: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        validation_alias=_env("STORE_URLS", "store_urls"),
        description="Comma-separated store URLs (`--store`, repeatable): sqlite:///PATH, "
        "postgresql://..., clickhouse://HOST:8123/DB, chdb:///PATH. Empty = from EXPORTER_TYPE.",
    )
    exporter_type: ExporterType = Field(
        ExporterType.sqlite,
        validation_alias=_env("EXPORTER_TYPE", "exporter_type"),
        description="Store(s) when STORE_URLS is empty: sqlite, clickhouse, postgres or both.",
    )
    sqlite_path: str = Field(
        "./ollama-proxy.db",
        validation_alias=_env("SQLITE_PATH", "sqlite_path"),
        description="SQLite file used by EXPORTER_TYPE=sqlite.",
    )
    metrics_export_interval: float = Field(
        5.0,
        gt=0,
        validation_alias=_env("METRICS_EXPORT_INTERVAL", "metrics_export_interval"),
        description="Seconds between store flushes and system samples.",
    )
    batch_max_records: int = Field(
        1000,
        ge=1,
        validation_alias=_env("BATCH_MAX_RECORDS", "batch_max_records"),
        description="Flush early once this many records are waiting.",
    )
    queue_max_records: int = Field(
        100_000,
        ge=1,
        validation_alias=_env("QUEUE_MAX_RECORDS", "queue_max_records"),
        description="Bound of the in-process record queue; when full the oldest is dropped "
        "with a counted warning.",
    )
    journal_dir: str = Field(
        "./ollama-proxy-journal",
        validation_alias=_env("JOURNAL_DIR", "journal_dir"),
        description="Directory of the append-only spill journal used while a store is down.",
    )
    retention_days: int = Field(
        30,
        ge=1,
        validation_alias=_env("RETENTION_DAYS", "retention_days"),
        description="Days of request logs and metrics kept by the stores.",
    )
    clickhouse_host: str = Field(
        "localhost", validation_alias=_env("CLICKHOUSE_HOST"), description="ClickHouse host."
    )
    clickhouse_port: int = Field(
        8123, validation_alias=_env("CLICKHOUSE_PORT"), description="ClickHouse HTTP port."
    )
    clickhouse_database: str = Field(
        "ollama_metrics",
        validation_alias=_env("CLICKHOUSE_DATABASE", "CLICKHOUSE_DB"),
        description="ClickHouse database.",
    )
    clickhouse_user: str = Field(
        "default", validation_alias=_env("CLICKHOUSE_USER"), description="ClickHouse user."
    )
    clickhouse_password: str = Field(
        "", validation_alias=_env("CLICKHOUSE_PASSWORD"), description="ClickHouse password."
    )
    clickhouse_cluster: str = Field(
        "",
        validation_alias=_env("CLICKHOUSE_CLUSTER"),
        description="When set, DDL runs ON CLUSTER with Replicated and Distributed tables.",
    )
    postgres_host: str = Field(
        "localhost", validation_alias=_env("POSTGRES_HOST"), description="PostgreSQL host."
    )
    postgres_port: int = Field(
        5432, validation_alias=_env("POSTGRES_PORT"), description="PostgreSQL port."
    )
    postgres_db: str = Field(
        "ollama_metrics", validation_alias=_env("POSTGRES_DB"), description="PostgreSQL database."
    )
    postgres_user: str = Field(
        "postgres", validation_alias=_env("POSTGRES_USER"), description="PostgreSQL user."
    )
    postgres_password: str = Field(
        "", validation_alias=_env("POSTGRES_PASSWORD"), description="PostgreSQL password."
    )

    # --- system, models and the Ollama service ----------------------------------------------
    ps_poll_interval_s: float = Field(
        5.0,
        gt=0,
        validation_alias=_env("PS_POLL_INTERVAL_S", "ps_poll_interval_s"),
        description="Seconds between /api/ps polls for the model residency timeline.",
    )
    live_interval_ms: int = Field(
        500,
        ge=50,
        le=60_000,
        validation_alias=_env("LIVE_INTERVAL_MS", "live_interval_ms"),
        description="Milliseconds between /api/stats/live snapshots (one is also sent when a "
        "request arrives, answers or leaves).",
    )
    live_parallel_slots: int = Field(
        1,
        ge=1,
        le=1024,
        validation_alias=_env("LIVE_PARALLEL_SLOTS", "live_parallel_slots"),
        description="Requests one loaded model serves at once (Ollama's OLLAMA_NUM_PARALLEL); "
        "the live view calls requests beyond it `queued`.",
    )
    sampler_timeout_s: float = Field(
        5.0,
        gt=0,
        validation_alias=_env("SAMPLER_TIMEOUT_S", "sampler_timeout_s"),
        description="Seconds a host or GPU sampler (psutil, NVML, nvidia-smi) may take, in its "
        "own worker thread; a slower one is skipped for that sample (nvidia-smi is killed).",
    )
    spawn_ollama: bool = Field(
        False,
        validation_alias=_env("SPAWN_OLLAMA", "spawn_ollama"),
        description="Start `ollama serve` as a child process (`--spawn-ollama`) instead of "
        "attaching to a running upstream.",
    )
    ollama_binary: str = Field(
        "ollama",
        validation_alias=_env("OLLAMA_BINARY", "ollama_binary"),
        description="The ollama executable used with SPAWN_OLLAMA (a name on PATH or a path).",
    )

    # --- access and privacy ---------------------------------------------------------------
    proxy_api_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        validation_alias=_env("PROXY_API_KEYS", "proxy_api_keys"),
        description="Comma-separated `label:key` or `label:key:scope` entries; when set, "
        "clients of the Ollama routes must send `Authorization: Bearer KEY` (401 otherwise), the "
        "label is recorded as the client and the header is not forwarded. Scope `inference` "
        "allows chat, generate, embed, /v1/*, Anthropic and reading tags/ps/show/version; "
        "`manage` also pull, push, create, copy, delete and blobs; a key without a scope may "
        "use every route. Out of scope: 403.",
    )
    rate_limit_rps: float = Field(
        0.0,
        ge=0,
        validation_alias=_env("RATE_LIMIT_RPS", "rate_limit_rps"),
        description="Requests per second allowed per client on the Ollama routes (429 with "
        "Retry-After beyond it); 0 = no limit.",
    )
    rate_limit_burst: int = Field(
        20,
        ge=1,
        validation_alias=_env("RATE_LIMIT_BURST", "rate_limit_burst"),
        description="Requests a client may send at once before RATE_LIMIT_RPS applies.",
    )
    rate_limit_max_clients: int = Field(
        100_000,
        ge=1,
        validation_alias=_env("RATE_LIMIT_MAX_CLIENTS", "rate_limit_max_clients"),
        description="Clients whose rate-limit state is kept (least recently seen first out; "
        "idle buckets expire once refilled).",
    )
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        validation_alias=_env("TRUSTED_PROXIES", "trusted_proxies"),
        description="Comma-separated CIDRs of load balancers in front of the proxy; a request "
        "from one of them is attributed to the address FORWARDED_HEADER names (the nearest "
        "untrusted hop). Empty: the peer address, whatever the headers say.",
    )
    forwarded_header: Literal["x-forwarded-for", "forwarded"] = Field(
        "x-forwarded-for",
        validation_alias=_env("FORWARDED_HEADER", "forwarded_header"),
        description="Which header the TRUSTED_PROXIES write: x-forwarded-for or forwarded "
        "(RFC 7239). Only that one is read, so a client cannot forge the other.",
    )
    hash_client_ips: bool = Field(
        False,
        validation_alias=_env("HASH_CLIENT_IPS", "hash_client_ips"),
        description="Record client addresses as salted hashes instead of as they are.",
    )
    client_ip_salt: str = Field(
        "",
        validation_alias=_env("CLIENT_IP_SALT", "client_ip_salt"),
        description="Secret salt of the client address hashes (default: a random salt "
        "generated at first start and kept in JOURNAL_DIR/client-ip-salt).",
    )

    capture_content: bool = Field(
        False,
        validation_alias=_env("CAPTURE_CONTENT", "capture_content"),
        description="Opt-in: store prompt and response text (redacted) in `request_content`. "
        "Off by default: no text is stored anywhere.",
    )
    capture_redact_patterns: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: [
            r"sk-[A-Za-z0-9_-]{16,}",
            r"(?i)bearer\s+[A-Za-z0-9._~+/=-]+",
            r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}",
        ],
        validation_alias=_env("CAPTURE_REDACT_PATTERNS", "capture_redact_patterns"),
        description="Regular expressions replaced by [REDACTED] in captured text: a JSON list "
        '(`["sk-[A-Za-z0-9_-]{16,}", "..."]`) or one pattern as a plain string (default: API '
        "keys, bearer tokens, e-mail addresses).",
    )
    capture_retention_days: int = Field(
        7,
        ge=1,
        validation_alias=_env("CAPTURE_RETENTION_DAYS", "capture_retention_days"),
        description="Days captured text is kept (apart from RETENTION_DAYS of the logs).",
    )
    capture_max_bytes: int = Field(
        65536,
        ge=1024,
        validation_alias=_env("CAPTURE_MAX_BYTES", "capture_max_bytes"),
        description="Bytes of prompt and of response text kept per request.",
    )

    # --- API and dashboard ----------------------------------------------------------------
    admin_token: str = Field(
        "",
        validation_alias=_env("ADMIN_TOKEN"),
        description="When set, the stats API, /api/config, /metrics and the dashboard need it.",
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        validation_alias=_env("CORS_ORIGINS"),
        description="Comma-separated origins allowed to call the stats API (default: same "
        "origin only).",
    )
    dashboard_refresh_s: float = Field(
        5.0,
        gt=0,
        validation_alias=_env("DASHBOARD_REFRESH_S"),
        description="Dashboard auto-refresh interval and stats query cache lifetime.",
    )

    # --- OpenTelemetry (owner: telemetry; standard OTEL_* names) ---------------------------
    otel_sdk_disabled: bool = Field(
        False,
        validation_alias=_env("OTEL_SDK_DISABLED"),
        description="true turns spans, OTel metrics and /metrics off (requests are still "
        "metered and stored).",
    )
    otel_exporter_otlp_endpoint: str = Field(
        "",
        validation_alias=_env("OTEL_EXPORTER_OTLP_ENDPOINT"),
        description="OTLP collector base URL, e.g. http://127.0.0.1:4317 (gRPC) or "
        "http://127.0.0.1:4318 (HTTP). Empty = nothing is exported over OTLP.",
    )
    otel_exporter_otlp_protocol: Literal["grpc", "http/protobuf"] = Field(
        "grpc",
        validation_alias=_env("OTEL_EXPORTER_OTLP_PROTOCOL"),
        description="OTLP transport: grpc or http/protobuf (/v1/traces and /v1/metrics are "
        "appended to the endpoint).",
    )
    otel_exporter_otlp_headers: str = Field(
        "",
        validation_alias=_env("OTEL_EXPORTER_OTLP_HEADERS"),
        description="Headers sent with every OTLP export: key=value,key2=value2 "
        "(URL-encoded values).",
    )
    otel_service_name: str = Field(
        "ollama-local-serve",
        validation_alias=_env("OTEL_SERVICE_NAME"),
        description="service.name of the OTel resource.",
    )
    otel_resource_attributes: str = Field(
        "",
        validation_alias=_env("OTEL_RESOURCE_ATTRIBUTES"),
        description="Extra OTel resource attributes: key=value,key2=value2.",
    )
    otel_traces_sampler: Literal[
        "parentbased_always_on",
        "parentbased_always_off",
        "parentbased_traceidratio",
        "always_on",
        "always_off",
        "traceidratio",
    ] = Field(
        "parentbased_always_on",
        validation_alias=_env("OTEL_TRACES_SAMPLER"),
        description="Which requests get exported spans (with OTEL_EXPORTER_OTLP_ENDPOINT): the "
        "standard OTel sampler names. parentbased_* follow a client's sampled traceparent.",
    )
    otel_traces_sampler_arg: float = Field(
        1.0,
        ge=0.0,
        le=1.0,
        validation_alias=_env("OTEL_TRACES_SAMPLER_ARG"),
        description="Ratio of traces kept by the *traceidratio samplers, 0 to 1 (spans cost "
        "~0.1 ms CPU a request: 0.1 keeps a tenth). Metrics and records count every request.",
    )
    otel_metric_export_interval_ms: int = Field(
        60_000,
        gt=0,
        validation_alias=_env("OTEL_METRIC_EXPORT_INTERVAL"),
        description="Milliseconds between OTLP metric exports.",
    )
    metrics_json_file: str = Field(
        "",
        validation_alias=_env("METRICS_JSON_FILE", "metrics_json_file"),
        description="When set (`--metrics-json FILE`), a JSON snapshot of every metric is "
        "written there every METRICS_EXPORT_INTERVAL seconds (atomic replace).",
    )

    # ---------------------------------------------------------------------------------------
    @field_validator(
        "store_urls",
        "cors_origins",
        "proxy_api_keys",
        "trusted_proxies",
        "upstreams",
        "route_rules",
        "route_node_slots",
        "route_node_vram_gb",
        mode="before",
    )
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("capture_redact_patterns", mode="before")
    @classmethod
    def _pattern_list(cls, value: Any) -> Any:
        # Never split on commas: `{16,}` holds one, and the default patterns broke when set
        # from the environment (an API key was then stored unredacted).
        return parse_pattern_list(value) if isinstance(value, str) else value

    @field_validator("capture_redact_patterns")
    @classmethod
    def _check_patterns(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"not a regular expression: {pattern!r} ({exc})") from None
        return patterns

    @field_validator("proxy_api_keys")
    @classmethod
    def _check_keys(cls, entries: list[str]) -> list[str]:
        for entry in entries:
            if entry.endswith(":"):
                raise ValueError(f"entry {entry!r} has an empty key; expected label:key")
        return entries

    @field_validator("trusted_proxies")
    @classmethod
    def _check_networks(cls, cidrs: list[str]) -> list[str]:
        for cidr in cidrs:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise ValueError(f"not an address or CIDR: {cidr!r}") from None
        return cidrs

    @field_validator("forwarded_header", mode="before")
    @classmethod
    def _lower_header(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @field_validator("listen")
    @classmethod
    def _check_listen(cls, value: str) -> str:
        host, port = split_host_port(value)
        if not host or not 0 <= port <= 65535:
            raise ValueError(f"expected host:port, e.g. {DEFAULT_LISTEN}; got {value!r}")
        return value

    @field_validator("upstream")
    @classmethod
    def _normalise_upstream(cls, value: str) -> str:
        return normalise_upstream(value)

    @field_validator("upstreams")
    @classmethod
    def _check_upstreams(cls, entries: list[str]) -> list[str]:
        out, names = [], set()
        for entry in entries:
            name, url = split_node(entry)
            url = normalise_upstream(url)
            name = name or URL(url).raw_authority
            if name in names:
                raise ValueError(f"node name {name!r} given twice")
            names.add(name)
            out.append(f"{name}={url}")
        return out

    @field_validator("route_rules")
    @classmethod
    def _check_rules(cls, entries: list[str]) -> list[str]:
        parse_rules(entries)
        return entries

    @field_validator("store_urls")
    @classmethod
    def _check_store_urls(cls, urls: list[str]) -> list[str]:
        for url in urls:
            scheme = urlsplit(url).scheme.split("+")[0]
            if scheme not in STORE_SCHEMES:
                raise ValueError(
                    f"unknown store URL {url!r}; accepted schemes: sqlite:///PATH, "
                    "postgresql://USER@HOST:PORT/DB, clickhouse://HOST:8123/DB, chdb:///PATH"
                )
        return urls

    @field_validator("api_log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _check_fleet(self) -> Settings:
        if self.upstreams:  # the first node is the upstream of everything that needs one
            object.__setattr__(self, "upstream", split_node(self.upstreams[0])[1])
        names = {spec.name for spec in self.nodes}
        named = [n for rule in parse_rules(self.route_rules) for n in rule.nodes]
        named += list(parse_node_numbers(self.route_node_slots, "ROUTE_NODE_SLOTS"))
        named += list(parse_node_numbers(self.route_node_vram_gb, "ROUTE_NODE_VRAM_GB"))
        unknown = sorted(set(named) - names)
        if unknown:
            raise ValueError(f"unknown node(s) {unknown}; nodes are {sorted(names)}")
        return self

    @model_validator(mode="after")
    def _apply_profile(self) -> Settings:
        for name, default in PROFILE_DEFAULTS[self.profile].items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, default)
        return self

    # --- derived --------------------------------------------------------------------------
    @property
    def upstream_url(self) -> URL:
        return URL(self.upstream)

    @property
    def nodes(self) -> list[NodeSpec]:
        """The Ollama nodes: OLLAMA_UPSTREAMS, else the one OLLAMA_UPSTREAM."""
        if not self.upstreams:
            return [NodeSpec(self.upstream_url.raw_authority, self.upstream)]
        return [NodeSpec(*split_node(entry)) for entry in self.upstreams]

    @property
    def listen_host(self) -> str:
        return split_host_port(self.listen)[0]

    @property
    def listen_port(self) -> int:
        return split_host_port(self.listen)[1]

    @property
    def log_level(self) -> str:
        return self.api_log_level or "INFO"

    def effective_store_urls(self) -> list[str]:
        """The stores every record goes to; queries are served from the first."""
        if self.store_urls:
            return list(self.store_urls)
        sqlite = f"sqlite:///{self.sqlite_path}"
        clickhouse = (
            f"clickhouse://{self.clickhouse_host}:{self.clickhouse_port}/{self.clickhouse_database}"
        )
        postgres = (
            f"postgresql://{self.postgres_user}@{self.postgres_host}:{self.postgres_port}"
            f"/{self.postgres_db}"
        )
        return {
            ExporterType.sqlite: [sqlite],
            ExporterType.clickhouse: [clickhouse],
            ExporterType.postgres: [postgres],
            ExporterType.both: [clickhouse, postgres],
        }[self.exporter_type]


def parse_pattern_list(value: str) -> list[str]:
    """A JSON list of strings is a list of patterns; any other value is one pattern.

    >>> parse_pattern_list('["a{16,}", "b"]'), parse_pattern_list("[0-9]{4,}")
    (['a{16,}', 'b'], ['[0-9]{4,}'])
    """
    text = value.strip()
    if not text:
        return []
    try:
        parsed = json.loads(text)
    except ValueError:
        return [text]
    if isinstance(parsed, list) and all(isinstance(p, str) for p in parsed):
        return parsed
    return [text]


def split_host_port(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    try:
        return host.strip("[]"), int(port)
    except ValueError:
        return "", -1


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
