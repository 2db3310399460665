"""Access settings for the Ollama routes: client keys, rate limits, who the client is, privacy."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import NoDecode

from ollama_proxy.config.fields import env, split_commas


class AccessSettings(BaseModel):
    proxy_api_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        validation_alias=env("PROXY_API_KEYS", "proxy_api_keys"),
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
        validation_alias=env("RATE_LIMIT_RPS", "rate_limit_rps"),
        description="Requests per second allowed per client on the Ollama routes (429 with "
        "Retry-After beyond it); 0 = no limit.",
    )
    rate_limit_burst: int = Field(
        20,
        ge=1,
        validation_alias=env("RATE_LIMIT_BURST", "rate_limit_burst"),
        description="Requests a client may send at once before RATE_LIMIT_RPS applies.",
    )
    rate_limit_max_clients: int = Field(
        100_000,
        ge=1,
        validation_alias=env("RATE_LIMIT_MAX_CLIENTS", "rate_limit_max_clients"),
        description="Clients whose rate-limit state is kept (least recently seen first out; "
        "idle buckets expire once refilled).",
    )
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        validation_alias=env("TRUSTED_PROXIES", "trusted_proxies"),
        description="Comma-separated CIDRs of load balancers in front of the proxy; a request "
        "from one of them is attributed to the address FORWARDED_HEADER names (the nearest "
        "untrusted hop). Empty: the peer address, whatever the headers say.",
    )
    forwarded_header: Literal["x-forwarded-for", "forwarded"] = Field(
        "x-forwarded-for",
        validation_alias=env("FORWARDED_HEADER", "forwarded_header"),
        description="Which header the TRUSTED_PROXIES write: x-forwarded-for or forwarded "
        "(RFC 7239). Only that one is read, so a client cannot forge the other.",
    )
    hash_client_ips: bool = Field(
        False,
        validation_alias=env("HASH_CLIENT_IPS", "hash_client_ips"),
        description="Record client addresses as salted hashes instead of as they are.",
    )
    client_ip_salt: str = Field(
        "",
        validation_alias=env("CLIENT_IP_SALT", "client_ip_salt"),
        description="Secret salt of the client address hashes (default: a random salt "
        "generated at first start and kept in JOURNAL_DIR/client-ip-salt).",
    )

    proxy_quotas: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        validation_alias=env("PROXY_QUOTAS", "proxy_quotas"),
        description="Comma-separated daily quotas per PROXY_API_KEYS label: "
        "`label:gpu_s=N`, `label:tokens=N` or `label:gpu_s=N:tokens=N` (GPU-seconds are "
        "prompt evaluation + generation + loads caused; tokens are prompt + output). Over "
        "quota an inference request gets 429 with Retry-After until midnight UTC. Usage is "
        "rebuilt from the store at start.",
    )

    @field_validator("proxy_api_keys", "trusted_proxies", "proxy_quotas", mode="before")
    @classmethod
    def _split_api_keys(cls, value: Any) -> Any:
        return split_commas(value)

    @field_validator("proxy_api_keys")
    @classmethod
    def _check_keys(cls, entries: list[str]) -> list[str]:
        for entry in entries:
            if entry.endswith(":"):
                raise ValueError(f"entry {entry!r} has an empty key; expected label:key")
        return entries

    @field_validator("proxy_quotas")
    @classmethod
    def _check_quotas(cls, entries: list[str]) -> list[str]:
        for entry in entries:
            label, *parts = entry.split(":")
            names = [part.partition("=")[0] for part in parts]
            if not label or not parts or any(n not in ("gpu_s", "tokens") for n in names):
                raise ValueError(f"quota {entry!r}: expected label:gpu_s=N and/or :tokens=N")
            for part in parts:
                try:
                    if float(part.partition("=")[2]) < 0:
                        raise ValueError
                except ValueError:
                    raise ValueError(f"quota {entry!r}: {part!r} is not a number >= 0") from None
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
